// Which roles must use two-step sign-in (TOTP). Members of a required role without it can only
// set it up at their next request. Saving needs a recent sign-in (the step-up dialog asks).

import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { Api } from '../workspace/api';
import { ROLES, type MfaPolicyView } from './api';
import { explain } from './Staff';
import { t } from './i18n';
import { day } from '../workspace/i18n';

export function MfaPolicy({ api }: { api: Api }): JSX.Element {
  const [view, setView] = useState<MfaPolicyView | null>(null);
  const [roles, setRoles] = useState<string[]>([]);
  const [error, setError] = useState('');
  const [status, setStatus] = useState('');
  const show = (v: MfaPolicyView) => {
    setView(v);
    setRoles(v.required_roles);
  };
  useEffect(() => {
    api.request<MfaPolicyView>('GET', '/api/v1/settings/mfa').then(show, (e) => setError(explain(e)));
  }, []);
  const save = async (e: Event) => {
    e.preventDefault();
    setError('');
    setStatus('');
    try {
      show(await api.request<MfaPolicyView>('PUT', '/api/v1/settings/mfa', { required_roles: roles }));
      setStatus(t('mfa.saved'));
    } catch (err) {
      setError(explain(err));
    }
  };
  return (
    <section aria-labelledby="mfa-policy-title">
      <h2 id="mfa-policy-title">{t('tab.security')}</h2>
      <p class="hint">{t('mfa.policy_body')}</p>
      {view?.saved && <p class="hint">{t('retention.saved_on', { when: day(view.saved.at) })}</p>}
      <form class="admin-form admin-narrow" onSubmit={save} aria-labelledby="mfa-policy-title">
        <fieldset class="admin-roles">
          <legend>{t('mfa.required_roles')}</legend>
          {ROLES.map((r) => (
            <label key={r} class="inline">
              <input type="checkbox" name="mfa-role" value={r} checked={roles.includes(r)}
                onChange={(e) => setRoles((e.currentTarget as HTMLInputElement).checked ? [...roles, r] : roles.filter((x) => x !== r))} />
              {t(`role.${r}`)}
            </label>
          ))}
        </fieldset>
        {error && <p class="error" role="alert">{error}</p>}
        <p class="admin-status" role="status">{status}</p>
        <div class="admin-buttons">
          <button type="submit" class="primary" disabled={!view}>{t('save')}</button>
        </div>
      </form>
    </section>
  );
}
