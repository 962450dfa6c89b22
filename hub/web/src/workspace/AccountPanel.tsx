// The customer's account under the customer card: what the billing system knows (GET
// /api/v1/customers/{id}/account): billing accounts with balance and arrears, products with their
// status, each account's last bill with its items behind a "details" disclosure, and usage meters.
// A billing system that does not answer within 2 s shows "billing system unavailable" with a retry;
// the rest of the side panel never waits for it.

import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { Store } from './store';
import { lang, t } from './i18n';

interface Money { minor: number; currency: string }
interface Bill {
  id: string; number: string; state: string; issued: string; due: string; period_start: string; period_end: string;
  total: Money; unpaid: Money; items: { id: string; kind: string; description: string; amount: Money }[];
}
interface Account { id: string; name: string; kind: string; status: string; balance: Money; overdue: Money; due_date: string | null; in_arrears: boolean; last_bill: Bill | null }
interface Product {
  id: string; name: string; family: string; status: string; identifier: string | null; recurring_price: Money | null;
  commitment_end: string | null; early_termination_fee: Money | null; parent: string | null;
}
interface Overview {
  linked: boolean;
  customer: { segment: string; status: string; address: { street: string; city: string; postcode: string } | null } | null;
  accounts: Account[] | null;
  products: Product[] | null;
  unavailable: { section: string; code: string }[];
}
interface Usage { meters: { kind: string; used: number; allowance: number | null }[] }

/** The panel gives up waiting after this long and offers a retry (the hub answers within 1.8 s). */
const PATIENCE_MS = 2000;

function within<T>(p: Promise<T>): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => window.setTimeout(() => reject(new Error('timeout')), PATIENCE_MS))]);
}

export function money(m: Money): string {
  const digits = new Intl.NumberFormat('en', { style: 'currency', currency: m.currency }).resolvedOptions().maximumFractionDigits ?? 2;
  return new Intl.NumberFormat(lang, { style: 'currency', currency: m.currency }).format(m.minor / 10 ** digits);
}

/** A calendar date (`2026-11-29`) in the staff member's language, as written (no time zone shift). */
export function calendar(iso: string): string {
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date(`${iso}T00:00:00Z`));
}

function amount(kind: string, n: number): string {
  if (kind === 'data') {
    return n >= 1024
      ? new Intl.NumberFormat(lang, { style: 'unit', unit: 'gigabyte', maximumFractionDigits: 1 }).format(n / 1024)
      : new Intl.NumberFormat(lang, { style: 'unit', unit: 'megabyte' }).format(n);
  }
  if (kind === 'voice') return new Intl.NumberFormat(lang, { style: 'unit', unit: 'minute' }).format(n);
  return new Intl.NumberFormat(lang).format(n);
}

export function AccountPanel({ store, customerId }: { store: Store; customerId: string }): JSX.Element {
  const [data, setData] = useState<Overview | null>(null);
  const [failed, setFailed] = useState(false);
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    setFailed(false);
    setData(null);
    within(store.api.request<Overview>('GET', `/api/v1/customers/${customerId}/account`))
      .then((d) => { if (live) setData(d); })
      .catch(() => { if (live) setFailed(true); });
    return () => { live = false; };
  }, [customerId, round]);
  const retry = (): void => setRound((n) => n + 1);
  const down = (section: string): boolean => !!data?.unavailable.some((u) => u.section === section);
  return (
    <section aria-labelledby="side-account" class="account" data-testid="account">
      <h2 id="side-account">{t('account.title')}</h2>
      {!data && !failed && <p class="muted" role="status">{t('account.loading')}</p>}
      {failed && <Unavailable retry={retry} />}
      {data && !data.linked && <p class="muted">{t('account.not_linked')}</p>}
      {data?.linked && (
        <>
          {data.unavailable.length > 0 && <Unavailable retry={retry} />}
          {data.customer && (
            <dl>
              <dt>{t('account.segment')}</dt><dd>{data.customer.segment}</dd>
              {data.customer.address && (
                <><dt>{t('account.address')}</dt><dd>{data.customer.address.street}, {data.customer.address.postcode} {data.customer.address.city}</dd></>
              )}
            </dl>
          )}
          {data.accounts && <Accounts store={store} customerId={customerId} accounts={data.accounts} billsDown={down('bills')} />}
          {data.products && <Products store={store} customerId={customerId} products={data.products} />}
        </>
      )}
    </section>
  );
}

function Unavailable({ retry }: { retry: () => void }): JSX.Element {
  return (
    <p class="account-down" role="alert">
      {t('account.unavailable')}{' '}
      <button type="button" class="link" onClick={retry}>{t('account.retry')}</button>
    </p>
  );
}

function Accounts(props: { store: Store; customerId: string; accounts: Account[]; billsDown: boolean }): JSX.Element {
  const { store, customerId, accounts, billsDown } = props;
  return (
    <>
      <h3 id="side-accounts">{t('account.accounts')}</h3>
      <ul class="accounts" aria-labelledby="side-accounts">
        {accounts.map((a) => (
          <li key={a.id} class={a.in_arrears ? 'arrears' : ''} data-account={a.id}>
            <div><strong>{a.id}</strong> · {t(`account.kind.${a.kind}`)}</div>
            <dl>
              <dt>{t('account.balance')}</dt><dd>{money(a.balance)}</dd>
              {a.in_arrears && (
                <><dt>{t('account.overdue')}</dt><dd><strong class="arrears-flag">⚠ {t('account.in_arrears')}: {money(a.overdue)}</strong></dd></>
              )}
              {a.due_date && <><dt>{t('account.due')}</dt><dd>{calendar(a.due_date)}</dd></>}
            </dl>
            {a.last_bill && <LastBill store={store} customerId={customerId} bill={a.last_bill} />}
            {!a.last_bill && billsDown && <p class="muted">{t('account.bills_unavailable')}</p>}
          </li>
        ))}
      </ul>
    </>
  );
}

