// The care workflows beside the conversation: four guided forms (new service, modify service,
// adjust a bill, discontinue a service) over `/api/v1/conversations/{id}/care/...`. Each form
// has labelled fields in fieldsets, errors tied to their field (aria-describedby, aria-invalid)
// with the focus moved to the first one, prices and fees formatted with Intl, and its result
// (order placed, adjustment applied or waiting for approval) announced in a live region. A bill
// adjustment asks for step-up through the API client's dialog. Each submission carries an
// idempotency key, kept until it succeeds, so a retry never orders or credits twice.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { ApiError, type Conversation } from './api';
import type { Store } from './store';
import { lang, t } from './i18n';
import { formatDay, formatMoney, type Money } from '../shared/money';

interface Offering {
  id: string;
  name: string;
  family: string;
  kind: 'plan' | 'add_on';
  description: string;
  recurring_price: Money;
  one_time_price: Money | null;
  requires_installation: boolean;
  commitment_months: number;
}
interface Product {
  id: string;
  account: string;
  offering: string;
  name: string;
  status: string;
  identifier: string | null;
  recurring_price: Money | null;
  commitment_end: string | null;
  early_termination_fee: Money | null;
  parent: string | null;
}
interface Change {
  kind: 'upgrade' | 'downgrade' | 'add_on' | 'remove_add_on';
  product: string;
  offering: Offering;
  price_difference: Money;
  effective_date: string;
}
interface BillItem {
  id: string;
  kind: string;
  description: string;
  amount: Money;
  adjustable: boolean;
}
interface Bill {
  id: string;
  number: string;
  state: string;
  period_start: string;
  period_end: string;
  due: string;
  total: Money;
  unpaid: Money;
  items: BillItem[];
}
interface RetentionOffer {
  id: string;
  description: string;
  monthly_discount: Money;
  months: number;
}
interface Reason {
  code: string;
  labels: Record<string, string>;
}
interface Options {
  adjustment_reasons: Reason[];
  discontinue_reasons: Reason[];
  adjustment_limits: Money[];
}
export interface CareRequest {
  id: string;
  kind: string;
  state: 'pending' | 'approved' | 'rejected' | 'applied' | 'failed';
  result_ref: string | null;
  amount: Money | null;
  created_at: string;
}

type Tab = 'new' | 'modify' | 'adjust' | 'discontinue';
const TABS: Tab[] = ['new', 'modify', 'adjust', 'discontinue'];
type Errors = Record<string, string>;

