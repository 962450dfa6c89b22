// The chat widget's interface: launcher, panel, messages, choices and composer.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { LANGS, LANG_NAMES, translator, type Lang } from '../shared/i18n';
import { ChatConnection, FileRefused, splitSource, type ChatMessage, type Media, type Outage, type Snapshot, type Survey } from './connection';
import type { Translate } from '../shared/i18n';
import { saveBlob } from '../shared/save';
import en from '../i18n/widget/en.json';
import es from '../i18n/widget/es.json';
import pt from '../i18n/widget/pt.json';

const CATALOGUES = { en, es, pt };

export interface WidgetConfig {
  title: string;
  greeting: string;
  primary_color: string;
  on_primary_color: string;
  max_message_chars: number;
  max_attachment_bytes?: number;
  attachment_types?: string[];
}

const DEFAULT_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf'];

interface Props {
  hub: string;
  mode: 'embed' | 'page';
  initialLanguage: Lang;
  config: WidgetConfig | null;
  forbidden: boolean;
}

export function Widget({ hub, mode, initialLanguage, config, forbidden }: Props): JSX.Element {
  const [open, setOpen] = useState(mode === 'page');
  const [lang, setLang] = useState<Lang>(initialLanguage);
  const [snap, setSnap] = useState<Snapshot>({
    status: forbidden ? 'forbidden' : 'idle',
    messages: [],
    conversation: null,
    agentTyping: null,
    survey: null,
    leaving: false,
  });
  const [draft, setDraft] = useState('');
  const [fileError, setFileError] = useState<string | null>(null);
  const [uploading, setUploading] = useState(false);
  const [outages, setOutages] = useState<Outage[]>([]);
  const fileRef = useRef<HTMLInputElement>(null);
  const connection = useMemo(() => new ChatConnection(hub, setSnap), [hub]);
  const t = useMemo(() => translator(CATALOGUES[lang]), [lang]);
  const logRef = useRef<HTMLDivElement>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const launcherRef = useRef<HTMLButtonElement>(null);
  const [confirmLeave, setConfirmLeave] = useState(false);
  const leaveRef = useRef<HTMLButtonElement>(null);
  const confirmRef = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    if (!forbidden) connection.resume();
  }, [connection, forbidden]);
  // The outage banner: asked when the chat starts and whenever the bot speaks (an incident's
  // notice arrives as a bot message).
  const botMessages = snap.messages.filter((m) => m.author === 'bot').length;
  useEffect(() => {
    if (snap.conversation) void connection.incidents().then(setOutages);
  }, [connection, snap.conversation !== null, botMessages]);
  useEffect(() => {
    const log = logRef.current;
    if (log) log.scrollTop = log.scrollHeight;
  }, [snap.messages, open]);
  useEffect(() => {
    if (open) inputRef.current?.focus();
  }, [open]);

  const status = forbidden ? 'forbidden' : snap.status;
  const title = config?.title || t('title.default');
  const greeting = config?.greeting || t('greeting.default');
  const send = (text: string) => {
    void connection.send(text, lang);
  };
  const onSubmit = (e: Event) => {
    e.preventDefault();
    if (!draft.trim() || status === 'forbidden') return;
    send(draft);
    setDraft('');
  };
  const types = config?.attachment_types ?? DEFAULT_TYPES;
  const maxBytes = config?.max_attachment_bytes ?? 5 * 1024 * 1024;
  const onFile = (e: Event) => {
    const input = e.currentTarget as HTMLInputElement;
    const file = input.files?.[0];
    input.value = '';
    if (!file) return;
    setFileError(null);
    if (file.size > maxBytes) {
      setFileError(t('file.too_large', { mb: Math.floor(maxBytes / 1048576) }));
      return;
    }
    if (file.type && !types.includes(file.type)) {
      setFileError(t('file.unsupported'));
      return;
    }
    setUploading(true);
    connection
      .sendFile(file, lang)
      .catch((err: unknown) => {
        const code = err instanceof FileRefused ? err.code : 'network';
        const known = ['payload_too_large', 'unsupported_media_type', 'invalid_field', 'rate_limited'];
        setFileError(
          known.includes(code) ? t(`file.error.${code}`, { mb: Math.floor(maxBytes / 1048576) }) : t('file.error.other'),
        );
      })
      .finally(() => setUploading(false));
  };
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Enter' && !e.shiftKey) onSubmit(e);
  };
  const close = () => {
    setOpen(false);
    launcherRef.current?.focus();
  };
  const last = snap.messages[snap.messages.length - 1];
  const ended = snap.conversation?.status === 'resolved' || snap.conversation?.status === 'closed';
  const offerChoices = !ended && last?.author === 'bot' && splitSource(last.text).article !== undefined;
  // The bot sent a one-time code: a field the browser can fill from the SMS or mail.
  const askCode = !ended && last?.author === 'bot' && !!last.media?.some((x) => x.kind === 'one_time_code');
  const agent = ended ? undefined : snap.conversation?.agent?.name;
  // A chat the customer may end: started, not over, and the socket up.
  const canLeave = !ended && snap.conversation !== null && status === 'online';
  useEffect(() => {
    if (confirmLeave) confirmRef.current?.focus();
  }, [confirmLeave]);
  useEffect(() => {
    if (!canLeave) setConfirmLeave(false);
  }, [canLeave]);
  const keepChatting = () => {
    setConfirmLeave(false);
    // Back to the button that asked (it is rendered again once the question is gone).
    window.setTimeout(() => leaveRef.current?.focus(), 0);
  };
  const endChat = () => {
    setConfirmLeave(false);
    connection.leave();
    inputRef.current?.focus();
  };

  return (
    <div class={`sb-root sb-${mode}`} lang={lang}>
      {mode === 'embed' && (
        <button
          ref={launcherRef}
          type="button"
          class="sb-launcher"
          aria-expanded={open}
          aria-controls="sb-panel"
          onClick={() => (open ? close() : setOpen(true))}
        >
          <svg aria-hidden="true" viewBox="0 0 24 24" width="28" height="28">
            <path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z" />
          </svg>
          <span class="sb-visually-hidden">{open ? t('launcher.close') : t('launcher.open')}</span>
        </button>
      )}
      {open && (
        <section id="sb-panel" class="sb-panel" role={mode === 'embed' ? 'dialog' : 'main'} aria-labelledby="sb-title">
          <header class="sb-header">
            <div class="sb-heading">
              <h2 id="sb-title">{title}</h2>
              {agent && <p class="sb-with">{t('with.agent', { name: agent })}</p>}
            </div>
            <label class="sb-lang">
              <span class="sb-visually-hidden">{t('language.label')}</span>
              <select value={lang} onChange={(e) => setLang((e.currentTarget as HTMLSelectElement).value as Lang)}>
                {LANGS.map((l) => (
                  <option key={l} value={l} lang={l}>
                    {LANG_NAMES[l]}
                  </option>
                ))}
              </select>
            </label>
            {canLeave && !confirmLeave && (
              <button
                ref={leaveRef}
                type="button"
                class="sb-leave"
                disabled={snap.leaving}
                aria-busy={snap.leaving}
                onClick={() => setConfirmLeave(true)}
              >
                {t('leave.button')}
              </button>
            )}
            {mode === 'embed' && (
              <button type="button" class="sb-close" onClick={close}>
                <span aria-hidden="true">×</span>
                <span class="sb-visually-hidden">{t('close')}</span>
              </button>
            )}
          </header>
          {confirmLeave && canLeave && (
            <div
              class="sb-leave-confirm"
              role="group"
              aria-labelledby="sb-leave-question"
              onKeyDown={(e) => {
                if (e.key === 'Escape') {
                  e.stopPropagation();
                  keepChatting();
                }
              }}
            >
              <p id="sb-leave-question">{t('leave.question')}</p>
              <button ref={confirmRef} type="button" class="sb-leave-yes" onClick={endChat}>
                {t('leave.confirm')}
              </button>
              <button type="button" class="sb-leave-no" onClick={keepChatting}>
                {t('leave.cancel')}
              </button>
            </div>
          )}
          {(status === 'offline' || status === 'forbidden') && (
            <p class="sb-banner" role="status">
              {status === 'offline' ? t('offline') : t('forbidden')}
            </p>
          )}
          {outages.length > 0 && (
            <section class="sb-banner sb-outage" aria-label={t('outage.label')}>
              {outages.map((o) => (
                <p key={o.id}>
                  <strong>{o.title}</strong>
                  {o.description && ` ${o.description}`}
                  {o.eta && ` ${t('outage.eta', { time: new Date(o.eta).toLocaleString(lang) })}`}
                </p>
              ))}
            </section>
          )}
          <div class="sb-log" role="log" aria-label={t('log.label')} tabIndex={0} ref={logRef}>
            <p class="sb-msg sb-bot sb-greeting">{greeting}</p>
            {snap.messages.map((m) =>
              m.notice ? <NoticeLine key={m.key} m={m} t={t} /> : <Bubble key={m.key} m={m} t={t} hub={hub} connection={connection} />,
            )}
          </div>
          <p class="sb-typing" role="status">
            {snap.agentTyping !== null &&
              (snap.agentTyping ? t('typing.named', { name: snap.agentTyping }) : t('typing.agent'))}
          </p>
          {offerChoices && status !== 'forbidden' && (
            <div class="sb-choices">
              <button type="button" onClick={() => send(t('say.unhelpful'))}>
                {t('choice.unhelpful')}
              </button>
              <button type="button" onClick={() => send(t('say.person'))}>
                {t('choice.person')}
              </button>
            </div>
          )}
          {askCode && status !== 'forbidden' && <CodeForm t={t} send={send} />}
          {snap.survey && status !== 'forbidden' && <SurveyForm t={t} survey={snap.survey} connection={connection} />}
          {fileError && (
            <p class="sb-file-error" role="alert">
              {fileError}
            </p>
          )}
          <form class="sb-composer" onSubmit={onSubmit}>
            <input
              ref={fileRef}
              id="sb-file"
              type="file"
              hidden
              accept={types.join(',')}
              onChange={onFile}
            />
            <button
              type="button"
              class="sb-attach"
              disabled={status === 'forbidden' || uploading}
              aria-busy={uploading}
              onClick={() => fileRef.current?.click()}
            >
              <svg aria-hidden="true" viewBox="0 0 24 24" width="22" height="22">
                <path
                  fill="currentColor"
                  d="M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6h-1.5z"
                />
              </svg>
              <span class="sb-visually-hidden">{uploading ? t('file.sending') : t('file.attach')}</span>
            </button>
            <label for="sb-input" class="sb-visually-hidden">
              {t('composer.label')}
            </label>
            <textarea
              id="sb-input"
              ref={inputRef}
              rows={2}
              value={draft}
              maxLength={config?.max_message_chars ?? 4000}
              placeholder={ended ? t('composer.placeholder.ended') : t('composer.placeholder')}
              disabled={status === 'forbidden'}
              onInput={(e) => {
                setDraft((e.currentTarget as HTMLTextAreaElement).value);
                connection.typing();
              }}
              onKeyDown={onKeyDown}
            />
            <button type="submit" class="sb-send" disabled={status === 'forbidden'}>
              {t('composer.send')}
            </button>
          </form>
        </section>
      )}
    </div>
  );
}

