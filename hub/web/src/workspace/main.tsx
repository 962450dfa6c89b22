// The agent workspace: sign-in, then one screen (list, thread, side panel).

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { Session } from './api';
import { SignIn } from './SignIn';
import { Workspace } from './Workspace';
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
  useEffect(() => {
    if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
    else sessionStorage.removeItem(KEY);
  }, [session]);
  const signOut = () => {
    if (session) {
      void fetch('/api/v1/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${session.token}` } });
    }
    setSession(null);
  };
  return session ? <Workspace session={session} signOut={signOut} /> : <SignIn onSignedIn={setSession} />;
}

const root = document.getElementById('app');
if (root) render(<App />, root);
