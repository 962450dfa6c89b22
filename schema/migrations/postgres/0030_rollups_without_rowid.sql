-- SQLite's 0030 stores the rollup tables WITHOUT ROWID; PostgreSQL has no such choice (its
-- tables are heaps), so nothing changes here. The file keeps the two stores' versions in step.
SELECT 1;
