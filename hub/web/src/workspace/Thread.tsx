// The open conversation: its messages across channels, and the reply box.

import { memo } from 'preact/compat';
import { useEffect, useImperativeHandle, useRef, useState } from 'preact/hooks';
import type { JSX, RefObject } from 'preact';
import type { Api, Conversation, Message, Ticket } from './api';
import type { Store, Typing } from './store';
import { clock, lang, t } from './i18n';
import { CannedList, useCanned } from './CannedList';
import { type CannedResponse, fill } from './canned';
import { splitQuotes } from './quote';
import { SlaClock } from './SlaClock';

const SOCIAL = ['whatsapp', 'messenger'];
/** Messages kept in the DOM while the agent follows the thread (at least; see STEP). */
const FOLLOW = 60;
/** While following, the window's start moves this many messages at once: a new message is
 * then only added at the end (the messages above it keep their place and their painting),
 * and the oldest leave together once every STEP messages. */
const STEP = 40;
/** Earlier messages added at a time (the button, or scrolling to the top). */
const PAGE = 200;
const WINDOW_MS = 24 * 3600 * 1000;

export function Thread(props: {
  store: Store;
  conversation: Conversation;
  ticket: Ticket | undefined;
  composerRef: RefObject<{ focus: (mode: 'reply' | 'note') => void }>;
  act: (p: Promise<unknown>) => void;
}): JSX.Element {
  const { store, conversation, ticket, composerRef, act } = props;
  const logRef = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const thread = store.thread;
  const subject = conversation.channel === 'email' ? store.subjects.get(conversation.id) : undefined;
  // Windowed: while the agent follows the conversation, only the newest FOLLOW to FOLLOW + STEP
  // messages are in the DOM; scrolling to the top (or the button) brings earlier ones, and a
  // window the agent has scrolled into stays put while new messages arrive.
  const [start, setStart] = useState<number | null>(null);
  const first = start ?? Math.max(0, Math.floor((thread.length - FOLLOW) / STEP) * STEP);
  const shown = first === 0 ? thread : thread.slice(first);
  const keepFrom = useRef<number | null>(null);
  // Scrolls the code makes are not the agent scrolling away from the bottom.
  const programmatic = useRef(false);
  useEffect(() => setStart(null), [conversation.id]);
  useEffect(() => {
    const log = logRef.current;
    if (!log) return;
    if (keepFrom.current !== null) {
      programmatic.current = true;
      log.scrollTop = log.scrollHeight - keepFrom.current;
      keepFrom.current = null;
    } else if (stick.current && log.scrollTop < log.scrollHeight - log.clientHeight) {
      programmatic.current = true;
      log.scrollTop = log.scrollHeight;
    }
  }, [thread, first]);
  const earlier = () => {
    const log = logRef.current;
    if (log) keepFrom.current = log.scrollHeight - log.scrollTop;
    setStart(Math.max(0, first - PAGE));
  };
  // Only the agent's own scrolling (wheel, touch, keys, scrollbar) decides whether the thread
  // follows new messages; the layout moving under new messages does not.
  const lastInput = useRef(0);
  const input = () => {
    lastInput.current = Date.now();
  };
  const onScroll = (e: Event) => {
    if (programmatic.current || Date.now() - lastInput.current > 1000) {
      programmatic.current = false;
      return;
    }
    const el = e.currentTarget as HTMLDivElement;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    // Back at the bottom: follow the newest messages again (the window shrinks to FOLLOW).
    if (stick.current && start !== null) setStart(null);
    else if (!stick.current && start === null) setStart(first);
    if (el.scrollTop < 40 && first > 0 && keepFrom.current === null) earlier();
  };
  const social = SOCIAL.includes(conversation.channel);
  const lastCustomer = social ? findLast(thread, (m) => m.author === 'customer') : undefined;
  return (
    <>
      <div class="thread-head">
        <h2>{t('thread.title', { channel: t(`channel.${conversation.channel}`), id: conversation.id.slice(-6) })}</h2>
        <span class="status">{t(`status.${conversation.status}`)}</span>
        {ticket && <SlaClock api={store.api} ticket={ticket} seq={conversation.last_seq} />}
        {subject && <p class="subject"><span class="subject-label">{t('thread.subject')}</span> <span data-testid="subject">{subject}</span></p>}
      </div>
      <div class="log" role="log" aria-label={t('thread.messages')} tabIndex={0} ref={logRef} onScroll={onScroll}
        onWheel={input} onTouchMove={input} onKeyDown={input} onPointerDown={input}>
        {first > 0 && (
          <button type="button" class="earlier" onClick={earlier}>{t('thread.earlier', { count: first })}</button>
        )}
        {shown.map((m) => <Bubble key={m.seq} m={m} channel={conversation.channel} lang={lang} api={store.api} />)}
      </div>
      <TypingLine typing={store.typing.get(conversation.id)} />
      {social && <WindowNotice last={lastCustomer} store={store} conversation={conversation} act={act} />}
      <Composer store={store} conversation={conversation} ticket={ticket} composerRef={composerRef} act={act} />
    </>
  );
}

