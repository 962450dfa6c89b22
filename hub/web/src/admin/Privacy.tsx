// Data-subject rights: find a customer (name, e-mail, phone or platform id), see what is held
// about them, download everything as an archive, set or clear a legal hold, and erase them after
// typing their identifier to confirm.

import { useEffect, useRef, useState } from 'preact/hooks';
import { Fragment, type JSX } from 'preact';
import { ApiError, type Api } from '../workspace/api';
import type { CustomerMatch, CustomerPrivacy } from './api';
import { Dialog } from './Dialog';
import { explain } from './Staff';
import { t } from './i18n';
import { day } from '../workspace/i18n';

const KINDS = [
  'handles', 'conversations', 'messages', 'emails', 'email_attachments', 'uploads', 'calls',
  'bot_answers', 'unanswered_questions', 'tickets', 'ticket_events', 'ticket_notes',
] as const;

function reason(e: unknown): string {
  if (e instanceof ApiError && e.code === 'legal_hold') return t('privacy.error.legal_hold');
  if (e instanceof ApiError && e.status === 404) return t('privacy.error.not_found');
  return explain(e);
}

/** What the erase dialog asks to type: the e-mail address if there is one, else the id. */
function identifier(c: CustomerMatch): string {
  return c.email ?? c.id;
}