const money = (m: Money, signed = false) => formatMoney(m, lang, signed);
const label = (r: Reason) => r.labels[lang] ?? r.labels.en ?? r.code;
const newKey = () => (globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random()}`);

/** Whether the signed-in member may use the forms on this conversation. */
export function mayUseCare(store: Store, conversation: Conversation): boolean {
  const roles = store.session.agent.roles;
  return conversation.assignee_id === store.me || roles.includes('supervisor') || roles.includes('admin');
}

export function Care(props: { store: Store; conversation: Conversation }): JSX.Element {
  const { store, conversation } = props;
  const [tab, setTab] = useState<Tab>('new');
  const [announcement, setAnnouncement] = useState('');
  const [options, setOptions] = useState<Options | null>(null);
  const tabRefs = useRef<Record<string, HTMLButtonElement | null>>({});
  useEffect(() => {
    store.api.request<Options>('GET', '/api/v1/care/options').then(setOptions, () => setOptions(null));
  }, []);
  useEffect(() => setAnnouncement(''), [conversation.id]);
  const base = `/api/v1/conversations/${conversation.id}/care`;
  const announce = (r: CareRequest) => {
    const text = r.state === 'pending'
      ? t('care.result.pending')
      : r.kind === 'bill_adjustment'
        ? t('care.result.adjusted', { ref: r.result_ref ?? '' })
        : t('care.result.ordered', { ref: r.result_ref ?? '' });
    setAnnouncement(text);
  };
  const onKey = (e: KeyboardEvent, i: number) => {
    const next = e.key === 'ArrowRight' ? (i + 1) % TABS.length : e.key === 'ArrowLeft' ? (i + TABS.length - 1) % TABS.length : -1;
    if (next < 0) return;
    e.preventDefault();
    setTab(TABS[next]);
    tabRefs.current[TABS[next]]?.focus();
  };
  return (
    <section aria-labelledby="care-title" class="care" data-testid="care">
      <h2 id="care-title">{t('care.title')}</h2>
      <div role="tablist" aria-label={t('care.title')} class="care-tabs">
        {TABS.map((name, i) => (
          <button key={name} type="button" role="tab" id={`care-tab-${name}`} aria-selected={tab === name} aria-controls={`care-panel-${name}`}
            tabIndex={tab === name ? 0 : -1} ref={(el) => { tabRefs.current[name] = el; }}
            onClick={() => setTab(name)} onKeyDown={(e) => onKey(e, i)}>
            {t(`care.tab.${name}`)}
          </button>
        ))}
      </div>
      <p role="status" aria-live="polite" class="care-result" data-testid="care-result">{announcement}</p>
      <div role="tabpanel" id={`care-panel-${tab}`} aria-labelledby={`care-tab-${tab}`} class="care-panel" key={`${conversation.id}-${tab}`}>
        {tab === 'new' && <NewService store={store} base={base} done={announce} />}
        {tab === 'modify' && <Modify store={store} base={base} done={announce} />}
        {tab === 'adjust' && <Adjust store={store} base={base} options={options} done={announce} />}
        {tab === 'discontinue' && <Discontinue store={store} base={base} options={options} done={announce} />}
      </div>
    </section>
  );
}

interface FormProps {
  store: Store;
  base: string;
  done: (r: CareRequest) => void;
}

/** The submit machinery the four forms share: errors per field (focus to the first), the
 * idempotency key, the busy state. */
function useSubmit(store: Store, done: (r: CareRequest) => void) {
  const form = useRef<HTMLFormElement>(null);
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const key = useRef(newKey());
  const focusFirst = () => requestAnimationFrame(() => {
    const el = form.current?.querySelector<HTMLElement>('[aria-invalid="true"], .care-form-error');
    // A group of radio buttons takes the focus on its first button.
    const target = el?.getAttribute('role') === 'radiogroup' ? el.querySelector<HTMLElement>('input') : el;
    target?.focus();
  });
  const fail = (next: Errors) => {
    setErrors(next);
    focusFirst();
  };
  const submit = async (path: string, body: unknown, local: Errors) => {
    if (Object.keys(local).length > 0) {
      fail(local);
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      const r = await store.api.request<CareRequest>('POST', path, body, false, { 'idempotency-key': key.current });
      key.current = newKey();
      done(r);
    } catch (e) {
      if (e instanceof ApiError && e.field) fail({ [e.field]: e.message });
      else fail({ '': e instanceof ApiError ? e.message : t('error.network') });
    } finally {
      setBusy(false);
    }
  };
  return { form, errors, busy, submit, setErrors };
}

/** aria-describedby for a field: its hint and its error. */
function described(id: string, errors: Errors, field: string, hint = false): { 'aria-describedby'?: string; 'aria-invalid'?: 'true' } {
  const ids = [hint ? `${id}-hint` : '', errors[field] ? `${id}-error` : ''].filter(Boolean).join(' ');
  return { ...(ids ? { 'aria-describedby': ids } : {}), ...(errors[field] ? { 'aria-invalid': 'true' as const } : {}) };
}

function FieldError({ id, errors, field }: { id: string; errors: Errors; field: string }): JSX.Element | null {
  return errors[field] ? <p id={`${id}-error`} class="error">{errors[field]}</p> : null;
}

function FormError({ errors }: { errors: Errors }): JSX.Element | null {
  return errors[''] ? <p class="error care-form-error" role="alert" tabIndex={-1}>{errors['']}</p> : null;
}

/** Loads the form's data; shows loading and failure. */
function useLoad<T>(store: Store, path: string): { data: T | null; error: string } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    store.api.request<T>('GET', path).then((d) => live && setData(d), (e) => live && setError(e instanceof ApiError ? e.message : t('error.network')));
    return () => { live = false; };
  }, [path]);
  return { data, error };
}

function Loading({ error }: { error: string }): JSX.Element {
  return error ? <p class="error" role="alert">{error}</p> : <p class="muted" role="status">{t('care.loading')}</p>;
}

function Note({ id, value, set }: { id: string; value: string; set: (v: string) => void }): JSX.Element {
  return (
    <>
      <label for={id}>{t('care.note')}</label>
      <textarea id={id} rows={2} maxLength={1000} value={value} onInput={(e) => set((e.currentTarget as HTMLTextAreaElement).value)} />
    </>
  );
}

function NewService({ store, base, done }: FormProps): JSX.Element {
  const { data, error } = useLoad<{ offerings: Offering[]; accounts: string[] }>(store, `${base}/catalogue`);
  const { form, errors, busy, submit } = useSubmit(store, done);
  const [offering, setOffering] = useState('');
  const [eligibility, setEligibility] = useState<{ eligible: boolean; reason: string | null; installation_dates: string[] } | null>(null);
  const [date, setDate] = useState('');
  const [note, setNote] = useState('');
  useEffect(() => {
    setEligibility(null);
    setDate('');
    if (!offering) return;
    store.api.request<typeof eligibility>('GET', `${base}/eligibility?offering=${encodeURIComponent(offering)}`).then(setEligibility, () => setEligibility(null));
  }, [offering]);
  if (!data) return <Loading error={error} />;
  const plans = data.offerings.filter((o) => o.kind === 'plan');
  const chosen = plans.find((o) => o.id === offering);
  const onSubmit = (e: Event) => {
    e.preventDefault();
    const local: Errors = {};
    if (!chosen) local.offering = t('care.error.choose_offering');
    else if (eligibility && !eligibility.eligible) local.offering = t('care.not_eligible', { reason: eligibility.reason ?? '' });
    else if (chosen.requires_installation && !date) local.installation_date = t('care.error.choose_date');
    void submit(`${base}/new-service`, { offering, installation_date: chosen?.requires_installation ? date : undefined, note: note || undefined }, local);
  };
  return (
    <form ref={form} onSubmit={onSubmit} noValidate data-testid="care-new">
      <fieldset>
        <legend>{t('care.new.legend')}</legend>
        <label for="care-new-offering">{t('care.new.offering')}</label>
        <select id="care-new-offering" value={offering} onChange={(e) => setOffering((e.currentTarget as HTMLSelectElement).value)} {...described('care-new-offering', errors, 'offering')}>
          <option value="">{t('care.choose')}</option>
          {plans.map((o) => <option key={o.id} value={o.id}>{t('care.new.option', { name: o.name, price: money(o.recurring_price) })}</option>)}
        </select>
        <FieldError id="care-new-offering" errors={errors} field="offering" />
        {chosen && (
          <dl class="care-facts">
            <dt>{t('care.monthly')}</dt><dd>{money(chosen.recurring_price)}</dd>
            {chosen.one_time_price && <><dt>{t('care.one_time')}</dt><dd>{money(chosen.one_time_price)}</dd></>}
            <dt>{t('care.commitment')}</dt><dd>{t('care.months', { n: chosen.commitment_months })}</dd>
          </dl>
        )}
        {chosen && eligibility && (eligibility.eligible
          ? <p class="ok" role="status">{t('care.eligible')}</p>
          : <p class="error" role="status">{t('care.not_eligible', { reason: eligibility.reason ?? '' })}</p>)}
        {chosen?.requires_installation && eligibility?.eligible && (
          <>
            <label for="care-new-date">{t('care.new.date')}</label>
            <select id="care-new-date" value={date} onChange={(e) => setDate((e.currentTarget as HTMLSelectElement).value)} {...described('care-new-date', errors, 'installation_date')}>
              <option value="">{t('care.choose')}</option>
              {eligibility.installation_dates.map((d) => <option key={d} value={d}>{formatDay(d, lang)}</option>)}
            </select>
            <FieldError id="care-new-date" errors={errors} field="installation_date" />
          </>
        )}
        <Note id="care-new-note" value={note} set={setNote} />
      </fieldset>
      <FormError errors={errors} />
      <button type="submit" class="primary" disabled={busy}>{t('care.new.submit')}</button>
    </form>
  );
}

function Modify({ store, base, done }: FormProps): JSX.Element {
  const { data, error } = useLoad<{ product: Product; changes: Change[] }[]>(store, `${base}/changes`);
  const { form, errors, busy, submit } = useSubmit(store, done);
  const [product, setProduct] = useState('');
  const [offering, setOffering] = useState('');
  const [note, setNote] = useState('');
  if (!data) return <Loading error={error} />;
  const entry = data.find((p) => p.product.id === product);
  const onSubmit = (e: Event) => {
    e.preventDefault();
    const local: Errors = {};
    if (!entry) local.product = t('care.error.choose_product');
    else if (!offering) local.offering = t('care.error.choose_change');
    void submit(`${base}/modify-service`, { product, offering, note: note || undefined }, local);
  };
  return (
    <form ref={form} onSubmit={onSubmit} noValidate data-testid="care-modify">
      <fieldset>
        <legend>{t('care.modify.legend')}</legend>
        <label for="care-modify-product">{t('care.product')}</label>
        <select id="care-modify-product" value={product} onChange={(e) => { setProduct((e.currentTarget as HTMLSelectElement).value); setOffering(''); }}
          {...described('care-modify-product', errors, 'product')}>
          <option value="">{t('care.choose')}</option>
          {data.map((p) => <option key={p.product.id} value={p.product.id}>{productName(p.product)}</option>)}
        </select>
        <FieldError id="care-modify-product" errors={errors} field="product" />
        {entry && (
          <fieldset class="care-choices" role="radiogroup" {...described('care-modify-offering', errors, 'offering')}>
            <legend>{t('care.modify.change')}</legend>
            {entry.changes.length === 0 && <p class="muted">{t('care.modify.none')}</p>}
            {entry.changes.map((c) => {
              const id = `care-modify-${c.offering.id}`;
              return (
                <div key={c.offering.id} class="care-choice">
                  <input type="radio" id={id} name="care-modify-offering" value={c.offering.id} checked={offering === c.offering.id}
                    onChange={() => setOffering(c.offering.id)} />
                  <label for={id}>
                    {t(`care.change.${c.kind}`)}: {c.offering.name} ({t('care.modify.difference', { amount: money(c.price_difference, true) })},{' '}
                    {t('care.modify.effective', { date: formatDay(c.effective_date, lang) })})
                  </label>
                </div>
              );
            })}
            <FieldError id="care-modify-offering" errors={errors} field="offering" />
          </fieldset>
        )}
        <Note id="care-modify-note" value={note} set={setNote} />
      </fieldset>
      <FormError errors={errors} />
      <button type="submit" class="primary" disabled={busy}>{t('care.modify.submit')}</button>
    </form>
  );
}

function productName(p: Product): string {
  return p.identifier ? `${p.name} (${p.identifier})` : p.name;
}

function Adjust({ store, base, options, done }: FormProps & { options: Options | null }): JSX.Element {
  const { data, error } = useLoad<Bill[]>(store, `${base}/bills`);
  const { form, errors, busy, submit } = useSubmit(store, done);
  const [billId, setBillId] = useState('');
  const [bill, setBill] = useState<Bill | null>(null);
  const [item, setItem] = useState('');
  const [amount, setAmount] = useState('');
  const [reason, setReason] = useState('');
  const [note, setNote] = useState('');
  useEffect(() => {
    setBill(null);
    setItem('');
    if (!billId) return;
    store.api.request<Bill>('GET', `${base}/bills/${encodeURIComponent(billId)}`).then(setBill, () => setBill(null));
  }, [billId]);
  if (!data || !options) return <Loading error={error} />;
  const currency = bill?.total.currency ?? data[0]?.total.currency ?? 'EUR';
  const limit = options.adjustment_limits.find((l) => l.currency === currency);
  const onSubmit = (e: Event) => {
    e.preventDefault();
    const local: Errors = {};
    if (!bill) local.bill = t('care.error.choose_bill');
    if (!amount.trim()) local.amount = t('care.error.amount');
    if (!reason) local.reason = t('care.error.choose_reason');
    void submit(`${base}/adjustments`, { bill: billId, item: item || undefined, amount: amount.trim(), reason, note: note || undefined }, local);
  };
  return (
    <form ref={form} onSubmit={onSubmit} noValidate data-testid="care-adjust">
      <fieldset>
        <legend>{t('care.adjust.legend')}</legend>
        <label for="care-adjust-bill">{t('care.adjust.bill')}</label>
        <select id="care-adjust-bill" value={billId} onChange={(e) => setBillId((e.currentTarget as HTMLSelectElement).value)} {...described('care-adjust-bill', errors, 'bill')}>
          <option value="">{t('care.choose')}</option>
          {data.map((b) => (
            <option key={b.id} value={b.id}>
              {t('care.adjust.bill_option', { number: b.number, period: `${formatDay(b.period_start, lang)} – ${formatDay(b.period_end, lang)}`, total: money(b.total) })}
            </option>
          ))}
        </select>
        <FieldError id="care-adjust-bill" errors={errors} field="bill" />
        {bill && (
          <dl class="care-facts">
            <dt>{t('care.adjust.total')}</dt><dd>{money(bill.total)}</dd>
            <dt>{t('care.adjust.unpaid')}</dt><dd>{money(bill.unpaid)}</dd>
          </dl>
        )}
        {bill && (
          <>
            <label for="care-adjust-item">{t('care.adjust.item')}</label>
            <select id="care-adjust-item" value={item} onChange={(e) => setItem((e.currentTarget as HTMLSelectElement).value)} {...described('care-adjust-item', errors, 'item')}>
              <option value="">{t('care.adjust.whole_bill')}</option>
              {bill.items.filter((i) => i.adjustable).map((i) => <option key={i.id} value={i.id}>{`${i.description} (${money(i.amount)})`}</option>)}
            </select>
            <FieldError id="care-adjust-item" errors={errors} field="item" />
          </>
        )}
        <label for="care-adjust-amount">{t('care.adjust.amount', { currency })}</label>
        <input id="care-adjust-amount" inputMode="decimal" autocomplete="off" value={amount} onInput={(e) => setAmount((e.currentTarget as HTMLInputElement).value)}
          {...described('care-adjust-amount', errors, 'amount', true)} />
        <p id="care-adjust-amount-hint" class="hint">
          {limit ? t('care.adjust.limit', { limit: money(limit) }) : t('care.adjust.no_limit')}
        </p>
        <FieldError id="care-adjust-amount" errors={errors} field="amount" />
        <label for="care-adjust-reason">{t('care.reason')}</label>
        <select id="care-adjust-reason" value={reason} onChange={(e) => setReason((e.currentTarget as HTMLSelectElement).value)} {...described('care-adjust-reason', errors, 'reason')}>
          <option value="">{t('care.choose')}</option>
          {options.adjustment_reasons.map((r) => <option key={r.code} value={r.code}>{label(r)}</option>)}
        </select>
        <FieldError id="care-adjust-reason" errors={errors} field="reason" />
        <Note id="care-adjust-note" value={note} set={setNote} />
      </fieldset>
      <FormError errors={errors} />
      <button type="submit" class="primary" disabled={busy}>{t('care.adjust.submit')}</button>
    </form>
  );
}

function Discontinue({ store, base, options, done }: FormProps & { options: Options | null }): JSX.Element {
  const { data, error } = useLoad<{ product: Product; retention_offers: RetentionOffer[] }[]>(store, `${base}/cancellable`);
  const { form, errors, busy, submit } = useSubmit(store, done);
  const [product, setProduct] = useState('');
  const [reason, setReason] = useState('');
  const [offer, setOffer] = useState('');
  const [result, setResult] = useState('');
  const [consent, setConsent] = useState('');
  const [note, setNote] = useState('');
  if (!data || !options) return <Loading error={error} />;
  const entry = data.find((p) => p.product.id === product);
  const fee = entry?.product.early_termination_fee;
  const onSubmit = (e: Event) => {
    e.preventDefault();
    const local: Errors = {};
    if (!entry) local.product = t('care.error.choose_product');
    if (!reason) local.reason = t('care.error.choose_reason');
    if (offer && !result) local.retention_result = t('care.error.choose_result');
    if (!consent) local.marketing_consent = t('care.error.consent');
    void submit(`${base}/discontinue`, {
      product,
      reason,
      retention_offer: offer || undefined,
      retention_result: offer ? result || undefined : undefined,
      marketing_consent: consent === '' ? undefined : consent === 'yes',
      note: note || undefined,
    }, local);
  };
  const radio = (group: string, value: string, current: string, set: (v: string) => void, text: string) => (
    <div class="care-choice" key={value}>
      <input type="radio" id={`${group}-${value}`} name={group} value={value} checked={current === value} onChange={() => set(value)} />
      <label for={`${group}-${value}`}>{text}</label>
    </div>
  );
  return (
    <form ref={form} onSubmit={onSubmit} noValidate data-testid="care-discontinue">
      <fieldset>
        <legend>{t('care.discontinue.legend')}</legend>
        <label for="care-disc-product">{t('care.product')}</label>
        <select id="care-disc-product" value={product} onChange={(e) => { setProduct((e.currentTarget as HTMLSelectElement).value); setOffer(''); setResult(''); }}
          {...described('care-disc-product', errors, 'product')}>
          <option value="">{t('care.choose')}</option>
          {data.map((p) => <option key={p.product.id} value={p.product.id}>{productName(p.product)}</option>)}
        </select>
        <FieldError id="care-disc-product" errors={errors} field="product" />
        {entry && (
          <dl class="care-facts">
            <dt>{t('care.discontinue.fee')}</dt>
            <dd data-testid="care-fee">{fee && fee.minor > 0 ? money(fee) : t('care.discontinue.no_fee')}</dd>
            {entry.product.commitment_end && <><dt>{t('care.discontinue.commitment_end')}</dt><dd>{formatDay(entry.product.commitment_end, lang)}</dd></>}
          </dl>
        )}
        <label for="care-disc-reason">{t('care.reason')}</label>
        <select id="care-disc-reason" value={reason} onChange={(e) => setReason((e.currentTarget as HTMLSelectElement).value)} {...described('care-disc-reason', errors, 'reason')}>
          <option value="">{t('care.choose')}</option>
          {options.discontinue_reasons.map((r) => <option key={r.code} value={r.code}>{label(r)}</option>)}
        </select>
        <FieldError id="care-disc-reason" errors={errors} field="reason" />
        {entry && entry.retention_offers.length > 0 && (
          <>
            <label for="care-disc-offer">{t('care.discontinue.offer')}</label>
            <select id="care-disc-offer" value={offer} onChange={(e) => { setOffer((e.currentTarget as HTMLSelectElement).value); setResult(''); }}
              {...described('care-disc-offer', errors, 'retention_offer')}>
              <option value="">{t('care.discontinue.no_offer')}</option>
              {entry.retention_offers.map((o) => (
                <option key={o.id} value={o.id}>{t('care.discontinue.offer_option', { description: o.description, discount: money(o.monthly_discount), months: o.months })}</option>
              ))}
            </select>
            <FieldError id="care-disc-offer" errors={errors} field="retention_offer" />
          </>
        )}
        {offer && (
          <fieldset class="care-choices" role="radiogroup" {...described('care-disc-result', errors, 'retention_result')}>
            <legend>{t('care.discontinue.result')}</legend>
            {radio('care-disc-result', 'accepted', result, setResult, t('care.discontinue.accepted'))}
            {radio('care-disc-result', 'declined', result, setResult, t('care.discontinue.declined'))}
            <FieldError id="care-disc-result" errors={errors} field="retention_result" />
          </fieldset>
        )}
        <fieldset class="care-choices" role="radiogroup" {...described('care-disc-consent', errors, 'marketing_consent')}>
          <legend>{t('care.discontinue.consent')}</legend>
          {radio('care-disc-consent', 'yes', consent, setConsent, t('care.yes'))}
          {radio('care-disc-consent', 'no', consent, setConsent, t('care.no'))}
          <FieldError id="care-disc-consent" errors={errors} field="marketing_consent" />
        </fieldset>
        <Note id="care-disc-note" value={note} set={setNote} />
      </fieldset>
      <FormError errors={errors} />
      <button type="submit" class="primary" disabled={busy}>{offer && result === 'accepted' ? t('care.discontinue.submit_keep') : t('care.discontinue.submit')}</button>
    </form>
  );
}
