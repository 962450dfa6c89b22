// The staff pages: sign-in, then the agent workspace at `/`, or a console at `/supervisor`,
// `/trainer`, `/admin` (the hub serves this one page at each). Someone without the agent role
// who opens `/` is taken to the first console their roles allow.

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { Api, exchangeSsoCode, type Agent, type Session } from './api';
import { SignIn } from './SignIn';
import { finishStepUpPopup, takeSsoOutcome, type SsoError } from './sso';
import { Workspace } from './Workspace';
import { NotAllowed, Shell } from '../console/Shell';
import { CONSOLES, CONSOLE_ROLE, consoleOf, hasRole } from '../console/types';
import { t as shellT } from '../console/i18n';
import { t } from './i18n';
import './workspace.css';

const KEY = 'switchboard.staff';
/** What single sign-on's callback left in the URL fragment when the page loaded. */
const SSO = takeSsoOutcome();

function loadSession(): Session | null {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Session | null;
    return s && Date.parse(s.expires_at) > Date.now() ? s : null;
  } catch {
    return null;
  }
}

/** Whether two views of a staff member differ in what the pages show or allow. */
function changed(a: Agent, b: Agent): boolean {
  return a.name !== b.name || a.email !== b.email || [...a.roles].sort().join() !== [...b.roles].sort().join();
}

function App(): JSX.Element {
  const [session, setSession] = useState<Session | null>(loadSession);
  // The roles kept at sign-in may be stale (an admin changed them since): a session restored from
  // storage is checked with the hub (GET /api/v1/me) before any console or workspace is drawn.
  const [verified, setVerified] = useState(false);
  // The hub ended the session (signed out elsewhere, expired, disabled, revoked): a 401 or the
  // inbox socket's 4401. The sign-in page then says so.
  const [ended, setEnded] = useState(false);
  // Single sign-on: the one-time code is exchanged for a session, or the refusal is shown.
  const [ssoError, setSsoError] = useState<SsoError | undefined>(SSO.error);
  const [ssoBusy, setSsoBusy] = useState(Boolean(SSO.code));
  const kind = consoleOf(location.pathname);
  useEffect(() => {
    if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
    else sessionStorage.removeItem(KEY);
  }, [session]);
  const roles = session?.agent.roles ?? [];
  const landing = verified && !kind && session && !hasRole(roles, 'agent') ? CONSOLES.find((c) => hasRole(roles, CONSOLE_ROLE[c])) : undefined;
  useEffect(() => {
    if (landing) location.replace(`/${landing}`);
  }, [landing]);
  const signOut = () => {
    if (session) {
      void fetch('/api/v1/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${session.token}` } });
    }
    setEnded(false);
    setSession(null);
  };
  const sessionEnded = () => {
    setEnded(true);
    setSession(null);
  };
  const signedIn = (s: Session) => {
    setEnded(false);
    setVerified(true);
    setSession(s);
  };
  /** Asks the hub who this session is now and keeps its roles (and name) if they changed. */
  const recheck = async (token: string) => {
    try {
      const agent = await new Api(token, sessionEnded).request<Agent>('GET', '/api/v1/me');
      setSession((s) => (s && s.token === token && changed(s.agent, agent) ? { ...s, agent } : s));
    } catch {
      // Unreachable hub or 401 (sessionEnded has run): keep what is known.
    }
  };
  useEffect(() => {
    if (!SSO.code) return;
    exchangeSsoCode(SSO.code).then(signedIn, () => setSsoError('failed')).finally(() => setSsoBusy(false));
  }, []);
  const token = session?.token;
  useEffect(() => {
    if (!token || verified) return;
    void recheck(token).finally(() => setVerified(true));
  }, [token, verified]);
  if (!session) return <SignIn onSignedIn={signedIn} ended={ended} ssoError={ssoError} ssoBusy={ssoBusy} />;
  if (!verified) return <main id="main"><p role="status">{shellT('loading')}</p></main>;
  if (kind) return <Shell kind={kind} session={session} signOut={signOut} sessionEnded={sessionEnded} recheck={() => void recheck(session.token)} />;
  if (!hasRole(roles, 'agent')) return landing ? <></> : <main id="main"><NotAllowed kind={null} roles={roles} /></main>;
  return <Workspace session={session} signOut={signOut} sessionEnded={sessionEnded} />;
}

const root = document.getElementById('app');
// The step-up pop-up, back from the identity provider, only reports to its dialog and closes
// (should the browser keep it open, it says so).
if (root && finishStepUpPopup(SSO)) {
  render(<main id="main"><p role="status">{t(SSO.steppedUp ? 'stepup.popup_done' : 'stepup.popup_failed')}</p></main>, root);
} else if (root) render(<App />, root);
