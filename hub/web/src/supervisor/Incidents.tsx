// The supervisor console's incidents tab: the incident feed (live, or all), entering and editing
// an incident (area, services, public text, status, ETA), resolving it, and resolving every
// ticket tagged with it at once. Alertmanager's incidents show here too, with their fingerprint.

import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { ConsoleProps } from '../console/types';
import { ApiError } from '../workspace/api';
import { t } from './i18n';
import './Rules.css';

export interface Incident {
  id: string;
  title: string;
  description: string;
  services: string[];
  postcodes: string[];
  cells: string[];
  status: string;
  source: string;
  fingerprint: string | null;
  started_at: string;
  eta: string | null;
  resolved_at: string | null;
}

const SERVICES = ['mobile', 'fibre', 'tv', 'landline'] as const;
const STATUSES = ['investigating', 'identified', 'monitoring', 'resolved'] as const;
const FIELDS = ['title', 'description', 'services', 'postcodes', 'cells', 'status', 'eta'] as const;

interface Draft {
  id: string | null;
  title: string;
  description: string;
  services: string[];
  postcodes: string;
  cells: string;
  status: string;
  /** `datetime-local` value (the browser's time zone), or ''. */
  eta: string;
}

const EMPTY: Draft = { id: null, title: '', description: '', services: [], postcodes: '', cells: '', status: 'investigating', eta: '' };

/** A list typed with commas, spaces or new lines. */
const list = (s: string) => s.split(/[\s,;]+/).filter((x) => x !== '');

function toLocal(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : t('outage.none'));

