-- The term of each lease between hub nodes (PostgreSQL only: on SQLite the one node always holds
-- every lease and nothing is fenced). Kept so the two schemas stay alike.
CREATE TABLE lease_terms (
    name TEXT PRIMARY KEY,
    term BIGINT NOT NULL
);
