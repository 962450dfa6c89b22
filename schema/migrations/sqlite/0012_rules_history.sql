-- The supervisors' routing console: a restored version records which version it restored, and
-- the dry run over recent history reads tickets by creation time.
ALTER TABLE routing_rules ADD COLUMN restored_from BIGINT;
CREATE INDEX tickets_created ON tickets(created_at);
