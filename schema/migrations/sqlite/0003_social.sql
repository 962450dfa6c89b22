-- Outbound delivery through platforms (social now, e-mail later): the messages table is the
-- queue, so a reply is queued in the same transaction that stores it. Media references on
-- messages. Social platform accounts, their secrets encrypted by the hub.

ALTER TABLE messages ADD COLUMN media TEXT;              -- JSON array of media references
ALTER TABLE messages ADD COLUMN template TEXT;           -- JSON {name, language}: send this instead
ALTER TABLE messages ADD COLUMN delivery_status TEXT;    -- queued | sent | delivered | read | failed
ALTER TABLE messages ADD COLUMN delivery_error TEXT;
ALTER TABLE messages ADD COLUMN external_id TEXT;        -- the platform's id for a message we sent
ALTER TABLE messages ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN next_attempt_at BIGINT;
CREATE INDEX messages_outbox ON messages(next_attempt_at) WHERE delivery_status = 'queued';
CREATE INDEX messages_external ON messages(external_id) WHERE external_id IS NOT NULL;

CREATE TABLE social_accounts (
    id          TEXT PRIMARY KEY NOT NULL,
    channel     TEXT NOT NULL,           -- messenger | whatsapp | telegram
    account_id  TEXT NOT NULL,           -- page id | phone-number id | the bot's name here
    name        TEXT NOT NULL,
    secrets     TEXT NOT NULL,           -- encrypted by the hub; never returned by the API
    created_by  TEXT NOT NULL REFERENCES agents(id),
    created_at  BIGINT NOT NULL,
    UNIQUE (channel, account_id)
);
