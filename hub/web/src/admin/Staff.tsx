// Staff: every member with roles, team, status, live sessions and two-step sign-in; add a member,
// change roles and team, disable or enable, reset a password (typed, or generated and shown once), end
// every session, reset two-step sign-in (a lost phone). The hub
// refuses (409) a change that would leave no active admin; the dialog says so.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { ApiError, type Api } from '../workspace/api';
import { ROLES, type StaffMember } from './api';
import { Dialog } from './Dialog';
import { t } from './i18n';

type Action =
  | { kind: 'create' }
  | { kind: 'roles'; member: StaffMember }
  | { kind: 'team'; member: StaffMember }
  | { kind: 'disable'; member: StaffMember }
  | { kind: 'password'; member: StaffMember }
  | { kind: 'sessions'; member: StaffMember }
  | { kind: 'mfa'; member: StaffMember };

/** A translated explanation of a refusal, by its code and field. */
export function explain(e: unknown): string {
  if (!(e instanceof ApiError)) return t('error.network');
  if (e.status === 409 && /admin/.test(e.message)) return t('error.last_admin');
  if (e.status === 409) return t('error.conflict');
  if (e.status === 403) return t('error.forbidden');
  if (e.status === 404) return t('error.not_found');
  if (e.status === 422 && e.field) return t('error.field', { field: t(`field.${e.field}`), message: e.message });
  return e.message || t('error.network');
}

/** The request field a 422 names, if any. */
function fieldOf(e: unknown): string | null {
  return e instanceof ApiError && e.status === 422 && e.field ? e.field : null;
}

/** ARIA of an input for `field`: invalid and described by the error when the error names it,
 * always described by its hint (if any). */
function described(field: string, errorField: string | null, errorId: string, hint?: string): { 'aria-invalid'?: true; 'aria-describedby'?: string } {
  const bad = errorField === field;
  const ids = [hint, bad ? errorId : undefined].filter(Boolean).join(' ');
  return { ...(bad ? { 'aria-invalid': true as const } : {}), ...(ids ? { 'aria-describedby': ids } : {}) };
}

/** Focuses the input of the field a 422 named (`${prefix}-${field}`), once the error is drawn. */
function useFocusField(prefix: string, errorField: string | null, error: string): void {
  useEffect(() => {
    if (errorField) document.getElementById(`${prefix}-${errorField}`)?.focus();
  }, [errorField, error]);
}

