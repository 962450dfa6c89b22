// The sign-in page: single sign-on ("Sign in with …") when the hub offers it, and the password
// form, unless local passwords are off (then it opens only on request, for break-glass admins).

import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { ApiError, authMethods, publicConfig, signIn, type AuthMethods, type PublicConfig, type Session } from './api';
import { ssoStartUrl, type SsoError } from './sso';
import { t } from './i18n';

export function SignIn({ onSignedIn, ended = false, ssoError, ssoBusy = false }: {
  onSignedIn: (s: Session) => void;
  ended?: boolean;
  /** Why the last single sign-on was refused. */
  ssoError?: SsoError;
  /** A single sign-on is being completed (the one-time code is being exchanged). */
  ssoBusy?: boolean;
}): JSX.Element {
  const [config, setConfig] = useState<PublicConfig | null>(null);
  const [methods, setMethods] = useState<AuthMethods | null>(null);
  const [breakGlass, setBreakGlass] = useState(false);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const emailRef = useRef<HTMLInputElement>(null);
  useEffect(() => {
    document.title = t('signin.title');
    emailRef.current?.focus();
    publicConfig().then(setConfig, () => undefined);
    authMethods().then(setMethods, () => undefined);
  }, []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      onSignedIn(await signIn(email.trim(), password));
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401 ? t('signin.wrong')
          : err instanceof ApiError && err.code === 'local_passwords_disabled' ? t('signin.passwordsOff')
            : t('error.network'),
      );
    } finally {
      setBusy(false);
    }
  };
  const sso = methods?.sso;
  const passwordForm = methods?.password !== false || breakGlass;
  return (
    <main class="signin">
      <div class="signin-card">
        <h1 id="signin-title">{t('signin.title')}</h1>
        {ended && <p class="notice" role="alert">{t('signin.ended')}</p>}
        {ssoBusy && <p class="notice" role="status">{t('signin.sso.busy')}</p>}
        {ssoError && <p class="error" role="alert">{t(`signin.sso.error.${ssoError}`)}</p>}
        {sso && (
          <a class="button primary sso" href={ssoStartUrl(sso.start_url)}>
            {t('signin.sso', { provider: sso.provider_name })}
          </a>
        )}
        {methods?.password === false && (
          <button type="button" class="link" aria-expanded={breakGlass} aria-controls="signin-form"
            onClick={() => setBreakGlass(!breakGlass)}>
            {t('signin.breakGlass')}
          </button>
        )}
        {passwordForm && (
          <form id="signin-form" class="signin-form" onSubmit={submit} aria-labelledby="signin-title">
            {sso && methods?.password !== false && <p class="or">{t('signin.or')}</p>}
            <label for="email">{t('signin.email')}</label>
            <input id="email" ref={emailRef} type="email" autocomplete="username" required value={email}
              onInput={(e) => setEmail((e.currentTarget as HTMLInputElement).value)} />
            <label for="password">{t('signin.password')}</label>
            <input id="password" type="password" autocomplete="current-password" required value={password}
              onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)} />
            {error && <p class="error" role="alert">{error}</p>}
            <button type="submit" class="primary" disabled={busy}>{busy ? t('signin.busy') : t('signin.submit')}</button>
          </form>
        )}
        {config?.demo && (
          <aside class="demo-hint" aria-labelledby="demo-title">
            <h2 id="demo-title">{t('signin.demo.title')}</h2>
            <p>{t('signin.demo.body', { password: config.demo_password ?? '' })}</p>
            <ul>
              {config.demo_accounts.map((a) => (
                <li key={a.email}>
                  <button type="button" class="link" onClick={() => { setEmail(a.email); setPassword(config.demo_password ?? ''); }}>
                    {a.email}
                  </button>{' '}
                  ({a.roles.join(', ')})
                </li>
              ))}
            </ul>
          </aside>
        )}
      </div>
    </main>
  );
}