export function Privacy({ api }: { api: Api }): JSX.Element {
  const [query, setQuery] = useState('');
  const [matches, setMatches] = useState<CustomerMatch[] | null>(null);
  const [chosen, setChosen] = useState<CustomerMatch | null>(null);
  const [detail, setDetail] = useState<CustomerPrivacy | null>(null);
  const [error, setError] = useState('');
  const [status, setStatus] = useState('');
  const [busy, setBusy] = useState(false);
  const [erasing, setErasing] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);

  const search = async (e: Event) => {
    e.preventDefault();
    setError('');
    setStatus('');
    try {
      const found = await api.request<CustomerMatch[]>('GET', `/api/v1/customers?${new URLSearchParams({ q: query })}`);
      setMatches(found);
      setStatus(t('privacy.found', { count: found.length }));
    } catch (err) {
      setError(reason(err));
    }
  };
  const choose = async (c: CustomerMatch) => {
    setError('');
    setStatus('');
    try {
      setDetail(await api.request<CustomerPrivacy>('GET', `/api/v1/customers/${c.id}/privacy`));
      setChosen(c);
    } catch (err) {
      setError(reason(err));
    }
  };
  useEffect(() => {
    if (chosen) heading.current?.focus();
  }, [chosen?.id]);

  const exportArchive = async () => {
    if (!chosen) return;
    setBusy(true);
    setError('');
    setStatus(t('privacy.exporting'));
    try {
      await api.downloadPost(`/api/v1/customers/${chosen.id}/export`, `customer-${chosen.id}.tar.gz`);
      setStatus(t('privacy.exported'));
    } catch (err) {
      setStatus('');
      setError(reason(err));
    }
    setBusy(false);
  };
  const toggleHold = async () => {
    if (!chosen || !detail) return;
    setBusy(true);
    setError('');
    try {
      const next = await api.request<CustomerPrivacy>('PUT', `/api/v1/customers/${chosen.id}/legal-hold`, { hold: !detail.legal_hold });
      setDetail(next);
      setStatus(t(next.legal_hold ? 'privacy.hold_set' : 'privacy.hold_cleared'));
    } catch (err) {
      setError(reason(err));
    }
    setBusy(false);
  };
  const erased = (next: CustomerPrivacy) => {
    setDetail(next);
    setErasing(false);
    if (chosen) setChosen({ ...chosen, name: null, email: null, erased: true });
    setMatches((m) => m?.map((x) => (x.id === next.id ? { ...x, name: null, email: null, erased: true } : x)) ?? null);
    setStatus(t('privacy.erased'));
  };

  return (
    <section aria-labelledby="privacy-title">
      <h2 id="privacy-title">{t('tab.privacy')}</h2>
      <p class="hint">{t('privacy.intro')}</p>
      <form class="admin-form admin-narrow" role="search" onSubmit={search} aria-label={t('privacy.search')}>
        <div class="admin-field">
          <label for="privacy-q">{t('privacy.query')}</label>
          <input id="privacy-q" type="search" required maxLength={100} value={query} aria-describedby="privacy-q-hint"
            onInput={(e) => setQuery((e.currentTarget as HTMLInputElement).value)} />
          <p id="privacy-q-hint" class="hint">{t('privacy.query_hint')}</p>
        </div>
        <div class="admin-buttons">
          <button type="submit" class="primary">{t('privacy.search')}</button>
        </div>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      <p class="admin-status" role="status">{status}</p>
      {matches && matches.length > 0 && (
        <div class="admin-table-wrap">
          <table class="admin-table" aria-label={t('privacy.results')}>
            <thead>
              <tr>
                <th scope="col">{t('privacy.name')}</th>
                <th scope="col">{t('privacy.email')}</th>
                <th scope="col">{t('privacy.state')}</th>
                <th scope="col">{t('staff.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {matches.map((m) => (
                <tr key={m.id}>
                  <th scope="row">{m.name ?? t('privacy.no_name')}</th>
                  <td>{m.email ?? '—'}</td>
                  <td>
                    {m.erased ? t('privacy.state_erased') : m.legal_hold ? t('privacy.state_hold') : t('privacy.state_held')}
                  </td>
                  <td>
                    <button type="button" onClick={() => void choose(m)} aria-label={t('privacy.open_for', { name: m.name ?? m.id })}>
                      {t('privacy.open')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {chosen && detail && (
        <div class="admin-card" aria-labelledby="privacy-customer">
          <h3 id="privacy-customer" tabIndex={-1} ref={heading}>{chosen.name ?? t('privacy.no_name')}</h3>
          <dl class="admin-dl">
            <dt>{t('privacy.id')}</dt>
            <dd><code>{chosen.id}</code></dd>
            <dt>{t('privacy.email')}</dt>
            <dd>{chosen.email ?? '—'}</dd>
            <dt>{t('privacy.legal_hold')}</dt>
            <dd>{detail.legal_hold ? t('privacy.yes') : t('privacy.no')}</dd>
            {detail.erased_at && (
              <>
                <dt>{t('privacy.erased_at')}</dt>
                <dd>{day(detail.erased_at)}</dd>
              </>
            )}
          </dl>
          <h4>{t('privacy.held')}</h4>
          <dl class="admin-dl">
            {KINDS.map((k) => (
              <Fragment key={k}>
                <dt>{t(`privacy.kind.${k}`)}</dt>
                <dd>{detail.holdings[k]}</dd>
              </Fragment>
            ))}
          </dl>
          <div class="admin-buttons">
            <button type="button" disabled={busy} onClick={() => void exportArchive()}>{t('privacy.export')}</button>
            <button type="button" disabled={busy} aria-pressed={detail.legal_hold} onClick={() => void toggleHold()}>
              {t('privacy.legal_hold')}
            </button>
            <button type="button" class="danger" disabled={busy || detail.legal_hold} onClick={() => setErasing(true)}
              aria-describedby={detail.legal_hold ? 'privacy-hold-note' : undefined}>
              {t('privacy.erase')}
            </button>
          </div>
          {detail.legal_hold && <p id="privacy-hold-note" class="hint">{t('privacy.hold_blocks')}</p>}
        </div>
      )}
      {erasing && chosen && (
        <EraseDialog api={api} customer={chosen} onClose={() => setErasing(false)} onDone={erased} />
      )}
    </section>
  );
}

function EraseDialog(props: { api: Api; customer: CustomerMatch; onClose: () => void; onDone: (p: CustomerPrivacy) => void }): JSX.Element {
  const { api, customer } = props;
  const wanted = identifier(customer);
  const [typed, setTyped] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const matches = typed.trim() === wanted;
  const go = async (e: Event) => {
    e.preventDefault();
    if (!matches) return;
    setBusy(true);
    setError('');
    try {
      props.onDone(await api.request<CustomerPrivacy>('POST', `/api/v1/customers/${customer.id}/erase`));
    } catch (err) {
      setError(reason(err));
      setBusy(false);
    }
  };
  return (
    <Dialog title={t('privacy.erase_title', { name: customer.name ?? customer.id })} onClose={props.onClose}>
      <form class="admin-form" onSubmit={go}>
        <p>{t('privacy.erase_body')}</p>
        <div class="admin-field">
          <label for="privacy-confirm">{t('privacy.erase_type', { identifier: wanted })}</label>
          <input id="privacy-confirm" type="text" autoComplete="off" spellcheck={false} value={typed}
            onInput={(ev) => setTyped((ev.currentTarget as HTMLInputElement).value)} />
        </div>
        {error && <p class="error" role="alert">{error}</p>}
        <div class="admin-buttons">
          <button type="button" onClick={props.onClose}>{t('cancel')}</button>
          <button type="submit" class="danger" disabled={busy || !matches}>{t('privacy.erase_confirm')}</button>
        </div>
      </form>
    </Dialog>
  );
}
