// The sign-in page, a flow of steps: single sign-on ("Sign in with …") when the hub offers it,
// and the password form, unless local passwords are off (then it opens only on request, for
// break-glass admins); then, for a member who set up two-step sign-in, a code from the
// authenticator app (or a recovery code); or, for a member whose role requires two-step sign-in
// and who has none, its set-up before anything else.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { Api, ApiError, authMethods, publicConfig, signIn, signInSecondFactor, type AuthMethods, type PublicConfig, type Session } from './api';
import { Enrol } from './Mfa';
import { ssoStartUrl, type SsoError } from './sso';
import { t } from './i18n';

type Step = { kind: 'password' } | { kind: 'code'; challenge: string } | { kind: 'enrol'; session: Session };

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
  const [step, setStep] = useState<Step>({ kind: 'password' });
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
      const answer = await signIn(email.trim(), password);
      setPassword('');
      if ('mfa_required' in answer) setStep({ kind: 'code', challenge: answer.challenge });
      else if (answer.mfa_enrolment_required) setStep({ kind: 'enrol', session: answer });
      else onSignedIn(answer);
    } catch (err) {
      setError(failure(err, t('signin.wrong')));
    } finally {
      setBusy(false);
    }
  };
  if (step.kind === 'code') {
    return <CodeStep challenge={step.challenge} onSignedIn={onSignedIn} onRestart={() => setStep({ kind: 'password' })} />;
  }
  if (step.kind === 'enrol') {
    const session = step.session;
    const api = new Api(session.token, () => setStep({ kind: 'password' }));
    return (
      <main class="signin">
        <div class="signin-card">
          <p class="notice">{t('mfa.required_notice')}</p>
          <Enrol api={api} doneLabel={t('mfa.continue')} onDone={() => onSignedIn({ ...session, mfa_enrolment_required: false })} />
        </div>
      </main>
    );
  }
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

/** The message for a refused step: `wrong` for a 401, the wait for a 429. */
function failure(err: unknown, wrong: string): string {
  if (err instanceof ApiError && err.status === 401) return wrong;
  if (err instanceof ApiError && err.status === 429) return t('signin.throttled');
  if (err instanceof ApiError && err.code === 'local_passwords_disabled') return t('signin.passwordsOff');
  return t('error.network');
}

/** The second step: a code from the authenticator app, or a recovery code. */
function CodeStep({ challenge, onSignedIn, onRestart }: { challenge: string; onSignedIn: (s: Session) => void; onRestart: () => void }): JSX.Element {
  const [code, setCode] = useState('');
  const [recovery, setRecovery] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), [recovery]);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      onSignedIn(await signInSecondFactor(challenge, code.trim(), recovery));
    } catch (err) {
      setError(failure(err, t('mfa.wrong')));
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form class="signin-card" onSubmit={submit} aria-labelledby="code-title">
        <h1 id="code-title">{t('mfa.step_title')}</h1>
        <p id="code-hint">{recovery ? t('mfa.recovery_hint') : t('mfa.code_hint')}</p>
        <label for="signin-code">{recovery ? t('mfa.recovery_code') : t('mfa.code')}</label>
        <input id="signin-code" ref={input} required value={code} aria-describedby="code-hint"
          inputMode={recovery ? 'text' : 'numeric'} autocomplete={recovery ? 'off' : 'one-time-code'}
          onInput={(e) => setCode((e.currentTarget as HTMLInputElement).value)} />
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" class="primary" disabled={busy}>{t('mfa.verify')}</button>
        <button type="button" class="link" onClick={() => { setRecovery(!recovery); setCode(''); setError(''); }}>
          {recovery ? t('mfa.use_code') : t('mfa.use_recovery')}
        </button>
        <button type="button" class="link" onClick={onRestart}>{t('mfa.restart')}</button>
      </form>
    </main>
  );
}
