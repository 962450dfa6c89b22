// The hub's REST API as the workspace uses it. The staff token travels in the Authorization
// header only (never in a URL, except the websocket's, where browsers cannot set headers).

import { saveBlob } from '../shared/save';
import { askStepUp } from './StepUp';

export interface Agent {
  id: string;
  email: string;
  name: string;
  roles: string[];
}

export interface Conversation {
  id: string;
  customer_id: string;
  channel: string;
  status: string;
  assignee_id: string | null;
  language: string;
  last_seq: number;
  created_at: string;
  updated_at: string;
}

/** `GET /api/v1/conversations/{id}`: e-mail conversations carry their subject. */
export interface ConversationDetail extends Conversation {
  subject?: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** One of a customer's conversations, in their profile. */
export interface CustomerConversation extends Conversation {
  subject: string | null;
  last_message: { author: Message['author']; text: string; created_at: string } | null;
  /** The latest ticket and how it ended (`null`: never handed to staff). */
  outcome?: { ticket_id: string; status: string; resolution: string | null } | null;
}

/** A customer's handle: what identifies them on arrival, and where it was first seen. */
export interface CustomerHandle {
  kind: string;
  value: string;
  verified: boolean;
  channel: string;
  handle: string;
  added_by?: string | null;
  created_at?: string;
}

/** A marketing consent, with when and by whom it last changed. */
export interface Consent {
  kind: string;
  granted: boolean;
  changed_at: string;
  changed_by: string | null;
}

/** A customer found by `GET /api/v1/customers/search`. */
export interface CustomerSummary {
  id: string;
  name: string | null;
  email: string | null;
  phone: string | null;
  tier: string;
  bss_customer_id: string | null;
  created_at: string;
}

/** Contact details to change: absent is unchanged, `null` clears. */
export interface CustomerPatch {
  name?: string | null;
  email?: string | null;
  phone?: string | null;
  language?: string;
  consents?: Record<string, boolean>;
}

/** `GET /api/v1/customers/{id}`: who the customer is, their handles, their conversations. */
export interface CustomerProfile {
  id: string;
  name: string | null;
  email: string | null;
  language: string;
  tier: string;
  handles: CustomerHandle[];
  phone?: string | null;
  consents?: Consent[];
  merged_into?: string | null;
  erased?: boolean;
  bss_customer_id?: string | null;
  created_at: string;
  conversations: Page<CustomerConversation>;
  open_tickets?: { id: string; conversation_id: string; channel: string; status: string; queue: string }[];
  orders?: { status: 'ok' | 'not_linked' | 'unavailable'; items: { id: string; state: string; created_at: string }[]; message: string | null };
}

export interface Media {
  kind: string;
  reference: string;
  mime_type?: string;
  file_name?: string;
}

export interface Message {
  id: string;
  conversation_id: string;
  seq: number;
  author: 'customer' | 'agent' | 'bot' | 'system';
  author_id: string | null;
  text: string;
  channel_message_id: string | null;
  media?: Media[];
  delivery_status?: string;
  delivery_error?: string;
  created_at: string;
}

export interface Ticket {
  id: string;
  conversation_id: string;
  channel: string;
  status: string;
  priority: number;
  queue: string;
  skills: { skill: string; level: number }[];
  tags: string[];
  summary?: string;
  assignee_id: string | null;
  offered_to: string | null;
  offer_expires_at: string | null;
  queued_at: string;
  first_response_due: string | null;
  created_at: string;
  updated_at: string;
}

/** One SLA clock of a ticket (`GET /api/v1/tickets/{id}/sla`). */
export interface SlaClock {
  target: 'first_response' | 'resolution';
  target_secs: number;
  started_at: string;
  due_at: string | null;
  stopped_at: string | null;
  paused: boolean;
  remaining_secs: number;
  state: 'running' | 'paused' | 'met' | 'breached';
  breached_at: string | null;
}

export interface TicketNote {
  ticket_id: string;
  author_id: string;
  text: string;
  created_at: string;
}

export interface TicketDetail {
  ticket: Ticket;
  notes: TicketNote[];
}

export interface Session {
  token: string;
  expires_at: string;
  agent: Agent;
  /** The member's role requires two-step sign-in and they have none: the session can only set
   * it up. */
  mfa_enrolment_required?: boolean;
}

/** The password was right; the member set up two-step sign-in: a code is needed. */
export interface MfaChallenge {
  mfa_required: true;
  challenge: string;
  expires_at: string;
}

export interface PublicConfig {
  demo: boolean;
  demo_accounts: { email: string; name: string; roles: string[] }[];
  demo_password: string | null;
  sign_in_methods: string[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The request field at fault, when the hub names one (422). */
    readonly field?: string,
  ) {
    super(message);
  }
}

export class Api {
  constructor(
    private readonly token: string,
    private readonly onUnauthorized: () => void,
    /** Called on a 403 (the consoles re-check the roles then). */
    private readonly onForbidden?: () => void,
  ) {}

