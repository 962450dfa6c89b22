-- Churn risk: each customer's last computed score (schema::churn), the signals it came from and
-- when it was computed. A cache: the hub recomputes it when it is older than a few minutes, when
-- a ticket of the customer changes, and at escalation; erasure and merges delete it (it is
-- profiling, recomputed from what remains). `factors` and `signals` are JSON.
CREATE TABLE churn_scores (
    customer_id TEXT PRIMARY KEY NOT NULL REFERENCES customers(id),
    score       BIGINT NOT NULL,
    band        TEXT NOT NULL,
    factors     TEXT NOT NULL,
    signals     TEXT NOT NULL,
    computed_at BIGINT NOT NULL
);
CREATE INDEX churn_scores_band ON churn_scores(band, score);
