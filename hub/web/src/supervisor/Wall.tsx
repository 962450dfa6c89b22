// The live wall: every queue (waiting, offered, longest wait, SLA at risk and breached, agents
// serving it and per skill) and every agent (presence with a control to change it, load per
// channel, current tickets with take over / whisper / move), from `/ws/supervisor`. Frames are
// parsed so unchanged rows keep their object (wall.ts) and rows are memoised: a frame re-renders
// only what changed, at most once per animation frame.

import { memo } from 'preact/compat';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { ConsoleProps } from '../console/types';
import { ApiError } from '../workspace/api';
import { currentLang } from '../shared/lang';
import { t } from './i18n';
import { PRESENCES, WallFeed, WallState, duration, type Connection, type WallAgent, type WallQueue, type WallSnapshot, type WallTicket } from './wall';

declare global {
  interface Window {
    /** Test hook (only with localStorage `switchboard.testHooks` = `1`): feeds frames to the
     * wall through the socket's own path; `detach()` stops the live socket first. */
    __switchboardWall?: { push: (text: string) => void; detach: () => void };
  }
}

/** How many changed agent rows are re-rendered per animation frame. */
const ROWS_PER_FRAME = 25;

type Action = { kind: 'whisper' | 'move'; agent: WallAgent; ticket: WallTicket };
type Notice = { kind: 'ok' | 'error'; text: string };

export function shortId(id: string): string {
  return `#${id.slice(-8)}`;
}

function agentName(a: WallAgent): string {
  return a.name ?? shortId(a.id);
}

function problem(e: unknown): string {
  return e instanceof ApiError ? e.message : t('error.network');
}

