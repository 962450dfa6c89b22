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

export interface ChatMessage {
  key: string;
  seq?: number;
  author: Author;
  text: string;
  state: DeliveryState;
  clientId?: string;
  error?: string;
}

export type Status = 'idle' | 'connecting' | 'online' | 'offline' | 'forbidden';

export interface Snapshot {
  status: Status;
  messages: ChatMessage[];
}

interface Pending {
  clientId: string;
  text: string;
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
}

/** How long a sent message may wait for its `ack` before the socket is presumed dead. */
const ACK_TIMEOUT_MS = 8000;
const MAX_BACKOFF_MS = 10000;

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
    return { status: this.status, messages: this.messages };
  }

  /** Sends a customer message: shown at once as "sending", stored when acknowledged. */
  async send(text: string, language: Lang): Promise<void> {
    const trimmed = text.trim();
    if (!trimmed) return;
    if (!this.saved && !(await this.start(language))) return;
    const saved = this.saved;
    if (!saved) return;
    saved.counter += 1;
    const clientId = `w-${saved.conversationId.slice(-8)}-${saved.counter}-${Math.random().toString(36).slice(2, 8)}`;
    saved.outbox.push({ clientId, text: trimmed });
    this.save();
    this.messages = [...this.messages, { key: clientId, author: 'customer', text: trimmed, state: 'sending', clientId }];
    this.emit();
    if (this.socket?.readyState === WebSocket.OPEN) this.transmit({ clientId, text: trimmed });
    else if (!this.socket) this.connect();
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
    this.socket?.send(JSON.stringify({ type: 'message', client_id: p.clientId, text: p.text }));
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
    let frame: { type?: string; client_id?: string; seq?: number; code?: string; message?: ServerMessage | string };
    try {
      frame = JSON.parse(data) as typeof frame;
    } catch {
      return;
    }
    if (frame.type === 'ack' && frame.client_id) {
      this.stored(frame.client_id, frame.seq);
    } else if (frame.type === 'message' && typeof frame.message === 'object') {
      this.incoming(frame.message);
    } else if (frame.type === 'error' && frame.client_id) {
      this.dropFromOutbox(frame.client_id);
      this.messages = this.messages.map((m) =>
        m.clientId === frame.client_id ? { ...m, state: 'failed', error: frame.code } : m,
      );
      this.emit();
    }
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
    this.messages = [...this.messages, { key: `s${m.seq}`, seq: m.seq, author: m.author, text: m.text, state: 'stored', clientId }];
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