export function Incidents({ api }: ConsoleProps): JSX.Element {
  const [items, setItems] = useState<Incident[] | null>(null);
  const [all, setAll] = useState(false);
  const [editing, setEditing] = useState<Draft | null>(null);
  const [fieldError, setFieldError] = useState<{ field: string; message: string } | null>(null);
  const [status, setStatus] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);

  const fail = (e: unknown) => setStatus({ kind: 'error', text: e instanceof Error ? e.message : String(e) });
  const load = async () => {
    try {
      setItems(await api.request<Incident[]>('GET', `/api/v1/incidents?limit=200${all ? '&all=true' : ''}`));
    } catch (e) {
      fail(e);
    }
  };
  useEffect(() => {
    void load();
  }, [all]);

  const save = async (e: Event) => {
    e.preventDefault();
    if (!editing) return;
    const body = {
      title: editing.title,
      description: editing.description,
      services: editing.services,
      postcodes: list(editing.postcodes),
      cells: list(editing.cells),
      status: editing.status,
      eta: editing.eta ? new Date(editing.eta).toISOString().replace(/\.\d{3}Z$/, 'Z') : null,
    };
    try {
      if (editing.id) await api.request('PATCH', `/api/v1/incidents/${editing.id}`, body);
      else await api.request('POST', '/api/v1/incidents', body);
      setStatus({ kind: 'ok', text: t(editing.id ? 'outage.updated' : 'outage.created', { title: editing.title }) });
      setEditing(null);
      setFieldError(null);
      await load();
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && err.field) {
        const field = (FIELDS as readonly string[]).includes(err.field) ? err.field : 'title';
        setFieldError({ field, message: err.message });
        requestAnimationFrame(() => document.getElementById(`incident-${field}`)?.focus());
      } else {
        fail(err);
      }
    }
  };

  const resolve = async (i: Incident) => {
    try {
      await api.request('PATCH', `/api/v1/incidents/${i.id}`, { status: 'resolved' });
      setStatus({ kind: 'ok', text: t('outage.resolved_done', { title: i.title }) });
      await load();
    } catch (e) {
      fail(e);
    }
  };

  const resolveTickets = async (i: Incident) => {
    if (!window.confirm(t('outage.confirm_tickets', { title: i.title }))) return;
    try {
      const done = await api.request<{ resolved: string[] }>('POST', `/api/v1/incidents/${i.id}/resolve-tickets`);
      setStatus({ kind: 'ok', text: t('outage.tickets_done', { n: done.resolved.length }) });
    } catch (e) {
      fail(e);
    }
  };

  const aria = (field: string) =>
    fieldError?.field === field ? { 'aria-invalid': true as const, 'aria-describedby': `incident-${field}-error` } : {};
  const errorText = (field: string) =>
    fieldError?.field === field ? (
      <p class="rules-field-error" id={`incident-${field}-error`}>
        {fieldError.message}
      </p>
    ) : null;
  const set = (patch: Partial<Draft>) => editing && setEditing({ ...editing, ...patch });

  return (
    <div class="canned-library incidents">
      <h2>{t('outage.title')}</h2>
      <p class="rules-hint">{t('outage.hint')}</p>
      <div aria-live="polite">{status && <p class={`rules-status ${status.kind}`} role={status.kind === 'error' ? 'alert' : undefined}>{status.text}</p>}</div>
      <div class="rules-row">
        <label>
          <input type="checkbox" checked={all} onChange={(e) => setAll((e.currentTarget as HTMLInputElement).checked)} /> {t('outage.show_all')}
        </label>
        <button type="button" class="primary" onClick={() => { setEditing({ ...EMPTY }); setFieldError(null); }}>
          {t('outage.new')}
        </button>
      </div>

      {editing && (
        <form class="rules-card canned-library-form" onSubmit={(e) => void save(e)} aria-labelledby="incident-form-title">
          <h3 id="incident-form-title">{editing.id ? t('outage.edit_title', { title: editing.title }) : t('outage.new_title')}</h3>
          <div class="rules-field">
            <label for="incident-title">{t('outage.field.title')}</label>
            <input id="incident-title" value={editing.title} maxLength={200} required onInput={(e) => set({ title: (e.currentTarget as HTMLInputElement).value })} {...aria('title')} />
            {errorText('title')}
          </div>
          <div class="rules-field">
            <label for="incident-description">{t('outage.field.description')}</label>
            <textarea id="incident-description" rows={3} maxLength={2000} value={editing.description} onInput={(e) => set({ description: (e.currentTarget as HTMLTextAreaElement).value })} {...aria('description')} />
            {errorText('description')}
          </div>
          <fieldset id="incident-services" tabIndex={-1} {...aria('services')}>
            <legend>{t('outage.field.services')}</legend>
            {SERVICES.map((s) => (
              <label key={s} class="incident-service">
                <input
                  type="checkbox"
                  checked={editing.services.includes(s)}
                  onChange={(e) => {
                    const on = (e.currentTarget as HTMLInputElement).checked;
                    set({ services: on ? [...editing.services, s] : editing.services.filter((x) => x !== s) });
                  }}
                />{' '}
                {t(`outage.service.${s}`)}
              </label>
            ))}
            {errorText('services')}
          </fieldset>
          <div class="rules-row">
            <div class="rules-field">
              <label for="incident-postcodes">{t('outage.field.postcodes')}</label>
              <textarea id="incident-postcodes" rows={2} value={editing.postcodes} aria-describedby="incident-area-hint" onInput={(e) => set({ postcodes: (e.currentTarget as HTMLTextAreaElement).value })} {...aria('postcodes')} />
              {errorText('postcodes')}
            </div>
            <div class="rules-field">
              <label for="incident-cells">{t('outage.field.cells')}</label>
              <textarea id="incident-cells" rows={2} value={editing.cells} onInput={(e) => set({ cells: (e.currentTarget as HTMLTextAreaElement).value })} {...aria('cells')} />
              {errorText('cells')}
            </div>
          </div>
          <p class="rules-hint" id="incident-area-hint">{t('outage.area_hint')}</p>
          <div class="rules-row">
            <div class="rules-field">
              <label for="incident-status">{t('outage.field.status')}</label>
              <select id="incident-status" value={editing.status} onChange={(e) => set({ status: (e.currentTarget as HTMLSelectElement).value })} {...aria('status')}>
                {STATUSES.map((s) => (
                  <option key={s} value={s}>
                    {t(`outage.status.${s}`)}
                  </option>
                ))}
              </select>
            </div>
            <div class="rules-field">
              <label for="incident-eta">{t('outage.field.eta')}</label>
              <input id="incident-eta" type="datetime-local" value={editing.eta} onInput={(e) => set({ eta: (e.currentTarget as HTMLInputElement).value })} {...aria('eta')} />
              {errorText('eta')}
            </div>
          </div>
          <div class="rules-actions">
            <button type="submit" class="primary">{t('outage.save')}</button>
            <button type="button" onClick={() => { setEditing(null); setFieldError(null); }}>{t('outage.cancel')}</button>
          </div>
        </form>
      )}

      {items === null ? (
        <p role="status">{t('outage.loading')}</p>
      ) : items.length === 0 ? (
        <p>{t('outage.empty')}</p>
      ) : (
        <table class="rules-table">
          <caption>{t('outage.caption', { n: items.length })}</caption>
          <thead>
            <tr>
              <th scope="col">{t('outage.field.title')}</th>
              <th scope="col">{t('outage.field.status')}</th>
              <th scope="col">{t('outage.col.area')}</th>
              <th scope="col">{t('outage.field.services')}</th>
              <th scope="col">{t('outage.field.eta')}</th>
              <th scope="col">{t('outage.col.source')}</th>
              <th scope="col"><span class="visually-hidden">{t('outage.col.actions')}</span></th>
            </tr>
          </thead>
          <tbody>
            {items.map((i) => (
              <tr key={i.id}>
                <th scope="row">
                  {i.title}
                  {i.description && <div class="rules-hint">{i.description}</div>}
                </th>
                <td>{t(`outage.status.${i.status}`)}</td>
                <td>{[...i.postcodes, ...i.cells].join(', ')}</td>
                <td>{i.services.map((s) => t(`outage.service.${s}`)).join(', ')}</td>
                <td>{when(i.eta)}</td>
                <td>{i.source === 'alertmanager' ? t('outage.source.alertmanager', { fingerprint: i.fingerprint ?? '' }) : t('outage.source.staff')}</td>
                <td>
                  <div class="rules-actions">
                    <button
                      type="button"
                      onClick={() => {
                        setEditing({ id: i.id, title: i.title, description: i.description, services: i.services, postcodes: i.postcodes.join(' '), cells: i.cells.join(' '), status: i.status, eta: toLocal(i.eta) });
                        setFieldError(null);
                      }}
                    >
                      {t('outage.edit')}<span class="visually-hidden"> {i.title}</span>
                    </button>
                    {i.status !== 'resolved' && (
                      <button type="button" onClick={() => void resolve(i)}>
                        {t('outage.resolve')}<span class="visually-hidden"> {i.title}</span>
                      </button>
                    )}
                    <button type="button" onClick={() => void resolveTickets(i)}>
                      {t('outage.resolve_tickets')}<span class="visually-hidden"> {i.title}</span>
                    </button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
