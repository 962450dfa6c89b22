// Changing a customer from the side panel (issue 16): their contact details inline (field errors
// announced and tied to their input), marketing consents as toggles, their handles with link and
// unlink, and "merge with…", a modal dialog that searches customers and shows both before the
// agent confirms. Every change reloads the profile; the hub decides who may change whom.

import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type CustomerPatch, type CustomerProfile, type CustomerSummary } from './api';
import type { Store } from './store';
import { t } from './i18n';
import { LANGS, LANG_NAMES } from '../shared/i18n';

const CONSENTS = ['marketing_email', 'marketing_sms', 'marketing_phone', 'surveys'] as const;
const LINK_CHANNELS = ['phone', 'whatsapp', 'email', 'messenger', 'telegram'] as const;

/** The message for a failed change: the hub's field error, or a general one. */
function problem(e: unknown): { field?: string; message: string } {
  if (e instanceof ApiError) {
    if (e.status === 422 && e.field) {
      const known = ['name', 'email', 'phone', 'language', 'handle', 'channel'].includes(e.field);
      return { field: e.field, message: known ? t(`customer.invalid_${e.field}`) : e.message };
    }
    if (e.code === 'handle_taken') return { message: t('customer.handle_taken') };
    if (e.code === 'merge_refused') return { message: t('customer.merge_refused') };
    if (e.status === 403) return { message: t('customer.not_allowed') };
    if (e.status === 404) return { message: t('customer.handle_missing') };
  }
  return { message: t('error.generic') };
}

/** Name, e-mail, phone and language, read-only until "Edit". */
export function ContactEdit({ store, profile }: { store: Store; profile: CustomerProfile }): JSX.Element {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(profile.name ?? '');
  const [email, setEmail] = useState(profile.email ?? '');
  const [phone, setPhone] = useState(profile.phone ?? '');
  const [language, setLanguage] = useState(profile.language);
  const [error, setError] = useState<{ field?: string; message: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => { if (editing) first.current?.focus(); }, [editing]);
  const open = () => {
    setName(profile.name ?? ''); setEmail(profile.email ?? ''); setPhone(profile.phone ?? ''); setLanguage(profile.language);
    setError(null); setEditing(true);
  };
  const save = async (e: Event) => {
    e.preventDefault();
    const patch: CustomerPatch = {};
    if (name !== (profile.name ?? '')) patch.name = name.trim() || null;
    if (email !== (profile.email ?? '')) patch.email = email.trim() || null;
    if (phone !== (profile.phone ?? '')) patch.phone = phone.trim() || null;
    if (language !== profile.language) patch.language = language;
    setBusy(true);
    setError(null);
    try {
      if (Object.keys(patch).length > 0) await store.api.updateCustomer(profile.id, patch);
      setEditing(false);
      await store.loadCustomer(profile.id);
    } catch (err) {
      setError(problem(err));
    } finally {
      setBusy(false);
    }
  };
  if (!editing) {
    return <button type="button" class="link" onClick={open}>{t('customer.edit')}</button>;
  }
  const field = (id: string, label: string, value: string, set: (v: string) => void, type = 'text', ref?: typeof first) => {
    const invalid = error?.field === id;
    return (
      <div class="field">
        <label for={`customer-${id}`}>{label}</label>
        <input id={`customer-${id}`} ref={ref} type={type} value={value} maxLength={254}
          aria-invalid={invalid ? 'true' : undefined} aria-describedby={invalid ? `customer-${id}-error` : undefined}
          onInput={(e) => set((e.target as HTMLInputElement).value)} />
        {invalid && <p id={`customer-${id}-error`} class="field-error">{error.message}</p>}
      </div>
    );
  };
  return (
    <form class="customer-edit" noValidate aria-label={t('customer.edit_title')} onSubmit={(e) => void save(e)}>
      {field('name', t('customer.name'), name, setName, 'text', first)}
      {field('email', t('customer.email'), email, setEmail, 'email')}
      {field('phone', t('customer.phone'), phone, setPhone, 'tel')}
      <div class="field">
        <label for="customer-language">{t('side.language')}</label>
        <select id="customer-language" value={language} aria-invalid={error?.field === 'language' ? 'true' : undefined}
          onChange={(e) => setLanguage((e.target as HTMLSelectElement).value)}>
          {LANGS.map((l) => <option key={l} value={l}>{LANG_NAMES[l]}</option>)}
        </select>
      </div>
      <p role="alert" class="field-error">{error && !error.field ? error.message : ''}</p>
      <div class="buttons">
        <button type="submit" class="primary" disabled={busy}>{t('customer.save')}</button>
        <button type="button" onClick={() => setEditing(false)}>{t('customer.cancel')}</button>
      </div>
    </form>
  );
}

