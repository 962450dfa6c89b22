-- Voice (SIP): agents' softphone identities and one record per call.

-- An agent's SIP digest identity. Only HA1 = MD5(username:realm:password) is kept, never the
-- password; it is only valid for the realm it was computed with.
CREATE TABLE sip_identities (
    agent_id    TEXT PRIMARY KEY NOT NULL REFERENCES agents(id),
    username    TEXT NOT NULL UNIQUE,
    realm       TEXT NOT NULL,
    ha1         TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- One customer call through the hub, from INVITE to the end.
CREATE TABLE voice_calls (
    id               TEXT PRIMARY KEY NOT NULL,   -- the SIP library's call id (UUIDv7)
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    ticket_id        TEXT,
    caller           TEXT NOT NULL,               -- the caller's number (or From URI)
    dialled          TEXT NOT NULL,               -- the support number called
    status           TEXT NOT NULL,               -- queued | connected | ended | abandoned | callback
    answered_by      TEXT REFERENCES agents(id),
    started_at       BIGINT NOT NULL,
    answered_at      BIGINT,
    ended_at         BIGINT,
    ended_by         TEXT,                        -- caller | agent | hub | timeout
    duration_ms      BIGINT,                      -- talk time; NULL if never connected
    disposition      TEXT                         -- the agent's wrap-up code
);
CREATE INDEX voice_calls_conversation ON voice_calls(conversation_id, started_at);
CREATE INDEX voice_calls_ticket ON voice_calls(ticket_id);
