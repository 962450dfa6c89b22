// The customer's side of a web chat: the session, the socket, and the outbox that makes a
// dropped network neither lose nor duplicate a message.
//
// Every message gets a client id before it is sent and stays in the outbox (kept in
// sessionStorage with the session token) until the hub's `ack` names it. After a reconnect the
// socket resumes with `last_seq` and everything still in the outbox is sent again with the
// same client id; the hub stores a resent client id once and acknowledges it again.

import type { Lang } from '../shared/i18n';

export type Author = 'customer' | 'bot' | 'agent' | 'system';
export type DeliveryState = 'sending' | 'stored' | 'failed';

/** A link or file a message carries: the help article a bot answer came from, an attachment. */
export interface Media {
  kind: string;
  reference: string;
  mime_type?: string;
  file_name?: string;
}

/** A line the widget adds to the log itself, from the conversation's state. */
export type Notice = { kind: 'joined'; name: string } | { kind: 'ended' };

export interface ChatMessage {
  key: string;
  seq?: number;
  author: Author;
  text: string;
  state: DeliveryState;
  clientId?: string;
  error?: string;
  media?: Media[];
  notice?: Notice;
}

export type Status = 'idle' | 'connecting' | 'online' | 'offline' | 'forbidden';

/** Where the conversation stands, as the hub's `state` frames say. */
export interface ConversationState {
  status: 'bot' | 'queued' | 'assigned' | 'resolved' | 'closed';
  agent: { name: string } | null;
}

/** The satisfaction survey the hub asked for after the conversation was resolved. */
export interface Survey {
  id: string;
  state: 'open' | 'sending' | 'done' | 'failed';
}

export interface Snapshot {
  status: Status;
  messages: ChatMessage[];
  conversation: ConversationState | null;
  survey: Survey | null;
  /** An agent is writing: their name (or '' when the hub gave none). */
  agentTyping: string | null;
  /** The customer asked to end the chat and the hub has not answered yet. */
  leaving: boolean;
}

interface Pending {
  clientId: string;
  text: string;
  attachments?: string[];
}

/** A live incident where the customer is (the widget's outage banner). */
export interface Outage {
  id: string;
  title: string;
  description: string;
  eta: string | null;
}

/** Why a file could not be sent: the hub's error code, or `network`. */
export class FileRefused extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

interface Saved {
  token: string;
  conversationId: string;
  expiresAt: string;
  outbox: Pending[];
  counter: number;
}

interface ServerMessage {
  seq: number;
  author: Author;
  text: string;
  channel_message_id?: string | null;
  media?: Media[];
}

/** How long a sent message may wait for its `ack` before the socket is presumed dead. */
const ACK_TIMEOUT_MS = 8000;
const MAX_BACKOFF_MS = 10000;
/** The customer's typing hint goes out at most this often. */
const TYPING_EVERY_MS = 2500;
/** An agent's typing hint is shown this long unless renewed or answered by a message. */
const TYPING_SHOWN_MS = 6000;

export class ChatConnection {
  private saved: Saved | null = null;
  private socket: WebSocket | null = null;
  private messages: ChatMessage[] = [];
  private lastSeq = 0;
  private status: Status = 'idle';
  private backoff = 500;
  private reconnectTimer: number | undefined;
  private ackTimer: number | undefined;
  private starting: Promise<boolean> | null = null;
  private readonly storageKey: string;
  private conversation: ConversationState | null = null;
  private agentTyping: string | null = null;
  private typingTimer: number | undefined;
  private lastTypingSent = 0;
  private survey: Survey | null = null;
  private leaving = false;

  constructor(
    private readonly hub: string,
    private readonly onChange: (s: Snapshot) => void,
  ) {
    this.storageKey = `switchboard.chat:${hub}`;
    window.addEventListener('online', () => this.reconnectNow());
    window.addEventListener('offline', () => this.socket?.close());
  }

  /** Resumes a chat this tab had before a reload, if its token is still good. */
  resume(): void {
    let saved: Saved | null = null;
    try {
      saved = JSON.parse(sessionStorage.getItem(this.storageKey) ?? 'null') as Saved | null;
    } catch {
      saved = null;
    }
    if (!saved || Date.parse(saved.expiresAt) <= Date.now()) {
      sessionStorage.removeItem(this.storageKey);
      return;
    }
    this.saved = saved;
    for (const p of saved.outbox) {
      this.messages.push({ key: p.clientId, author: 'customer', text: p.text, state: 'sending', clientId: p.clientId });
    }
    this.connect();
  }

