// The supervisor console's canned responses tab: the library agents insert with "/" in the
// workspace, per queue (or for everyone) and language; search, create, edit and delete, with
// the hub's field errors shown on the field.

import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { ConsoleProps } from '../console/types';
import { ApiError } from '../workspace/api';
import type { CannedResponse } from '../workspace/canned';
import { t } from './i18n';
import { LANGUAGES, type RulesInForce } from './RulesModel';
import './Rules.css';

interface Draft {
  id: string | null;
  queue: string;
  shortcut: string;
  title: string;
  body: string;
  language: string;
}

const EMPTY: Draft = { id: null, queue: '', shortcut: '', title: '', body: '', language: 'en' };
const FIELDS = ['queue', 'shortcut', 'title', 'body', 'language'] as const;

export function Canned({ api }: ConsoleProps): JSX.Element {
  const [items, setItems] = useState<CannedResponse[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [queues, setQueues] = useState<string[]>([]);
  const [queue, setQueue] = useState('');
  const [language, setLanguage] = useState('');
  const [q, setQ] = useState('');
  const [editing, setEditing] = useState<Draft | null>(null);
  const [fieldError, setFieldError] = useState<{ field: string; message: string } | null>(null);
  const [status, setStatus] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);

  useEffect(() => {
    api
      .request<RulesInForce>('GET', '/api/v1/routing/rules')
      .then((r) => setQueues(r.rules.queues.map((x) => x.name)))
      .catch((e: unknown) => setStatus({ kind: 'error', text: e instanceof Error ? e.message : String(e) }));
  }, []);

  const search = async (after: string | null = null) => {
    const params = new URLSearchParams({ limit: '50' });
    if (q.trim()) params.set('q', q.trim());
    if (language) params.set('language', language);
    if (queue && queue !== '*global') params.set('queue', queue);
    if (after) params.set('cursor', after);
    try {
      const page = await api.request<{ items: CannedResponse[]; next_cursor: string | null }>('GET', `/api/v1/canned-responses?${params}`);
      // `?queue=` gives the global ones and that queue's; "only global" is narrowed here.
      const shown = queue === '*global' ? page.items.filter((c) => c.queue === null) : page.items;
      setItems((prev) => (after && prev ? [...prev, ...shown] : shown));
      setCursor(page.next_cursor);
    } catch (e) {
      if (e instanceof ApiError && e.status === 422) setStatus({ kind: 'error', text: e.message });
      else setStatus({ kind: 'error', text: e instanceof Error ? e.message : String(e) });
    }
  };
  useEffect(() => {
    void search();
  }, [queue, language]);

  const save = async (e: Event) => {
    e.preventDefault();
    if (!editing) return;
    const body = { queue: editing.queue || null, shortcut: editing.shortcut, title: editing.title, body: editing.body, language: editing.language };
    try {
      if (editing.id) await api.request('PUT', `/api/v1/canned-responses/${editing.id}`, body);
      else await api.request('POST', '/api/v1/canned-responses', body);
      setStatus({ kind: 'ok', text: t(editing.id ? 'canned.updated' : 'canned.created', { shortcut: editing.shortcut }) });
      setEditing(null);
      setFieldError(null);
      await search();
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && err.field) {
        const field = (FIELDS as readonly string[]).includes(err.field) ? err.field : 'shortcut';
        setFieldError({ field, message: err.message });
        requestAnimationFrame(() => document.getElementById(`canned-${field}`)?.focus());
      } else if (err instanceof ApiError && err.status === 409) {
        setFieldError({ field: 'shortcut', message: t('canned.duplicate') });
        requestAnimationFrame(() => document.getElementById('canned-shortcut')?.focus());
      } else {
        setStatus({ kind: 'error', text: err instanceof Error ? err.message : String(err) });
      }
    }
  };

  const remove = async (c: CannedResponse) => {
    if (!window.confirm(t('canned.confirm_delete', { shortcut: c.shortcut }))) return;
    try {
      await api.request('DELETE', `/api/v1/canned-responses/${c.id}`);
      setStatus({ kind: 'ok', text: t('canned.deleted', { shortcut: c.shortcut }) });
      await search();
    } catch (e) {
      setStatus({ kind: 'error', text: e instanceof Error ? e.message : String(e) });
    }
  };

  const aria = (field: string) =>
    fieldError?.field === field ? { 'aria-invalid': true as const, 'aria-describedby': `canned-${field}-error` } : {};
  const errorText = (field: string) =>
    fieldError?.field === field ? (
      <p class="rules-field-error" id={`canned-${field}-error`}>
        {fieldError.message}
      </p>
    ) : null;
  const set = (patch: Partial<Draft>) => editing && setEditing({ ...editing, ...patch });

  return (
    <div class="canned-library">
      <h2>{t('canned.title')}</h2>
      <p class="rules-hint">{t('canned.hint')}</p>
      <div aria-live="polite">{status && <p class={`rules-status ${status.kind}`} role={status.kind === 'error' ? 'alert' : undefined}>{status.text}</p>}</div>
      <form
        class="rules-row canned-library-filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          void search();
        }}
      >
        <div class="rules-field">
          <label for="canned-filter-queue">{t('canned.filter_queue')}</label>
          <select id="canned-filter-queue" value={queue} onChange={(e) => setQueue((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">{t('canned.all_queues')}</option>
            <option value="*global">{t('canned.global_only')}</option>
            {queues.map((x) => (
              <option key={x} value={x}>
                {t('canned.queue_and_global', { q: x })}
              </option>
            ))}
          </select>
        </div>
        <div class="rules-field">
          <label for="canned-filter-language">{t('canned.filter_language')}</label>
          <select id="canned-filter-language" value={language} onChange={(e) => setLanguage((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">{t('canned.all_languages')}</option>
            {LANGUAGES.map((l) => (
              <option key={l} value={l}>
                {t(`rules.value.${l}`)}
              </option>
            ))}
          </select>
        </div>
        <div class="rules-field">
          <label for="canned-search">{t('canned.search')}</label>
          <input id="canned-search" type="search" value={q} maxLength={200} onInput={(e) => setQ((e.currentTarget as HTMLInputElement).value)} />
        </div>
        <button type="submit">{t('canned.search_button')}</button>
        <button
          type="button"
          class="primary"
          onClick={() => {
            setEditing({ ...EMPTY, queue: queue && queue !== '*global' ? queue : '', language: language || 'en' });
            setFieldError(null);
          }}
        >
          {t('canned.new')}
        </button>
      </form>

      {editing && (
        <form class="rules-card canned-library-form" onSubmit={(e) => void save(e)} aria-labelledby="canned-form-title">
          <h3 id="canned-form-title">{editing.id ? t('canned.edit_title', { shortcut: editing.shortcut }) : t('canned.new_title')}</h3>
          <div class="rules-row">
            <div class="rules-field">
              <label for="canned-queue">{t('canned.queue')}</label>
              <select id="canned-queue" value={editing.queue} onChange={(e) => set({ queue: (e.currentTarget as HTMLSelectElement).value })} {...aria('queue')}>
                <option value="">{t('canned.everyone')}</option>
                {queues.map((x) => (
                  <option key={x} value={x}>
                    {x}
                  </option>
                ))}
                {editing.queue && !queues.includes(editing.queue) && <option value={editing.queue}>{editing.queue}</option>}
              </select>
              {errorText('queue')}
            </div>
            <div class="rules-field">
              <label for="canned-language">{t('canned.language')}</label>
              <select id="canned-language" value={editing.language} onChange={(e) => set({ language: (e.currentTarget as HTMLSelectElement).value })} {...aria('language')}>
                {LANGUAGES.map((l) => (
                  <option key={l} value={l}>
                    {t(`rules.value.${l}`)}
                  </option>
                ))}
              </select>
              {errorText('language')}
            </div>
            <div class="rules-field">
              <label for="canned-shortcut">{t('canned.shortcut')}</label>
              <input id="canned-shortcut" value={editing.shortcut} maxLength={60} onInput={(e) => set({ shortcut: (e.currentTarget as HTMLInputElement).value })} {...aria('shortcut')} />
              {errorText('shortcut')}
            </div>
          </div>
          <div class="rules-field">
            <label for="canned-title">{t('canned.title_field')}</label>
            <input id="canned-title" value={editing.title} maxLength={150} onInput={(e) => set({ title: (e.currentTarget as HTMLInputElement).value })} {...aria('title')} />
            {errorText('title')}
          </div>
          <div class="rules-field">
            <label for="canned-body">{t('canned.body')}</label>
            <textarea id="canned-body" rows={5} value={editing.body} maxLength={5000} onInput={(e) => set({ body: (e.currentTarget as HTMLTextAreaElement).value })} {...aria('body')} />
            <p class="rules-hint">{t('canned.body_hint')}</p>
            {errorText('body')}
          </div>
          <div class="rules-actions">
            <button type="submit" class="primary">
              {t('canned.save')}
            </button>
            <button type="button" onClick={() => { setEditing(null); setFieldError(null); }}>
              {t('canned.cancel')}
            </button>
          </div>
        </form>
      )}

      {items === null ? (
        <p role="status">{t('rules.loading')}</p>
      ) : items.length === 0 ? (
        <p>{t('canned.none')}</p>
      ) : (
        <table class="rules-table canned-library-list">
          <caption>{t('canned.caption', { n: items.length })}</caption>
          <thead>
            <tr>
              <th scope="col">{t('canned.shortcut')}</th>
              <th scope="col">{t('canned.title_field')}</th>
              <th scope="col">{t('canned.queue')}</th>
              <th scope="col">{t('canned.language')}</th>
              <th scope="col">
                <span class="visually-hidden">{t('rules.versions.actions')}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((c) => (
              <tr key={c.id}>
                <th scope="row">/{c.shortcut}</th>
                <td>
                  {c.title}
                  <div class="rules-hint canned-library-body">{c.body.length > 140 ? `${c.body.slice(0, 140)}…` : c.body}</div>
                </td>
                <td>{c.queue ?? t('canned.everyone')}</td>
                <td>{t(`rules.value.${c.language}`)}</td>
                <td>
                  <div class="rules-actions">
                  <button
                    type="button"
                    onClick={() => {
                      setEditing({ id: c.id, queue: c.queue ?? '', shortcut: c.shortcut, title: c.title, body: c.body, language: c.language });
                      setFieldError(null);
                    }}
                  >
                    {t('canned.edit')}
                    <span class="visually-hidden"> /{c.shortcut}</span>
                  </button>
                  <button type="button" onClick={() => void remove(c)}>
                    {t('canned.delete')}
                    <span class="visually-hidden"> /{c.shortcut}</span>
                  </button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {cursor && (
        <button type="button" onClick={() => void search(cursor)}>
          {t('canned.more')}
        </button>
      )}
    </div>
  );
}
