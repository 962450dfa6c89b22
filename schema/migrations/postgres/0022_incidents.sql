-- The incident feed (outages and degradations): what staff enter or Alertmanager sends. The area
-- an incident affects is one row per postcode or radio cell in `incident_areas`, so "the live
-- incidents at this postcode" is an index lookup. An alert's fingerprint keys its incident: a
-- redelivered alert updates it, never opens a second one.
CREATE TABLE incidents (
    id          TEXT PRIMARY KEY NOT NULL,
    title       TEXT NOT NULL,
    description TEXT NOT NULL,
    texts       TEXT NOT NULL,
    services    TEXT NOT NULL,
    status      TEXT NOT NULL,
    source      TEXT NOT NULL,
    fingerprint TEXT,
    started_at  BIGINT NOT NULL,
    eta         BIGINT,
    resolved_at BIGINT,
    created_by  TEXT REFERENCES agents(id),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX incidents_fingerprint ON incidents(fingerprint);
CREATE INDEX incidents_by_status ON incidents(status, started_at);

CREATE TABLE incident_areas (
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (incident_id, kind, value)
);
CREATE INDEX incident_areas_by_value ON incident_areas(kind, value);

-- Line tests staff run from a conversation (through the BSS), on the conversation's timeline.
CREATE TABLE diagnostics (
    id              TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    product_id      TEXT NOT NULL,
    test_id         TEXT NOT NULL,
    verdict         TEXT NOT NULL,
    summary         TEXT NOT NULL,
    measures        TEXT NOT NULL,
    run_by          TEXT NOT NULL REFERENCES agents(id),
    finished_at     BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX diagnostics_by_conversation ON diagnostics(conversation_id, created_at);
