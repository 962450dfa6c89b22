-- The knowledge base the bot answers from, with every version kept; the bot's answers with the
-- trainers' verdicts; and the questions it could not answer.

CREATE TABLE kb_documents (
    id         TEXT PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL,            -- article | qa
    language   TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,            -- Markdown (articles) or the answer (Q&A pairs)
    questions  TEXT NOT NULL,            -- JSON array: the phrasings of a Q&A pair
    tags       TEXT NOT NULL,            -- JSON array
    status     TEXT NOT NULL,            -- draft | published | archived
    version    BIGINT NOT NULL,
    source     TEXT,                     -- where an imported document came from: import is idempotent
    updated_by TEXT REFERENCES agents(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX kb_documents_source ON kb_documents(source);
CREATE INDEX kb_documents_status ON kb_documents(status, updated_at);

CREATE TABLE kb_document_versions (
    document_id TEXT NOT NULL REFERENCES kb_documents(id),
    version     BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    language    TEXT NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    questions   TEXT NOT NULL,
    tags        TEXT NOT NULL,
    status      TEXT NOT NULL,
    edited_by   TEXT REFERENCES agents(id),
    edited_at   BIGINT NOT NULL,
    PRIMARY KEY (document_id, version)
);

-- One row per bot answer message.
CREATE TABLE bot_answers (
    message_id      TEXT PRIMARY KEY NOT NULL REFERENCES messages(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    question        TEXT NOT NULL,
    language        TEXT NOT NULL,
    intent          TEXT,
    document_id     TEXT NOT NULL REFERENCES kb_documents(id),
    confidence      DOUBLE PRECISION NOT NULL,
    verdict         TEXT,                -- right | wrong, set by a trainer
    judged_by       TEXT REFERENCES agents(id),
    judged_at       BIGINT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX bot_answers_conversation ON bot_answers(conversation_id, created_at);

-- Customer questions the bot could not answer (or answered wrongly), for trainers.
CREATE TABLE bot_unanswered (
    id                   TEXT PRIMARY KEY NOT NULL,
    conversation_id      TEXT NOT NULL REFERENCES conversations(id),
    message_id           TEXT NOT NULL UNIQUE REFERENCES messages(id),
    question             TEXT NOT NULL,
    language             TEXT NOT NULL,
    reason               TEXT NOT NULL,  -- low_confidence | repeated_failure | marked_wrong
    resolved_document_id TEXT REFERENCES kb_documents(id),
    resolved_by          TEXT REFERENCES agents(id),
    created_at           BIGINT NOT NULL,
    resolved_at          BIGINT
);
CREATE INDEX bot_unanswered_open ON bot_unanswered(resolved_at, created_at);

-- What the bot tells the agent when it hands a conversation over.
ALTER TABLE tickets ADD COLUMN summary TEXT;

-- The embedding vectors of each document's current version, so a restart does not re-embed the
-- whole knowledge base: little-endian f32 rows, one per text the index embeds.
CREATE TABLE kb_embeddings (
    document_id TEXT PRIMARY KEY NOT NULL REFERENCES kb_documents(id),
    version     BIGINT NOT NULL,
    model       TEXT NOT NULL,
    vectors     BYTEA NOT NULL
);
