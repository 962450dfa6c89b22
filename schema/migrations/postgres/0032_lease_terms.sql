-- The term of each lease between hub nodes: bumped by a node each time it takes the lease (while
-- holding its advisory lock). The lease's writes are fenced with the term they were made in: a
-- write checks, in its own transaction, that the term is still its own, so a node that lost the
-- lease (and has not noticed yet) cannot write over its successor's work.
CREATE TABLE lease_terms (
    name TEXT PRIMARY KEY,
    term BIGINT NOT NULL
);
