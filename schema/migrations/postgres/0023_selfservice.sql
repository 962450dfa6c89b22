-- Self-service through the bot: where each bot conversation stands with account questions
-- (awaiting the customer's account number, their choice of contact, the one-time code, a plan
-- choice or a confirmation; verified for a BSS customer until a time; locked after wrong codes).
-- `state` is the hub's JSON (services/selfservice.rs); a code is kept only as a salted SHA-256
-- digest there, never in clear. Erasure deletes the row with the customer's conversations.
CREATE TABLE selfservice_sessions (
    conversation_id TEXT PRIMARY KEY NOT NULL REFERENCES conversations(id),
    state           TEXT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- Codes sent, for the resend limits per conversation and per destination (`destination` is a
-- SHA-256 digest of the address or number, never the address). Rows older than a day are pruned
-- as new ones are written.
CREATE TABLE selfservice_sends (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    destination     TEXT NOT NULL,
    sent_at         BIGINT NOT NULL
);
CREATE INDEX selfservice_sends_conversation ON selfservice_sends(conversation_id, sent_at);
CREATE INDEX selfservice_sends_destination ON selfservice_sends(destination, sent_at);
