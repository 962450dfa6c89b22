// The audit console (auditors only): the audit trail's entries newest first, filtered by action,
// staff member, target and time, in pages; an export of the filtered entries (NDJSON); and a
// check of the hash chain. The hub records every read, export and check in the trail itself.

import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { ConsoleProps } from '../console/types';
import { ApiError } from '../workspace/api';
import { currentLang } from '../shared/lang';
import { saveBlob } from '../shared/save';
import { t } from './i18n';
import './auditor.css';

/** The hub's closed set of audited actions (`schema::AuditAction`). */
const ACTIONS = [
  'auth.sign_in', 'auth.sign_in_failed', 'auth.sign_out',
  'account.created', 'account.roles_changed', 'account.disabled', 'account.enabled', 'account.password_reset',
  'account.sessions_ended', 'account.routing_changed', 'account.sip_changed', 'account.team_changed', 'agent.presence_changed',
  'customer.read', 'customer.history_read',
  'ticket.handed_over', 'ticket.accepted', 'ticket.rejected', 'ticket.resolved', 'ticket.pending', 'ticket.transferred',
  'ticket.noted', 'ticket.tagged',
  'rules.published', 'rules.restored',
  'kb.created', 'kb.published', 'kb.updated', 'kb.archived', 'kb.restored', 'kb.imported',
  'intents.changed', 'canned.created', 'canned.updated', 'canned.deleted',
  'settings.changed', 'channels.social_account_added',
  'audit.read', 'audit.exported', 'audit.verified', 'audit.pruned',
] as const;
const TARGETS = ['agent', 'customer', 'ticket', 'conversation', 'rules', 'document', 'intent', 'canned_response', 'setting', 'social_account', 'audit'] as const;
const PAGE = 50;

interface Entry {
  seq: number;
  at: string;
  actor_kind: string;
  actor_id: string | null;
  action: string;
  target_kind: string | null;
  target_id: string | null;
  source_ip: string | null;
  before: unknown;
  after: unknown;
  details: unknown;
  hash: string;
}

interface Verification {
  checked: number;
  intact: boolean;
  complete: boolean;
  broken: { seq: number; reason: string } | null;
  anchor: { seq: number; hash: string } | null;
}

type Filters = { action: string; actor: string; target_kind: string; target_id: string; from: string; to: string };
const NO_FILTERS: Filters = { action: '', actor: '', target_kind: '', target_id: '', from: '', to: '' };
const FIELDS = ['action', 'actor', 'target_kind', 'target_id', 'from', 'to'] as const;

/** The query string of `filters` (times from the local `datetime-local` value to UTC). */
function query(filters: Filters, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams(extra);
  for (const f of FIELDS) {
    const v = filters[f].trim();
    if (!v) continue;
    if (f === 'from' || f === 'to') {
      const at = new Date(v);
      q.set(f, Number.isNaN(at.getTime()) ? v : at.toISOString());
    } else q.set(f, v);
  }
  return q.toString();
}

function when(iso: string): string {
  return new Intl.DateTimeFormat(currentLang(), { dateStyle: 'short', timeStyle: 'medium' }).format(new Date(iso));
}

function explain(e: unknown): string {
  if (!(e instanceof ApiError)) return t('error.network');
  if (e.status === 403) return t('error.forbidden');
  if (e.status === 422 && e.field) return t('error.field', { field: t(`field.${e.field}`), message: e.message });
  return e.message || t('error.network');
}

function Change({ entry }: { entry: Entry }): JSX.Element | null {
  const parts = (['before', 'after', 'details'] as const).filter((k) => entry[k] !== null && entry[k] !== undefined);
  if (!parts.length) return null;
  return (
    <details>
      <summary>{t('table.show')}<span class="visually-hidden"> {t('table.of_entry', { seq: String(entry.seq) })}</span></summary>
      {parts.map((k) => (
        <div key={k}>
          <strong>{t(`change.${k}`)}</strong>
          <pre>{JSON.stringify(entry[k], null, 2)}</pre>
        </div>
      ))}
    </details>
  );
}

