// Step-up: before a sensitive action the hub may answer 401 `step_up_required`; the API client
// then opens this modal dialog, which asks for the password (and a code from the authenticator
// app when two-step sign-in is set up), posts `/api/v1/auth/step-up`, and lets the client retry
// the action once. Cancel (or Escape) gives up, and the action fails as the hub answered.
//
// Where single sign-on is on, the dialog also offers a fresh sign-in at the identity provider
// (the only way for staff who have no password here): it runs in a pop-up window, so that the
// page and the action waiting to be retried stay as they are. The hub's callback brings the
// pop-up back to a staff page with `#sso_step_up=done` (or `#sso_error=…`), which, seeing the mark
// this dialog left in the pop-up's session storage, tells the dialog over a same-origin
// BroadcastChannel (an identity provider's opener policy may cut `window.opener`) and closes.

import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { t } from './i18n';
import { SSO_ERRORS, STEP_UP_CHANNEL, STEP_UP_WINDOW, markStepUpPopup, ssoReturnPage, type SsoError, type StepUpMessage } from './sso';

interface Methods {
  password: boolean;
  sso?: { provider_name: string; start_url: string } | null;
}

let open: Promise<void> | null = null;

/** Asks the staff member to confirm who they are; resolves once the hub accepted, rejects on
 * cancel. Concurrent asks share one dialog. */
export function askStepUp(token: string): Promise<void> {
  if (open) return open;
  open = new Promise<void>((resolve, reject) => {
    const host = document.createElement('div');
    document.body.appendChild(host);
    const finish = (ok: boolean) => {
      render(null, host);
      host.remove();
      open = null;
      if (ok) resolve();
      else reject(new Error('step-up cancelled'));
    };
    render(<StepUpDialog token={token} onDone={() => finish(true)} onCancel={() => finish(false)} />, host);
  });
  return open;
}

function StepUpDialog({ token, onDone, onCancel }: { token: string; onDone: () => void; onCancel: () => void }): JSX.Element {
  const ref = useRef<HTMLDialogElement>(null);
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [needsCode, setNeedsCode] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [methods, setMethods] = useState<Methods | null>(null);
  // With local passwords off, the password form is shown only on request (break-glass admins).
  const [showPassword, setShowPassword] = useState(false);
  const [waiting, setWaiting] = useState(false);
  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    if (ref.current && !ref.current.open) ref.current.showModal();
    fetch('/api/v1/auth/mfa', { headers: { authorization: `Bearer ${token}` } })
      .then((r) => (r.ok ? r.json() : null))
      .then((s: { enrolled?: boolean } | null) => setNeedsCode(Boolean(s?.enrolled)), () => undefined);
    fetch('/api/v1/auth/methods')
      .then((r) => (r.ok ? r.json() : null))
      .then((m: Methods | null) => setMethods(m), () => undefined);
    // The pop-up's outcome.
    const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(STEP_UP_CHANNEL) : null;
    if (channel) {
      channel.onmessage = (e: MessageEvent<StepUpMessage>) => {
        if (e.data?.type !== 'sso_step_up') return;
        setWaiting(false);
        if (e.data.ok) {
          onDone();
          return;
        }
        const known = SSO_ERRORS.find((x) => x === e.data.error);
        setError(t(`signin.sso.error.${(known ?? 'failed') as SsoError}`));
      };
    }
    return () => {
      channel?.close();
      if (opener?.isConnected) opener.focus();
    };
  }, []);
  /** A fresh sign-in at the identity provider, in a pop-up. */
  const viaProvider = async () => {
    setError('');
    // Opened at once, within the click, so that pop-up blockers let it through.
    const popup = window.open('about:blank', STEP_UP_WINDOW, 'popup,width=520,height=720');
    if (!popup) {
      setError(t('stepup.popup_blocked'));
      return;
    }
    markStepUpPopup(popup);
    try {
      const response = await fetch(`/api/v1/auth/sso/start?purpose=step_up&return_to=${encodeURIComponent(ssoReturnPage())}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      if (!response.ok) throw new Error(String(response.status));
      const { url } = (await response.json()) as { url: string };
      popup.location.href = url;
      setWaiting(true);
    } catch {
      popup.close();
      setError(t('signin.sso.error.provider_error'));
    }
  };
  const sso = methods?.sso;
  const passwordForm = !methods || methods.password || !sso || showPassword;
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const body: Record<string, string> = { password };
      if (code.trim()) body[/^\d{6}$/.test(code.trim()) ? 'code' : 'recovery_code'] = code.trim();
      const response = await fetch('/api/v1/auth/step-up', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (response.ok) {
        onDone();
        return;
      }
      setError(response.status === 429 ? t('stepup.throttled') : response.status === 401 ? t('stepup.wrong') : t('error.network'));
    } catch {
      setError(t('error.network'));
    }
    setBusy(false);
  };
  return (
    <dialog ref={ref} class="stepup-dialog" aria-labelledby="stepup-title" aria-describedby="stepup-body"
      onCancel={(e) => { e.preventDefault(); onCancel(); }}>
      <form onSubmit={submit}>
        <h2 id="stepup-title">{t('stepup.title')}</h2>
        <p id="stepup-body">{sso && !passwordForm ? t('stepup.body_sso', { provider: sso.provider_name }) : t('stepup.body')}</p>
        {sso && (
          <>
            <button type="button" class="primary" onClick={() => void viaProvider()}>
              {t('stepup.sso', { provider: sso.provider_name })}
            </button>
            {waiting && <p class="notice" role="status">{t('stepup.sso_waiting', { provider: sso.provider_name })}</p>}
            {!passwordForm && (
              <button type="button" class="link" onClick={() => setShowPassword(true)}>
                {t('stepup.use_password')}
              </button>
            )}
          </>
        )}
        {passwordForm && (
          <>
            {sso && <p class="or">{t('stepup.or_password')}</p>}
            <label for="stepup-password">{t('signin.password')}</label>
            <input id="stepup-password" type="password" autocomplete="current-password" required value={password} autoFocus={!sso}
              onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)} />
            {needsCode && (
              <>
                <label for="stepup-code">{t('mfa.code')}</label>
                <input id="stepup-code" inputMode="numeric" autocomplete="one-time-code" required value={code} aria-describedby="stepup-code-hint"
                  onInput={(e) => setCode((e.currentTarget as HTMLInputElement).value)} />
                <p id="stepup-code-hint" class="hint">{t('mfa.code_hint')}</p>
              </>
            )}
          </>
        )}
        {error && <p class="error" role="alert">{error}</p>}
        <div class="stepup-buttons">
          <button type="button" onClick={onCancel}>{t('cancel')}</button>
          {passwordForm && <button type="submit" class="primary" disabled={busy}>{t('stepup.submit')}</button>}
        </div>
      </form>
    </dialog>
  );
}
