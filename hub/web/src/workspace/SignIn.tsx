// The sign-in page. Password sign-in today; the form is one step of a flow (`step`), so a
// second factor or an SSO button slots in as another step without changing the rest.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { ApiError, publicConfig, signIn, type PublicConfig, type Session } from './api';
import { t } from './i18n';

export function SignIn({ onSignedIn, ended = false }: { onSignedIn: (s: Session) => void; ended?: boolean }): JSX.Element {
  const [config, setConfig] = useState<PublicConfig | null>(null);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const emailRef = useRef<HTMLInputElement>(null);
  useEffect(() => {
    document.title = t('signin.title');
    emailRef.current?.focus();
    publicConfig().then(setConfig, () => undefined);
  }, []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      onSignedIn(await signIn(email.trim(), password));
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? t('signin.wrong') : t('error.network'));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form class="signin-card" onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">{t('signin.title')}</h1>
        {ended && <p class="notice" role="alert">{t('signin.ended')}</p>}
        <label for="email">{t('signin.email')}</label>
        <input id="email" ref={emailRef} type="email" autocomplete="username" required value={email}
          onInput={(e) => setEmail((e.currentTarget as HTMLInputElement).value)} />
        <label for="password">{t('signin.password')}</label>
        <input id="password" type="password" autocomplete="current-password" required value={password}
          onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)} />
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" class="primary" disabled={busy}>{busy ? t('signin.busy') : t('signin.submit')}</button>
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
      </form>
    </main>
  );
}
