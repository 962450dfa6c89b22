-- Timestamps are Unix milliseconds (BIGINT); ids are UUIDv7 text.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE agents (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    roles         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled_at   BIGINT,
    created_at    BIGINT NOT NULL
);

CREATE TABLE staff_sessions (
    token_digest     TEXT PRIMARY KEY NOT NULL,
    agent_id         TEXT NOT NULL REFERENCES agents(id),
    auth_method      TEXT NOT NULL,
    authenticated_at BIGINT NOT NULL,
    last_seen_at     BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    revoked_at       BIGINT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX staff_sessions_agent ON staff_sessions(agent_id);

CREATE TABLE customers (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT,
    email      TEXT,
    language   TEXT NOT NULL,
    tier       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE customer_handles (
    channel     TEXT NOT NULL,
    handle      TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    PRIMARY KEY (channel, handle)
);
CREATE INDEX customer_handles_customer ON customer_handles(customer_id);

CREATE TABLE conversations (
    id          TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    channel     TEXT NOT NULL,
    status      TEXT NOT NULL,
    assignee_id TEXT REFERENCES agents(id),
    language    TEXT NOT NULL,
    last_seq    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX conversations_status_updated ON conversations(status, updated_at, id);
CREATE INDEX conversations_updated ON conversations(updated_at, id);
CREATE INDEX conversations_customer ON conversations(customer_id);

CREATE TABLE messages (
    id                 TEXT PRIMARY KEY NOT NULL,
    conversation_id    TEXT NOT NULL REFERENCES conversations(id),
    seq                BIGINT NOT NULL,
    author             TEXT NOT NULL,
    author_id          TEXT REFERENCES agents(id),
    body               TEXT NOT NULL,
    channel_message_id TEXT,
    created_at         BIGINT NOT NULL,
    UNIQUE (conversation_id, seq),
    UNIQUE (conversation_id, channel_message_id)
);
