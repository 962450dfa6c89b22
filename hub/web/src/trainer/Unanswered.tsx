// The questions the bot could not answer, grouped by similarity, most asked first: answer a group
// (a new Q&A pair), merge it into an existing document, or dismiss it; read where each came from.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { Message } from '../workspace/api';
import { ago } from '../workspace/i18n';
import { t } from './i18n';
import type { SearchHit, TrainerApi, UnansweredGroup } from './api';
import { Notice, errorText } from './common';

type Notice_ = { text: string; error?: boolean } | null;

export function Unanswered({ api }: { api: TrainerApi }): JSX.Element {
  const [groups, setGroups] = useState<UnansweredGroup[] | null>(null);
  const [notice, setNotice] = useState<Notice_>(null);
  // After a group is dismissed, answered or merged its buttons are gone: focus moves to the
  // group that takes its place (or the notice, when none is left).
  const [focusAt, setFocusAt] = useState<number | null>(null);
  const root = useRef<HTMLDivElement>(null);
  const load = () => api.unanswered().then(setGroups, (e) => setNotice({ text: errorText(e), error: true }));
  useEffect(() => { void load(); }, [api]);
  useEffect(() => {
    if (focusAt === null || groups === null) return;
    const headings = root.current?.querySelectorAll<HTMLElement>('.groups h3') ?? [];
    const target = headings.length > 0 ? headings[Math.min(focusAt, headings.length - 1)] : root.current?.querySelector<HTMLElement>('.notice-focus');
    target?.focus();
    setFocusAt(null);
  }, [groups, focusAt]);
  const done = (index: number) => (text: string) => {
    setNotice({ text });
    void load().then(() => setFocusAt(index));
  };
  return (
    <div ref={root}>
      <h2>{t('unanswered.title')}</h2>
      <p class="muted">{t('unanswered.intro')}</p>
      <div class="notice-focus" tabIndex={-1}><Notice notice={notice} /></div>
      {groups === null ? <p>{t('loading')}</p> : groups.length === 0 ? <p>{t('unanswered.empty')}</p> : (
        <ol class="groups">
          {groups.map((g, i) => (
            <li key={g.items[0].id}>
              <Group group={g} api={api} onDone={done(i)} onError={(e) => setNotice({ text: errorText(e), error: true })} />
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

function Group({ group, api, onDone, onError }: { group: UnansweredGroup; api: TrainerApi; onDone: (text: string) => void; onError: (e: unknown) => void }): JSX.Element {
  const [mode, setMode] = useState<'none' | 'answer' | 'merge'>('none');
  const ids = group.items.map((i) => i.id);
  const headingId = `group-${group.items[0].id}`;
  const dismiss = () => api.dismissGroup(ids).then((r) => onDone(t('unanswered.dismissed', { count: r.dismissed })), onError);
  return (
    <article class="card group" aria-labelledby={headingId}>
      <h3 id={headingId} tabIndex={-1}>{group.question}</h3>
      <p class="muted">{t('unanswered.asked', { count: group.count })} · <span lang={group.language}>{t(`lang.${group.language}`)}</span></p>
      <ul class="questions">
        {group.items.map((item) => <Question key={item.id} item={item} api={api} />)}
      </ul>
      <div class="actions">
        <button type="button" class="primary" aria-expanded={mode === 'answer'} onClick={() => setMode(mode === 'answer' ? 'none' : 'answer')}>{t('unanswered.answer')}</button>
        <button type="button" aria-expanded={mode === 'merge'} onClick={() => setMode(mode === 'merge' ? 'none' : 'merge')}>{t('unanswered.merge')}</button>
        <button type="button" onClick={dismiss}>{t('unanswered.dismiss')}</button>
      </div>
      {mode === 'answer' && <AnswerForm group={group} api={api} onDone={onDone} onError={onError} />}
      {mode === 'merge' && <MergePicker group={group} api={api} onDone={onDone} onError={onError} />}
    </article>
  );
}

function Question({ item, api }: { item: UnansweredGroup['items'][number]; api: TrainerApi }): JSX.Element {
  const [messages, setMessages] = useState<Message[] | null>(null);
  const [open, setOpen] = useState(false);
  const [failed, setFailed] = useState<string | null>(null);
  const toggle = () => {
    setOpen(!open);
    if (!messages) api.conversation(item.conversation_id).then(setMessages, (e) => setFailed(errorText(e)));
  };
  const panel = `conv-${item.id}`;
  return (
    <li>
      <span>{item.question}</span> <span class="muted">({t(`reason.${item.reason}`)}, {ago(item.created_at)})</span>{' '}
      <button type="button" class="link" aria-expanded={open} aria-controls={panel} onClick={toggle}>{t('unanswered.conversation')}</button>
      {open && (
        <div id={panel} class="peek">
          {failed ? <p class="error">{failed}</p> : !messages ? <p>{t('loading')}</p> : (
            <ol aria-label={t('unanswered.conversation')}>
              {messages.map((m) => (
                <li key={m.id} class={`msg msg-${m.author}`}><strong>{t(`author.${m.author}`)}:</strong> {m.text}</li>
              ))}
            </ol>
          )}
        </div>
      )}
    </li>
  );
}

function AnswerForm({ group, api, onDone, onError }: { group: UnansweredGroup; api: TrainerApi; onDone: (text: string) => void; onError: (e: unknown) => void }): JSX.Element {
  const [title, setTitle] = useState(group.question.slice(0, 200));
  const [answer, setAnswer] = useState('');
  const id = group.items[0].id;
  const submit = (e: Event) => {
    e.preventDefault();
    api.answerGroup(group.items.map((i) => i.id), answer, title).then(
      (r) => onDone(t('unanswered.answered', { title: r.document.title, count: r.resolved })),
      onError,
    );
  };
  return (
    <form class="stack" onSubmit={submit}>
      <label for={`title-${id}`}>{t('unanswered.qa_title')}</label>
      <input id={`title-${id}`} value={title} maxLength={200} required onInput={(e) => setTitle(e.currentTarget.value)} />
      <label for={`answer-${id}`}>{t('unanswered.answer_text')}</label>
      <textarea id={`answer-${id}`} rows={4} value={answer} maxLength={20000} required onInput={(e) => setAnswer(e.currentTarget.value)} />
      <div><button type="submit" class="primary">{t('unanswered.publish')}</button></div>
    </form>
  );
}

function MergePicker({ group, api, onDone, onError }: { group: UnansweredGroup; api: TrainerApi; onDone: (text: string) => void; onError: (e: unknown) => void }): JSX.Element {
  const [q, setQ] = useState(group.question);
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const id = group.items[0].id;
  const search = (e?: Event) => {
    e?.preventDefault();
    if (q.trim()) api.search(q, group.language).then(setHits, onError);
  };
  useEffect(() => { search(); }, []);
  const merge = (hit: SearchHit) =>
    api.mergeGroup(group.items.map((i) => i.id), hit.document_id).then(
      (r) => onDone(t('unanswered.merged', { title: r.document.title, count: r.resolved })),
      onError,
    );
  return (
    <div class="stack">
      <form role="search" class="inline" onSubmit={search}>
        <label for={`merge-q-${id}`}>{t('unanswered.merge_search')}</label>
        <input id={`merge-q-${id}`} type="search" value={q} maxLength={1000} onInput={(e) => setQ(e.currentTarget.value)} />
        <button type="submit">{t('search')}</button>
      </form>
      {hits && (hits.length === 0 ? <p>{t('unanswered.no_hits')}</p> : (
        <ul class="picker">
          {hits.map((h) => (
            <li key={h.document_id}>
              <span>{h.title}</span> <span class="muted">({t(`kind.${h.kind}`)})</span>{' '}
              <button type="button" onClick={() => merge(h)} aria-label={t('unanswered.merge_into', { title: h.title })}>{t('unanswered.merge_here')}</button>
            </li>
          ))}
        </ul>
      ))}
    </div>
  );
}
