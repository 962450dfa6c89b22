-- The bot report: rollups of the bot's work written in the same transaction as the write they
-- count (a bot answer, a trainer's verdict, an unanswered question, a ticket, a conversation);
-- docs/reports.md defines every measure.

-- A conversation's part in the bot report: its first and last bot answers, and what ended its
-- containment (a hand-over, or the customer coming back within 24 h of a bot answer). NULL
-- first answer: the bot never answered in it (or, for conversations from before this
-- migration, it is not counted yet: `switchboard reports backfill` counts those).
ALTER TABLE conversations ADD COLUMN bot_first_answer_at BIGINT;
ALTER TABLE conversations ADD COLUMN bot_last_answer_at BIGINT;
ALTER TABLE conversations ADD COLUMN bot_outcome TEXT;        -- handed_over | returned
ALTER TABLE conversations ADD COLUMN bot_outcome_at BIGINT;
-- Pending containment (last answer within the last 24 h): a range of this index.
CREATE INDEX conversations_bot_last_answer ON conversations(bot_last_answer_at);
-- Returns: a customer's conversations (conversations_customer) with a recent bot answer.
CREATE INDEX conversations_customer_bot ON conversations(customer_id, bot_last_answer_at);

-- 1 once the answer is in the rollups (its verdict then moves the rollups' counts).
ALTER TABLE bot_answers ADD COLUMN counted BIGINT NOT NULL DEFAULT 0;

-- The top unanswered topics read the questions of a range by this index, with a limit.
CREATE INDEX bot_unanswered_created ON bot_unanswered(created_at);

-- Counters per 15-minute UTC bucket and slice: dim '' (totals, value ''), 'channel',
-- 'language', or 'channel_language' (value 'webchat:en'), so any filter reads one slice.
CREATE TABLE bot_rollups (
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
);

-- The bot rollups count from here on; `switchboard reports backfill` counts what came before.
INSERT INTO settings (key, value) VALUES ('reports.bot_counted_since', CAST(CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT) AS TEXT));
