// The chat widget's interface: launcher, panel, messages, choices and composer.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { LANGS, LANG_NAMES, translator, type Lang } from '../shared/i18n';
import { ChatConnection, splitSource, type ChatMessage, type Snapshot } from './connection';
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
}

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
  const [snap, setSnap] = useState<Snapshot>({ status: forbidden ? 'forbidden' : 'idle', messages: [] });
  const [draft, setDraft] = useState('');
  const connection = useMemo(() => new ChatConnection(hub, setSnap), [hub]);
  const t = useMemo(() => translator(CATALOGUES[lang]), [lang]);
  const logRef = useRef<HTMLDivElement>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const launcherRef = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    if (!forbidden) connection.resume();
  }, [connection, forbidden]);
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
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Enter' && !e.shiftKey) onSubmit(e);
  };
  const close = () => {
    setOpen(false);
    launcherRef.current?.focus();
  };
  const last = snap.messages[snap.messages.length - 1];
  const offerChoices = last?.author === 'bot' && splitSource(last.text).article !== undefined;

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
            <h2 id="sb-title">{title}</h2>
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
            {mode === 'embed' && (
              <button type="button" class="sb-close" onClick={close}>
                <span aria-hidden="true">×</span>
                <span class="sb-visually-hidden">{t('close')}</span>
              </button>
            )}
          </header>
          {(status === 'offline' || status === 'forbidden') && (
            <p class="sb-banner" role="status">
              {status === 'offline' ? t('offline') : t('forbidden')}
            </p>
          )}
          <div class="sb-log" role="log" aria-label={t('log.label')} tabIndex={0} ref={logRef}>
            <p class="sb-msg sb-bot sb-greeting">{greeting}</p>
            {snap.messages.map((m) => (
              <Bubble key={m.key} m={m} t={t} />
            ))}
          </div>
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
          <form class="sb-composer" onSubmit={onSubmit}>
            <label for="sb-input" class="sb-visually-hidden">
              {t('composer.label')}
            </label>
            <textarea
              id="sb-input"
              ref={inputRef}
              rows={2}
              value={draft}
              maxLength={config?.max_message_chars ?? 4000}
              placeholder={t('composer.placeholder')}
              disabled={status === 'forbidden'}
              onInput={(e) => setDraft((e.currentTarget as HTMLTextAreaElement).value)}
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

function Bubble({ m, t }: { m: ChatMessage; t: (k: string) => string }): JSX.Element {
  const { body, article } = m.author === 'bot' ? splitSource(m.text) : { body: m.text, article: undefined };
  return (
    <div class={`sb-msg sb-${m.author}`} data-state={m.state} data-seq={m.seq}>
      <span class="sb-visually-hidden">{t(`author.${m.author}`)}: </span>
      {m.author !== 'customer' && (
        <span class="sb-author" aria-hidden="true">
          {t(`author.${m.author}`)}
        </span>
      )}
      <span class="sb-text">{body}</span>
      {article && (
        <span class="sb-source">
          {t('source')} <cite>{article}</cite>
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
