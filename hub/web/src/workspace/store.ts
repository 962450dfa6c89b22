// The workspace's state: conversations, tickets and the open thread, kept current from the
// `/ws/inbox` socket. Changes are batched into one render per animation frame, so a busy hub
// (many messages a second) costs one diff per frame, not one per event.

import { Api, type Conversation, type CustomerProfile, type Message, type Session, type Ticket, type TicketDetail } from './api';

export type Connection = 'connecting' | 'online' | 'offline';
export type Tab = 'mine' | 'offered' | 'queued' | 'bot' | 'resolved';
export const TABS: readonly Tab[] = ['mine', 'offered', 'queued', 'bot', 'resolved'];

export interface Filters {
  channel: string;
  queue: string;
  language: string;
}

export interface Preview {
  text: string;
  author: string;
}

/** Who is writing in a conversation, from the hub's `conversation.typing` hints. */
export interface Typing {
  author: 'customer' | 'agent';
  name?: string;
  agentId?: string;
}

const OPEN_TICKET = ['queued', 'offered', 'assigned', 'pending_customer'];
/** A typing hint is shown this long unless renewed or answered by a message. */
const TYPING_SHOWN_MS = 6000;
/** The agent's own typing hint goes out at most this often per conversation. */
const TYPING_EVERY_MS = 2500;
const MAX_CONVERSATIONS = 5000;

export class Store {
  readonly api: Api;
  conversations = new Map<string, Conversation>();
  /** The newest ticket of each conversation. */
  tickets = new Map<string, Ticket>();
  previews = new Map<string, Preview>();
  selected: string | null = null;
  thread: Message[] = [];
  detail: TicketDetail | null = null;
  /** Customers' profiles, by customer id: read when a conversation of theirs is opened. */
  customers = new Map<string, CustomerProfile>();
  /** Customers whose profile could not be read. */
  customerErrors = new Set<string>();
  /** E-mail conversations' subjects, by conversation id. */
  subjects = new Map<string, string>();
  connection: Connection = 'connecting';
  tab: Tab = 'mine';
  filters: Filters = { channel: '', queue: '', language: '' };
  presence = 'available';
  /** Other agents' presence as the inbox socket announces it. */
  agentPresence = new Map<string, string>();
  version = 0;
  /** Offers that just arrived, for the sound and the notification. */
  onOffer: ((t: Ticket) => void) | null = null;
  private listeners = new Set<() => void>();
  private frame = 0;
  private socket: WebSocket | null = null;
  private backoff = 500;
  private closed = false;
  private threadLoading: string | null = null;
  /** Who is writing, per conversation, until the timer clears it. */
  typing = new Map<string, Typing>();
  private typingTimers = new Map<string, number>();
  private typingSent: { conversation: string; at: number } | null = null;
  /** Bumped by every change of what the list shows (conversations, tickets). */
  private listVersion = 0;
  private listCache: { key: string; visible: Conversation[]; counts: Map<Tab, number> } | null = null;

