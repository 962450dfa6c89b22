// Step-up: before a sensitive action the hub may answer 401 `step_up_required`; the API client
// then opens this modal dialog, which asks for the password (and a code from the authenticator
// app when two-step sign-in is set up), posts `/api/v1/auth/step-up`, and lets the client retry
// the action once. Cancel (or Escape) gives up, and the action fails as the hub answered.

import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { t } from './i18n';

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
  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    if (ref.current && !ref.current.open) ref.current.showModal();
    fetch('/api/v1/auth/mfa', { headers: { authorization: `Bearer ${token}` } })
      .then((r) => (r.ok ? r.json() : null))
      .then((s: { enrolled?: boolean } | null) => setNeedsCode(Boolean(s?.enrolled)), () => undefined);
    return () => {
      if (opener?.isConnected) opener.focus();
    };
  }, []);
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
        <p id="stepup-body">{t('stepup.body')}</p>
        <label for="stepup-password">{t('signin.password')}</label>
        <input id="stepup-password" type="password" autocomplete="current-password" required value={password} autoFocus
          onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)} />
        {needsCode && (
          <>
            <label for="stepup-code">{t('mfa.code')}</label>
            <input id="stepup-code" inputMode="numeric" autocomplete="one-time-code" required value={code} aria-describedby="stepup-code-hint"
              onInput={(e) => setCode((e.currentTarget as HTMLInputElement).value)} />
            <p id="stepup-code-hint" class="hint">{t('mfa.code_hint')}</p>
          </>
        )}
        {error && <p class="error" role="alert">{error}</p>}
        <div class="stepup-buttons">
          <button type="button" onClick={onCancel}>{t('cancel')}</button>
          <button type="submit" class="primary" disabled={busy}>{t('stepup.submit')}</button>
        </div>
      </form>
    </dialog>
  );
}