export default function AuditorConsole({ session, api }: ConsoleProps): JSX.Element {
  const [form, setForm] = useState<Filters>(NO_FILTERS);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  // Cursors of the pages shown so far: the last is the current page's.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [items, setItems] = useState<Entry[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<{ field?: string; text: string } | null>(null);
  const [verification, setVerification] = useState<Verification | null>(null);
  const [status, setStatus] = useState('');
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    document.title = `${t('title')} · Switchboard`;
  }, []);
  const cursor = cursors[cursors.length - 1];
  useEffect(() => {
    setError(null);
    const extra: Record<string, string> = { limit: String(PAGE) };
    if (cursor) extra.cursor = cursor;
    api.request<{ items: Entry[]; next_cursor: string | null }>('GET', `/api/v1/audit?${query(filters, extra)}`).then(
      (page) => {
        setVerification(null);
        setItems(page.items);
        setNext(page.next_cursor);
        setStatus(t('status.shown', { count: String(page.items.length) }));
      },
      (e) => setError({ field: e instanceof ApiError ? e.field : undefined, text: explain(e) }),
    );
  }, [filters, cursor]);

  const apply = (e: Event) => {
    e.preventDefault();
    setFilters({ ...form });
    setCursors([null]);
  };
  const clear = () => {
    setForm(NO_FILTERS);
    setFilters(NO_FILTERS);
    setCursors([null]);
  };
  const verify = async () => {
    setBusy(true);
    setVerification(null);
    setStatus(t('verify.running'));
    try {
      const v = await api.request<Verification>('GET', '/api/v1/audit/verify');
      setVerification(v);
      setStatus('');
    } catch (e) {
      setError({ text: explain(e) });
      setStatus('');
    } finally {
      setBusy(false);
    }
  };
  const exportAll = async () => {
    setBusy(true);
    setVerification(null);
    setStatus(t('export.running'));
    try {
      const res = await fetch(`/api/v1/audit/export?${query(filters)}`, { headers: { authorization: `Bearer ${session.token}` } });
      if (!res.ok) throw new ApiError(res.status, 'export_failed', res.statusText);
      saveBlob(await res.blob(), 'audit.ndjson');
      setStatus(t('export.done'));
    } catch (e) {
      setError({ text: explain(e) });
      setStatus('');
    } finally {
      setBusy(false);
    }
  };
  const invalid = (f: string) => (error?.field === f ? { 'aria-invalid': true as const, 'aria-describedby': 'audit-error' } : {});
  const set = (f: keyof Filters) => (e: Event) => setForm({ ...form, [f]: (e.currentTarget as HTMLInputElement).value });

  return (
    <div class="auditor">
      <h1>{t('title')}</h1>
      <p class="hint">{t('intro')}</p>
      <form class="audit-filters" onSubmit={apply} aria-label={t('filters')}>
        <label>
          {t('field.action')}
          <select value={form.action} onChange={set('action')} {...invalid('action')}>
            <option value="">{t('any')}</option>
            {ACTIONS.map((a) => <option key={a} value={a}>{a}</option>)}
          </select>
        </label>
        <label>
          {t('field.actor')}
          <input type="text" value={form.actor} onInput={set('actor')} spellcheck={false} {...invalid('actor')} />
        </label>
        <label>
          {t('field.target_kind')}
          <select value={form.target_kind} onChange={set('target_kind')} {...invalid('target_kind')}>
            <option value="">{t('any')}</option>
            {TARGETS.map((k) => <option key={k} value={k}>{k}</option>)}
          </select>
        </label>
        <label>
          {t('field.target_id')}
          <input type="text" value={form.target_id} onInput={set('target_id')} spellcheck={false} {...invalid('target_id')} />
        </label>
        <label>
          {t('field.from')}
          <input type="datetime-local" step={1} value={form.from} onInput={set('from')} {...invalid('from')} />
        </label>
        <label>
          {t('field.to')}
          <input type="datetime-local" step={1} value={form.to} onInput={set('to')} {...invalid('to')} />
        </label>
        <div class="audit-buttons">
          <button type="submit" class="primary">{t('apply')}</button>
          <button type="button" onClick={clear}>{t('clear')}</button>
        </div>
      </form>

      <div class="audit-buttons">
        <button type="button" onClick={exportAll} disabled={busy}>{t('export')}</button>
        <button type="button" onClick={verify} disabled={busy}>{t('verify')}</button>
        <span class="spacer" />
      </div>
      {error && <p id="audit-error" class="error" role="alert">{error.text}</p>}
      <p class="audit-status" role="status">
        {verification
          ? verification.intact
            ? <span class="audit-ok">{t(verification.complete ? 'verify.intact' : 'verify.intact_partial', { count: String(verification.checked) })}</span>
            : <span class="audit-broken">{t('verify.broken', { seq: String(verification.broken?.seq ?? ''), reason: verification.broken?.reason ?? '', count: String(verification.checked) })}</span>
          : status}
      </p>

      <h2 id="audit-entries">{t('entries')}</h2>
      <div class="audit-table-wrap">
        <table class="audit-table" aria-labelledby="audit-entries">
          <thead>
            <tr>
              <th scope="col">{t('table.seq')}</th>
              <th scope="col">{t('table.at')}</th>
              <th scope="col">{t('table.actor')}</th>
              <th scope="col">{t('table.action')}</th>
              <th scope="col">{t('table.target')}</th>
              <th scope="col">{t('table.source')}</th>
              <th scope="col">{t('table.change')}</th>
            </tr>
          </thead>
          <tbody>
            {items?.map((e) => (
              <tr key={e.seq}>
                <th scope="row">{e.seq}</th>
                <td><time dateTime={e.at}>{when(e.at)}</time></td>
                <td>{t(`actor.${e.actor_kind}`)}{e.actor_id && <> <code>{e.actor_id}</code></>}</td>
                <td><code>{e.action}</code></td>
                <td>{e.target_kind && <>{e.target_kind} <code>{e.target_id}</code></>}</td>
                <td>{e.source_ip && <code>{e.source_ip}</code>}</td>
                <td><Change entry={e} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {items && !items.length && <p>{t('empty')}</p>}
      <nav class="audit-pager" aria-label={t('pages')}>
        <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>{t('newer')}</button>
        <button type="button" disabled={!next} onClick={() => next && setCursors([...cursors, next])}>{t('older')}</button>
      </nav>
    </div>
  );
}