  /** A conversation's file (e-mail attachment, web chat upload), fetched with the session's
   * token and handed to the browser as a download. */
  async download(reference: string, name: string): Promise<void> {
    if (!reference.startsWith('/api/v1/attachments/')) throw new ApiError(400, 'invalid_path', reference);
    await this.saveFrom('GET', reference, name);
  }

  /** A report the hub builds on a GET (a CSV export), handed to the browser as a download. */
  async downloadGet(path: string, name: string): Promise<void> {
    if (!path.startsWith('/api/v1/reports/')) throw new ApiError(400, 'invalid_path', path);
    await this.saveFrom('GET', path, name);
  }

  /** A file the hub builds on a POST (a customer's export), handed to the browser as a download. */
  async downloadPost(path: string, name: string): Promise<void> {
    if (!path.startsWith('/api/v1/')) throw new ApiError(400, 'invalid_path', path);
    await this.saveFrom('POST', path, name);
  }

  private async saveFrom(method: string, path: string, name: string): Promise<void> {
    const response = await fetch(path, { method, headers: { authorization: `Bearer ${this.token}` } });
    if (response.status === 401) this.onUnauthorized();
    if (!response.ok) {
      await parse(response);
      throw new ApiError(response.status, 'download_failed', response.statusText);
    }
    saveBlob(await response.blob(), name);
  }

