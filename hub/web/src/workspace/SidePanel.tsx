// The side panel: the customer (CustomerCard.tsx), their account from billing (AccountPanel.tsx),
// the care workflows (Care.tsx), the conversation, the ticket (queue, skills, priority, SLA clock, tags, notes),
// the bot's hand-over summary, and the ticket's actions.

import { useEffect, useReducer } from 'preact/hooks';
import type { JSX } from 'preact';
import type { Conversation, Ticket } from './api';
import type { Store } from './store';
import { clock, countdown, day, t } from './i18n';
import { Transfer } from './Transfer';
import { CustomerCard } from './CustomerCard';
import { AccountPanel } from './AccountPanel';
import { Care, mayUseCare } from './Care';
import { OutagePanel } from './Outage';

export function SidePanel(props: { store: Store; conversation: Conversation; ticket: Ticket | undefined; act: (p: Promise<unknown>) => void }): JSX.Element {
  const { store, conversation, ticket, act } = props;
  const [, bumpTick] = useReducer((n: number) => n + 1, 0);
  const tick = () => bumpTick(undefined);
  useEffect(() => {
    const id = window.setInterval(tick, 1000);
    return () => window.clearInterval(id);
  }, []);
  const notes = store.detail?.ticket.id === ticket?.id ? (store.detail?.notes ?? []) : [];
  const mine = ticket?.assignee_id === store.me;
  const due = ticket?.first_response_due ? Date.parse(ticket.first_response_due) - Date.now() : null;
  const open = ticket && !['resolved', 'closed'].includes(ticket.status);
  return (
    <aside class="ws-side" aria-label={t('side.label')}>
      <CustomerCard store={store} conversation={conversation} act={act} />
      <AccountPanel store={store} customerId={conversation.customer_id} />
      {mayUseCare(store, conversation) && <Care store={store} conversation={conversation} />}
      <OutagePanel store={store} conversation={conversation} ticket={ticket} />
      <section aria-labelledby="side-conversation">
        <h2 id="side-conversation">{t('thread.label')}</h2>
        <dl>
          <dt>{t('side.channel')}</dt><dd>{t(`channel.${conversation.channel}`)}</dd>
          <dt>{t('side.since')}</dt><dd><time dateTime={conversation.created_at}>{day(conversation.created_at)}, {clock(conversation.created_at)}</time></dd>
        </dl>
      </section>
      {ticket ? (
        <section aria-labelledby="side-ticket">
          <h2 id="side-ticket">{t('side.ticket')}</h2>
          <dl>
            <dt>{t('side.status')}</dt><dd>{t(`ticket.${ticket.status}`)}</dd>
            <dt>{t('side.queue')}</dt><dd>{ticket.queue}</dd>
            <dt>{t('side.priority')}</dt><dd>{ticket.priority}</dd>
            <dt>{t('side.skills')}</dt><dd>{ticket.skills.map((s) => `${s.skill} ${s.level}`).join(', ') || '—'}</dd>
            <dt>{t('side.tags')}</dt><dd>{ticket.tags.join(', ') || '—'}</dd>
            {due !== null && open && (
              <>
                <dt>{t('side.sla')}</dt>
                <dd class={due < 0 ? 'late' : ''}>{due < 0 ? t('side.sla_late', { time: countdown(due) }) : countdown(due)}</dd>
              </>
            )}
          </dl>
          {ticket.summary && (
            <>
              <h3>{t('side.summary')}</h3>
              <p class="summary" data-testid="summary">{ticket.summary}</p>
            </>
          )}
          {mine && open && (
            <div class="actions">
              <button type="button" class="primary" aria-keyshortcuts="e" onClick={() => act(store.ticketAction(ticket, 'resolve'))}>{t('action.resolve')}</button>
              <button type="button" onClick={() => act(store.ticketAction(ticket, 'pending'))}>{t('action.pending')}</button>
              <Transfer store={store} ticket={ticket} act={act} />
            </div>
          )}
          <h3>{t('side.notes')}</h3>
          {notes.length === 0 ? <p class="muted">{t('side.no_notes')}</p> : (
            <ul class="notes">
              {notes.map((n) => <li key={n.created_at + n.text}><time dateTime={n.created_at}>{clock(n.created_at)}</time> {n.text}</li>)}
            </ul>
          )}
        </section>
      ) : (
        <p class="muted">{t('side.no_ticket')}</p>
      )}
    </aside>
  );
}
