-- Reports: incremental rollups, written in the same transaction as the ticket, message or
-- conversation write they count (docs/reports.md defines every measure).

-- When the ticket was opened (created, or last reopened): resolution time runs from here.
ALTER TABLE tickets ADD COLUMN opened_at BIGINT;
-- The first agent reply on the ticket (or, for a call, the agent answering it).
ALTER TABLE tickets ADD COLUMN first_response_at BIGINT;
-- When the assignee's current active stretch began (assigned and not waiting for the customer).
ALTER TABLE tickets ADD COLUMN active_since BIGINT;
-- Tickets stored before this migration: what the counting of their next changes needs.
UPDATE tickets SET
    opened_at = COALESCE((SELECT MAX(e.at) FROM ticket_events e WHERE e.ticket_id = tickets.id AND e.kind = 'reopened'),
                         created_at),
    first_response_at = (SELECT MIN(m.created_at) FROM messages m WHERE m.conversation_id = tickets.conversation_id
                         AND m.author = 'agent' AND m.created_at >= tickets.created_at),
    active_since = CASE WHEN status = 'assigned' THEN
        (SELECT MAX(e.at) FROM ticket_events e WHERE e.ticket_id = tickets.id
         AND e.kind IN ('assigned', 'customer_replied', 'transferred', 'reopened')) END;
-- Rollups count from here on; `switchboard reports backfill` counts what came before, once.
INSERT INTO settings (key, value) VALUES ('reports.counted_since', CAST(CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT) AS TEXT));

-- Counters per 15-minute UTC bucket and every dimension; '' stands for "none" (no queue, no
-- agent). Read when a report filters on two dimensions or more.
CREATE TABLE report_rollups (
    bucket_at         BIGINT NOT NULL,
    channel           TEXT NOT NULL,
    queue             TEXT NOT NULL,
    agent_id          TEXT NOT NULL,
    language          TEXT NOT NULL,
    tier              TEXT NOT NULL,
    conversations     BIGINT NOT NULL DEFAULT 0,
    new_tickets       BIGINT NOT NULL DEFAULT 0,
    resolved          BIGINT NOT NULL DEFAULT 0,
    reopened          BIGINT NOT NULL DEFAULT 0,
    abandoned         BIGINT NOT NULL DEFAULT 0,
    transfers         BIGINT NOT NULL DEFAULT 0,
    first_responses   BIGINT NOT NULL DEFAULT 0,
    first_response_ms BIGINT NOT NULL DEFAULT 0,
    sla_targeted      BIGINT NOT NULL DEFAULT 0,
    sla_met           BIGINT NOT NULL DEFAULT 0,
    resolution_ms     BIGINT NOT NULL DEFAULT 0,
    handled           BIGINT NOT NULL DEFAULT 0,
    handle_ms         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_at, channel, queue, agent_id, language, tier)
);

-- Log-scale histograms of durations (first response, resolution) per bucket and dimension.
CREATE TABLE report_durations (
    bucket_at BIGINT NOT NULL,
    measure   TEXT NOT NULL,
    channel   TEXT NOT NULL,
    queue     TEXT NOT NULL,
    agent_id  TEXT NOT NULL,
    language  TEXT NOT NULL,
    tier      TEXT NOT NULL,
    bin       BIGINT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (bucket_at, measure, channel, queue, agent_id, language, tier, bin)
);

-- The same counters per bucket and ONE dimension (`dim`: '' for the totals, or channel, queue,
-- agent, language, tier; `value` its value): what a report with no filter or one filter reads,
-- a few rows per bucket whatever the traffic.
CREATE TABLE report_slices (
    dim               TEXT NOT NULL,
    value             TEXT NOT NULL,
    bucket_at         BIGINT NOT NULL,
    conversations     BIGINT NOT NULL DEFAULT 0,
    new_tickets       BIGINT NOT NULL DEFAULT 0,
    resolved          BIGINT NOT NULL DEFAULT 0,
    reopened          BIGINT NOT NULL DEFAULT 0,
    abandoned         BIGINT NOT NULL DEFAULT 0,
    transfers         BIGINT NOT NULL DEFAULT 0,
    first_responses   BIGINT NOT NULL DEFAULT 0,
    first_response_ms BIGINT NOT NULL DEFAULT 0,
    sla_targeted      BIGINT NOT NULL DEFAULT 0,
    sla_met           BIGINT NOT NULL DEFAULT 0,
    resolution_ms     BIGINT NOT NULL DEFAULT 0,
    handled           BIGINT NOT NULL DEFAULT 0,
    handle_ms         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (dim, value, bucket_at)
);

CREATE TABLE report_slice_durations (
    dim       TEXT NOT NULL,
    value     TEXT NOT NULL,
    bucket_at BIGINT NOT NULL,
    measure   TEXT NOT NULL,
    bin       BIGINT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (dim, value, bucket_at, measure, bin)
);
