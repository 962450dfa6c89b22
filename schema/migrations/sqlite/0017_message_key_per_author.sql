-- A message's idempotency key (`channel_message_id`, the client's id) is scoped to its author:
-- unique per (conversation, author kind, author id, key), no longer per (conversation, key), so a
-- customer who sends the ids an agent will use cannot make the agent's messages vanish as
-- "duplicates". Customers, the bot and the system have no author id: '' stands for it.
--
-- SQLite cannot drop a table constraint: the table is rebuilt (the 12-step procedure of
-- https://www.sqlite.org/lang_altertable.html). The store runs migrations with foreign keys off and
-- checks them (`PRAGMA foreign_key_check`) before turning them back on, so the tables that
-- reference messages keep pointing at the rebuilt one. Every stored row satisfied the old, wider
-- uniqueness, so it satisfies the new one: the copy cannot fail.

CREATE TABLE messages_rebuilt (
    id                 TEXT PRIMARY KEY NOT NULL,
    conversation_id    TEXT NOT NULL REFERENCES conversations(id),
    seq                BIGINT NOT NULL,
    author             TEXT NOT NULL,
    author_id          TEXT REFERENCES agents(id),
    body               TEXT NOT NULL,
    channel_message_id TEXT,
    created_at         BIGINT NOT NULL,
    media              TEXT,
    template           TEXT,
    delivery_status    TEXT,
    delivery_error     TEXT,
    external_id        TEXT,
    attempts           BIGINT NOT NULL DEFAULT 0,
    next_attempt_at    BIGINT,
    UNIQUE (conversation_id, seq)
);

INSERT INTO messages_rebuilt (id, conversation_id, seq, author, author_id, body, channel_message_id, created_at,
    media, template, delivery_status, delivery_error, external_id, attempts, next_attempt_at)
SELECT id, conversation_id, seq, author, author_id, body, channel_message_id, created_at,
    media, template, delivery_status, delivery_error, external_id, attempts, next_attempt_at
FROM messages;

DROP TABLE messages;
ALTER TABLE messages_rebuilt RENAME TO messages;

CREATE INDEX messages_outbox ON messages(next_attempt_at) WHERE delivery_status = 'queued';
CREATE INDEX messages_external ON messages(external_id) WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX messages_idempotency
    ON messages(conversation_id, author, (COALESCE(author_id, '')), channel_message_id);
