-- Customer satisfaction (issue 18): one survey per resolved ticket, asked in the channel the
-- customer used (`via` is where the question went: the conversation's channel, or `email` for a
-- phone call followed up by mail). The unique ticket index is what keeps a resolution from being
-- surveyed twice (a reopened ticket resolved again is not asked again). `score` (1 to 5) and
-- `comment` are written once, by the first answer; a later answer changes nothing. The ticket's
-- agent, queue, the customer's language and tier are copied at sending, so a report filters on
-- what they were then. `expires_at` bounds the answer (the e-mail link's lifetime as well).
CREATE TABLE csat_surveys (
    id              TEXT PRIMARY KEY NOT NULL,
    ticket_id       TEXT NOT NULL REFERENCES tickets(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    customer_id     TEXT NOT NULL REFERENCES customers(id),
    channel         TEXT NOT NULL,
    via             TEXT NOT NULL,
    agent_id        TEXT REFERENCES agents(id),
    queue           TEXT NOT NULL,
    language        TEXT NOT NULL,
    tier            TEXT NOT NULL,
    sent_at         BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    answered_at     BIGINT,
    score           BIGINT,
    comment         TEXT
);
CREATE UNIQUE INDEX csat_surveys_ticket ON csat_surveys (ticket_id);
CREATE INDEX csat_surveys_sent ON csat_surveys (sent_at);
CREATE INDEX csat_surveys_conversation ON csat_surveys (conversation_id, sent_at);
CREATE INDEX csat_surveys_customer ON csat_surveys (customer_id, answered_at);
