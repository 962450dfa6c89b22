-- One customer, many handles (issue 16). A handle is an identity of a kind (`phone` in E.164,
-- `email` in lower case, `messenger` page-scoped id, `telegram` user id, `sip` for a caller that
-- is not a phone number) with a normalised `value`. A verified handle (an authenticated mail, a
-- trusted SIP identity, a signed platform webhook, an agent's link) belongs to one customer at
-- most: it is what an arrival is matched on, across channels (a phone number calling and writing
-- on WhatsApp is one customer). An unverified handle is keyed on the exact channel handle, as
-- before, and never matches a verified one. `channel` and `handle` say where it was first seen.
--
-- Each conversation now carries the exact channel handle it is with (replies go there): a
-- customer can hold several handles on one channel after a link or a merge.
ALTER TABLE conversations ADD COLUMN handle TEXT;
UPDATE conversations SET handle = (SELECT h.handle FROM customer_handles h
    WHERE h.customer_id = conversations.customer_id AND h.channel = conversations.channel LIMIT 1);
CREATE INDEX conversations_handle ON conversations(channel, handle, created_at);

CREATE TABLE customer_handles_new (
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    verified    BIGINT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    channel     TEXT NOT NULL,
    handle      TEXT NOT NULL,
    added_by    TEXT REFERENCES agents(id),
    created_at  BIGINT NOT NULL
);
-- Existing handles were matched on arrival: they stay verified, normalised here as the hub
-- normalises them. Where two customers hold the same identity (a number that called and wrote on
-- WhatsApp before this migration), the oldest customer keeps it verified; the others keep theirs
-- unverified (by their exact handle) for an agent to merge.
WITH n AS (
    SELECT h.channel, h.handle, h.customer_id, c.created_at AS at,
        CASE
            WHEN h.channel = 'email' THEN 'email'
            WHEN h.channel = 'voice' AND h.handle ~ '^\+[1-9][0-9]{6,14}$' THEN 'phone'
            WHEN h.channel = 'voice' THEN 'sip'
            WHEN h.channel = 'whatsapp' AND substr(h.handle, strpos(h.handle, ':') + 1) ~ '^[1-9][0-9]{6,14}$' THEN 'phone'
            WHEN h.channel = 'telegram' THEN 'telegram'
            ELSE h.channel
        END AS kind,
        CASE
            WHEN h.channel = 'email' THEN lower(h.handle)
            WHEN h.channel = 'whatsapp' AND substr(h.handle, strpos(h.handle, ':') + 1) ~ '^[1-9][0-9]{6,14}$'
                THEN '+' || substr(h.handle, strpos(h.handle, ':') + 1)
            WHEN h.channel = 'telegram' THEN substr(h.handle, strpos(h.handle, ':') + 1)
            ELSE h.handle
        END AS value
    FROM customer_handles h JOIN customers c ON c.id = h.customer_id
)
INSERT INTO customer_handles_new (kind, value, verified, customer_id, channel, handle, added_by, created_at)
SELECT n.kind, n.value,
    CASE WHEN EXISTS (SELECT 1 FROM n o WHERE o.kind = n.kind AND o.value = n.value
        AND (o.at < n.at OR (o.at = n.at AND (o.customer_id < n.customer_id
            OR (o.customer_id = n.customer_id AND o.channel || o.handle < n.channel || n.handle))))) THEN 0 ELSE 1 END,
    n.customer_id, n.channel, n.handle, NULL, n.at
FROM n;
DROP TABLE customer_handles;
ALTER TABLE customer_handles_new RENAME TO customer_handles;
CREATE UNIQUE INDEX customer_handles_verified ON customer_handles(kind, value) WHERE verified = 1;
CREATE UNIQUE INDEX customer_handles_unverified ON customer_handles(channel, handle) WHERE verified = 0;
CREATE INDEX customer_handles_customer ON customer_handles(customer_id);
CREATE INDEX customer_handles_value ON customer_handles(value);

-- Contact details agents edit, and a merged customer's successor (a merged customer is kept for
-- the audit trail's references, with nothing left on it, and cannot be merged again).
ALTER TABLE customers ADD COLUMN phone TEXT;
ALTER TABLE customers ADD COLUMN merged_into TEXT;
CREATE INDEX customers_phone ON customers(phone);

-- Marketing consent, per channel of contact, with when and by whom it last changed.
CREATE TABLE customer_consents (
    customer_id TEXT NOT NULL REFERENCES customers(id),
    kind        TEXT NOT NULL,
    granted     BIGINT NOT NULL,
    changed_at  BIGINT NOT NULL,
    changed_by  TEXT REFERENCES agents(id),
    PRIMARY KEY (customer_id, kind)
);
