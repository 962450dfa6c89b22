// The workspace screen: header, offers, conversation list, thread and side panel, with the
// keyboard shortcuts (j/k next/previous, r reply, n note, e resolve, a accept, ? help).

import { useEffect, useMemo, useReducer, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { Session, Ticket } from './api';
import { ApiError } from './api';
import { Store, TABS, type Tab } from './store';
import { lang, setLanguage, t, countdown } from './i18n';
import { LANGS, LANG_NAMES, type Lang } from '../shared/i18n';
import { PlaceLinks } from '../console/Shell';
import { CONSOLES, CONSOLE_ROLE, hasRole } from '../console/types';
import { ConversationList } from './ConversationList';
import { Thread } from './Thread';
import { SidePanel } from './SidePanel';
import { alertOffer } from './notify';
import { Security } from './Mfa';

export function Workspace({ session, signOut, sessionEnded }: { session: Session; signOut: () => void; sessionEnded: () => void }): JSX.Element {
  // A 401 or the socket's 4401 is the hub ending the session, not the agent signing out.
  const store = useMemo(() => new Store(session, sessionEnded), [session]);
  const [, bump] = useReducer((n: number) => n + 1, 0);
  const rerender = () => bump(undefined);
  const [error, setError] = useState('');
  const [help, setHelp] = useState(false);
  const [security, setSecurity] = useState(false);
  const composerRef = useRef<{ focus: (mode: 'reply' | 'note') => void }>(null);
  const listRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    document.title = t('app.title');
    const off = store.subscribe(rerender);
    store.onOffer = alertOffer;
    // `#conversation=<id>` (a customer's earlier conversation opened in a new tab) opens it.
    const fromHash = () => {
      const id = /^#conversation=([0-9a-f-]{36})$/.exec(location.hash)?.[1];
      if (id && id !== store.selected) store.select(id).catch(() => setError(t('error.generic')));
    };
    store.start().then(fromHash, () => setError(t('error.network')));
    window.addEventListener('hashchange', fromHash);
    return () => {
      window.removeEventListener('hashchange', fromHash);
      off();
      store.stop();
    };
  }, [store]);

  const act = (p: Promise<unknown>) => {
    setError('');
    p.catch((e: unknown) => setError(e instanceof ApiError && e.status === 409 ? t('error.conflict') : t('error.generic')));
  };
  const visible = store.visible();
  const current = store.selected ? store.conversations.get(store.selected) : undefined;
  const ticket = current ? store.tickets.get(current.id) : undefined;
  const offers = store.offers();

  const move = (step: number) => {
    if (visible.length === 0) return;
    const i = visible.findIndex((c) => c.id === store.selected);
    const next = visible[Math.min(visible.length - 1, Math.max(0, i < 0 ? 0 : i + step))];
    act(store.select(next.id));
  };

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement;
      const typing = target.closest('input, textarea, select, [contenteditable="true"]');
      if (e.key === 'Escape') {
        if (help) setHelp(false);
        else if (typing) (target as HTMLElement).blur();
        return;
      }
      if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
      const mine = ticket && ticket.assignee_id === store.me;
      switch (e.key) {
        case 'j': move(1); break;
        case 'k': move(-1); break;
        case 'r': composerRef.current?.focus('reply'); break;
        case 'n': composerRef.current?.focus('note'); break;
        case 'e': if (mine && ticket) act(store.ticketAction(ticket, 'resolve')); break;
        case 'a': if (offers[0]) act(accept(store, offers[0])); break;
        case '?': setHelp(true); break;
        default: return;
      }
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });

  return (
    <div class="ws">
      <header class="ws-header">
        <h1>{t('app.title')}</h1>
        {CONSOLES.some((c) => hasRole(session.agent.roles, CONSOLE_ROLE[c])) && <PlaceLinks roles={session.agent.roles} current="workspace" />}
        <span class={`conn conn-${store.connection}`} role="status">{t(`connection.${store.connection}`)}</span>
        <label class="inline">
          {t('presence.label')}
          <select value={store.presence} onChange={(e) => act(store.setPresence((e.currentTarget as HTMLSelectElement).value))}>
            {['available', 'busy', 'away'].map((p) => <option key={p} value={p}>{t(`presence.${p}`)}</option>)}
          </select>
        </label>
        {'Notification' in window && Notification.permission === 'default' && (
          <button type="button" onClick={() => void Notification.requestPermission().then(rerender)}>{t('notifications.enable')}</button>
        )}
        <label class="inline">
          <span class="visually-hidden">{t('language.label')}</span>
          <select value={lang} onChange={(e) => { setLanguage((e.currentTarget as HTMLSelectElement).value as Lang); rerender(); }}>
            {LANGS.map((l) => <option key={l} value={l} lang={l}>{LANG_NAMES[l]}</option>)}
          </select>
        </label>
        <button type="button" onClick={() => setHelp(true)} aria-keyshortcuts="?">{t('shortcuts.button')}</button>
        <Softphone store={store} />
        <span class="me">{session.agent.name}</span>
        <button type="button" onClick={() => setSecurity(true)}>{t('security.button')}</button>
        <button type="button" onClick={signOut}>{t('signout')}</button>
      </header>
      {security && <Security api={store.api} onClose={() => setSecurity(false)} signedOutEverywhere={sessionEnded} />}
      {store.connection === 'offline' && <p class="banner offline" role="alert">{t('connection.offline.banner')}</p>}
      {error && <p class="banner error" role="alert">{error}</p>}
      {offers.length > 0 && (
        <section class="offers" aria-label={t('offers.label')}>
          {offers.map((o) => <Offer key={o.id} store={store} ticket={o} act={act} />)}
        </section>
      )}
      <div class="ws-body">
        <nav class="ws-list" aria-label={t('list.label')}>
          <div class="tabs" role="group" aria-label={t('tabs.label')}>
            {TABS.map((tab: Tab) => (
              <button key={tab} type="button" aria-pressed={store.tab === tab} onClick={() => { store.tab = tab; store.changed(); }}>
                {t(`tab.${tab}`)} <span class="count">{store.count(tab)}</span>
              </button>
            ))}
          </div>
          <div class="filters">
            <Filter label={t('filter.channel')} value={store.filters.channel} options={['webchat', 'email', 'voice', 'whatsapp', 'messenger', 'telegram']}
              render={(v) => t(`channel.${v}`)} onChange={(v) => { store.filters.channel = v; store.changed(); }} />
            <Filter label={t('filter.queue')} value={store.filters.queue} options={store.queues()} render={(v) => v}
              onChange={(v) => { store.filters.queue = v; store.changed(); }} />
            <Filter label={t('filter.language')} value={store.filters.language} options={[...LANGS]} render={(v) => LANG_NAMES[v as Lang]}
              onChange={(v) => { store.filters.language = v; store.changed(); }} />
          </div>
          <ConversationList store={store} items={visible} listRef={listRef} onSelect={(id) => act(store.select(id))} />
        </nav>
        <main class="ws-thread" aria-label={t('thread.label')}>
          {current ? (
            <Thread store={store} conversation={current} ticket={ticket} composerRef={composerRef} act={act} />
          ) : (
            <p class="empty">{t('thread.none')}</p>
          )}
        </main>
        {current && <SidePanel store={store} conversation={current} ticket={ticket} act={act} />}
      </div>
      {help && <Shortcuts close={() => setHelp(false)} />}
    </div>
  );
}

