-- Files customers send in the web chat (images, PDF). A row exists from the upload on; the
-- message that carries it names it in its media, and `claimed` is set when a message names it.
-- Files no message claimed are deleted after a day.
CREATE TABLE chat_uploads (
    id              TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    file_name       TEXT,
    content_type    TEXT NOT NULL,
    size            BIGINT NOT NULL,
    content         BYTEA NOT NULL,
    created_at      BIGINT NOT NULL,
    claimed         BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX chat_uploads_conversation ON chat_uploads(conversation_id);
CREATE INDEX chat_uploads_unclaimed ON chat_uploads(created_at) WHERE NOT claimed;