/** The one-time code field: six digits, sent as a plain message (what any channel would type). */
function CodeForm({ t, send }: { t: Translate; send: (text: string) => void }): JSX.Element {
  const [code, setCode] = useState('');
  const onSubmit = (e: Event) => {
    e.preventDefault();
    if (/^[0-9]{6}$/.test(code)) {
      send(code);
      setCode('');
    }
  };
  return (
    <form class="sb-code" onSubmit={onSubmit}>
      <label for="sb-code">{t('verify.label')}</label>
      <input
        id="sb-code"
        inputMode="numeric"
        autoComplete="one-time-code"
        pattern="[0-9]{6}"
        maxLength={6}
        value={code}
        onInput={(e) => setCode((e.currentTarget as HTMLInputElement).value.replace(/[^0-9]/g, ''))}
      />
      <button type="submit">{t('verify.submit')}</button>
    </form>
  );
}

/** The satisfaction survey after a resolution: five scores as a radio group, a comment, send. */
function SurveyForm({ t, survey, connection }: { t: Translate; survey: Survey; connection: ChatConnection }): JSX.Element {
  const [score, setScore] = useState<number | null>(null);
  const [comment, setComment] = useState('');
  const [missing, setMissing] = useState(false);
  if (survey.state === 'done') {
    return (
      <p class="sb-survey-done" role="status">
        {t('survey.thanks')}
      </p>
    );
  }
  const onSubmit = (e: Event) => {
    e.preventDefault();
    if (score === null) {
      setMissing(true);
      return;
    }
    connection.rate(score, comment);
  };
  return (
    <form class="sb-survey" onSubmit={onSubmit} aria-labelledby="sb-survey-title">
      <fieldset aria-describedby={missing ? 'sb-survey-missing' : undefined}>
        <legend id="sb-survey-title">{t('survey.question')}</legend>
        <div class="sb-scores">
          {[1, 2, 3, 4, 5].map((n) => (
            <label key={n} class="sb-score">
              <input
                type="radio"
                name="sb-score"
                value={n}
                checked={score === n}
                onChange={() => {
                  setScore(n);
                  setMissing(false);
                }}
              />
              <span aria-hidden="true">{n}</span>
              <span class="sb-visually-hidden">{t(`survey.score.${n}`)}</span>
            </label>
          ))}
        </div>
        <p class="sb-survey-scale" aria-hidden="true">
          <span>{t('survey.score.1')}</span>
          <span>{t('survey.score.5')}</span>
        </p>
      </fieldset>
      {missing && (
        <p id="sb-survey-missing" class="sb-file-error" role="alert">
          {t('survey.missing')}
        </p>
      )}
      {survey.state === 'failed' && (
        <p class="sb-file-error" role="alert">
          {t('survey.failed')}
        </p>
      )}
      <label for="sb-survey-comment">{t('survey.comment')}</label>
      <textarea
        id="sb-survey-comment"
        rows={2}
        maxLength={1000}
        value={comment}
        onInput={(e) => setComment((e.currentTarget as HTMLTextAreaElement).value)}
      />
      <button type="submit" disabled={survey.state === 'sending' || survey.state === 'failed'} aria-busy={survey.state === 'sending'}>
        {t('survey.send')}
      </button>
    </form>
  );
}