/** The marketing consents, each a checkbox saved as it changes. */
export function Consents({ store, profile }: { store: Store; profile: CustomerProfile }): JSX.Element {
  const [message, setMessage] = useState('');
  // What the agent just ticked, shown at once while it is saved: a controlled checkbox showing
  // only the stored value would spring back until the hub answers. Dropped once the profile
  // holds it, or when the hub refuses it (the box then shows the stored value again).
  const [pending, setPending] = useState<Record<string, boolean>>({});
  const stored = (kind: string) => profile.consents?.find((c) => c.kind === kind)?.granted ?? false;
  const granted = (kind: string) => pending[kind] ?? stored(kind);
  const settle = (kind: string) => setPending((p) => {
    const rest = { ...p };
    delete rest[kind];
    return rest;
  });
  const toggle = async (kind: string, value: boolean) => {
    setPending((p) => ({ ...p, [kind]: value }));
    setMessage('');
    try {
      await store.api.updateCustomer(profile.id, { consents: { [kind]: value } });
      await store.loadCustomer(profile.id);
      setMessage(t('customer.saved'));
    } catch (e) {
      setMessage(problem(e).message);
    } finally {
      settle(kind);
    }
  };
  return (
    <fieldset class="consents">
      <legend>{t('customer.consents')}</legend>
      {CONSENTS.map((kind) => (
        <label key={kind} class="consent">
          <input type="checkbox" checked={granted(kind)} onChange={(e) => void toggle(kind, (e.target as HTMLInputElement).checked)} />
          {' '}{t(`customer.consent_${kind}`)}
        </label>
      ))}
      <p role="status" class="muted">{message}</p>
    </fieldset>
  );
}

/** The customer's handles, each with "Unlink", and a small form to link one. */
export function HandlesEdit({ store, profile }: { store: Store; profile: CustomerProfile }): JSX.Element {
  const [channel, setChannel] = useState<string>('phone');
  const [value, setValue] = useState('');
  const [error, setError] = useState<{ field?: string; message: string } | null>(null);
  const link = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      await store.api.linkHandle(profile.id, channel, value);
      setValue('');
      await store.loadCustomer(profile.id);
    } catch (err) {
      setError(problem(err));
    }
  };
  const unlink = async (kind: string, v: string) => {
    setError(null);
    try {
      await store.api.unlinkHandle(profile.id, kind === 'sip' ? 'voice' : kind, v);
      await store.loadCustomer(profile.id);
    } catch (err) {
      setError(problem(err));
    }
  };
  return (
    <>
      <h3 id="side-handles">{t('customer.handles')}</h3>
      {profile.handles.length === 0 ? <p class="muted">{t('customer.no_handles')}</p> : (
        <ul class="handles" aria-labelledby="side-handles">
          {profile.handles.map((h) => (
            <li key={`${h.kind}:${h.value}:${h.verified}`}>
              <span class={`chip ch-${h.channel}`}>{t(`customer.kind_${h.kind}`)}</span>{' '}
              <span class="handle">{h.value}</span>{' '}
              <span class="muted-inline">{h.verified ? t('customer.verified') : t('customer.unverified')}</span>{' '}
              <button type="button" class="link" aria-label={t('customer.unlink_label', { handle: h.value })}
                onClick={() => void unlink(h.kind, h.value)}>{t('customer.unlink')}</button>
            </li>
          ))}
        </ul>
      )}
      <form class="link-handle" aria-label={t('customer.link_title')} onSubmit={(e) => void link(e)}>
        <label for="link-channel">{t('customer.link_channel')}</label>
        <select id="link-channel" value={channel} onChange={(e) => setChannel((e.target as HTMLSelectElement).value)}>
          {LINK_CHANNELS.map((c) => <option key={c} value={c}>{t(`customer.link_${c}`)}</option>)}
        </select>
        <label for="link-handle">{t('customer.link_handle')}</label>
        <input id="link-handle" value={value} maxLength={254} required
          aria-invalid={error?.field === 'handle' ? 'true' : undefined}
          aria-describedby={error ? 'link-handle-error' : undefined}
          onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
        <button type="submit">{t('customer.link')}</button>
        <p id="link-handle-error" role="alert" class="field-error">{error?.message ?? ''}</p>
      </form>
    </>
  );
}