export function Wall({ session, api }: ConsoleProps): JSX.Element {
  const state = useRef(new WallState());
  const [snapshot, setSnapshot] = useState<WallSnapshot | null>(null);
  const [connection, setConnection] = useState<Connection>('connecting');
  const [action, setAction] = useState<Action | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const [filter, setFilter] = useState('');
  const [presenceFilter, setPresenceFilter] = useState('');

  useEffect(() => {
    let scheduled = 0;
    const onFrame = (text: string) => {
      if (!state.current.apply(text) || scheduled) return;
      scheduled = requestAnimationFrame(() => {
        scheduled = 0;
        setSnapshot(state.current.snapshot);
      });
    };
    // A closed session (4401): any API call now signs out through the shell.
    const feed = new WallFeed(session.token, onFrame, setConnection, () => void api.request('GET', '/api/v1/me').catch(() => undefined));
    feed.start();
    let hooked = false;
    try {
      hooked = localStorage.getItem('switchboard.testHooks') === '1';
    } catch {
      hooked = false;
    }
    if (hooked) window.__switchboardWall = { push: onFrame, detach: () => feed.stop() };
    return () => {
      feed.stop();
      cancelAnimationFrame(scheduled);
      if (hooked) delete window.__switchboardWall;
    };
  }, [session, api]);

  const run = useCallback(async (work: () => Promise<unknown>, ok: string) => {
    try {
      await work();
      setNotice({ kind: 'ok', text: ok });
      return true;
    } catch (e) {
      setNotice({ kind: 'error', text: problem(e) });
      return false;
    }
  }, []);

  const onPresence = useCallback((agent: WallAgent, presence: string) => {
    return run(
      () => api.request('PUT', `/api/v1/agents/${agent.id}/presence`, { presence }),
      t('wall.presence_set', { agent: agentName(agent), presence: t(`presence.${presence}`) }),
    );
  }, [api, run]);

  const onTakeOver = useCallback((agent: WallAgent, ticket: WallTicket) => {
    void run(
      () => api.request('POST', `/api/v1/tickets/${ticket.id}/transfer`, { agent_id: session.agent.id }),
      t('wall.taken_over', { ticket: shortId(ticket.id), agent: agentName(agent) }),
    );
  }, [api, run, session]);

  const onAction = useCallback((kind: Action['kind'], agent: WallAgent, ticket: WallTicket) => {
    setNotice(null);
    setAction({ kind, agent, ticket });
  }, []);

  // Agents' rows follow a new frame a slice per animation frame (top first): with every one of
  // 200 rows changed, one frame would otherwise re-render them all at once.
  const [shown, setShown] = useState<WallAgent[]>([]);
  const shownRef = useRef<WallAgent[]>([]);
  useEffect(() => {
    const next = snapshot?.agents ?? [];
    const prev = shownRef.current;
    if (prev.length !== next.length || prev.some((a, i) => a.id !== next[i].id)) {
      shownRef.current = next;
      setShown(next);
      return undefined;
    }
    let i = 0;
    let handle = 0;
    const step = () => {
      const copy = shownRef.current.slice();
      let changed = 0;
      while (i < next.length && changed < ROWS_PER_FRAME) {
        if (copy[i] !== next[i]) {
          copy[i] = next[i];
          changed += 1;
        }
        i += 1;
      }
      if (changed) {
        shownRef.current = copy;
        setShown(copy);
      }
      if (i < next.length) handle = requestAnimationFrame(step);
    };
    handle = requestAnimationFrame(step);
    return () => cancelAnimationFrame(handle);
  }, [snapshot]);

  const lang = currentLang();
  const needle = filter.trim().toLowerCase();
  const agents = useMemo(
    () => shown.filter((a) => (!presenceFilter || a.presence === presenceFilter) && (!needle || agentName(a).toLowerCase().includes(needle))),
    [shown, needle, presenceFilter],
  );
  const queueNames = useMemo(() => (snapshot?.queues ?? []).map((q) => q.queue), [snapshot?.queues]);

  return (
    <div class="wall">
      <p class={`conn conn-${connection}`} role="status">{t(`wall.connection.${connection}`)}</p>
      <section aria-labelledby="wall-queues">
        <h2 id="wall-queues">{t('wall.queues')}</h2>
        {!snapshot ? <p class="muted">{t('wall.waiting_for_data')}</p> : (
          <div class="table-wrap">
            <table class="grid queues">
              <thead>
                <tr>
                  <th scope="col">{t('wall.col.queue')}</th>
                  <th scope="col" class="num">{t('wall.col.waiting')}</th>
                  <th scope="col" class="num">{t('wall.col.offered')}</th>
                  <th scope="col" class="num">{t('wall.col.longest')}</th>
                  <th scope="col" class="num">{t('wall.col.at_risk')}</th>
                  <th scope="col" class="num">{t('wall.col.breached')}</th>
                  <th scope="col">{t('wall.col.agents')}</th>
                  <th scope="col">{t('wall.col.by_skill')}</th>
                </tr>
              </thead>
              <tbody>
                {snapshot.queues.map((q) => <QueueRow key={q.queue} q={q} lang={lang} />)}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <section aria-labelledby="wall-agents">
        <h2 id="wall-agents">{t('wall.agents')}</h2>
        <div class="toolbar">
          <label>{t('wall.filter')} <input type="search" value={filter} onInput={(e) => setFilter((e.currentTarget as HTMLInputElement).value)} /></label>
          <label>{t('wall.filter_presence')}{' '}
            <select value={presenceFilter} onChange={(e) => setPresenceFilter((e.currentTarget as HTMLSelectElement).value)}>
              <option value="">{t('wall.all')}</option>
              {PRESENCES.map((p) => <option key={p} value={p}>{t(`presence.${p}`)}</option>)}
            </select>
          </label>
          {snapshot && <span class="count">{t('wall.agents_shown', { shown: agents.length, total: snapshot.agents.length })}</span>}
        </div>
        <div class="notice" role="status" aria-live="polite">
          {notice && <p class={notice.kind === 'error' ? 'error' : 'ok'}>{notice.text}</p>}
        </div>
        {action && (
          <ActionForm
            action={action}
            queues={queueNames}
            onDone={async (body) => {
              const a = action;
              const ok = a.kind === 'whisper'
                ? await run(() => api.request('POST', `/api/v1/tickets/${a.ticket.id}/notes`, { text: body }), t('wall.whispered', { ticket: shortId(a.ticket.id), agent: agentName(a.agent) }))
                : await run(() => api.request('POST', `/api/v1/tickets/${a.ticket.id}/transfer`, { queue: body }), t('wall.moved', { ticket: shortId(a.ticket.id), queue: body }));
              if (ok) setAction(null);
            }}
            onCancel={() => setAction(null)}
          />
        )}
        {snapshot && (
          <div class="table-wrap">
            {/* A grid of rows rather than a <table>: rows off screen skip layout and paint
                (content-visibility), which table rows cannot. */}
            <div role="table" class="agents-grid" aria-labelledby="wall-agents">
              <div role="rowgroup">
                <div role="row" class="arow head">
                  <span role="columnheader">{t('wall.col.agent')}</span>
                  <span role="columnheader">{t('wall.col.presence')}</span>
                  <span role="columnheader">{t('wall.col.load')}</span>
                  <span role="columnheader">{t('wall.col.tickets')}</span>
                </div>
              </div>
              <div role="rowgroup">
                {agents.map((a) => (
                  <AgentRow key={a.id} a={a} lang={lang} onPresence={onPresence} onTakeOver={onTakeOver} onAction={onAction} />
                ))}
              </div>
            </div>
            {snapshot.agents_omitted > 0 && <p class="muted">{t('wall.agents_omitted', { n: snapshot.agents_omitted })}</p>}
          </div>
        )}
      </section>
    </div>
  );
}

const QueueRow = memo(function QueueRow({ q }: { q: WallQueue; lang: string }): JSX.Element {
  return (
    <tr>
      <th scope="row">{q.queue}</th>
      <td class="num">{q.waiting}</td>
      <td class="num">{q.offered}</td>
      <td class="num">{duration(q.longest_wait_ms)}</td>
      <td class={`num${q.sla_at_risk > 0 ? ' risk' : ''}`}>{q.sla_at_risk}</td>
      <td class={`num${q.sla_breached > 0 ? ' late' : ''}`}>{q.sla_breached}</td>
      <td>{t('wall.presence_counts', { available: q.agents.available, busy: q.agents.busy, away: q.agents.away })}</td>
      <td>
        {q.skills.length === 0 ? <span class="muted">{t('wall.no_skills')}</span> : (
          <ul class="plain">
            {q.skills.map((s) => (
              <li key={s.skill}>{t('wall.skill_counts', { skill: s.skill, available: s.available, busy: s.busy, away: s.away })}</li>
            ))}
          </ul>
        )}
      </td>
    </tr>
  );
});

interface AgentRowProps {
  a: WallAgent;
  lang: string;
  onPresence: (a: WallAgent, presence: string) => Promise<boolean>;
  onTakeOver: (a: WallAgent, ticket: WallTicket) => void;
  onAction: (kind: Action['kind'], a: WallAgent, ticket: WallTicket) => void;
}

const AgentRow = memo(function AgentRow({ a, onPresence, onTakeOver, onAction }: AgentRowProps): JSX.Element {
  const name = agentName(a);
  const channels = Object.keys(a.capacity).filter((c) => (a.capacity[c] ?? 0) > 0 || (a.load[c] ?? 0) > 0);
  return (
    <div role="row" class="arow" data-agent={a.id}>
      <span role="rowheader" class="aname">{name}</span>
      <span role="cell">
        <select aria-label={t('wall.presence_of', { agent: name })} value={a.presence} class={`presence presence-${a.presence}`}
          onChange={(e) => {
            // Until the next frame shows the change, the control shows the choice; a refusal
            // puts the agent's real presence back.
            const el = e.currentTarget as HTMLSelectElement;
            void onPresence(a, el.value).then((ok) => { if (!ok) el.value = a.presence; });
          }}>
          {PRESENCES.map((p) => <option key={p} value={p}>{t(`presence.${p}`)}</option>)}
        </select>
      </span>
      <span role="cell">
        <ul class="plain load">
          {channels.map((c) => {
            const load = a.load[c] ?? 0;
            const cap = a.capacity[c] ?? 0;
            return <li key={c} class={load >= cap ? 'full' : ''}>{t('wall.load', { channel: t(`channel.${c}`), load, capacity: cap })}</li>;
          })}
        </ul>
      </span>
      <span role="cell">
        {a.tickets.length === 0 ? <span class="muted">{t('wall.no_tickets')}</span> : (
          <ul class="plain tickets">
            {a.tickets.map((tk) => {
              const label = { ticket: shortId(tk.id), agent: name };
              return (
                <li key={tk.id} data-ticket={tk.id}>
                  <span class="ticket">{shortId(tk.id)}</span> <span class="chip">{t(`channel.${tk.channel}`)}</span> <span class="muted">{t(`wall.state.${tk.state}`)}</span>
                  <span class="actions">
                    <button type="button" aria-label={t('wall.take_over_label', label)} onClick={() => onTakeOver(a, tk)}>{t('wall.take_over')}</button>
                    <button type="button" aria-label={t('wall.whisper_label', label)} onClick={() => onAction('whisper', a, tk)}>{t('wall.whisper')}</button>
                    <button type="button" aria-label={t('wall.move_label', label)} onClick={() => onAction('move', a, tk)}>{t('wall.move')}</button>
                  </span>
                </li>
              );
            })}
            {a.tickets_omitted > 0 && <li class="muted">{t('wall.tickets_omitted', { n: a.tickets_omitted })}</li>}
          </ul>
        )}
      </span>
    </div>
  );
});

function ActionForm({ action, queues, onDone, onCancel }: {
  action: Action;
  queues: string[];
  onDone: (value: string) => Promise<void>;
  onCancel: () => void;
}): JSX.Element {
  const [value, setValue] = useState(action.kind === 'move' ? (queues[0] ?? '') : '');
  const [sending, setSending] = useState(false);
  const first = useRef<HTMLTextAreaElement & HTMLSelectElement>(null);
  const opener = useRef<Element | null>(document.activeElement);
  useEffect(() => {
    first.current?.focus();
    const back = opener.current;
    return () => {
      if (back instanceof HTMLElement && back.isConnected) back.focus();
    };
  }, []);
  const vars = { ticket: shortId(action.ticket.id), agent: agentName(action.agent) };
  const title = action.kind === 'whisper' ? t('wall.whisper_title', vars) : t('wall.move_title', vars);
  return (
    <form class="action-form" aria-label={title}
      onKeyDown={(e) => { if (e.key === 'Escape') onCancel(); }}
      onSubmit={(e) => {
        e.preventDefault();
        if (!value.trim() || sending) return;
        setSending(true);
        void onDone(value.trim()).finally(() => setSending(false));
      }}>
      <h3>{title}</h3>
      {action.kind === 'whisper' ? (
        <>
          <label for="whisper-text">{t('wall.whisper_text')}</label>
          <textarea id="whisper-text" ref={first} rows={3} maxLength={10000} value={value} onInput={(e) => setValue((e.currentTarget as HTMLTextAreaElement).value)} />
          <p class="hint">{t('wall.whisper_hint')}</p>
        </>
      ) : (
        <>
          <label for="move-queue">{t('wall.move_to')}</label>
          <select id="move-queue" ref={first} value={value} onChange={(e) => setValue((e.currentTarget as HTMLSelectElement).value)}>
            {queues.map((q) => <option key={q} value={q}>{q}</option>)}
          </select>
        </>
      )}
      <div class="buttons">
        <button type="submit" class="primary" disabled={sending}>{action.kind === 'whisper' ? t('wall.send_whisper') : t('wall.move')}</button>
        <button type="button" onClick={onCancel}>{t('wall.cancel')}</button>
      </div>
    </form>
  );
}
