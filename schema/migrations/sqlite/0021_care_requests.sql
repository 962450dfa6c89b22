-- The customer-care workflows agents run beside a conversation: a new service, a change to a
-- service, a bill adjustment, a discontinued service. One row per submission. Its id is the
-- `external_id` the billing system deduplicates orders and adjustments by, and (agent, idempotency
-- key) makes a retried submission find the first instead of writing a second. A bill adjustment over
-- the agent's limit waits as `pending` until a supervisor approves (then it is applied) or rejects
-- it with a note. Amounts are minor units of `currency`; `detail` is JSON (the workflow's inputs).
CREATE TABLE care_requests (
    id                TEXT PRIMARY KEY NOT NULL,
    kind              TEXT NOT NULL,
    state             TEXT NOT NULL,
    agent_id          TEXT NOT NULL REFERENCES agents(id),
    idempotency_key   TEXT NOT NULL,
    conversation_id   TEXT NOT NULL REFERENCES conversations(id),
    customer_id       TEXT NOT NULL REFERENCES customers(id),
    bss_customer_id   TEXT NOT NULL,
    account_id        TEXT,
    product_id        TEXT,
    offering_id       TEXT,
    bill_id           TEXT,
    item_id           TEXT,
    amount_minor      BIGINT,
    currency          TEXT,
    reason            TEXT,
    note              TEXT NOT NULL,
    detail            TEXT NOT NULL,
    marketing_consent BIGINT,
    result_ref        TEXT,
    failure           TEXT,
    decided_by        TEXT REFERENCES agents(id),
    decision_note     TEXT,
    decided_at        BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE UNIQUE INDEX care_requests_idempotency ON care_requests (agent_id, idempotency_key);
CREATE INDEX care_requests_state ON care_requests (state, created_at);
CREATE INDEX care_requests_kind ON care_requests (kind, created_at);
CREATE INDEX care_requests_conversation ON care_requests (conversation_id, created_at);
CREATE INDEX care_requests_customer ON care_requests (customer_id);