/** "Merge with…": search, pick, see both, confirm. */
export function MergeDialog({ store, profile, onClose }: { store: Store; profile: CustomerProfile; onClose: () => void }): JSX.Element {
  const ref = useRef<HTMLDialogElement>(null);
  const [query, setQuery] = useState('');
  const [found, setFound] = useState<CustomerSummary[] | null>(null);
  const [chosen, setChosen] = useState<CustomerSummary | null>(null);
  const [message, setMessage] = useState('');
  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    if (ref.current && !ref.current.open) ref.current.showModal();
    return () => { if (opener?.isConnected) opener.focus(); };
  }, []);
  const search = async (e: Event) => {
    e.preventDefault();
    setMessage('');
    setChosen(null);
    try {
      const page = await store.api.searchCustomers(query);
      const all = [...page.by_account, ...page.items].filter((c, i, a) => c.id !== profile.id && a.findIndex((x) => x.id === c.id) === i);
      setFound(all);
    } catch (err) {
      setFound(null);
      setMessage(err instanceof ApiError && err.field === 'q' ? t('customer.search_short') : problem(err).message);
    }
  };
  const confirm = async () => {
    if (!chosen) return;
    setMessage('');
    try {
      await store.api.mergeCustomer(profile.id, chosen.id);
      await store.loadCustomer(profile.id);
      onClose();
    } catch (err) {
      setMessage(problem(err).message);
    }
  };
  const card = (title: string, c: { name: string | null; email: string | null; phone?: string | null; id: string }) => (
    <div class="merge-card">
      <h3>{title}</h3>
      <dl>
        <dt>{t('customer.name')}</dt><dd>{c.name ?? t('customer.no_name')}</dd>
        <dt>{t('customer.email')}</dt><dd>{c.email ?? '—'}</dd>
        <dt>{t('customer.phone')}</dt><dd>{c.phone ?? '—'}</dd>
        <dt>{t('side.customer_id')}</dt><dd><code>{c.id.slice(-12)}</code></dd>
      </dl>
    </div>
  );
  return (
    <dialog ref={ref} class="merge-dialog" aria-labelledby="merge-title" onCancel={(e) => { e.preventDefault(); onClose(); }}>
      <h2 id="merge-title">{t('customer.merge_title')}</h2>
      <form role="search" onSubmit={(e) => void search(e)}>
        <label for="merge-query">{t('customer.search_label')}</label>
        <input id="merge-query" type="search" value={query} minLength={3} maxLength={100}
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)} />
        <button type="submit">{t('customer.search')}</button>
      </form>
      {found && (found.length === 0 ? <p role="status">{t('customer.search_none')}</p> : (
        <ul class="merge-results" aria-label={t('customer.search_results')}>
          {found.map((c) => (
            <li key={c.id}>
              <button type="button" aria-pressed={chosen?.id === c.id} onClick={() => setChosen(c)}>
                {c.name ?? t('customer.no_name')} · {c.email ?? c.phone ?? c.id.slice(-12)}
              </button>
            </li>
          ))}
        </ul>
      ))}
      {chosen && (
        <div class="merge-compare" aria-live="polite">
          {card(t('customer.merge_keep'), profile)}
          {card(t('customer.merge_from'), chosen)}
          <p>{t('customer.merge_explain')}</p>
        </div>
      )}
      <p role="alert" class="field-error">{message}</p>
      <div class="buttons">
        <button type="button" class="danger" disabled={!chosen} onClick={() => void confirm()}>{t('customer.merge_confirm')}</button>
        <button type="button" onClick={onClose}>{t('customer.cancel')}</button>
      </div>
    </dialog>
  );
}
