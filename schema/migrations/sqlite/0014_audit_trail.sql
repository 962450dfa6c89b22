-- The audit trail: an append-only, hash-chained log of what staff (and the hub itself) did.
-- `seq` counts from 1 without gaps; `hash` is SHA-256 over a canonical encoding of the entry's
-- fields and `prev_hash` (the hash of entry seq - 1, or of the anchor, or 64 zeros for the first
-- entry ever), so editing, deleting or inserting a row breaks the chain at that row
-- (`switchboard audit verify`). Appends are serialised (one SQLite writer; a transaction-scoped
-- advisory lock on PostgreSQL), so the chain never forks. `before_json`, `after_json` and `details` are JSON text,
-- hashed as stored.
CREATE TABLE audit_entries (
    seq         BIGINT PRIMARY KEY NOT NULL,
    at          BIGINT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT,
    action      TEXT NOT NULL,
    target_kind TEXT,
    target_id   TEXT,
    source_ip   TEXT,
    before_json TEXT,
    after_json  TEXT,
    details     TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_entries_at ON audit_entries (at);
CREATE INDEX audit_entries_actor ON audit_entries (actor_id, seq);
CREATE INDEX audit_entries_target ON audit_entries (target_kind, target_id, seq);

-- Where pruning cut the chain: the seq and hash of the last entry deleted. Verification starts
-- from the newest anchor, so the entries kept still prove themselves.
CREATE TABLE audit_anchors (
    seq       BIGINT PRIMARY KEY NOT NULL,
    hash      TEXT NOT NULL,
    pruned_at BIGINT NOT NULL,
    pruned    BIGINT NOT NULL
);
