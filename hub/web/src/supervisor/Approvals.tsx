// The supervisor console's approvals tab: bill adjustments over the agents' limits waiting for a
// decision (approve, which applies the credit after step-up, or reject with a note), and the
// adjustments report (every adjustment by agent, reason, state and dates, with totals per
// currency). Amounts are formatted with Intl; results are announced in a live region.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { ConsoleProps } from '../console/types';
import { ApiError } from '../workspace/api';
import { currentLang } from '../shared/lang';
import { formatMoney, type Money } from '../shared/money';
import { t } from './i18n';

interface Adjustment {
  id: string;
  state: string;
  agent_id: string;
  agent_name: string | null;
  conversation_id: string;
  bill: string | null;
  item: string | null;
  amount: Money | null;
  reason: string | null;
  note: string;
  detail: { bill_number?: string; item_description?: string | null };
  decision_note: string | null;
  created_at: string;
}

interface Total {
  currency: string;
  applied_count: number;
  applied: Money;
  pending_count: number;
  pending: Money;
}

interface Reason {
  code: string;
  labels: Record<string, string>;
}

const STATES = ['pending', 'approved', 'applied', 'rejected', 'failed'];

export function Approvals({ api }: ConsoleProps): JSX.Element {
  const lang = currentLang();
  const [pending, setPending] = useState<Adjustment[] | null>(null);
  const [status, setStatus] = useState('');
  const [error, setError] = useState('');
  const [reasons, setReasons] = useState<Reason[]>([]);
  const [rejecting, setRejecting] = useState<string | null>(null);
  const money = (m: Money | null) => (m ? formatMoney(m, lang) : '—');
  const reasonLabel = (code: string | null) => {
    const r = reasons.find((x) => x.code === code);
    return r ? (r.labels[lang] ?? r.labels.en ?? r.code) : (code ?? '—');
  };
  const load = () =>
    api.request<Adjustment[]>('GET', '/api/v1/care/approvals?state=pending').then(setPending, (e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  useEffect(() => {
    void load();
    api.request<{ adjustment_reasons: Reason[] }>('GET', '/api/v1/care/options').then((o) => setReasons(o.adjustment_reasons), () => undefined);
  }, []);
  const approve = async (a: Adjustment) => {
    setError('');
    try {
      await api.request('POST', `/api/v1/care/approvals/${a.id}/approve`, {});
      setStatus(t('care.approvals.approved', { amount: money(a.amount) }));
      await load();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <div class="care-approvals">
      <p role="status" aria-live="polite" class="care-status" data-testid="care-approvals-status">{status}</p>
      {error && <p class="error" role="alert">{error}</p>}
      <section aria-labelledby="care-pending-title">
        <h2 id="care-pending-title">{t('care.approvals.title')}</h2>
        {pending === null ? <p class="muted" role="status">{t('care.loading')}</p> : pending.length === 0 ? <p class="muted">{t('care.approvals.none')}</p> : (
          <table class="care-table" data-testid="care-pending">
            <caption class="visually-hidden">{t('care.approvals.title')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('care.col.when')}</th><th scope="col">{t('care.col.agent')}</th><th scope="col">{t('care.col.bill')}</th>
                <th scope="col">{t('care.col.amount')}</th><th scope="col">{t('care.col.reason')}</th><th scope="col">{t('care.col.note')}</th>
                <th scope="col">{t('care.col.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {pending.map((a) => (
                <tr key={a.id}>
                  <td><time dateTime={a.created_at}>{new Date(a.created_at).toLocaleString(lang)}</time></td>
                  <td>{a.agent_name ?? a.agent_id.slice(-8)}</td>
                  <td>{a.detail.bill_number ?? a.bill}{a.detail.item_description ? ` · ${a.detail.item_description}` : ''}</td>
                  <td>{money(a.amount)}</td>
                  <td>{reasonLabel(a.reason)}</td>
                  <td>{a.note || '—'}</td>
                  <td>
                    {rejecting === a.id ? (
                      <RejectForm id={a.id} api={api} onDone={(text) => { setRejecting(null); setStatus(text); void load(); }} onCancel={() => setRejecting(null)} />
                    ) : (
                      <>
                        <button type="button" class="primary" onClick={() => void approve(a)}>{t('care.approvals.approve')}</button>{' '}
                        <button type="button" onClick={() => setRejecting(a.id)}>{t('care.approvals.reject')}</button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <Report api={api} reasons={reasons} reasonLabel={reasonLabel} />
    </div>
  );
}

function RejectForm({ id, api, onDone, onCancel }: { id: string; api: ConsoleProps['api']; onDone: (text: string) => void; onCancel: () => void }): JSX.Element {
  const [note, setNote] = useState('');
  const [error, setError] = useState('');
  const input = useRef<HTMLTextAreaElement>(null);
  useEffect(() => input.current?.focus(), []);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!note.trim()) {
      setError(t('care.approvals.note_required'));
      input.current?.focus();
      return;
    }
    try {
      await api.request('POST', `/api/v1/care/approvals/${id}/reject`, { note });
      onDone(t('care.approvals.rejected'));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
      input.current?.focus();
    }
  };
  const fieldId = `care-reject-${id}`;
  return (
    <form onSubmit={submit} noValidate class="care-reject">
      <label for={fieldId}>{t('care.approvals.reject_note')}</label>
      <textarea id={fieldId} ref={input} rows={2} maxLength={1000} value={note} aria-invalid={error ? 'true' : undefined}
        aria-describedby={error ? `${fieldId}-error` : undefined} onInput={(e) => setNote((e.currentTarget as HTMLTextAreaElement).value)} />
      {error && <p id={`${fieldId}-error`} class="error">{error}</p>}
      <button type="submit" class="primary">{t('care.approvals.reject')}</button>{' '}
      <button type="button" onClick={onCancel}>{t('care.cancel')}</button>
    </form>
  );
}

function Report(props: { api: ConsoleProps['api']; reasons: Reason[]; reasonLabel: (code: string | null) => string }): JSX.Element {
  const { api, reasons, reasonLabel } = props;
  const lang = currentLang();
  const [agent, setAgent] = useState('');
  const [reason, setReason] = useState('');
  const [state, setState] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [report, setReport] = useState<{ adjustments: Adjustment[]; totals: Total[] } | null>(null);
  const [agents, setAgents] = useState<{ id: string; name: string }[]>([]);
  const [error, setError] = useState('');
  const run = async (e?: Event) => {
    e?.preventDefault();
    const q = new URLSearchParams();
    if (agent) q.set('agent', agent);
    if (reason) q.set('reason', reason);
    if (state) q.set('state', state);
    if (from) q.set('from', from);
    if (to) q.set('to', to);
    try {
      setError('');
      setReport(await api.request('GET', `/api/v1/care/adjustments?${q}`));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  useEffect(() => {
    void run();
    api.request<{ id: string; name: string }[]>('GET', '/api/v1/agents').then(setAgents, () => undefined);
  }, []);
  const money = (m: Money | null) => (m ? formatMoney(m, lang) : '—');
  return (
    <section aria-labelledby="care-report-title">
      <h2 id="care-report-title">{t('care.report.title')}</h2>
      <form onSubmit={run} class="care-filters">
        <fieldset>
          <legend>{t('care.report.filters')}</legend>
          <label for="care-f-agent">{t('care.col.agent')}</label>
          <select id="care-f-agent" value={agent} onChange={(e) => setAgent((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">{t('care.report.all')}</option>
            {agents.map((a) => <option key={a.id} value={a.id}>{a.name}</option>)}
          </select>
          <label for="care-f-reason">{t('care.col.reason')}</label>
          <select id="care-f-reason" value={reason} onChange={(e) => setReason((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">{t('care.report.all')}</option>
            {reasons.map((r) => <option key={r.code} value={r.code}>{reasonLabel(r.code)}</option>)}
          </select>
          <label for="care-f-state">{t('care.col.state')}</label>
          <select id="care-f-state" value={state} onChange={(e) => setState((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">{t('care.report.all')}</option>
            {STATES.map((s) => <option key={s} value={s}>{t(`care.state.${s}`)}</option>)}
          </select>
          <label for="care-f-from">{t('care.report.from')}</label>
          <input id="care-f-from" type="date" value={from} onInput={(e) => setFrom((e.currentTarget as HTMLInputElement).value)} />
          <label for="care-f-to">{t('care.report.to')}</label>
          <input id="care-f-to" type="date" value={to} onInput={(e) => setTo((e.currentTarget as HTMLInputElement).value)} />
          <button type="submit">{t('care.report.show')}</button>
        </fieldset>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      {report && (
        <>
          <h3>{t('care.report.totals')}</h3>
          {report.totals.length === 0 ? <p class="muted">{t('care.report.empty')}</p> : (
            <ul class="care-totals" data-testid="care-totals">
              {report.totals.map((x) => (
                <li key={x.currency}>{t('care.report.total_line', { applied: money(x.applied), applied_count: x.applied_count, pending: money(x.pending), pending_count: x.pending_count })}</li>
              ))}
            </ul>
          )}
          {report.adjustments.length > 0 && (
            <table class="care-table" data-testid="care-report">
              <caption class="visually-hidden">{t('care.report.title')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('care.col.when')}</th><th scope="col">{t('care.col.agent')}</th><th scope="col">{t('care.col.reason')}</th>
                  <th scope="col">{t('care.col.amount')}</th><th scope="col">{t('care.col.state')}</th>
                </tr>
              </thead>
              <tbody>
                {report.adjustments.map((a) => (
                  <tr key={a.id}>
                    <td><time dateTime={a.created_at}>{new Date(a.created_at).toLocaleString(lang)}</time></td>
                    <td>{a.agent_name ?? a.agent_id.slice(-8)}</td>
                    <td>{reasonLabel(a.reason)}</td>
                    <td>{money(a.amount)}</td>
                    <td>{t(`care.state.${a.state}`)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
