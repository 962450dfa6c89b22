-- The e-mail channel. Every mail received is kept raw (audit; malformed mail is kept with its
-- parse error rather than dropped). Every Message-ID, ours and the customers', maps to its
-- conversation for threading. A reply's built mail waits in email_outbound next to its
-- messages row, whose delivery_status = 'queued' is the queue (as for the social channels).

-- An e-mail conversation's token ([#SB-…] in subjects, support+sb-…@ in Reply-To).
CREATE TABLE email_conversations (
    conversation_id  TEXT PRIMARY KEY NOT NULL REFERENCES conversations(id),
    token            TEXT NOT NULL UNIQUE,
    customer_address TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);

-- Message-ID (without angle brackets) -> conversation, both directions.
CREATE TABLE email_message_ids (
    message_id      TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    direction       TEXT NOT NULL,             -- in | out
    message_ref     TEXT REFERENCES messages(id),
    created_at      BIGINT NOT NULL
);
CREATE INDEX email_message_ids_conversation ON email_message_ids(conversation_id, created_at);

-- Every mail received, once per Message-ID (a redelivery is not stored again).
CREATE TABLE email_inbound (
    message_id      TEXT PRIMARY KEY NOT NULL, -- the Message-ID, or a synthetic one
    conversation_id TEXT REFERENCES conversations(id),
    message_ref     TEXT REFERENCES messages(id),
    kind            TEXT NOT NULL,             -- personal | auto_reply | bounce | unparseable
    parse_error     TEXT,
    mail_from       TEXT,                      -- the envelope's reverse path; NULL for <>
    rcpt_to         TEXT NOT NULL,             -- the envelope's recipients, space-separated
    peer            TEXT NOT NULL,
    helo            TEXT NOT NULL,
    tls             BIGINT NOT NULL,
    from_address    TEXT,
    reply_to        TEXT,
    subject         TEXT NOT NULL,
    in_reply_to     TEXT,
    refs            TEXT NOT NULL,             -- References, oldest first, space-separated
    size            BIGINT NOT NULL,
    raw             BLOB NOT NULL,
    received_at     BIGINT NOT NULL
);
CREATE INDEX email_inbound_conversation ON email_inbound(conversation_id, received_at);

-- A queued reply's built mail: sent as is on every try, so a retry has the same Message-ID.
CREATE TABLE email_outbound (
    message_ref     TEXT PRIMARY KEY NOT NULL REFERENCES messages(id),
    mail_message_id TEXT NOT NULL UNIQUE,
    envelope_from   TEXT NOT NULL,
    envelope_to     TEXT NOT NULL,             -- space-separated
    raw             BLOB NOT NULL
);

-- Attachments of inbound mail; content is NULL when it was over the size limits.
CREATE TABLE email_attachments (
    id              TEXT PRIMARY KEY NOT NULL,
    mail_message_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    file_name       TEXT,
    content_type    TEXT NOT NULL,
    size            BIGINT NOT NULL,
    content         BLOB,
    created_at      BIGINT NOT NULL
);
CREATE INDEX email_attachments_mail ON email_attachments(mail_message_id);
