-- SLA policies (issue 18): the policies and calendars as one versioned document, and each
-- ticket's clocks, kept so a timer can wake at the next deadline and record each breach once.
CREATE TABLE sla_versions (
    version     BIGINT PRIMARY KEY NOT NULL,
    config      TEXT NOT NULL,            -- JSON: calendars, policies, warning percent
    created_by  TEXT NOT NULL REFERENCES agents(id),
    created_at  BIGINT NOT NULL
);

-- One row per ticket and target (first_response, resolution) while a policy applies. A cycle is
-- told apart by `started_at` (a reopened ticket whose clock restarts begins a new one).
CREATE TABLE ticket_sla (
    ticket_id   TEXT NOT NULL REFERENCES tickets(id),
    target      TEXT NOT NULL,
    queue       TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    due_at      BIGINT,                   -- NULL: paused, met, or no room in the calendar
    warn_at     BIGINT,                   -- NULL: no warning to give
    warned_at   BIGINT,
    breached_at BIGINT,
    PRIMARY KEY (ticket_id, target)
);
CREATE INDEX ticket_sla_due ON ticket_sla(due_at);
CREATE INDEX ticket_sla_warn ON ticket_sla(warn_at);