function LastBill(props: { store: Store; customerId: string; bill: Bill }): JSX.Element {
  const { store, customerId, bill } = props;
  const [items, setItems] = useState<Bill['items'] | null>(null);
  const [failed, setFailed] = useState(false);
  const load = (open: boolean): void => {
    if (!open || items) return;
    setFailed(false);
    within(store.api.request<Bill>('GET', `/api/v1/customers/${customerId}/bills/${encodeURIComponent(bill.id)}`))
      .then((b) => setItems(b.items))
      .catch(() => setFailed(true));
  };
  return (
    <div class="last-bill">
      <h4>{t('account.last_bill')}</h4>
      <p>
        {t('account.bill_line', { number: bill.number, total: money(bill.total), date: calendar(bill.due) })}{' '}
        <span class={`chip bill-${bill.state}`}>{t(`account.bill_state.${bill.state}`)}</span>
        {bill.unpaid.minor > 0 && <> · {t('account.unpaid')}: {money(bill.unpaid)}</>}
      </p>
      <details onToggle={(e) => load((e.currentTarget as HTMLDetailsElement).open)}>
        <summary>{t('account.details')}</summary>
        {failed && <p class="account-down" role="alert">{t('account.unavailable')}</p>}
        {!items && !failed && <p class="muted" role="status">{t('account.loading')}</p>}
        {items && (
          <table class="bill-items">
            <caption class="visually-hidden">{t('account.items_of', { number: bill.number })}</caption>
            <thead><tr><th scope="col">{t('account.item')}</th><th scope="col">{t('account.amount')}</th></tr></thead>
            <tbody>
              {items.map((i) => (
                <tr key={i.id}><td>{i.description} <span class="muted-inline">({t(`account.item_kind.${i.kind}`)})</span></td><td class="num">{money(i.amount)}</td></tr>
              ))}
            </tbody>
            <tfoot><tr><th scope="row">{t('account.total')}</th><td class="num">{money(bill.total)}</td></tr></tfoot>
          </table>
        )}
      </details>
    </div>
  );
}

function Products(props: { store: Store; customerId: string; products: Product[] }): JSX.Element {
  const { store, customerId, products } = props;
  return (
    <>
      <h3 id="side-products">{t('account.products')}</h3>
      <ul class="products" aria-labelledby="side-products">
        {products.map((p) => (
          <li key={p.id} class={p.parent ? 'addon' : ''} data-product={p.id}>
            <div>
              <strong>{p.name}</strong>{' '}
              <span class={`chip product-${p.status}`}>{t(`account.status.${p.status}`)}</span>
            </div>
            <div class="muted-inline">
              {p.identifier && <span class="handle">{p.identifier}</span>}
              {p.recurring_price && <> · {t('account.per_month', { price: money(p.recurring_price) })}</>}
            </div>
            {p.commitment_end && p.early_termination_fee && (
              <div>{t('account.commitment', { date: calendar(p.commitment_end), fee: money(p.early_termination_fee) })}</div>
            )}
            {p.status === 'active' && !p.parent && ['mobile', 'fibre', 'landline'].includes(p.family) && (
              <UsageMeters store={store} customerId={customerId} product={p} />
            )}
          </li>
        ))}
      </ul>
    </>
  );
}

function UsageMeters(props: { store: Store; customerId: string; product: Product }): JSX.Element {
  const { store, customerId, product } = props;
  const [usage, setUsage] = useState<Usage | null>(null);
  const [failed, setFailed] = useState(false);
  const load = (open: boolean): void => {
    if (!open || usage) return;
    setFailed(false);
    within(store.api.request<Usage>('GET', `/api/v1/customers/${customerId}/products/${encodeURIComponent(product.id)}/usage`))
      .then(setUsage)
      .catch(() => setFailed(true));
  };
  return (
    <details onToggle={(e) => load((e.currentTarget as HTMLDetailsElement).open)}>
      <summary>{t('account.usage')}</summary>
      {failed && <p class="account-down" role="alert">{t('account.unavailable')}</p>}
      {!usage && !failed && <p class="muted" role="status">{t('account.loading')}</p>}
      {usage && usage.meters.length === 0 && <p class="muted">{t('account.no_usage')}</p>}
      {usage && usage.meters.map((m) => {
        const label = t(`account.meter.${m.kind}`);
        const text = m.allowance === null
          ? t('account.meter_unlimited', { used: amount(m.kind, m.used) })
          : t('account.meter_of', { used: amount(m.kind, m.used), allowance: amount(m.kind, m.allowance) });
        const id = `meter-${product.id}-${m.kind}`;
        return (
          <div class="meter" key={m.kind}>
            <span id={id}>{label}: {text}</span>
            {m.allowance !== null && <progress aria-labelledby={id} value={m.used} max={m.allowance}>{text}</progress>}
          </div>
        );
      })}
    </details>
  );
}
