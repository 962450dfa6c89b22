// The consoles' frame: a header with the places the staff member's roles open, the language and
// sign-out, then the console itself, loaded on demand (its own bundle). Without the console's
// role the shell shows a "not allowed" page and never loads the console.

import { useEffect, useMemo, useState } from 'preact/hooks';
import type { ComponentType, JSX } from 'preact';
import { Api, type Session } from '../workspace/api';
import { lang, setLanguage } from '../workspace/i18n';
import { LANGS, LANG_NAMES, type Lang } from '../shared/i18n';
import { Security } from '../workspace/Mfa';
import { t as wsT } from '../workspace/i18n';
import { t } from './i18n';
import { CONSOLES, CONSOLE_ROLE, hasRole, type ConsoleKind, type ConsoleProps } from './types';
import './console.css';

const LOADERS: Record<ConsoleKind, () => Promise<{ default: ComponentType<ConsoleProps> }>> = {
  supervisor: () => import('../supervisor/index'),
  trainer: () => import('../trainer/index'),
  admin: () => import('../admin/index'),
  auditor: () => import('../auditor/index'),
};

function hashSection(): string {
  return decodeURIComponent(location.hash.replace(/^#/, ''));
}

/** The header's links: the workspace (agents) and each console the roles allow. */
export function PlaceLinks({ roles, current }: { roles: readonly string[]; current: ConsoleKind | 'workspace' }): JSX.Element {
  const places: { key: ConsoleKind | 'workspace'; href: string }[] = [];
  if (hasRole(roles, 'agent')) places.push({ key: 'workspace', href: '/' });
  for (const c of CONSOLES) if (hasRole(roles, CONSOLE_ROLE[c])) places.push({ key: c, href: `/${c}` });
  return (
    <nav class="places" aria-label={t('nav.label')}>
      <ul>
        {places.map((p) => (
          <li key={p.key}>
            <a href={p.href} aria-current={p.key === current ? 'page' : undefined}>{t(`nav.${p.key}`)}</a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

/** `recheck` asks the hub for the session's current roles (a 403 from the console's API may mean
 * an admin took the console's role away); the shell redraws with them. */
export function Shell({ kind, session, signOut, sessionEnded, recheck }: { kind: ConsoleKind; session: Session; signOut: () => void; sessionEnded: () => void; recheck: () => void }): JSX.Element {
  const allowed = hasRole(session.agent.roles, CONSOLE_ROLE[kind]);
  const api = useMemo(() => new Api(session.token, sessionEnded, recheck), [session.token]);
  const [Console, setConsole] = useState<ComponentType<ConsoleProps> | null>(null);
  const [failed, setFailed] = useState(false);
  const [section, setSection] = useState(hashSection);
  const [, setTick] = useState(0);
  const [security, setSecurity] = useState(false);

  useEffect(() => {
    if (!allowed) return;
    LOADERS[kind]().then((m) => setConsole(() => m.default), () => setFailed(true));
  }, [kind, allowed]);
  useEffect(() => {
    const onHash = () => setSection(hashSection());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    if (!allowed) document.title = `${t('notallowed.title')} · Switchboard`;
  }, [allowed, lang]);

  const navigate = (next: string) => {
    location.hash = next ? `#${encodeURIComponent(next)}` : '';
    setSection(next);
  };

  return (
    <div class="console">
      <a class="skip" href="#main">{t('skip')}</a>
      <header class="console-header">
        <span class="brand">Switchboard</span>
        <PlaceLinks roles={session.agent.roles} current={kind} />
        <label class="inline">
          <span class="visually-hidden">{t('language.label')}</span>
          <select value={lang} onChange={(e) => { setLanguage((e.currentTarget as HTMLSelectElement).value as Lang); setTick((n) => n + 1); }}>
            {LANGS.map((l) => <option key={l} value={l} lang={l}>{LANG_NAMES[l]}</option>)}
          </select>
        </label>
        <span class="me">{session.agent.name}</span>
        <button type="button" onClick={() => setSecurity(true)}>{wsT('security.button')}</button>
        <button type="button" onClick={signOut}>{t('signout')}</button>
      </header>
      {security && <Security api={api} onClose={() => setSecurity(false)} signedOutEverywhere={sessionEnded} />}
      <main id="main" tabIndex={-1}>
        {!allowed ? (
          <NotAllowed kind={kind} roles={session.agent.roles} />
        ) : failed ? (
          <p class="error" role="alert">{t('load_failed')}</p>
        ) : Console ? (
          <Console session={session} api={api} section={section} navigate={navigate} />
        ) : (
          <p role="status">{t('loading')}</p>
        )}
      </main>
    </div>
  );
}

/** What someone without the console's role sees: which role it needs, and where they can go. */
export function NotAllowed({ kind, roles }: { kind: ConsoleKind | null; roles: readonly string[] }): JSX.Element {
  const home = hasRole(roles, 'agent') ? '/' : CONSOLES.map((c) => (hasRole(roles, CONSOLE_ROLE[c]) ? `/${c}` : null)).find(Boolean);
  return (
    <section class="not-allowed" aria-labelledby="not-allowed-title">
      <h1 id="not-allowed-title">{t('notallowed.title')}</h1>
      <p>{kind ? t('notallowed.body', { place: t(`nav.${kind}`), role: t(`role.${CONSOLE_ROLE[kind]}`) }) : t('notallowed.none')}</p>
      {home && <p><a href={home}>{t('notallowed.back')}</a></p>}
    </section>
  );
}
