// The ticket's SLA clocks in the thread's head: each target's countdown (first response,
// resolution), paused while the ticket waits for the customer, met or missed once it stops. The
// state is in words, not only in colour; the text is read on demand, not announced every second.

import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { Api, SlaClock as Clock, Ticket } from './api';
import { t } from './i18n';

/** How often the clocks are read again from the hub (the countdown itself ticks every second). */
const REFRESH_MS = 30_000;

/** "1:05:09" or "4:07": hours only when there are some. */
export function span(totalSecs: number): string {
  const s = Math.max(0, Math.round(Math.abs(totalSecs)));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

function text(c: Clock, now: number): string {
  if (c.state === 'met') return t('sla.met');
  if (c.state === 'paused') return t('sla.paused', { time: span(c.remaining_secs) });
  const left = c.due_at ? (Date.parse(c.due_at) - now) / 1000 : c.remaining_secs;
  if (c.state === 'breached' || left < 0) return `${t('sla.breached')}, ${t('sla.overdue', { time: span(left) })}`;
  return t('sla.due_in', { time: span(left) });
}

function state(c: Clock, now: number): string {
  if (c.state === 'running' && c.due_at && Date.parse(c.due_at) <= now) return 'breached';
  return c.state;
}

/** `seq`: the conversation's last message; a new one (an agent's first reply) reads the clocks
 * again. */
export function SlaClock({ api, ticket, seq }: { api: Api; ticket: Ticket; seq: number }): JSX.Element | null {
  const [clocks, setClocks] = useState<Clock[]>([]);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    let live = true;
    const load = () =>
      api.ticketSla(ticket.id).then(
        (r) => live && setClocks(r.clocks),
        () => live && setClocks([]),
      );
    void load();
    const refresh = setInterval(load, REFRESH_MS);
    return () => {
      live = false;
      clearInterval(refresh);
    };
  }, [api, ticket.id, ticket.status, ticket.queue, ticket.priority, ticket.updated_at, seq]);
  useEffect(() => {
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(tick);
  }, []);
  if (clocks.length === 0) return null;
  return (
    <ul class="sla" aria-label={t('sla.label')} data-testid="sla-clock">
      {clocks.map((c) => (
        <li key={c.target} class={`sla-clock sla-${state(c, now)}`} data-target={c.target}>
          <span class="sla-target">{t(`sla.target.${c.target}`)}:</span> <span class="sla-time">{text(c, now)}</span>
        </li>
      ))}
    </ul>
  );
}
