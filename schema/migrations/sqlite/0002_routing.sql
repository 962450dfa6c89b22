-- Routing: agents' skills, capacity and presence; tickets with their history and notes;
-- versioned routing rules.

CREATE TABLE agent_routing (
    agent_id   TEXT PRIMARY KEY NOT NULL REFERENCES agents(id),
    skills     TEXT NOT NULL,          -- JSON object: skill -> level
    capacity   TEXT NOT NULL,          -- JSON: {"limits": {channel: n}, "exclusive": [channel]}
    presence   TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE tickets (
    id                 TEXT PRIMARY KEY NOT NULL,
    conversation_id    TEXT NOT NULL REFERENCES conversations(id),
    channel            TEXT NOT NULL,
    status             TEXT NOT NULL,
    priority           BIGINT NOT NULL,
    queue              TEXT NOT NULL,
    skills             TEXT NOT NULL,  -- JSON array of {skill, level}
    escalation         TEXT NOT NULL,  -- JSON array of steps not yet taken
    tags               TEXT NOT NULL,  -- JSON array
    rule               TEXT,
    assignee_id        TEXT REFERENCES agents(id),
    offered_to         TEXT REFERENCES agents(id),
    offer_expires_at   BIGINT,
    queued_at          BIGINT NOT NULL,
    first_response_due BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
-- At most one open ticket per conversation.
CREATE UNIQUE INDEX tickets_one_open ON tickets(conversation_id) WHERE status NOT IN ('resolved', 'closed');
CREATE INDEX tickets_status ON tickets(status, queued_at);
CREATE INDEX tickets_conversation ON tickets(conversation_id, created_at);

CREATE TABLE ticket_events (
    id        TEXT PRIMARY KEY NOT NULL,
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    actor     TEXT NOT NULL,             -- agent | system | customer
    actor_id  TEXT REFERENCES agents(id),
    kind      TEXT NOT NULL,
    detail    TEXT NOT NULL,             -- JSON
    at        BIGINT NOT NULL
);
CREATE INDEX ticket_events_ticket ON ticket_events(ticket_id, at, id);

CREATE TABLE ticket_notes (
    id         TEXT PRIMARY KEY NOT NULL,
    ticket_id  TEXT NOT NULL REFERENCES tickets(id),
    author_id  TEXT NOT NULL REFERENCES agents(id),
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ticket_notes_ticket ON ticket_notes(ticket_id, created_at, id);

CREATE TABLE routing_rules (
    version    BIGINT PRIMARY KEY NOT NULL,
    rules      TEXT NOT NULL,            -- JSON
    created_by TEXT NOT NULL REFERENCES agents(id),
    created_at BIGINT NOT NULL
);