  constructor(
    readonly session: Session,
    readonly signOut: () => void,
  ) {
    this.api = new Api(session.token, signOut);
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  changed(): void {
    this.version += 1;
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      for (const l of this.listeners) l();
    });
  }

  get me(): string {
    return this.session.agent.id;
  }

  async start(): Promise<void> {
    this.connect();
    await this.reload();
  }

  stop(): void {
    this.closed = true;
    this.socket?.close();
  }

  /** Everything on screen, again from the REST API (start, `resync`, after a reconnect). */
  async reload(): Promise<void> {
    const [conversations, ...ticketLists] = await Promise.all([
      this.api.conversations(MAX_CONVERSATIONS),
      ...OPEN_TICKET.map((s) => this.api.tickets(s)),
      this.api.tickets('resolved'),
    ]);
    this.conversations = new Map(conversations.map((c) => [c.id, c]));
    const tickets = new Map<string, Ticket>();
    for (const t of ticketLists.flat()) {
      const known = tickets.get(t.conversation_id);
      if (!known || known.created_at < t.created_at) tickets.set(t.conversation_id, t);
    }
    this.tickets = tickets;
    this.listVersion += 1;
    if (this.selected) await this.loadThread(this.selected);
    this.changed();
  }

  private connect(): void {
    if (this.closed) return;
    const url = new URL('/ws/inbox', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', this.session.token);
    const socket = new WebSocket(url);
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      const wasOffline = this.connection === 'offline';
      this.connection = 'online';
      this.backoff = 500;
      this.changed();
      // Events sent while we were away are gone: read the state again.
      if (wasOffline) void this.reload().catch(() => undefined);
    };
    socket.onmessage = (e) => this.event(String(e.data));
    socket.onclose = (e) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (e.code === 4401) {
        this.signOut();
        return;
      }
      this.connection = 'offline';
      this.changed();
      if (!this.closed) window.setTimeout(() => this.connect(), opened ? 500 : this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    };
  }

  private event(data: string): void {
    let e: {
      type: string;
      conversation?: Conversation;
      message?: Message;
      ticket?: Ticket;
      conversation_id?: string;
      author?: string;
      name?: string;
      agent_id?: string;
      presence?: string;
      ticket_id?: string;
      author_id?: string;
      text?: string;
      created_at?: string;
    };
    try {
      e = JSON.parse(data) as typeof e;
    } catch {
      return;
    }
    switch (e.type) {
      case 'conversation.created':
      case 'conversation.updated':
        if (e.conversation) this.conversation(e.conversation);
        break;
      case 'message.created':
      case 'message.updated':
        if (e.conversation) this.conversation(e.conversation);
        if (e.message) this.message(e.message);
        break;
      case 'ticket.updated':
        if (e.ticket) this.ticket(e.ticket);
        break;
      case 'conversation.typing':
        if (!e.conversation_id || (e.author !== 'customer' && e.author !== 'agent') || e.agent_id === this.me) return;
        this.typingSeen(e.conversation_id, { author: e.author, name: e.name, agentId: e.agent_id });
        break;
      case 'agent.presence':
        if (e.agent_id && e.presence) this.agentPresence.set(e.agent_id, e.presence);
        // A supervisor (or another tab) changed ours: the status control follows.
        if (e.agent_id === this.me && e.presence && e.presence !== 'offline') this.presence = e.presence;
        break;
      case 'ticket.note': {
        // A note (a supervisor's whisper, or our own) on the ticket on screen shows at once.
        const d = this.detail;
        if (!d || d.ticket.id !== e.ticket_id || !e.author_id || e.text === undefined || !e.created_at) return;
        if (d.notes.some((n) => n.created_at === e.created_at && n.text === e.text && n.author_id === e.author_id)) return;
        this.detail = { ...d, notes: [...d.notes, { ticket_id: d.ticket.id, author_id: e.author_id, text: e.text, created_at: e.created_at }] };
        break;
      }
      case 'resync':
        void this.reload().catch(() => undefined);
        return;
      default:
        return;
    }
    this.changed();
  }

  private typingSeen(conversation: string, typing: Typing): void {
    this.typing.set(conversation, typing);
    window.clearTimeout(this.typingTimers.get(conversation));
    this.typingTimers.set(
      conversation,
      window.setTimeout(() => {
        this.typing.delete(conversation);
        this.typingTimers.delete(conversation);
        this.changed();
      }, TYPING_SHOWN_MS),
    );
  }

  /** The agent is writing a reply (never a note): tells the customer, at most every few seconds. */
  sendTyping(conversation: string): void {
    const now = Date.now();
    const last = this.typingSent;
    if (last && last.conversation === conversation && now - last.at < TYPING_EVERY_MS) return;
    if (this.socket?.readyState !== WebSocket.OPEN) return;
    this.typingSent = { conversation, at: now };
    this.socket.send(JSON.stringify({ type: 'typing', conversation_id: conversation }));
  }

  private conversation(c: Conversation): void {
    this.conversations.set(c.id, c);
    this.listVersion += 1;
  }

  private message(m: Message): void {
    this.previews.set(m.conversation_id, { text: m.text, author: m.author });
    // A message answers its writer's typing hint.
    const typing = this.typing.get(m.conversation_id);
    if (typing && typing.author === m.author) {
      this.typing.delete(m.conversation_id);
      window.clearTimeout(this.typingTimers.get(m.conversation_id));
    }
    if (m.conversation_id !== this.selected) return;
    const last = this.thread[this.thread.length - 1];
    if (!last || m.seq > last.seq) {
      this.thread = [...this.thread, m];
    } else {
      const i = this.thread.findIndex((x) => x.seq === m.seq);
      if (i >= 0) {
        this.thread = this.thread.slice();
        this.thread[i] = m;
      }
    }
  }

  private ticket(t: Ticket): void {
    const known = this.tickets.get(t.conversation_id);
    if (known && known.id !== t.id && known.created_at > t.created_at) return;
    const newOffer = t.status === 'offered' && t.offered_to === this.me && !(known?.status === 'offered' && known.offered_to === this.me);
    this.tickets.set(t.conversation_id, t);
    this.listVersion += 1;
    if (this.detail?.ticket.id === t.id) this.detail = { ...this.detail, ticket: t };
    if (newOffer) this.onOffer?.(t);
  }

  /** The conversations of the current tab and filters, most recently active first. Computed
   * once per change of the list (not once per render: a new message in the open thread alone
   * leaves it as it was), with every tab's count in the same pass. */
  visible(): Conversation[] {
    return this.list().visible;
  }

  private list(): { visible: Conversation[]; counts: Map<Tab, number> } {
    const { channel, queue, language } = this.filters;
    const key = `${this.listVersion}\u0000${this.tab}\u0000${channel}\u0000${queue}\u0000${language}`;
    if (this.listCache?.key === key) return this.listCache;
    const visible: Conversation[] = [];
    const counts = new Map<Tab, number>(TABS.map((tab) => [tab, 0]));
    for (const c of this.conversations.values()) {
      const t = this.tickets.get(c.id);
      for (const tab of TABS) if (this.inTab(tab, c, t)) counts.set(tab, (counts.get(tab) ?? 0) + 1);
      if (channel && c.channel !== channel) continue;
      if (language && c.language !== language) continue;
      if (queue && t?.queue !== queue) continue;
      if (this.inTab(this.tab, c, t)) visible.push(c);
    }
    visible.sort((a, b) => (a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : 0));
    this.listCache = { key, visible, counts };
    return this.listCache;
  }

  inTab(tab: Tab, c: Conversation, t: Ticket | undefined): boolean {
    switch (tab) {
      case 'mine':
        return c.assignee_id === this.me && c.status !== 'resolved' && c.status !== 'closed';
      case 'offered':
        return t?.status === 'offered' && t.offered_to === this.me;
      case 'queued':
        return c.status === 'queued' && !(t?.status === 'offered' && t.offered_to === this.me);
      case 'bot':
        return c.status === 'bot';
      case 'resolved':
        return c.status === 'resolved' || c.status === 'closed';
    }
  }

  count(tab: Tab): number {
    return this.list().counts.get(tab) ?? 0;
  }

  /** My pending offers, soonest to expire first. */
  offers(): Ticket[] {
    return [...this.tickets.values()]
      .filter((t) => t.status === 'offered' && t.offered_to === this.me)
      .sort((a, b) => (a.offer_expires_at ?? '').localeCompare(b.offer_expires_at ?? ''));
  }

  queues(): string[] {
    return [...new Set([...this.tickets.values()].map((t) => t.queue))].sort();
  }

  async select(id: string | null): Promise<void> {
    this.selected = id;
    this.thread = [];
    this.detail = null;
    this.changed();
    if (!id) return;
    // A conversation from a customer's history may be older than the list holds.
    if (!this.conversations.has(id)) {
      const c = await this.api.conversation(id);
      if (c.subject) this.subjects.set(id, c.subject);
      if (!this.conversations.has(id)) this.conversation(c);
    }
    const c = this.conversations.get(id);
    if (c) void this.loadCustomer(c.customer_id).catch(() => undefined);
    await this.loadThread(id);
  }

  /** Reads (again) a customer's profile and first page of conversations. */
  async loadCustomer(customerId: string): Promise<void> {
    try {
      const profile = await this.api.customer(customerId);
      this.customers.set(customerId, profile);
      this.customerErrors.delete(customerId);
    } catch (e) {
      if (!this.customers.has(customerId)) this.customerErrors.add(customerId);
      throw e;
    } finally {
      this.changed();
    }
  }

  /** The next page of a customer's conversations. */
  async moreCustomerConversations(customerId: string): Promise<void> {
    const profile = this.customers.get(customerId);
    const cursor = profile?.conversations.next_cursor;
    if (!profile || !cursor) return;
    const page = await this.api.customerConversations(customerId, cursor);
    const known = new Set(profile.conversations.items.map((c) => c.id));
    this.customers.set(customerId, {
      ...profile,
      conversations: { items: [...profile.conversations.items, ...page.items.filter((c) => !known.has(c.id))], next_cursor: page.next_cursor },
    });
    this.changed();
  }

  private async loadThread(id: string): Promise<void> {
    this.threadLoading = id;
    const email = this.conversations.get(id)?.channel === 'email' && !this.subjects.has(id);
    const [messages, detail] = await Promise.all([
      this.api.messages(id),
      email ? this.api.conversation(id).catch(() => null) : Promise.resolve(null),
    ]);
    if (detail?.subject) this.subjects.set(id, detail.subject);
    if (this.threadLoading !== id || this.selected !== id) return;
    // Keep anything the socket delivered while the pages were loading.
    const newest = messages[messages.length - 1]?.seq ?? 0;
    this.thread = [...messages, ...this.thread.filter((m) => m.seq > newest)];
    const last = this.thread[this.thread.length - 1];
    if (last) this.previews.set(id, { text: last.text, author: last.author });
    await this.loadDetail();
    this.changed();
  }

  async loadDetail(): Promise<void> {
    const t = this.selected ? this.tickets.get(this.selected) : undefined;
    this.detail = t ? await this.api.request<TicketDetail>('GET', `/api/v1/tickets/${t.id}`) : null;
    this.changed();
  }

  async reply(text: string, clientId: string): Promise<void> {
    if (!this.selected) return;
    const m = await this.api.request<Message>('POST', `/api/v1/conversations/${this.selected}/messages`, {
      text,
      client_id: clientId,
    });
    this.message(m);
    this.changed();
  }

  async note(text: string): Promise<void> {
    const t = this.selected ? this.tickets.get(this.selected) : undefined;
    if (!t) return;
    await this.api.request('POST', `/api/v1/tickets/${t.id}/notes`, { text });
    await this.loadDetail();
  }

  async ticketAction(ticket: Ticket, action: 'accept' | 'reject' | 'resolve' | 'pending', body?: unknown): Promise<void> {
    const updated = await this.api.request<Ticket | { ticket: Ticket }>('POST', `/api/v1/tickets/${ticket.id}/${action}`, body);
    const t = 'ticket' in updated ? updated.ticket : updated;
    if (t && typeof t === 'object' && 'id' in t) this.ticket(t);
    this.changed();
  }

  async transfer(ticket: Ticket, to: { queue: string } | { agent_id: string }): Promise<void> {
    const updated = await this.api.request<Ticket>('POST', `/api/v1/tickets/${ticket.id}/transfer`, to);
    this.ticket(updated);
    this.changed();
  }

  async setPresence(presence: string): Promise<void> {
    await this.api.request('PUT', '/api/v1/me/presence', { presence });
    this.presence = presence;
    this.changed();
  }
}
