-- The rollup tables again, as WITHOUT ROWID tables: each row is then stored in its primary
-- key's b-tree, so a report's range read walks one b-tree instead of looking every index entry
-- up in the table, and each upsert writes one b-tree instead of two. Measured on 311,040
-- histogram rows (90 days of one slice, inserted in random order): 0.79 s to read before, 0.19 s
-- after, and half the file. PostgreSQL keeps its heap tables (0030 there is empty).

CREATE TABLE report_rollups_new (
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
) WITHOUT ROWID;
INSERT INTO report_rollups_new (bucket_at, channel, queue, agent_id, language, tier, conversations, new_tickets, resolved, reopened, abandoned, transfers, first_responses, first_response_ms, sla_targeted, sla_met, resolution_ms, handled, handle_ms)
    SELECT bucket_at, channel, queue, agent_id, language, tier, conversations, new_tickets, resolved, reopened, abandoned, transfers, first_responses, first_response_ms, sla_targeted, sla_met, resolution_ms, handled, handle_ms FROM report_rollups;
DROP TABLE report_rollups;
ALTER TABLE report_rollups_new RENAME TO report_rollups;

CREATE TABLE report_durations_new (
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
) WITHOUT ROWID;
INSERT INTO report_durations_new (bucket_at, measure, channel, queue, agent_id, language, tier, bin, n)
    SELECT bucket_at, measure, channel, queue, agent_id, language, tier, bin, n FROM report_durations;
DROP TABLE report_durations;
ALTER TABLE report_durations_new RENAME TO report_durations;

CREATE TABLE report_slices_new (
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
) WITHOUT ROWID;
INSERT INTO report_slices_new (dim, value, bucket_at, conversations, new_tickets, resolved, reopened, abandoned, transfers, first_responses, first_response_ms, sla_targeted, sla_met, resolution_ms, handled, handle_ms)
    SELECT dim, value, bucket_at, conversations, new_tickets, resolved, reopened, abandoned, transfers, first_responses, first_response_ms, sla_targeted, sla_met, resolution_ms, handled, handle_ms FROM report_slices;
DROP TABLE report_slices;
ALTER TABLE report_slices_new RENAME TO report_slices;

CREATE TABLE report_slice_durations_new (
    dim       TEXT NOT NULL,
    value     TEXT NOT NULL,
    bucket_at BIGINT NOT NULL,
    measure   TEXT NOT NULL,
    bin       BIGINT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (dim, value, bucket_at, measure, bin)
) WITHOUT ROWID;
INSERT INTO report_slice_durations_new (dim, value, bucket_at, measure, bin, n)
    SELECT dim, value, bucket_at, measure, bin, n FROM report_slice_durations;
DROP TABLE report_slice_durations;
ALTER TABLE report_slice_durations_new RENAME TO report_slice_durations;

CREATE TABLE bot_rollups_new (
    dim                        TEXT NOT NULL,
    value                      TEXT NOT NULL,
    bucket_at                  BIGINT NOT NULL,
    conversations              BIGINT NOT NULL DEFAULT 0,
    answers                    BIGINT NOT NULL DEFAULT 0,
    handed_over                BIGINT NOT NULL DEFAULT 0,
    returned                   BIGINT NOT NULL DEFAULT 0,
    handovers_asked_for_human  BIGINT NOT NULL DEFAULT 0,
    handovers_low_confidence   BIGINT NOT NULL DEFAULT 0,
    handovers_repeated_failure BIGINT NOT NULL DEFAULT 0,
    handovers_always_human     BIGINT NOT NULL DEFAULT 0,
    handovers_other            BIGINT NOT NULL DEFAULT 0,
    verdict_right              BIGINT NOT NULL DEFAULT 0,
    verdict_wrong              BIGINT NOT NULL DEFAULT 0,
    unanswered                 BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (dim, value, bucket_at)
) WITHOUT ROWID;
INSERT INTO bot_rollups_new (dim, value, bucket_at, conversations, answers, handed_over, returned, handovers_asked_for_human, handovers_low_confidence, handovers_repeated_failure, handovers_always_human, handovers_other, verdict_right, verdict_wrong, unanswered)
    SELECT dim, value, bucket_at, conversations, answers, handed_over, returned, handovers_asked_for_human, handovers_low_confidence, handovers_repeated_failure, handovers_always_human, handovers_other, verdict_right, verdict_wrong, unanswered FROM bot_rollups;
DROP TABLE bot_rollups;
ALTER TABLE bot_rollups_new RENAME TO bot_rollups;

CREATE TABLE presence_rollups_new (
    bucket_at    BIGINT NOT NULL,
    agent_id     TEXT NOT NULL REFERENCES agents(id),
    available_ms BIGINT NOT NULL DEFAULT 0,
    busy_ms      BIGINT NOT NULL DEFAULT 0,
    away_ms      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_at, agent_id)
) WITHOUT ROWID;
INSERT INTO presence_rollups_new (bucket_at, agent_id, available_ms, busy_ms, away_ms)
    SELECT bucket_at, agent_id, available_ms, busy_ms, away_ms FROM presence_rollups;
DROP TABLE presence_rollups;
ALTER TABLE presence_rollups_new RENAME TO presence_rollups;