/** Who is writing in the open conversation: the customer, or another agent. */
function TypingLine({ typing }: { typing: Typing | undefined }): JSX.Element {
  let text = '';
  if (typing?.author === 'customer') text = t('typing.customer');
  else if (typing?.author === 'agent') text = t('typing.agent', { name: typing.name ?? '' });
  return (
    <p class="typing" role="status">
      {text}
    </p>
  );
}

function findLast<T>(items: T[], test: (item: T) => boolean): T | undefined {
  for (let i = items.length - 1; i >= 0; i -= 1) if (test(items[i])) return items[i];
  return undefined;
}

const TICKS: Record<string, string> = { queued: '🕓', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '⚠' };

// `lang` is there to re-render the bubble when the interface language changes.
const Bubble = memo(function Bubble({ m, channel, api }: { m: Message; channel: string; lang: string; api: Api }): JSX.Element {
  if (m.author === 'system') {
    const call = /^(Call |The caller )/.test(m.text);
    return (
      <p class={`timeline${call ? ' call' : ''}`} data-seq={m.seq}>
        {call && <span aria-hidden="true">☎ </span>}
        {m.text} <time dateTime={m.created_at}>{clock(m.created_at)}</time>
      </p>
    );
  }
  const parts = channel === 'email' ? splitQuotes(m.text) : [{ quoted: false, text: m.text }];
  return (
    <article class={`msg msg-${m.author}`} data-seq={m.seq}>
      <header>
        <span class="who">{t(`author.${m.author}`)}</span>
        <time dateTime={m.created_at}>{clock(m.created_at)}</time>
        {m.delivery_status && (
          <span class={`tick tick-${m.delivery_status}`} title={m.delivery_error ?? ''}>
            <span aria-hidden="true">{TICKS[m.delivery_status] ?? ''}</span>
            <span class="visually-hidden">{t(`delivery.${m.delivery_status}`)}</span>
          </span>
        )}
      </header>
      {parts.map((p, i) => (p.quoted
        ? <Quoted key={i} id={`quote-${m.id}-${i}`} text={p.text} />
        : <div key={i} class="text">{p.text}</div>))}
      {m.media?.map((x) =>
        x.kind === 'article' && x.reference.startsWith('/help/') ? (
          <p class="media" key={x.reference}>
            {t('thread.article')}{' '}
            <a href={x.reference} target="_blank" rel="noopener noreferrer">{x.file_name ?? x.reference}</a>
          </p>
        ) : x.reference.startsWith('/api/v1/attachments/') ? (
          <p class="media" key={x.reference}>
            <button type="button" class="link" onClick={() => void api.download(x.reference, x.file_name ?? 'attachment').catch(() => undefined)}>
              📎 {x.file_name ?? x.kind}
              <span class="visually-hidden"> {t('thread.download')}</span>
            </button>
          </p>
        ) : (
          <p class="media" key={x.reference}>📎 {x.file_name ?? x.kind}</p>
        ),
      )}
    </article>
  );
});

/** Quoted history of an e-mail, folded behind a disclosure button. */
function Quoted({ id, text }: { id: string; text: string }): JSX.Element {
  const [open, setOpen] = useState(false);
  return (
    <div class="quote">
      <button type="button" class="link" aria-expanded={open} aria-controls={id} onClick={() => setOpen(!open)}>
        {open ? t('email.hide_quoted') : t('email.show_quoted')}
      </button>
      <div id={id} class="text quoted" hidden={!open}>{text}</div>
    </div>
  );
}

function WindowNotice(props: {
  last: Message | undefined;
  store: Store;
  conversation: Conversation;
  act: (p: Promise<unknown>) => void;
}): JSX.Element {
  const { last, store, conversation, act } = props;
  const left = last ? Date.parse(last.created_at) + WINDOW_MS - Date.now() : -1;
  if (left > 0) {
    return (
      <p class="window open" role="note">
        {t('window.open', { hours: Math.ceil(left / 3600000) })}
      </p>
    );
  }
  return <TemplateSender store={store} conversation={conversation} act={act} />;
}

/** Outside the 24-hour window only an approved template may go out: its name (as approved
 * with the platform) and language. */