  /** A call to the hub. A sensitive action answered 401 `step_up_required` opens the step-up
   * dialog and, once the member confirmed who they are, is sent again (once); cancelled, it
   * fails with that answer. */
  async request<T>(method: string, path: string, body?: unknown, retried = false, extra: Record<string, string> = {}): Promise<T> {
    const headers: Record<string, string> = { ...extra, authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (response.status === 401) {
      const code = await errorCode(response.clone());
      if (code === 'step_up_required') {
        if (retried) return parse<T>(response);
        try {
          await askStepUp(this.token);
        } catch {
          return parse<T>(response);
        }
        return this.request<T>(method, path, body, true, extra);
      }
      this.onUnauthorized();
    }
    if (response.status === 403) this.onForbidden?.();
    return parse<T>(response);
  }

  async conversations(max: number): Promise<Conversation[]> {
    const all: Conversation[] = [];
    let cursor: string | null = null;
    do {
      const q = new URLSearchParams({ limit: '200' });
      if (cursor) q.set('cursor', cursor);
      const page: { items: Conversation[]; next_cursor: string | null } = await this.request('GET', `/api/v1/conversations?${q}`);
      all.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && all.length < max);
    return all;
  }

  async messages(conversation: string, afterSeq = 0): Promise<Message[]> {
    const all: Message[] = [];
    let after = afterSeq;
    for (;;) {
      const page: { items: Message[] } | Message[] = await this.request(
        'GET',
        `/api/v1/conversations/${conversation}/messages?after_seq=${after}&limit=200`,
      );
      const items = Array.isArray(page) ? page : page.items;
      all.push(...items);
      if (items.length < 200) return all;
      after = items[items.length - 1].seq;
    }
  }

  customer(id: string, limit = 20): Promise<CustomerProfile> {
    return this.request('GET', `/api/v1/customers/${id}?limit=${limit}`);
  }

  updateCustomer(id: string, patch: CustomerPatch): Promise<void> {
    return this.request('PATCH', `/api/v1/customers/${id}`, patch);
  }

  linkHandle(id: string, channel: string, handle: string): Promise<CustomerHandle> {
    return this.request('POST', `/api/v1/customers/${id}/handles`, { channel, handle });
  }

  unlinkHandle(id: string, channel: string, value: string): Promise<void> {
    return this.request('DELETE', `/api/v1/customers/${id}/handles/${encodeURIComponent(channel)}/${encodeURIComponent(value)}`);
  }

  mergeCustomer(id: string, from: string): Promise<{ conversations: number; handles: number }> {
    return this.request('POST', `/api/v1/customers/${id}/merge`, { from });
  }

  searchCustomers(q: string): Promise<{ items: CustomerSummary[]; by_account: CustomerSummary[]; next_cursor: string | null }> {
    return this.request('GET', `/api/v1/customers/search?${new URLSearchParams({ q, limit: '10' })}`);
  }

  customerConversations(id: string, cursor: string, limit = 20): Promise<Page<CustomerConversation>> {
    return this.request('GET', `/api/v1/customers/${id}/conversations?${new URLSearchParams({ limit: String(limit), cursor })}`);
  }

  conversation(id: string): Promise<ConversationDetail> {
    return this.request('GET', `/api/v1/conversations/${id}`);
  }

  ticketSla(id: string): Promise<{ version: number; clocks: SlaClock[] }> {
    return this.request('GET', `/api/v1/tickets/${id}/sla`);
  }

  tickets(status: string): Promise<Ticket[]> {
    return this.request('GET', `/api/v1/tickets?status=${status}&limit=200`);
  }
}

/** The error code of a response, if its body is the hub's error JSON. */
async function errorCode(response: Response): Promise<string | undefined> {
  try {
    return ((await response.json()) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

export async function parse<T>(response: Response): Promise<T> {
  const text = await response.text();
  const body: unknown = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = (body as { error?: { code?: string; message?: string; field?: string | null } } | null)?.error;
    throw new ApiError(response.status, error?.code ?? 'http_error', error?.message ?? response.statusText, error?.field ?? undefined);
  }
  return body as T;
}

/** Password sign-in. Returns the session, or the challenge of the second step. */
export async function signIn(email: string, password: string): Promise<Session | MfaChallenge> {
  const response = await fetch('/api/v1/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  return parse<Session | MfaChallenge>(response);
}

/** The second step of a sign-in: a code from the authenticator app, or a recovery code. */
export async function signInSecondFactor(challenge: string, code: string, recovery: boolean): Promise<Session> {
  const response = await fetch('/api/v1/auth/login/mfa', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(recovery ? { challenge, recovery_code: code } : { challenge, code }),
  });
  return parse<Session>(response);
}

/** `GET /api/v1/auth/methods`: whether the password form works, and single sign-on if offered. */
export interface AuthMethods {
  password: boolean;
  sso: { provider_name: string; start_url: string } | null;
}

export async function authMethods(): Promise<AuthMethods> {
  return parse<AuthMethods>(await fetch('/api/v1/auth/methods'));
}

/** Single sign-on's last step: the one-time code the hub left in the URL fragment, for a session. */
export async function exchangeSsoCode(code: string): Promise<Session> {
  const response = await fetch('/api/v1/auth/sso/exchange', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code }),
  });
  return parse<Session>(response);
}

export async function publicConfig(): Promise<PublicConfig> {
  return parse<PublicConfig>(await fetch('/web/config.json'));
}