function NoticeLine({ m, t }: { m: ChatMessage; t: Translate }): JSX.Element {
  const n = m.notice;
  return (
    <p class="sb-notice" data-notice={n?.kind}>
      {n?.kind === 'joined' ? t('notice.joined', { name: n.name }) : t('notice.ended')}
    </p>
  );
}

/** A link only to the hub itself: a message's media reference is a path on the hub. */
function hubLink(hub: string, reference: string): string | undefined {
  try {
    const url = new URL(reference, hub);
    return url.origin === new URL(hub).origin ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/** A file in the chat: a picture shown small, a document as a button that saves it. Fetched
 * with the visitor token, so nothing of the chat is reachable by URL alone. */
function FileView({ media, connection, t }: { media: Media; connection: ChatConnection; t: Translate }): JSX.Element {
  const [url, setUrl] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  const isImage = media.kind === 'image';
  useEffect(() => {
    if (!isImage) return undefined;
    let cancelled = false;
    let made: string | null = null;
    connection
      .file(media.reference)
      .then((blob) => {
        if (cancelled) return;
        made = URL.createObjectURL(blob);
        setUrl(made);
      })
      .catch(() => setFailed(true));
    return () => {
      cancelled = true;
      if (made) URL.revokeObjectURL(made);
    };
  }, [connection, media.reference, isImage]);
  const name = media.file_name ?? t('file.unnamed');
  const save = () => {
    connection
      .file(media.reference)
      .then((blob) => saveBlob(blob, name))
      .catch(() => setFailed(true));
  };
  if (isImage && url) return <img class="sb-image" src={url} alt={name} />;
  return (
    <button type="button" class="sb-file" onClick={save}>
      {failed ? t('file.unavailable', { name }) : t('file.download', { name })}
    </button>
  );
}

function Bubble({ m, t, hub, connection }: { m: ChatMessage; t: Translate; hub: string; connection: ChatConnection }): JSX.Element {
  const { body, article } = m.author === 'bot' ? splitSource(m.text) : { body: m.text, article: undefined };
  const source = m.media?.find((x) => x.kind === 'article');
  const sourceHref = source ? hubLink(hub, source.reference) : undefined;
  return (
    <div class={`sb-msg sb-${m.author}`} data-state={m.state} data-seq={m.seq}>
      <span class="sb-visually-hidden">{t(`author.${m.author}`)}: </span>
      {m.author !== 'customer' && (
        <span class="sb-author" aria-hidden="true">
          {t(`author.${m.author}`)}
        </span>
      )}
      {m.media?.filter((x) => x.kind === 'image' || x.kind === 'document').map((x) => (
        <FileView key={x.reference} media={x} connection={connection} t={t} />
      ))}
      <span class="sb-text">{body}</span>
      {article && (
        <span class="sb-source">
          {t('source')}{' '}
          {sourceHref ? (
            <a href={sourceHref} target="_blank" rel="noopener noreferrer">
              <cite>{source?.file_name ?? article}</cite>
              <span class="sb-visually-hidden"> {t('new_tab')}</span>
            </a>
          ) : (
            <cite>{article}</cite>
          )}
        </span>
      )}
      {m.author === 'customer' && (
        <span class="sb-state">
          {m.state === 'failed' && m.error === 'message_too_long' ? t('error.too_long') : t(`state.${m.state}`)}
        </span>
      )}
    </div>
  );
}