  snapshot(): Snapshot {
    return {
      status: this.status,
      messages: this.messages,
      conversation: this.conversation,
      agentTyping: this.agentTyping,
      survey: this.survey,
      leaving: this.leaving,
    };
  }

  /** Ends the chat: the hub closes the conversation (a ticket nobody answered yet counts as
   * abandoned) and answers `done`; the next message starts a new chat. */
  leave(): void {
    if (this.leaving || this.socket?.readyState !== WebSocket.OPEN) return;
    this.leaving = true;
    this.socket.send(JSON.stringify({ type: 'leave' }));
    this.emit();
  }

  /** Drops a chat that has been closed, so the next message starts a new one. */
  private forget(): void {
    const socket = this.socket;
    this.socket = null;
    socket?.close();
    window.clearTimeout(this.reconnectTimer);
    window.clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.saved = null;
    sessionStorage.removeItem(this.storageKey);
    this.messages = [];
    this.lastSeq = 0;
    this.conversation = null;
    this.survey = null;
    this.agentTyping = null;
  }

  /** The customer is writing: tells the agent, at most every few seconds, once a chat exists. */
  typing(): void {
    const now = Date.now();
    if (now - this.lastTypingSent < TYPING_EVERY_MS || this.socket?.readyState !== WebSocket.OPEN) return;
    this.lastTypingSent = now;
    this.socket.send(JSON.stringify({ type: 'typing' }));
  }

  /** Answers the satisfaction survey: a score of 1 to 5 and an optional comment. */
  rate(score: number, comment: string): void {
    const survey = this.survey;
    if (!survey || survey.state === 'sending' || survey.state === 'done' || this.socket?.readyState !== WebSocket.OPEN) return;
    this.survey = { ...survey, state: 'sending' };
    this.socket.send(JSON.stringify({ type: 'rating', survey_id: survey.id, score, comment }));
    this.emit();
  }

  /** Sends a customer message: shown at once as "sending", stored when acknowledged. */
  async send(text: string, language: Lang, media?: { id: string; file: File }): Promise<void> {
    const trimmed = text.trim();
    if (!trimmed) return;
    // A closed chat takes no more messages (a resolved one is reopened by them).
    if (this.conversation?.status === 'closed') this.forget();
    if (!this.saved && !(await this.start(language))) return;
    const saved = this.saved;
    if (!saved) return;
    saved.counter += 1;
    const clientId = `w-${saved.conversationId.slice(-8)}-${saved.counter}-${Math.random().toString(36).slice(2, 8)}`;
    const pending: Pending = { clientId, text: trimmed, attachments: media ? [media.id] : undefined };
    saved.outbox.push(pending);
    this.save();
    const shown: Media[] | undefined = media
      ? [{ kind: media.file.type === 'application/pdf' ? 'document' : 'image', reference: `/api/v1/attachments/${media.id}`, mime_type: media.file.type, file_name: media.file.name }]
      : undefined;
    this.messages = [...this.messages, { key: clientId, author: 'customer', text: trimmed, state: 'sending', clientId, media: shown }];
    this.emit();
    if (this.socket?.readyState === WebSocket.OPEN) this.transmit(pending);
    else if (!this.socket) this.connect();
  }

