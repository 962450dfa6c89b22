// The supervisors' wall as data: the `/ws/supervisor` frames (docs/api.md), parsed so that a row
// whose figures did not change keeps the very same object, so memoised rows skip re-rendering
// (200 agents and 30 queues arrive every second; usually few of them change).

export interface PresenceCounts {
  available: number;
  busy: number;
  away: number;
  offline: number;
}

export interface SkillCounts extends PresenceCounts {
  skill: string;
}

export interface WallQueue {
  queue: string;
  waiting: number;
  offered: number;
  longest_wait_ms: number;
  available_agents: number;
  sla_at_risk: number;
  sla_breached: number;
  first_response_secs: number | null;
  agents: PresenceCounts;
  skills: SkillCounts[];
}

export interface WallTicket {
  id: string;
  channel: string;
  state: 'offered' | 'assigned';
}

export interface WallAgent {
  id: string;
  name: string | null;
  presence: string;
  load: Record<string, number>;
  capacity: Record<string, number>;
  tickets: WallTicket[];
  tickets_omitted: number;
}

export interface WallSnapshot {
  at_ms: number;
  queues: WallQueue[];
  skills: SkillCounts[];
  agents: WallAgent[];
  agents_omitted: number;
}

export const PRESENCES = ['available', 'busy', 'away', 'offline'] as const;

/** The rows of `next`, each replaced by the previous object when its JSON is the same. */
function reuse<T>(prev: Map<string, { sig: string; row: T }>, rows: T[], key: (row: T) => string): { rows: T[]; index: Map<string, { sig: string; row: T }> } {
  const index = new Map<string, { sig: string; row: T }>();
  const out = rows.map((row) => {
    const sig = JSON.stringify(row);
    const k = key(row);
    const old = prev.get(k);
    const kept = old && old.sig === sig ? old.row : row;
    index.set(k, { sig, row: kept });
    return kept;
  });
  return { rows: out, index };
}

/** Turns frames into snapshots whose unchanged rows are the previous objects. */
export class WallState {
  snapshot: WallSnapshot | null = null;
  private queues = new Map<string, { sig: string; row: WallQueue }>();
  private agents = new Map<string, { sig: string; row: WallAgent }>();
  private skills = new Map<string, { sig: string; row: SkillCounts }>();

  /** Applies one frame's text; false when it is not a wall frame. */
  apply(text: string): boolean {
    let frame: Partial<WallSnapshot> & { type?: string };
    try {
      frame = JSON.parse(text) as typeof frame;
    } catch {
      return false;
    }
    if (frame.type !== 'queues' || !Array.isArray(frame.queues)) return false;
    const queues = reuse(this.queues, frame.queues, (q) => q.queue);
    const agents = reuse(this.agents, Array.isArray(frame.agents) ? frame.agents : [], (a) => a.id);
    const skills = reuse(this.skills, Array.isArray(frame.skills) ? frame.skills : [], (s) => s.skill);
    this.queues = queues.index;
    this.agents = agents.index;
    this.skills = skills.index;
    this.snapshot = {
      at_ms: frame.at_ms ?? Date.now(),
      queues: queues.rows,
      skills: skills.rows,
      agents: agents.rows,
      agents_omitted: frame.agents_omitted ?? 0,
    };
    return true;
  }
}

export type Connection = 'connecting' | 'live' | 'offline';

/** The `/ws/supervisor` socket, reconnecting with back-off; 4401 (session gone) signs out. */
export class WallFeed {
  private socket: WebSocket | null = null;
  private closed = false;
  private backoff = 500;
  connection: Connection = 'connecting';

  constructor(
    private readonly token: string,
    private readonly onFrame: (text: string) => void,
    private readonly onConnection: (c: Connection) => void,
    private readonly onUnauthorized: () => void,
  ) {}

  start(): void {
    this.connect();
  }

  stop(): void {
    this.closed = true;
    this.socket?.close();
  }

  private set(c: Connection): void {
    this.connection = c;
    this.onConnection(c);
  }

  private connect(): void {
    if (this.closed) return;
    const url = new URL('/ws/supervisor', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', this.token);
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => {
      this.backoff = 500;
      this.set('live');
    };
    socket.onmessage = (e) => this.onFrame(String(e.data));
    socket.onclose = (e) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (e.code === 4401) {
        this.onUnauthorized();
        return;
      }
      if (this.closed) return;
      this.set('offline');
      window.setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    };
  }
}

/** `m:ss` (or `h:mm:ss`) for a wait in ms. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
