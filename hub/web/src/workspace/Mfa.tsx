// Two-step sign-in (TOTP) for the signed-in member: setting it up (a QR code to scan, the secret
// as text to type in instead, a first code to confirm), the recovery codes shown once (copy or
// download), and the "Security" dialog (status, new recovery codes, turn off, sign out
// everywhere). The sign-in page uses the set-up when the member's role requires it.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { saveBlob } from '../shared/save';
import { ApiError, type Api } from './api';
import { t } from './i18n';

interface Enrolment {
  secret: string;
  otpauth_uri: string;
  qr_svg: string;
}

interface MfaStatus {
  enrolled: boolean;
  required: boolean;
  recovery_codes_left: number;
}

function svgDataUrl(svg: string): string {
  return `data:image/svg+xml;base64,${btoa(unescape(encodeURIComponent(svg)))}`;
}

/** Recovery codes, shown once: a list, with copy and download. */
export function RecoveryCodes({ codes, onDone, doneLabel }: { codes: string[]; onDone: () => void; doneLabel: string }): JSX.Element {
  const [copied, setCopied] = useState('');
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const text = `${codes.join('\n')}\n`;
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(t('mfa.copied'));
    } catch {
      setCopied(t('mfa.copy_failed'));
    }
  };
  return (
    <section class="mfa-codes" aria-labelledby="mfa-codes-title">
      <h2 id="mfa-codes-title" tabIndex={-1} ref={heading}>{t('mfa.codes_title')}</h2>
      <p>{t('mfa.codes_body')}</p>
      <ol class="mfa-code-list">
        {codes.map((c) => <li key={c}><code>{c}</code></li>)}
      </ol>
      <div class="mfa-buttons">
        <button type="button" onClick={() => void copy()}>{t('mfa.copy')}</button>
        <button type="button" onClick={() => saveBlob(new Blob([text], { type: 'text/plain' }), 'switchboard-recovery-codes.txt')}>{t('mfa.download')}</button>
        <button type="button" class="primary" onClick={onDone}>{doneLabel}</button>
      </div>
      <p role="status">{copied}</p>
    </section>
  );
}

/** Sets up TOTP: start, scan or type, confirm with a code; then the recovery codes. */
export function Enrol({ api, onDone, doneLabel }: { api: Api; onDone: () => void; doneLabel: string }): JSX.Element {
  const [enrolment, setEnrolment] = useState<Enrolment | null>(null);
  const [code, setCode] = useState('');
  const [codes, setCodes] = useState<string[] | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    api.request<Enrolment>('POST', '/api/v1/auth/mfa/totp').then(setEnrolment, () => setError(t('error.network')));
  }, []);
  const confirm = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const r = await api.request<{ recovery_codes: string[] }>('POST', '/api/v1/auth/mfa/totp/confirm', { code: code.trim() });
      setCodes(r.recovery_codes);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 422 ? t('mfa.wrong') : t('error.network'));
      setBusy(false);
    }
  };
  if (codes) return <RecoveryCodes codes={codes} onDone={onDone} doneLabel={doneLabel} />;
  return (
    <section class="mfa-enrol" aria-labelledby="mfa-enrol-title">
      <h2 id="mfa-enrol-title">{t('mfa.enrol_title')}</h2>
      <p>{t('mfa.enrol_body')}</p>
      {!enrolment ? (
        error ? <p class="error" role="alert">{error}</p> : <p role="status">{t('loading')}</p>
      ) : (
        <form onSubmit={confirm}>
          <img class="mfa-qr" src={svgDataUrl(enrolment.qr_svg)} alt={t('mfa.qr_alt')} width={200} height={200} />
          <p id="mfa-secret-label">{t('mfa.secret_label')}</p>
          <p><code class="mfa-secret" aria-labelledby="mfa-secret-label">{enrolment.secret}</code></p>
          <label for="mfa-code">{t('mfa.code')}</label>
          <input id="mfa-code" inputMode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxLength={6} required value={code}
            onInput={(e) => setCode((e.currentTarget as HTMLInputElement).value)} />
          {error && <p class="error" role="alert">{error}</p>}
          <button type="submit" class="primary" disabled={busy}>{t('mfa.confirm')}</button>
        </form>
      )}
    </section>
  );
}

/** The member's security: two-step sign-in and sessions, in a modal dialog. */
export function Security({ api, onClose, signedOutEverywhere }: { api: Api; onClose: () => void; signedOutEverywhere: () => void }): JSX.Element {
  const ref = useRef<HTMLDialogElement>(null);
  const [status, setStatus] = useState<MfaStatus | null>(null);
  const [mode, setMode] = useState<'status' | 'enrol' | 'codes'>('status');
  const [codes, setCodes] = useState<string[]>([]);
  const [message, setMessage] = useState('');
  const load = () => api.request<MfaStatus>('GET', '/api/v1/auth/mfa').then(setStatus, () => setMessage(t('error.network')));
  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    if (ref.current && !ref.current.open) ref.current.showModal();
    void load();
    return () => {
      if (opener?.isConnected) opener.focus();
    };
  }, []);
  const run = async (what: () => Promise<void>) => {
    setMessage('');
    try {
      await what();
    } catch (e) {
      setMessage(e instanceof ApiError && e.code === 'step_up_required' ? t('stepup.needed') : t('error.network'));
    }
  };
  const regenerate = () => run(async () => {
    const r = await api.request<{ recovery_codes: string[] }>('POST', '/api/v1/auth/mfa/recovery-codes');
    setCodes(r.recovery_codes);
    setMode('codes');
  });
  const turnOff = () => run(async () => {
    await api.request('DELETE', '/api/v1/auth/mfa');
    setMessage(t('security.turned_off'));
    await load();
  });
  const everywhere = () => run(async () => {
    await api.request('POST', '/api/v1/auth/logout-all');
    signedOutEverywhere();
  });
  const back = () => { setMode('status'); void load(); };
  return (
    <dialog ref={ref} class="security-dialog" aria-labelledby="security-title" onCancel={(e) => { e.preventDefault(); onClose(); }}>
      <h2 id="security-title">{t('security.title')}</h2>
      {mode === 'enrol' && <Enrol api={api} onDone={back} doneLabel={t('mfa.done')} />}
      {mode === 'codes' && <RecoveryCodes codes={codes} onDone={back} doneLabel={t('mfa.done')} />}
      {mode === 'status' && (
        <>
          <h3>{t('security.mfa')}</h3>
          {!status ? <p role="status">{t('loading')}</p> : (
            <>
              <p>{status.enrolled ? t('security.mfa_on', { count: status.recovery_codes_left }) : t('security.mfa_off')}</p>
              {status.required && !status.enrolled && <p class="notice">{t('security.mfa_required')}</p>}
              <div class="mfa-buttons">
                {status.enrolled ? (
                  <>
                    <button type="button" onClick={() => void regenerate()}>{t('security.new_codes')}</button>
                    <button type="button" class="danger" onClick={() => void turnOff()}>{t('security.turn_off')}</button>
                  </>
                ) : (
                  <button type="button" class="primary" onClick={() => setMode('enrol')}>{t('security.set_up')}</button>
                )}
              </div>
            </>
          )}
          <h3>{t('security.sessions')}</h3>
          <p>{t('security.sessions_body')}</p>
          <button type="button" class="danger" onClick={() => void everywhere()}>{t('security.sign_out_everywhere')}</button>
          <p role="status">{message}</p>
          <div class="mfa-buttons">
            <button type="button" onClick={onClose}>{t('close')}</button>
          </div>
        </>
      )}
    </dialog>
  );
}
