-- Received mails that did not become a customer message as they should have (unparseable, too
-- large to fetch over IMAP, no usable sender): listed for administrators, newest first.
CREATE INDEX email_inbound_unprocessed ON email_inbound (received_at, message_id) WHERE parse_error IS NOT NULL;
