// How long each kind of data is kept, in days. The hub's retention job enforces them (messages,
// raw mail, attachments, call records); the page says so when a hub runs without the job.

import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { ApiError, type Api } from '../workspace/api';
import type { Retention as Values, RetentionView } from './api';
import { explain } from './Staff';
import { t } from './i18n';
import { day } from '../workspace/i18n';

const FIELDS = ['conversations_days', 'messages_days', 'raw_mail_days', 'attachments_days', 'calls_days', 'audit_days'] as const;

export function Retention({ api }: { api: Api }): JSX.Element {
  const [view, setView] = useState<RetentionView | null>(null);
  const [form, setForm] = useState<Record<keyof Values, string>>(
    Object.fromEntries(FIELDS.map((f) => [f, ''])) as Record<keyof Values, string>,
  );
  const [error, setError] = useState<{ field?: string; text: string } | null>(null);
  const [status, setStatus] = useState('');
  const show = (v: RetentionView) => {
    setView(v);
    setForm(Object.fromEntries(FIELDS.map((f) => [f, String(v[f])])) as Record<keyof Values, string>);
  };
  useEffect(() => {
    api.request<RetentionView>('GET', '/api/v1/settings/retention').then(show, (e) => setError({ text: explain(e) }));
  }, []);
  const save = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setStatus('');
    try {
      const body = Object.fromEntries(FIELDS.map((f) => [f, Number(form[f])])) as unknown as Values;
      show(await api.request<RetentionView>('PUT', '/api/v1/settings/retention', body));
      setStatus(t('retention.saved'));
    } catch (err) {
      setError({ field: err instanceof ApiError ? err.field : undefined, text: explain(err) });
    }
  };
  return (
    <section aria-labelledby="retention-title">
      <h2 id="retention-title">{t('tab.retention')}</h2>
      {view && !view.enforced && <p class="admin-note">{t('retention.not_enforced')}</p>}
      {view?.saved && <p class="hint">{t('retention.saved_on', { when: day(view.saved.at) })}</p>}
      {/* The form waits for the stored values: typed values must not be overwritten by a late answer. */}
      {!view ? (
        error ? <p class="error" role="alert">{error.text}</p> : <p class="hint" role="status">{t('loading')}</p>
      ) : (
      <form class="admin-form admin-narrow" onSubmit={save} aria-labelledby="retention-title">
        {FIELDS.map((f) => (
          <div key={f} class="admin-field">
            <label for={`r-${f}`}>{t(`field.${f}`)}</label>
            <input id={`r-${f}`} type="number" inputMode="numeric" min={1} max={3650} required value={form[f]}
              aria-describedby="retention-bounds" {...(error?.field === f ? { 'aria-invalid': true } : {})}
              onInput={(e) => setForm({ ...form, [f]: (e.currentTarget as HTMLInputElement).value })} />
          </div>
        ))}
        <p id="retention-bounds" class="hint">{t('retention.bounds')}</p>
        {error && <p class="error" role="alert">{error.text}</p>}
        <p class="admin-status" role="status">{status}</p>
        <div class="admin-buttons">
          <button type="submit" class="primary">{t('save')}</button>
        </div>
      </form>
      )}
    </section>
  );
}