  /** Uploads a file to the chat (starting it if needed), then sends it as a message.
   * @throws FileRefused with the hub's error code. */
  async sendFile(file: File, language: Lang): Promise<void> {
    if (!this.saved && !(await this.start(language))) throw new FileRefused('network');
    const saved = this.saved;
    if (!saved) throw new FileRefused('network');
    let response: Response;
    try {
      response = await fetch(`${this.hub}/api/v1/webchat/attachments?name=${encodeURIComponent(file.name)}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${saved.token}`, 'content-type': file.type || 'application/octet-stream' },
        body: file,
        credentials: 'omit',
      });
    } catch {
      throw new FileRefused('network');
    }
    if (!response.ok) {
      const body = (await response.json().catch(() => ({}))) as { error?: { code?: string } };
      throw new FileRefused(body.error?.code ?? `status_${response.status}`);
    }
    const kept = (await response.json()) as { id: string; file_name?: string };
    await this.send(kept.file_name ?? file.name, language, { id: kept.id, file });
  }

  /** The live incidents where this chat's customer is, for the outage banner: their public text
   * and ETA only. None without a chat, or when the hub cannot say. */
  async incidents(): Promise<Outage[]> {
    const saved = this.saved;
    if (!saved) return [];
    try {
      const response = await fetch(`${this.hub}/api/v1/webchat/incidents`, {
        headers: { authorization: `Bearer ${saved.token}` },
        credentials: 'omit',
      });
      return response.ok ? ((await response.json()) as Outage[]) : [];
    } catch {
      return [];
    }
  }

  /** A file of this chat, for showing or saving (the token goes in a header, not the URL). */
  async file(reference: string): Promise<Blob> {
    const id = reference.split('/').pop() ?? '';
    const saved = this.saved;
    if (!saved || !/^[0-9a-f-]{8,64}$/i.test(id)) throw new FileRefused('not_found');
    const response = await fetch(`${this.hub}/api/v1/webchat/attachments/${id}`, {
      headers: { authorization: `Bearer ${saved.token}` },
      credentials: 'omit',
    });
    if (!response.ok) throw new FileRefused(`status_${response.status}`);
    return response.blob();
  }

  private start(language: Lang): Promise<boolean> {
    this.starting ??= (async () => {
      this.setStatus('connecting');
      try {
        const response = await fetch(`${this.hub}/api/v1/webchat/sessions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ language }),
          credentials: 'omit',
        });
        if (response.status === 403) {
          this.setStatus('forbidden');
          return false;
        }
        if (!response.ok) throw new Error(`status ${response.status}`);
        const body = (await response.json()) as { token: string; conversation_id: string; expires_at: string };
        this.saved = { token: body.token, conversationId: body.conversation_id, expiresAt: body.expires_at, outbox: [], counter: 0 };
        this.save();
        this.connect();
        return true;
      } catch {
        this.setStatus('offline');
        return false;
      } finally {
        this.starting = null;
      }
    })();
    return this.starting;
  }

  private connect(): void {
    const saved = this.saved;
    if (!saved || this.socket) return;
    window.clearTimeout(this.reconnectTimer);
    this.setStatus('connecting');
    const url = new URL('/ws/webchat', this.hub);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', saved.token);
    url.searchParams.set('last_seq', String(this.lastSeq));
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => {
      this.setStatus('online');
      for (const p of saved.outbox) this.transmit(p);
    };
    socket.onmessage = (event) => this.receive(String(event.data));
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      window.clearTimeout(this.ackTimer);
      this.ackTimer = undefined;
      if (event.code === 4401) {
        // The token expired or is unknown: the next message starts a new chat.
        this.saved = null;
        sessionStorage.removeItem(this.storageKey);
        this.setStatus('idle');
        return;
      }
      this.setStatus('offline');
      this.reconnectTimer = window.setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    };
  }

  private reconnectNow(): void {
    if (this.socket || !this.saved) return;
    this.backoff = 500;
    this.connect();
  }

  private transmit(p: Pending): void {
    this.socket?.send(JSON.stringify({ type: 'message', client_id: p.clientId, text: p.text, attachments: p.attachments }));
    this.armAckTimer();
  }

  /** A socket that does not acknowledge in time is dead even if the browser has not noticed:
   * close it, reconnect, and send the outbox again. */
  private armAckTimer(): void {
    this.ackTimer ??= window.setTimeout(() => {
      this.ackTimer = undefined;
      if (this.saved?.outbox.length) this.socket?.close();
    }, ACK_TIMEOUT_MS);
  }

  private receive(data: string): void {
    // The hub answered: the line works, so the next drop starts retrying quickly again.
    this.backoff = 500;
    let frame: {
      type?: string;
      client_id?: string;
      seq?: number;
      code?: string;
      message?: ServerMessage | string;
      status?: ConversationState['status'];
      agent?: { name: string } | null;
      author?: Author;
      name?: string;
      survey_id?: string;
      command?: string;
    };
    try {
      frame = JSON.parse(data) as typeof frame;
    } catch {
      return;
    }
    if (frame.type === 'ack' && frame.client_id) {
      this.stored(frame.client_id, frame.seq);
    } else if (frame.type === 'message' && typeof frame.message === 'object') {
      this.incoming(frame.message);
    } else if (frame.type === 'state' && frame.status) {
      this.stateChanged({ status: frame.status, agent: frame.agent ?? null });
    } else if (frame.type === 'typing' && frame.author === 'agent') {
      this.agentTyping = frame.name ?? '';
      window.clearTimeout(this.typingTimer);
      this.typingTimer = window.setTimeout(() => {
        this.agentTyping = null;
        this.emit();
      }, TYPING_SHOWN_MS);
      this.emit();
    } else if (frame.type === 'survey' && frame.survey_id) {
      if (this.survey?.id !== frame.survey_id) this.survey = { id: frame.survey_id, state: 'open' };
      this.emit();
    } else if (frame.type === 'rated' && frame.survey_id && this.survey?.id === frame.survey_id) {
      this.survey = { ...this.survey, state: 'done' };
      this.emit();
    } else if (frame.type === 'done' && frame.command === 'leave') {
      this.leaving = false;
      this.emit();
    } else if (frame.type === 'error' && !frame.client_id && this.leaving) {
      this.leaving = false;
      this.emit();
    } else if (frame.type === 'error' && !frame.client_id && this.survey?.state === 'sending') {
      // Answered from another tab, or expired: the hub keeps the first answer.
      this.survey = { ...this.survey, state: frame.code === 'conflict' ? 'done' : 'failed' };
      this.emit();
    } else if (frame.type === 'error' && frame.client_id) {
      this.dropFromOutbox(frame.client_id);
      this.messages = this.messages.map((m) =>
        m.clientId === frame.client_id ? { ...m, state: 'failed', error: frame.code } : m,
      );
      this.emit();
    }
  }

  /** A new state from the hub. Changes seen live (not the first state after a page load) also
   * leave a line in the log: the agent who joined, the end of the conversation. */
  private stateChanged(next: ConversationState): void {
    const before = this.conversation;
    this.conversation = next;
    if (before) {
      const name = next.agent?.name;
      if (name && name !== before.agent?.name) this.notice({ kind: 'joined', name });
      const ended = (s: ConversationState['status']) => s === 'resolved' || s === 'closed';
      if (ended(next.status) && !ended(before.status)) this.notice({ kind: 'ended' });
    }
    this.emit();
  }

  private notice(notice: Notice): void {
    // Placed after the last message seen, before anything still being sent.
    const seq = this.lastSeq + 0.5;
    this.messages = [...this.messages, { key: `n${this.messages.length}-${seq}`, seq, author: 'system', text: '', state: 'stored', notice }];
    this.messages.sort((a, b) => (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER));
  }

  private stored(clientId: string, seq?: number): void {
    this.dropFromOutbox(clientId);
    this.messages = this.messages.map((m) => (m.clientId === clientId ? { ...m, state: 'stored', seq: seq ?? m.seq } : m));
    this.emit();
  }

  private incoming(m: ServerMessage): void {
    if (m.seq <= this.lastSeq) return;
    this.lastSeq = m.seq;
    const clientId = m.author === 'customer' ? (m.channel_message_id ?? undefined) : undefined;
    if (clientId && this.messages.some((x) => x.clientId === clientId)) {
      this.stored(clientId, m.seq);
      return;
    }
    if (this.messages.some((x) => x.seq === m.seq)) return;
    if (m.author === 'agent') {
      // The agent's message answers their typing.
      this.agentTyping = null;
      window.clearTimeout(this.typingTimer);
    }
    this.messages = [
      ...this.messages,
      { key: `s${m.seq}`, seq: m.seq, author: m.author, text: m.text, state: 'stored', clientId, media: m.media },
    ];
    // Keep stored messages in the hub's order, pending ones after them.
    this.messages.sort((a, b) => (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER));
    this.emit();
  }

  private dropFromOutbox(clientId: string): void {
    if (!this.saved) return;
    const before = this.saved.outbox.length;
    this.saved.outbox = this.saved.outbox.filter((p) => p.clientId !== clientId);
    if (this.saved.outbox.length !== before) this.save();
    // Each acknowledgement restarts the clock for the ones still waiting.
    window.clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.saved.outbox.length > 0 && this.socket?.readyState === WebSocket.OPEN) this.armAckTimer();
  }

  private save(): void {
    if (this.saved) sessionStorage.setItem(this.storageKey, JSON.stringify(this.saved));
  }

  private setStatus(status: Status): void {
    if (this.status === 'forbidden') return;
    this.status = status;
    this.emit();
  }

  private emit(): void {
    this.onChange(this.snapshot());
  }
}

/** A bot answer's text without its source line, and the article title that line names. */
export function splitSource(text: string): { body: string; article?: string } {
  const m = /\n\n\((?:From our help article “(.+)”|Del artículo de ayuda «(.+)»|Do artigo de ajuda «(.+)»)\.\)\s*$/u.exec(text);
  if (!m) return { body: text };
  return { body: text.slice(0, m.index), article: m[1] ?? m[2] ?? m[3] };
}
