// The staff pages: sign-in, then the agent workspace at `/`, or a console at `/supervisor`,
// `/trainer`, `/admin` (the hub serves this one page at each). Someone without the agent role
// who opens `/` is taken to the first console their roles allow.

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { Session } from './api';
import { SignIn } from './SignIn';
import { Workspace } from './Workspace';
import { NotAllowed, Shell } from '../console/Shell';
import { CONSOLES, CONSOLE_ROLE, consoleOf, hasRole } from '../console/types';
import './workspace.css';

const KEY = 'switchboard.staff';

function loadSession(): Session | null {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Session | null;
    return s && Date.parse(s.expires_at) > Date.now() ? s : null;
  } catch {
    return null;
  }
}

function App(): JSX.Element {
  const [session, setSession] = useState<Session | null>(loadSession);
  // The hub ended the session (signed out elsewhere, expired, disabled, revoked): a 401 or the
  // inbox socket's 4401. The sign-in page then says so.
  const [ended, setEnded] = useState(false);
  const kind = consoleOf(location.pathname);
  useEffect(() => {
    if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
    else sessionStorage.removeItem(KEY);
  }, [session]);
  const roles = session?.agent.roles ?? [];
  const landing = !kind && session && !hasRole(roles, 'agent') ? CONSOLES.find((c) => hasRole(roles, CONSOLE_ROLE[c])) : undefined;
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
    setSession(s);
  };
  if (!session) return <SignIn onSignedIn={signedIn} ended={ended} />;
  if (kind) return <Shell kind={kind} session={session} signOut={signOut} sessionEnded={sessionEnded} />;
  if (!hasRole(roles, 'agent')) return landing ? <></> : <main id="main"><NotAllowed kind={null} roles={roles} /></main>;
  return <Workspace session={session} signOut={signOut} sessionEnded={sessionEnded} />;
}

const root = document.getElementById('app');
if (root) render(<App />, root);