export function Staff({ api, me }: { api: Api; me: string }): JSX.Element {
  const [members, setMembers] = useState<StaffMember[] | null>(null);
  const [error, setError] = useState('');
  const [status, setStatus] = useState('');
  const [action, setAction] = useState<Action | null>(null);
  // The member whose disable/enable button takes the focus once the list is read again.
  const [toggled, setToggled] = useState<string | null>(null);
  const load = () =>
    api.request<StaffMember[]>('GET', '/api/v1/agents').then(
      (list) => { setMembers(list); setError(''); },
      (e) => setError(explain(e)),
    );
  useEffect(() => void load(), []);
  useEffect(() => {
    if (!toggled || !members) return;
    document.querySelector<HTMLButtonElement>(`button[data-toggle="${toggled}"]`)?.focus();
    setToggled(null);
  }, [members]);
  const done = (message: string, toggledId?: string) => {
    setAction(null);
    setStatus(message);
    if (toggledId) setToggled(toggledId);
    void load();
  };
  const enable = async (m: StaffMember) => {
    try {
      await api.request('POST', `/api/v1/agents/${m.id}/enable`);
      done(t('staff.enabled', { name: m.name }), m.id);
    } catch (e) {
      setStatus(explain(e));
    }
  };

  return (
    <section aria-labelledby="staff-title">
      <div class="admin-toolbar">
        <h2 id="staff-title">{t('tab.staff')}</h2>
        <button type="button" class="primary" onClick={() => setAction({ kind: 'create' })}>{t('staff.add')}</button>
      </div>
      <p class="admin-status" role="status">{status}</p>
      {error && <p class="error" role="alert">{error}</p>}
      {!members ? (
        !error && <p>{t('loading')}</p>
      ) : (
        <div class="admin-table-wrap">
          <table class="admin-table">
            <caption class="visually-hidden">{t('staff.caption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('staff.name')}</th>
                <th scope="col">{t('staff.email')}</th>
                <th scope="col">{t('staff.roles')}</th>
                <th scope="col">{t('staff.team')}</th>
                <th scope="col">{t('staff.status')}</th>
                <th scope="col">{t('staff.sessions')}</th>
                <th scope="col">{t('staff.mfa')}</th>
                <th scope="col">{t('staff.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {members.map((m) => (
                <tr key={m.id} class={m.active ? undefined : 'disabled'}>
                  <th scope="row">{m.name}{m.id === me && <span class="chip">{t('staff.you')}</span>}</th>
                  <td>{m.email}</td>
                  <td>{m.roles.map((r) => t(`role.${r}`)).join(', ')}</td>
                  <td>{m.team ?? '—'}</td>
                  <td>{m.active ? t(`presence.${m.presence}`) : <strong>{t('staff.disabled')}</strong>}</td>
                  <td>{m.sessions}</td>
                  <td>{m.mfa_enrolled ? t('staff.mfa_on') : t('staff.mfa_off')}</td>
                  <td class="admin-actions">
                    <button type="button" aria-label={t('staff.edit_roles_for', { name: m.name })} onClick={() => setAction({ kind: 'roles', member: m })}>{t('staff.edit_roles')}</button>
                    <button type="button" aria-label={t('staff.edit_team_for', { name: m.name })} onClick={() => setAction({ kind: 'team', member: m })}>{t('staff.edit_team')}</button>
                    {m.active ? (
                      <button type="button" data-toggle={m.id} aria-label={t('staff.disable_for', { name: m.name })} onClick={() => setAction({ kind: 'disable', member: m })}>{t('staff.disable')}</button>
                    ) : (
                      <button type="button" data-toggle={m.id} aria-label={t('staff.enable_for', { name: m.name })} onClick={() => void enable(m)}>{t('staff.enable')}</button>
                    )}
                    <button type="button" aria-label={t('staff.reset_for', { name: m.name })} onClick={() => setAction({ kind: 'password', member: m })}>{t('staff.reset')}</button>
                    <button type="button" aria-label={t('staff.end_sessions_for', { name: m.name })} disabled={m.sessions === 0} onClick={() => setAction({ kind: 'sessions', member: m })}>{t('staff.end_sessions')}</button>
                    {m.mfa_enrolled && (
                      <button type="button" aria-label={t('staff.reset_mfa_for', { name: m.name })} onClick={() => setAction({ kind: 'mfa', member: m })}>{t('staff.reset_mfa')}</button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {action?.kind === 'create' && <CreateDialog api={api} onClose={() => setAction(null)} onDone={done} />}
      {action?.kind === 'roles' && <RolesDialog api={api} member={action.member} onClose={() => setAction(null)} onDone={done} />}
      {action?.kind === 'team' && <TeamDialog api={api} member={action.member} onClose={() => setAction(null)} onDone={done} />}
      {action?.kind === 'disable' && (
        <ConfirmDialog
          title={t('staff.disable_title', { name: action.member.name })}
          body={t('staff.disable_body')}
          confirm={t('staff.disable')}
          onClose={() => setAction(null)}
          run={async () => {
            await api.request('POST', `/api/v1/agents/${action.member.id}/disable`);
            done(t('staff.disabled_done', { name: action.member.name }), action.member.id);
          }}
        />
      )}
      {action?.kind === 'sessions' && (
        <ConfirmDialog
          title={t('staff.end_sessions_title', { name: action.member.name })}
          body={t('staff.end_sessions_body')}
          confirm={t('staff.end_sessions')}
          onClose={() => setAction(null)}
          run={async () => {
            const r = await api.request<{ sessions_ended: number }>('DELETE', `/api/v1/agents/${action.member.id}/sessions`);
            done(t('staff.sessions_ended', { name: action.member.name, count: r.sessions_ended }));
          }}
        />
      )}
      {action?.kind === 'mfa' && (
        <ConfirmDialog
          title={t('staff.reset_mfa_title', { name: action.member.name })}
          body={t('staff.reset_mfa_body')}
          confirm={t('staff.reset_mfa')}
          onClose={() => setAction(null)}
          run={async () => {
            await api.request('POST', `/api/v1/agents/${action.member.id}/mfa/reset`);
            done(t('staff.mfa_reset_done', { name: action.member.name }));
          }}
        />
      )}
      {action?.kind === 'password' && <PasswordDialog api={api} member={action.member} onClose={() => setAction(null)} onDone={done} />}
    </section>
  );
}

function ConfirmDialog(props: { title: string; body: string; confirm: string; onClose: () => void; run: () => Promise<void> }): JSX.Element {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const go = async () => {
    setBusy(true);
    setError('');
    try {
      await props.run();
    } catch (e) {
      setError(explain(e));
      setBusy(false);
    }
  };
  return (
    <Dialog title={props.title} onClose={props.onClose}>
      <p>{props.body}</p>
      {error && <p class="error" role="alert">{error}</p>}
      <div class="admin-buttons">
        <button type="button" onClick={props.onClose} autoFocus>{t('cancel')}</button>
        <button type="button" class="danger" disabled={busy} onClick={() => void go()}>{props.confirm}</button>
      </div>
    </Dialog>
  );
}

function RoleChoices({ roles, onChange }: { roles: string[]; onChange: (r: string[]) => void }): JSX.Element {
  return (
    <fieldset class="admin-roles">
      <legend>{t('staff.roles')}</legend>
      {ROLES.map((r) => (
        <label key={r} class="inline">
          <input type="checkbox" checked={roles.includes(r)}
            onChange={(e) => onChange((e.currentTarget as HTMLInputElement).checked ? [...roles, r] : roles.filter((x) => x !== r))} />
          {t(`role.${r}`)}
        </label>
      ))}
    </fieldset>
  );
}

function RolesDialog({ api, member, onClose, onDone }: { api: Api; member: StaffMember; onClose: () => void; onDone: (m: string) => void }): JSX.Element {
  const [roles, setRoles] = useState<string[]>(member.roles);
  const [error, setError] = useState('');
  const save = async (e: Event) => {
    e.preventDefault();
    setError('');
    if (!roles.length) return setError(t('staff.roles_needed'));
    try {
      await api.request('PUT', `/api/v1/agents/${member.id}/roles`, { roles });
      onDone(t('staff.roles_saved', { name: member.name }));
    } catch (err) {
      setError(explain(err));
    }
  };
  return (
    <Dialog title={t('staff.roles_title', { name: member.name })} onClose={onClose}>
      <form onSubmit={save}>
        <RoleChoices roles={roles} onChange={setRoles} />
        {error && <p class="error" role="alert">{error}</p>}
        <div class="admin-buttons">
          <button type="button" onClick={onClose}>{t('cancel')}</button>
          <button type="submit" class="primary">{t('save')}</button>
        </div>
      </form>
    </Dialog>
  );
}

function TeamDialog({ api, member, onClose, onDone }: { api: Api; member: StaffMember; onClose: () => void; onDone: (m: string) => void }): JSX.Element {
  const [team, setTeam] = useState(member.team ?? '');
  const [error, setError] = useState('');
  const [errorField, setErrorField] = useState<string | null>(null);
  useFocusField('member', errorField, error);
  const save = async (e: Event) => {
    e.preventDefault();
    setError('');
    setErrorField(null);
    try {
      const name = team.trim();
      await api.request('PUT', `/api/v1/agents/${member.id}/team`, { team: name || null });
      onDone(name ? t('staff.team_saved', { name: member.name, team: name }) : t('staff.team_cleared', { name: member.name }));
    } catch (err) {
      setError(explain(err));
      setErrorField(fieldOf(err));
    }
  };
  return (
    <Dialog title={t('staff.team_title', { name: member.name })} onClose={onClose}>
      <form class="admin-form" onSubmit={save}>
        <label for="member-team">{t('staff.team')}</label>
        <input id="member-team" maxLength={50} spellcheck={false} autocomplete="off" {...described('team', errorField, 'team-error', 'member-team-hint')}
          value={team} onInput={(e) => setTeam((e.currentTarget as HTMLInputElement).value)} />
        <p id="member-team-hint" class="hint">{t('staff.team_hint')}</p>
        {error && <p id="team-error" class="error" role="alert">{error}</p>}
        <div class="admin-buttons">
          <button type="button" onClick={onClose}>{t('cancel')}</button>
          <button type="submit" class="primary">{t('save')}</button>
        </div>
      </form>
    </Dialog>
  );
}

function CreateDialog({ api, onClose, onDone }: { api: Api; onClose: () => void; onDone: (m: string) => void }): JSX.Element {
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [roles, setRoles] = useState<string[]>(['agent']);
  const [error, setError] = useState('');
  const [errorField, setErrorField] = useState<string | null>(null);
  useFocusField('new', errorField, error);
  const save = async (e: Event) => {
    e.preventDefault();
    setError('');
    setErrorField(null);
    if (!roles.length) return setError(t('staff.roles_needed'));
    try {
      await api.request('POST', '/api/v1/agents', { name: name.trim(), email: email.trim(), roles, password });
      onDone(t('staff.created', { name: name.trim() }));
    } catch (err) {
      setError(explain(err));
      setErrorField(fieldOf(err));
    }
  };
  return (
    <Dialog title={t('staff.add')} onClose={onClose}>
      <form class="admin-form" onSubmit={save}>
        <label for="new-name">{t('staff.name')}</label>
        <input id="new-name" required maxLength={100} {...described('name', errorField, 'new-error')} value={name} onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} />
        <label for="new-email">{t('staff.email')}</label>
        <input id="new-email" type="email" required {...described('email', errorField, 'new-error')} value={email} onInput={(e) => setEmail((e.currentTarget as HTMLInputElement).value)} />
        <label for="new-password">{t('staff.password')}</label>
        <input id="new-password" type="password" autocomplete="new-password" required minLength={12} {...described('password', errorField, 'new-error', 'new-password-hint')}
          value={password} onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)} />
        <p id="new-password-hint" class="hint">{t('staff.password_hint')}</p>
        <RoleChoices roles={roles} onChange={setRoles} />
        {error && <p id="new-error" class="error" role="alert">{error}</p>}
        <div class="admin-buttons">
          <button type="button" onClick={onClose}>{t('cancel')}</button>
          <button type="submit" class="primary">{t('staff.create')}</button>
        </div>
      </form>
    </Dialog>
  );
}

function PasswordDialog({ api, member, onClose, onDone }: { api: Api; member: StaffMember; onClose: () => void; onDone: (m: string) => void }): JSX.Element {
  const [mode, setMode] = useState<'generate' | 'set'>('generate');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [errorField, setErrorField] = useState<string | null>(null);
  const [generated, setGenerated] = useState<string | null>(null);
  const [ended, setEnded] = useState(0);
  const secretRef = useRef<HTMLInputElement>(null);
  useFocusField('reset', errorField, error);
  // The same dialog stays open (showModal does not run again, autoFocus does nothing): the
  // one-time password takes the focus itself when it appears.
  useEffect(() => {
    if (generated) secretRef.current?.focus();
  }, [generated]);
  const save = async (e: Event) => {
    e.preventDefault();
    setError('');
    setErrorField(null);
    try {
      const r = await api.request<{ password?: string; sessions_ended: number }>(
        'POST', `/api/v1/agents/${member.id}/password`, mode === 'set' ? { password } : {},
      );
      if (r.password) {
        setGenerated(r.password);
        setEnded(r.sessions_ended);
      } else {
        onDone(t('staff.password_set', { name: member.name, count: r.sessions_ended }));
      }
    } catch (err) {
      setError(explain(err));
      setErrorField(fieldOf(err));
    }
  };
  if (generated) {
    return (
      <Dialog title={t('staff.reset_title', { name: member.name })} onClose={() => onDone(t('staff.password_set', { name: member.name, count: ended }))}>
        <p>{t('staff.generated_once')}</p>
        <label for="generated-password">{t('staff.generated')}</label>
        <input id="generated-password" class="admin-secret" readOnly value={generated} ref={secretRef} onFocus={(e) => (e.currentTarget as HTMLInputElement).select()} />
        <div class="admin-buttons">
          <button type="button" class="primary" onClick={() => onDone(t('staff.password_set', { name: member.name, count: ended }))}>{t('done')}</button>
        </div>
      </Dialog>
    );
  }
  return (
    <Dialog title={t('staff.reset_title', { name: member.name })} onClose={onClose}>
      <form class="admin-form" onSubmit={save}>
        <p>{t('staff.reset_body')}</p>
        <fieldset>
          <legend>{t('staff.reset_how')}</legend>
          <label class="inline">
            <input type="radio" name="pw-mode" checked={mode === 'generate'} onChange={() => setMode('generate')} />
            {t('staff.reset_generate')}
          </label>
          <label class="inline">
            <input type="radio" name="pw-mode" checked={mode === 'set'} onChange={() => setMode('set')} />
            {t('staff.reset_set')}
          </label>
        </fieldset>
        {mode === 'set' && (
          <>
            <label for="reset-password">{t('staff.password')}</label>
            <input id="reset-password" type="password" autocomplete="new-password" required minLength={12} {...described('password', errorField, 'reset-error', 'reset-password-hint')}
              value={password} onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)} />
            <p id="reset-password-hint" class="hint">{t('staff.password_hint')}</p>
          </>
        )}
        {error && <p id="reset-error" class="error" role="alert">{error}</p>}
        <div class="admin-buttons">
          <button type="button" onClick={onClose}>{t('cancel')}</button>
          <button type="submit" class="danger">{t('staff.reset')}</button>
        </div>
      </form>
    </Dialog>
  );
}
