// Transferring a ticket: to a queue (typed, with the known queues suggested) or to another
// agent, chosen from the agents with their presence (kept current from the inbox socket).

import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { Ticket } from './api';
import type { Store } from './store';
import { t } from './i18n';

export interface StaffMember {
  id: string;
  name: string;
  presence: string;
  /** Admins only. */
  roles?: string[];
  active?: boolean;
}

const PRESENCE_ORDER = ['available', 'busy', 'away', 'offline'];

export function Transfer({ store, ticket, act }: { store: Store; ticket: Ticket; act: (p: Promise<unknown>) => void }): JSX.Element {
  const [queue, setQueue] = useState('');
  const [agent, setAgent] = useState('');
  const [agents, setAgents] = useState<StaffMember[]>([]);
  useEffect(() => {
    let live = true;
    store.api.request<StaffMember[]>('GET', '/api/v1/agents').then(
      (list) => live && setAgents(list),
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [ticket.id]);
  const others = agents
    // Colleagues get only active agents; an admin gets every account, with its roles.
    .filter((a) => a.id !== store.me && (a.active ?? true) && (a.roles?.includes('agent') ?? true))
    .map((a) => ({ ...a, presence: store.agentPresence.get(a.id) ?? a.presence }))
    .sort((a, b) => PRESENCE_ORDER.indexOf(a.presence) - PRESENCE_ORDER.indexOf(b.presence) || a.name.localeCompare(b.name));
  return (
    <>
      <form class="transfer" onSubmit={(e) => { e.preventDefault(); if (queue) act(store.transfer(ticket, { queue })); }}>
        <label for="transfer-queue">{t('action.transfer_to')}</label>
        <input id="transfer-queue" list="queues" value={queue} onInput={(e) => setQueue((e.currentTarget as HTMLInputElement).value)} />
        <datalist id="queues">{store.queues().map((q) => <option key={q} value={q} />)}</datalist>
        <button type="submit">{t('action.transfer')}</button>
      </form>
      <form class="transfer" onSubmit={(e) => { e.preventDefault(); if (agent) act(store.transfer(ticket, { agent_id: agent })); }}>
        <label for="transfer-agent">{t('transfer.to_agent')}</label>
        <select id="transfer-agent" value={agent} onChange={(e) => setAgent((e.currentTarget as HTMLSelectElement).value)}>
          <option value="">{others.length ? t('transfer.choose_agent') : t('transfer.no_agents')}</option>
          {others.map((a) => (
            <option key={a.id} value={a.id}>{t('transfer.agent_option', { name: a.name, presence: t(`presence.${a.presence}`) })}</option>
          ))}
        </select>
        <button type="submit" disabled={!agent}>{t('transfer.to_agent_button')}</button>
      </form>
    </>
  );
}
