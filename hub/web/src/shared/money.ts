// Amounts as the hub sends them ({minor, currency}: integer minor units), formatted with Intl in
// the page's language; the currency's decimals come from Intl itself (EUR 2, JPY 0, KWD 3).

export interface Money {
  minor: number;
  currency: string;
}

/** Decimals of a currency's minor unit. */
export function decimals(currency: string): number {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

/** "12,30 €" (es) or "€12.30" (en). `signed` shows "+" on positive amounts (price differences). */
export function formatMoney(m: Money, lang: string, signed = false): string {
  const digits = decimals(m.currency);
  const value = m.minor / 10 ** digits;
  try {
    return new Intl.NumberFormat(lang, {
      style: 'currency',
      currency: m.currency,
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
      signDisplay: signed ? 'exceptZero' : 'auto',
    }).format(value);
  } catch {
    return `${value.toFixed(digits)} ${m.currency}`;
  }
}

/** A calendar date (`YYYY-MM-DD`) in the page's language, without shifting it by the time zone. */
export function formatDay(iso: string, lang: string): string {
  const [y, m, d] = iso.split('-').map(Number);
  if (!y || !m || !d) return iso;
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date(Date.UTC(y, m - 1, d)));
}
