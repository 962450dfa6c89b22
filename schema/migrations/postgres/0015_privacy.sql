-- Data-subject rights (GDPR, LGPD): a customer under legal hold cannot be erased and is skipped by
-- the retention job; an erased customer keeps their row (for counts) with the time of erasure.
ALTER TABLE customers ADD COLUMN legal_hold BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN erased_at BIGINT;
-- The Privacy tab finds customers by name and e-mail address (handles have their own index).
CREATE INDEX customers_email ON customers(email);
