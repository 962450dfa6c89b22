-- The bot's intents as trainers edit them (seeded by the hub from the built-in set when the table
-- is empty), and whether the customer said a bot answer did not help.

CREATE TABLE bot_intents (
    name         TEXT PRIMARY KEY NOT NULL,  -- lower-case, e.g. billing_question
    position     BIGINT NOT NULL,            -- the order they are listed and matched in
    examples     TEXT NOT NULL,              -- JSON {"en": [...], "es": [...], "pt": [...]}
    always_human BIGINT NOT NULL,            -- 1: a person always handles it
    skills       TEXT NOT NULL,              -- JSON [["billing", 4], ...]
    updated_by   TEXT REFERENCES agents(id), -- NULL: the built-in set
    updated_at   BIGINT NOT NULL
);

-- 1 when the customer's next message said the answer did not help ("that didn't help").
ALTER TABLE bot_answers ADD COLUMN unhelpful BIGINT NOT NULL DEFAULT 0;

-- Trainers read a conversation a question came from: found by its conversation, not a full scan.
CREATE INDEX bot_unanswered_conversation ON bot_unanswered(conversation_id);
