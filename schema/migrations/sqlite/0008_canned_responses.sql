-- Canned responses: reply snippets agents insert with `/shortcut`, global (queue NULL) or for
-- the agents of one queue, in one language. `search` is shortcut, title and body folded (lower
-- case, no accents) by the store, so a search matches alike on SQLite and PostgreSQL.

CREATE TABLE canned_responses (
    id         TEXT PRIMARY KEY NOT NULL,
    queue      TEXT,                     -- NULL: every agent
    shortcut   TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,            -- card numbers already masked
    language   TEXT NOT NULL,
    search     TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES agents(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- One shortcut per scope and language.
CREATE UNIQUE INDEX canned_responses_shortcut ON canned_responses (COALESCE(queue, ''), language, shortcut);
CREATE INDEX canned_responses_order ON canned_responses (shortcut, id);