function TemplateSender(props: { store: Store; conversation: Conversation; act: (p: Promise<unknown>) => void }): JSX.Element {
  const { store, conversation, act } = props;
  const defaults: Record<string, string> = { en: 'en_US', es: 'es', pt: 'pt_BR' };
  const [name, setName] = useState('');
  const [language, setLanguage] = useState(defaults[conversation.language] ?? 'en_US');
  const [sent, setSent] = useState(false);
  const submit = (e: Event) => {
    e.preventDefault();
    if (!/^[A-Za-z0-9_]{1,512}$/.test(name)) return;
    setSent(false);
    act(
      store.api
        .request('POST', `/api/v1/conversations/${conversation.id}/template`, {
          name,
          language,
          client_id: `tpl-${conversation.id.slice(-8)}-${Date.now().toString(36)}`,
        })
        .then(() => {
          setName('');
          setSent(true);
        }),
    );
  };
  return (
    <form class="window closed" onSubmit={submit} aria-labelledby={`window-${conversation.id}`}>
      <p id={`window-${conversation.id}`} role="note">{t('window.closed')}</p>
      <label>
        {t('template.name')}
        <input value={name} pattern="[A-Za-z0-9_]+" required maxLength={512}
          onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} />
      </label>
      <label>
        {t('template.language')}
        <input value={language} required maxLength={16} size={6}
          onInput={(e) => setLanguage((e.currentTarget as HTMLInputElement).value)} />
      </label>
      <button type="submit">{t('template.send')}</button>
      {sent && <span role="status">{t('template.sent')}</span>}
    </form>
  );
}

function Composer(props: {
  store: Store;
  conversation: Conversation;
  ticket: Ticket | undefined;
  composerRef: RefObject<{ focus: (mode: 'reply' | 'note') => void }>;
  act: (p: Promise<unknown>) => void;
}): JSX.Element {
  const { store, conversation, ticket, composerRef, act } = props;
  const [mode, setMode] = useState<'reply' | 'note'>('reply');
  const [text, setText] = useState('');
  const [counter, setCounter] = useState(0);
  const ref = useRef<HTMLTextAreaElement>(null);
  const canned = useCanned(store, conversation.language, mode === 'reply');
  const choose = (c: CannedResponse) => {
    setText(fill(c.body, store.session.agent.name));
    canned.close();
    ref.current?.focus();
  };
  useImperativeHandle(composerRef, () => ({
    focus: (m: 'reply' | 'note') => {
      setMode(m);
      ref.current?.focus();
    },
  }));
  const send = (e?: Event) => {
    e?.preventDefault();
    const value = text.trim();
    if (!value) return;
    if (mode === 'note') {
      act(store.note(value).then(() => setText('')));
    } else {
      const clientId = `ws-${store.me.slice(-6)}-${Date.now().toString(36)}-${counter}`;
      setCounter(counter + 1);
      act(store.reply(value, clientId).then(() => setText('')));
    }
  };
  return (
    <form class={`composer composer-${mode}`} onSubmit={send}>
      <fieldset class="modes">
        <legend class="visually-hidden">{t('composer.mode')}</legend>
        <label><input type="radio" name="mode" checked={mode === 'reply'} onChange={() => setMode('reply')} /> {t('composer.reply')}</label>
        <label><input type="radio" name="mode" checked={mode === 'note'} disabled={!ticket} onChange={() => setMode('note')} /> {t('composer.note')}</label>
      </fieldset>
      {conversation.channel === 'email' && mode === 'reply' && <p class="hint">{t('composer.email_hint')}</p>}
      {mode === 'note' && <p class="hint">{t('composer.note_hint')}</p>}
      <label for="composer-text" class="visually-hidden">{mode === 'note' ? t('composer.note') : t('composer.reply')}</label>
      <textarea id="composer-text" ref={ref} rows={3} value={text} placeholder={mode === 'note' ? t('composer.note_placeholder') : t('composer.placeholder')}
        aria-keyshortcuts="Control+Enter" {...canned.inputProps}
        onInput={(e) => {
          const value = (e.currentTarget as HTMLTextAreaElement).value;
          setText(value);
          canned.follow(value);
          if (mode === 'reply' && !value.startsWith('/')) store.sendTyping(conversation.id);
        }}
        onKeyDown={(e) => {
          const picked = canned.key(e);
          if (picked) choose(picked);
          else if (picked === undefined && e.key === 'Enter' && (e.ctrlKey || e.metaKey)) send(e);
        }} />
      {mode === 'reply' && <CannedList canned={canned} choose={choose} />}
      <button type="submit" class="primary">{mode === 'note' ? t('composer.add_note') : t('composer.send')}</button>
    </form>
  );
}