function accept(store: Store, o: Ticket): Promise<void> {
  return store.ticketAction(o, 'accept').then(() => store.select(o.conversation_id));
}

function Offer({ store, ticket, act }: { store: Store; ticket: Ticket; act: (p: Promise<unknown>) => void }): JSX.Element {
  const [, bumpTick] = useReducer((n: number) => n + 1, 0);
  const tick = () => bumpTick(undefined);
  useEffect(() => {
    const id = window.setInterval(tick, 1000);
    return () => window.clearInterval(id);
  }, []);
  const left = ticket.offer_expires_at ? Date.parse(ticket.offer_expires_at) - Date.now() : 0;
  const c = store.conversations.get(ticket.conversation_id);
  return (
    <div class="offer" role="group" aria-labelledby={`offer-${ticket.id}`}>
      <p id={`offer-${ticket.id}`}>
        <strong>{t('offer.title', { channel: t(`channel.${ticket.channel}`) })}</strong>{' '}
        {t('offer.detail', { queue: ticket.queue, language: c ? LANG_NAMES[c.language as Lang] ?? c.language : '' })}
      </p>
      {ticket.summary && <p class="summary">{ticket.summary}</p>}
      <span class="countdown" aria-label={t('offer.expires')}>{countdown(left)}</span>
      <button type="button" class="primary" aria-keyshortcuts="a" onClick={() => act(accept(store, ticket))}>{t('offer.accept')}</button>
      <button type="button" onClick={() => act(store.ticketAction(ticket, 'reject'))}>{t('offer.reject')}</button>
    </div>
  );
}

function Filter(props: { label: string; value: string; options: string[]; render: (v: string) => string; onChange: (v: string) => void }): JSX.Element {
  return (
    <label class="filter">
      <span>{props.label}</span>
      <select value={props.value} onChange={(e) => props.onChange((e.currentTarget as HTMLSelectElement).value)}>
        <option value="">{t('filter.all')}</option>
        {props.options.map((o) => <option key={o} value={o}>{props.render(o)}</option>)}
      </select>
    </label>
  );
}

function Shortcuts({ close }: { close: () => void }): JSX.Element {
  const ref = useRef<HTMLButtonElement>(null);
  useEffect(() => ref.current?.focus(), []);
  const keys: [string, string][] = [['j', 'shortcut.next'], ['k', 'shortcut.previous'], ['r', 'shortcut.reply'], ['n', 'shortcut.note'],
    ['e', 'shortcut.resolve'], ['a', 'shortcut.accept'], ['Ctrl+Enter', 'shortcut.send'], ['Esc', 'shortcut.escape']];
  return (
    <div class="dialog-backdrop">
      <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="shortcuts-title">
        <h2 id="shortcuts-title">{t('shortcuts.title')}</h2>
        <dl>
          {keys.map(([k, label]) => [<dt key={`${k}t`}><kbd>{k}</kbd></dt>, <dd key={`${k}d`}>{t(label)}</dd>])}
        </dl>
        <button type="button" ref={ref} onClick={close}>{t('close')}</button>
      </div>
    </div>
  );
}

/** The agent's softphone, for those who have one: registered (calls can be offered) or not.
 * Read on start, every 30 s and after every reconnect of the inbox. */
function Softphone({ store }: { store: Store }): JSX.Element | null {
  const [state, setState] = useState<'none' | 'registered' | 'unregistered'>('none');
  const connection = store.connection;
  useEffect(() => {
    let stopped = false;
    const read = () =>
      store.api
        .request<{ registrations: unknown[] }>('GET', `/api/v1/agents/${store.me}/sip`)
        .then((identity) => !stopped && setState(identity.registrations.length > 0 ? 'registered' : 'unregistered'))
        .catch(() => !stopped && setState('none'));
    void read();
    const timer = window.setInterval(() => void read(), 30000);
    return () => {
      stopped = true;
      window.clearInterval(timer);
    };
  }, [store, connection]);
  if (state === 'none') return null;
  return (
    <span class={`softphone softphone-${state}`} role="status">
      {t(`softphone.${state}`)}
    </span>
  );
}
