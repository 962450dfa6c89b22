-- The embedded billing system (`bss::embedded`): the records an operator's BSS would hold
-- (customers, billing accounts, products, bills with their items, usage, the catalogue, orders,
-- adjustments, payment arrangements), for demos and laptops. Each record is a JSON document of
-- the `bss` crate's model, keyed as the BSS keys it, with the columns it is looked up by: the
-- hub never queries inside a document, and the documents follow the model without a migration
-- per field. A real operator's BSS replaces all of this (`[bss] kind = "tmf"`).
CREATE TABLE bss_records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    customer_ref TEXT,
    account_ref TEXT,
    -- The hub's id of a write (orders, adjustments, payment arrangements): one record per id.
    external_id TEXT,
    -- Newest first in lists: an ISO 8601 date or time.
    sort_key TEXT NOT NULL,
    -- Lower-case name, e-mail addresses and phone numbers of a customer, one per line, framed by
    -- line feeds: what `find_customers` matches.
    lookup TEXT,
    body TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX bss_records_customer ON bss_records(kind, customer_ref, sort_key);
CREATE INDEX bss_records_account ON bss_records(kind, account_ref, sort_key);
CREATE UNIQUE INDEX bss_records_external ON bss_records(kind, external_id);
