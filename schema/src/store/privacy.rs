//! Data-subject rights (GDPR, LGPD) and retention: finding a customer, counting what is held
//! about them, their legal hold, reading everything about them page by page for an export,
//! erasing them in one transaction, and the retention job's bounded purges.
//!
//! Erasure keeps rows that analytics count (the customer, conversations, messages, tickets, their
//! events, calls, bot answers) with every text the customer wrote or that names them replaced by
//! [`TOMBSTONE`] and their addresses removed; it deletes what is only personal data (contact
//! handles, raw mail, attachments, web chat files, e-mail threading ids).

use sqlx::any::AnyRow;
use sqlx::{Column as _, Row};

use super::{Result, Store, StoreError, like_escape, now_ms, parse, parse_opt};
use crate::ids::{CustomerId, DocumentId};

/// What replaces an erased or expired text.
pub const TOMBSTONE: &str = "[erased]";

/// Conversations of customer `$1`.
const CONVERSATIONS_OF: &str = "SELECT id FROM conversations WHERE customer_id = $1";
/// Ticket events whose detail names nothing personal (the routing history reads them).
const ROUTING_EVENTS: &str = "('created', 'assigned', 'transferred')";

/// A customer found by the Privacy tab's search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerMatch {
    pub id: CustomerId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub legal_hold: bool,
    pub erased: bool,
}

/// How much the store holds about one customer, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Holdings {
    pub handles: i64,
    pub conversations: i64,
    pub messages: i64,
    pub emails: i64,
    pub email_attachments: i64,
    pub calls: i64,
    pub bot_answers: i64,
    pub unanswered_questions: i64,
    pub tickets: i64,
    pub ticket_events: i64,
    pub ticket_notes: i64,
    pub uploads: i64,
}

/// One kind of record in a customer's export: a JSON file of its own in the archive, and for
/// some, a file per record (raw mail, attachment contents).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    Customer,
    Handles,
    /// Marketing consents, with when and by whom they last changed.
    Consents,
    Conversations,
    Messages,
    EmailThreads,
    EmailMessageIds,
    EmailsInbound,
    EmailsOutbound,
    EmailAttachments,
    Uploads,
    Calls,
    BotAnswers,
    UnansweredQuestions,
    Tickets,
    TicketEvents,
    TicketNotes,
    /// The audit trail's entries about the customer (reads of their profile, exports, holds).
    AuditEntries,
    /// The care workflows' submissions for them (orders, bill adjustments, consent answers).
    CareRequests,
    CsatSurveys,
    /// Their last churn-risk score, its factors and signals (profiling: shown to them too).
    ChurnScores,
}

impl ExportKind {
    /// Every kind, in the archive's order.
    pub const ALL: [Self; 21] = [
        Self::Customer,
        Self::Handles,
        Self::Consents,
        Self::Conversations,
        Self::Messages,
        Self::EmailThreads,
        Self::EmailMessageIds,
        Self::EmailsInbound,
        Self::EmailsOutbound,
        Self::EmailAttachments,
        Self::Uploads,
        Self::Calls,
        Self::BotAnswers,
        Self::UnansweredQuestions,
        Self::Tickets,
        Self::TicketEvents,
        Self::TicketNotes,
        Self::AuditEntries,
        Self::CareRequests,
        Self::CsatSurveys,
        Self::ChurnScores,
    ];

    /// The kind's name: its JSON file is `<name>.json`, its files are under `<name>/`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Handles => "handles",
            Self::Consents => "consents",
            Self::Conversations => "conversations",
            Self::Messages => "messages",
            Self::EmailThreads => "email_threads",
            Self::EmailMessageIds => "email_message_ids",
            Self::EmailsInbound => "emails_inbound",
            Self::EmailsOutbound => "emails_outbound",
            Self::EmailAttachments => "email_attachments",
            Self::Uploads => "uploads",
            Self::Calls => "calls",
            Self::BotAnswers => "bot_answers",
            Self::UnansweredQuestions => "unanswered_questions",
            Self::Tickets => "tickets",
            Self::TicketEvents => "ticket_events",
            Self::TicketNotes => "ticket_notes",
            Self::AuditEntries => "audit_entries",
            Self::CareRequests => "care_requests",
            Self::CsatSurveys => "csat_surveys",
            Self::ChurnScores => "churn_scores",
        }
    }

    /// The file name extension of its per-record files, if it has any.
    #[must_use]
    pub const fn file_extension(self) -> Option<&'static str> {
        match self {
            Self::EmailsInbound | Self::EmailsOutbound => Some("eml"),
            Self::EmailAttachments | Self::Uploads => Some("bin"),
            _ => None,
        }
    }

    /// `SELECT` with `$1` the customer, `$2` the key to start after, `$3` the page size; the
    /// unique paging key is selected as `k`, a file's content as `blob`.
    fn query(self) -> String {
        let conv = format!("IN ({CONVERSATIONS_OF})");
        let (cols, from, key) = match self {
            Self::Customer => (
                "id, name, email, phone, language, tier, legal_hold, erased_at, merged_into, bss_customer_id, \
                 created_at",
                "customers t WHERE t.id = $1".to_owned(),
                "t.id",
            ),
            Self::Handles => (
                "kind, value, verified, channel, handle, added_by, created_at",
                "customer_handles t WHERE t.customer_id = $1".to_owned(),
                "t.kind || ':' || t.value || ':' || t.channel || ':' || t.handle",
            ),
            Self::Consents => (
                "kind, granted, changed_at, changed_by",
                "customer_consents t WHERE t.customer_id = $1".to_owned(),
                "t.kind",
            ),
            Self::Conversations => ("t.*", "conversations t WHERE t.customer_id = $1".to_owned(), "t.id"),
            Self::Messages => (
                "id, conversation_id, seq, author, author_id, body, channel_message_id, media, template, \
                 delivery_status, delivery_error, external_id, created_at",
                format!("messages t WHERE t.conversation_id {conv}"),
                "t.id",
            ),
            Self::EmailThreads => {
                ("t.*", format!("email_conversations t WHERE t.conversation_id {conv}"), "t.conversation_id")
            }
            Self::EmailMessageIds => {
                ("t.*", format!("email_message_ids t WHERE t.conversation_id {conv}"), "t.message_id")
            }
            Self::EmailsInbound => (
                "message_id, conversation_id, message_ref, kind, parse_error, mail_from, rcpt_to, peer, helo, tls, \
                 from_address, reply_to, subject, in_reply_to, refs, size, received_at, raw AS blob",
                format!("email_inbound t WHERE t.conversation_id {conv}"),
                "t.message_id",
            ),
            Self::EmailsOutbound => (
                "message_ref, mail_message_id, envelope_from, envelope_to, raw AS blob",
                format!(
                    "email_outbound t WHERE t.message_ref IN (SELECT id FROM messages WHERE conversation_id {conv})"
                ),
                "t.message_ref",
            ),
            Self::EmailAttachments => (
                "id, mail_message_id, conversation_id, file_name, content_type, size, created_at, content AS blob",
                format!("email_attachments t WHERE t.conversation_id {conv}"),
                "t.id",
            ),
            Self::Uploads => (
                // SQLite's booleans are beyond the `Any` driver: as 0 or 1.
                "id, conversation_id, file_name, content_type, size, created_at, \
                 CAST(CASE WHEN claimed THEN 1 ELSE 0 END AS BIGINT) AS claimed, content AS blob",
                format!("chat_uploads t WHERE t.conversation_id {conv}"),
                "t.id",
            ),
            Self::Calls => ("t.*", format!("voice_calls t WHERE t.conversation_id {conv}"), "t.id"),
            Self::BotAnswers => ("t.*", format!("bot_answers t WHERE t.conversation_id {conv}"), "t.message_id"),
            Self::UnansweredQuestions => ("t.*", format!("bot_unanswered t WHERE t.conversation_id {conv}"), "t.id"),
            Self::Tickets => ("t.*", format!("tickets t WHERE t.conversation_id {conv}"), "t.id"),
            Self::TicketEvents => (
                "t.*",
                format!("ticket_events t WHERE t.ticket_id IN (SELECT id FROM tickets WHERE conversation_id {conv})"),
                "t.id",
            ),
            Self::TicketNotes => (
                "t.*",
                format!("ticket_notes t WHERE t.ticket_id IN (SELECT id FROM tickets WHERE conversation_id {conv})"),
                "t.id",
            ),
            // Paged by the entry's hash (unique, and text like every other key); each carries its seq.
            Self::AuditEntries => {
                ("t.*", "audit_entries t WHERE t.target_kind = 'customer' AND t.target_id = $1".to_owned(), "t.hash")
            }
            Self::CareRequests => ("t.*", "care_requests t WHERE t.customer_id = $1".to_owned(), "t.id"),
            Self::CsatSurveys => ("t.*", "csat_surveys t WHERE t.customer_id = $1".to_owned(), "t.id"),
            Self::ChurnScores => ("t.*", "churn_scores t WHERE t.customer_id = $1".to_owned(), "t.customer_id"),
        };
        format!("SELECT {cols}, {key} AS k FROM {from} AND {key} > $2 ORDER BY {key} LIMIT $3")
    }
}

/// One record of an export: its columns as JSON, and the file it carries, if any.
#[derive(Clone, Debug)]
pub struct ExportRecord {
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Raw mail or file content (`None` when the kind has no files, or this one was purged).
    pub file: Option<Vec<u8>>,
    /// Where the next page starts.
    pub key: String,
}

/// A column as JSON, whatever its SQL type (the export is schema-driven, so that a column added
/// later is exported too).
fn json_value(row: &AnyRow, i: usize) -> serde_json::Value {
    use serde_json::Value;
    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
        return v.map_or(Value::Null, Value::String);
    }
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        return v.map_or(Value::Null, Value::from);
    }
    if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
        return v.map_or(Value::Null, Value::from);
    }
    if let Ok(v) = row.try_get::<Option<bool>, _>(i) {
        return v.map_or(Value::Null, Value::from);
    }
    Value::Null
}

fn record_from_row(row: &AnyRow) -> Result<ExportRecord> {
    let mut fields = serde_json::Map::new();
    let mut file = None;
    for (i, col) in row.columns().iter().enumerate() {
        match col.name() {
            "k" => {}
            "blob" => file = row.try_get::<Option<Vec<u8>>, _>(i)?.filter(|b| !b.is_empty()),
            name => {
                fields.insert(name.to_owned(), json_value(row, i));
            }
        }
    }
    Ok(ExportRecord { fields, file, key: row.try_get("k")? })
}

/// What an erasure did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Erased {
    /// Whether the customer had been erased before (this run only repeated it).
    pub already: bool,
    /// Knowledge-base documents that had the customer's questions as phrasings: re-index them.
    pub documents: Vec<DocumentId>,
}

/// Erasure refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error("the customer is under legal hold")]
    LegalHold,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for EraseError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// The data kinds retention applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetentionKind {
    /// Message texts (with the bot's copies of the customer's questions).
    Messages,
    /// Raw copies of mail received and sent.
    RawMail,
    /// E-mail attachments and web chat files.
    Attachments,
    /// The caller's number on call records.
    Calls,
}

impl RetentionKind {
    pub const ALL: [Self; 4] = [Self::Messages, Self::RawMail, Self::Attachments, Self::Calls];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Messages => "messages",
            Self::RawMail => "raw_mail",
            Self::Attachments => "attachments",
            Self::Calls => "calls",
        }
    }

    /// The statements that purge one batch (`$1` cut-off in ms, `$2` batch size, `$3` the
    /// tombstone or empty content), skipping customers under legal hold.
    fn statements(self) -> &'static [&'static str] {
        match self {
            Self::Messages => &[
                "UPDATE messages SET body = $3, media = NULL, template = NULL, delivery_error = NULL WHERE id IN \
                 (SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id \
                  JOIN customers u ON u.id = c.customer_id \
                  WHERE m.created_at < $1 AND u.legal_hold = 0 AND m.body <> $3 \
                  AND (m.delivery_status IS NULL OR m.delivery_status <> 'queued') ORDER BY m.created_at LIMIT $2)",
                "UPDATE bot_answers SET question = $3 WHERE message_id IN \
                 (SELECT b.message_id FROM bot_answers b JOIN conversations c ON c.id = b.conversation_id \
                  JOIN customers u ON u.id = c.customer_id \
                  WHERE b.created_at < $1 AND u.legal_hold = 0 AND b.question <> $3 ORDER BY b.created_at LIMIT $2)",
                "UPDATE bot_unanswered SET question = $3 WHERE id IN \
                 (SELECT b.id FROM bot_unanswered b JOIN conversations c ON c.id = b.conversation_id \
                  JOIN customers u ON u.id = c.customer_id \
                  WHERE b.created_at < $1 AND u.legal_hold = 0 AND b.question <> $3 ORDER BY b.created_at LIMIT $2)",
            ],
            Self::RawMail => &[
                "UPDATE email_inbound SET raw = $3 WHERE message_id IN \
                 (SELECT e.message_id FROM email_inbound e LEFT JOIN conversations c ON c.id = e.conversation_id \
                  LEFT JOIN customers u ON u.id = c.customer_id \
                  WHERE e.received_at < $1 AND length(e.raw) > 0 AND (u.legal_hold IS NULL OR u.legal_hold = 0) \
                  ORDER BY e.received_at LIMIT $2)",
                "UPDATE email_outbound SET raw = $3 WHERE message_ref IN \
                 (SELECT o.message_ref FROM email_outbound o JOIN messages m ON m.id = o.message_ref \
                  JOIN conversations c ON c.id = m.conversation_id JOIN customers u ON u.id = c.customer_id \
                  WHERE m.created_at < $1 AND length(o.raw) > 0 AND u.legal_hold = 0 \
                  AND m.delivery_status <> 'queued' ORDER BY m.created_at LIMIT $2)",
            ],
            Self::Attachments => &[
                "UPDATE email_attachments SET content = NULL WHERE id IN \
                 (SELECT a.id FROM email_attachments a JOIN conversations c ON c.id = a.conversation_id \
                  JOIN customers u ON u.id = c.customer_id \
                  WHERE a.created_at < $1 AND a.content IS NOT NULL AND u.legal_hold = 0 \
                  ORDER BY a.created_at LIMIT $2)",
                "DELETE FROM chat_uploads WHERE id IN \
                 (SELECT f.id FROM chat_uploads f JOIN conversations c ON c.id = f.conversation_id \
                  JOIN customers u ON u.id = c.customer_id \
                  WHERE f.created_at < $1 AND u.legal_hold = 0 ORDER BY f.created_at LIMIT $2)",
            ],
            Self::Calls => &["UPDATE voice_calls SET caller = $3 WHERE id IN \
                 (SELECT v.id FROM voice_calls v JOIN conversations c ON c.id = v.conversation_id \
                  JOIN customers u ON u.id = c.customer_id \
                  WHERE v.started_at < $1 AND v.ended_at IS NOT NULL AND v.caller <> $3 AND u.legal_hold = 0 \
                  ORDER BY v.started_at LIMIT $2)"],
        }
    }
}

impl Store {
    /// Customers whose name, e-mail address or a contact handle contains `query` (case
    /// insensitive), by name; at most `limit`.
    ///
    /// # Errors
    /// A database failure.
    pub async fn find_customers(&self, query: &str, limit: u32) -> Result<Vec<CustomerMatch>> {
        let pattern = format!("%{}%", like_escape(&query.to_lowercase()));
        sqlx::query(
            "SELECT id, name, email, legal_hold, erased_at FROM customers u \
             WHERE lower(u.name) LIKE $1 ESCAPE '\\' OR lower(u.email) LIKE $1 ESCAPE '\\' \
             OR u.id IN (SELECT customer_id FROM customer_handles WHERE lower(handle) LIKE $1 ESCAPE '\\') \
             ORDER BY u.name, u.id LIMIT $2",
        )
        .bind(pattern)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|row| {
            Ok(CustomerMatch {
                id: parse(row, "id")?,
                name: row.try_get("name")?,
                email: row.try_get("email")?,
                legal_hold: row.try_get::<i64, _>("legal_hold")? != 0,
                erased: row.try_get::<Option<i64>, _>("erased_at")?.is_some(),
            })
        })
        .collect()
    }

    /// Whether the customer is under legal hold, and whether they have been erased.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn customer_privacy(&self, id: CustomerId) -> Result<(bool, Option<time::OffsetDateTime>)> {
        let row = sqlx::query("SELECT legal_hold, erased_at FROM customers WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound { what: "customer" })?;
        let erased: Option<i64> = row.try_get("erased_at")?;
        Ok((row.try_get::<i64, _>("legal_hold")? != 0, erased.map(super::from_ms).transpose()?))
    }

    /// Sets or clears the customer's legal hold.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn set_legal_hold(&self, id: CustomerId, hold: bool) -> Result<()> {
        let done = sqlx::query("UPDATE customers SET legal_hold = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(i64::from(hold))
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "customer" });
        }
        Ok(())
    }

    /// How much is held about the customer, by kind.
    ///
    /// # Errors
    /// A database failure.
    pub async fn customer_holdings(&self, id: CustomerId) -> Result<Holdings> {
        let conv = format!("IN ({CONVERSATIONS_OF})");
        let tickets = format!("IN (SELECT id FROM tickets WHERE conversation_id {conv})");
        let sql = format!(
            "SELECT (SELECT COUNT(*) FROM customer_handles WHERE customer_id = $1) AS handles, \
             (SELECT COUNT(*) FROM conversations WHERE customer_id = $1) AS conversations, \
             (SELECT COUNT(*) FROM messages WHERE conversation_id {conv}) AS messages, \
             (SELECT COUNT(*) FROM email_inbound WHERE conversation_id {conv}) AS emails, \
             (SELECT COUNT(*) FROM email_attachments WHERE conversation_id {conv}) AS email_attachments, \
             (SELECT COUNT(*) FROM voice_calls WHERE conversation_id {conv}) AS calls, \
             (SELECT COUNT(*) FROM bot_answers WHERE conversation_id {conv}) AS bot_answers, \
             (SELECT COUNT(*) FROM bot_unanswered WHERE conversation_id {conv}) AS unanswered_questions, \
             (SELECT COUNT(*) FROM tickets WHERE conversation_id {conv}) AS tickets, \
             (SELECT COUNT(*) FROM ticket_events WHERE ticket_id {tickets}) AS ticket_events, \
             (SELECT COUNT(*) FROM ticket_notes WHERE ticket_id {tickets}) AS ticket_notes, \
             (SELECT COUNT(*) FROM chat_uploads WHERE conversation_id {conv}) AS uploads"
        );
        let row = sqlx::query(&sql).bind(id.to_string()).fetch_one(&self.read).await?;
        let n = |c: &str| row.try_get::<i64, _>(c);
        Ok(Holdings {
            handles: n("handles")?,
            conversations: n("conversations")?,
            messages: n("messages")?,
            emails: n("emails")?,
            email_attachments: n("email_attachments")?,
            calls: n("calls")?,
            bot_answers: n("bot_answers")?,
            unanswered_questions: n("unanswered_questions")?,
            tickets: n("tickets")?,
            ticket_events: n("ticket_events")?,
            ticket_notes: n("ticket_notes")?,
            uploads: n("uploads")?,
        })
    }

    /// Up to `limit` records of `kind` about the customer, after the record whose key is `after`
    /// (`""` for the first page), in key order.
    ///
    /// # Errors
    /// A database failure.
    pub async fn export_page(
        &self,
        kind: ExportKind,
        customer: CustomerId,
        after: &str,
        limit: u32,
    ) -> Result<Vec<ExportRecord>> {
        sqlx::query(&kind.query())
            .bind(customer.to_string())
            .bind(after)
            .bind(i64::from(limit.max(1)))
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(record_from_row)
            .collect()
    }

    /// Erases the customer in one transaction: their name, e-mail address and handles, every
    /// text of their conversations (replaced by [`TOMBSTONE`]), raw mail, attachments, web chat
    /// files and threading ids, the caller number of their calls, the free-text details of their
    /// tickets' history, and their questions wherever trainers copied them into the knowledge
    /// base. Rows that analytics count stay. Erasing again repeats it harmlessly.
    ///
    /// # Errors
    /// [`EraseError::LegalHold`]; [`StoreError::NotFound`]; a database failure (nothing changed).
    pub async fn erase_customer(&self, id: CustomerId) -> Result<Erased, EraseError> {
        let cid = id.to_string();
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let row = sqlx::query("SELECT email, legal_hold, erased_at FROM customers WHERE id = $1")
            .bind(&cid)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound { what: "customer" })?;
        if row.try_get::<i64, _>("legal_hold")? != 0 {
            return Err(EraseError::LegalHold);
        }
        let already = row.try_get::<Option<i64>, _>("erased_at")?.is_some();
        // Their addresses, to find mail from them that never joined a conversation.
        let mut addresses: Vec<String> = row.try_get::<Option<String>, _>("email")?.into_iter().collect();
        for r in sqlx::query("SELECT value FROM customer_handles WHERE customer_id = $1 AND kind = 'email'")
            .bind(&cid)
            .fetch_all(&mut *tx)
            .await?
        {
            addresses.push(r.try_get("value")?);
        }
        // Their questions that trainers turned into knowledge-base phrasings.
        let copied = sqlx::query(&format!(
            "SELECT resolved_document_id, question FROM bot_unanswered \
             WHERE conversation_id IN ({CONVERSATIONS_OF}) AND resolved_document_id IS NOT NULL"
        ))
        .bind(&cid)
        .fetch_all(&mut *tx)
        .await?;
        let mut documents: Vec<(DocumentId, String)> = Vec::new();
        for r in &copied {
            let doc: Option<DocumentId> = parse_opt(r, "resolved_document_id")?;
            if let Some(doc) = doc {
                documents.push((doc, r.try_get("question")?));
            }
        }

        let conv = format!("IN ({CONVERSATIONS_OF})");
        let statements = [
            "DELETE FROM customer_handles WHERE customer_id = $1".to_owned(),
            "DELETE FROM customer_consents WHERE customer_id = $1".to_owned(),
            format!("UPDATE conversations SET handle = NULL WHERE id {conv}"),
            format!(
                "UPDATE messages SET body = $2, media = NULL, template = NULL, channel_message_id = NULL, \
                 external_id = NULL, delivery_error = NULL, next_attempt_at = NULL, \
                 delivery_status = CASE WHEN delivery_status = 'queued' THEN 'failed' ELSE delivery_status END \
                 WHERE conversation_id {conv}"
            ),
            format!("UPDATE bot_answers SET question = $2 WHERE conversation_id {conv}"),
            format!(
                "UPDATE bot_unanswered SET question = $2, resolved_at = COALESCE(resolved_at, $3) \
                 WHERE conversation_id {conv}"
            ),
            format!("UPDATE tickets SET summary = NULL WHERE conversation_id {conv}"),
            format!(
                "UPDATE ticket_events SET detail = '{{\"erased\":true}}' WHERE kind NOT IN {ROUTING_EVENTS} \
                 AND ticket_id IN (SELECT id FROM tickets WHERE conversation_id {conv})"
            ),
            format!(
                "UPDATE ticket_notes SET body = $2 WHERE ticket_id IN (SELECT id FROM tickets WHERE conversation_id {conv})"
            ),
            format!("UPDATE email_conversations SET customer_address = '' WHERE conversation_id {conv}"),
            format!("DELETE FROM email_message_ids WHERE conversation_id {conv}"),
            format!("DELETE FROM email_attachments WHERE conversation_id {conv}"),
            format!(
                "DELETE FROM email_outbound WHERE message_ref IN (SELECT id FROM messages WHERE conversation_id {conv}) \
                "
            ),
            format!("DELETE FROM email_inbound WHERE conversation_id {conv}"),
            format!("DELETE FROM chat_uploads WHERE conversation_id {conv}"),
            format!("UPDATE voice_calls SET caller = '' WHERE conversation_id {conv}"),
            // The care workflows' notes (agents' and supervisors' words about the customer); the
            // amounts, codes and billing references stay for the adjustments report.
            "UPDATE care_requests SET note = $2, \
             decision_note = CASE WHEN decision_note IS NULL THEN NULL ELSE $2 END WHERE customer_id = $1"
                .to_owned(),
            // Satisfaction comments are the customer's words; scores stay for the reports.
            "UPDATE csat_surveys SET comment = CASE WHEN comment IS NULL THEN NULL ELSE $2 END WHERE customer_id = $1"
                .to_owned(),
            format!("DELETE FROM selfservice_sessions WHERE conversation_id {conv}"),
            format!("DELETE FROM selfservice_sends WHERE conversation_id {conv}"),
            // Line tests run on the customer's services from their conversations.
            format!("DELETE FROM diagnostics WHERE conversation_id {conv}"),
            // The churn score is profiling: it goes, and is recomputed from what remains.
            "DELETE FROM churn_scores WHERE customer_id = $1".to_owned(),
        ];
        sqlx::query(
            "UPDATE customers SET name = NULL, email = NULL, phone = NULL, bss_customer_id = NULL, \
             erased_at = COALESCE(erased_at, $2) WHERE id = $1",
        )
        .bind(&cid)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // `$1` the customer, `$2` the tombstone, `$3` the time.
        for sql in &statements {
            let mut q = sqlx::query(sql).bind(&cid);
            if sql.contains("$2") {
                q = q.bind(TOMBSTONE);
            }
            if sql.contains("$3") {
                q = q.bind(now);
            }
            q.execute(&mut *tx).await?;
        }
        for address in addresses.iter().filter(|a| !a.is_empty()) {
            sqlx::query(
                "DELETE FROM email_inbound WHERE conversation_id IS NULL \
                 AND (lower(from_address) = lower($1) OR lower(mail_from) = lower($1) OR lower(reply_to) = lower($1))",
            )
            .bind(address)
            .execute(&mut *tx)
            .await?;
        }
        let mut touched = Vec::new();
        for (doc, question) in &documents {
            if strip_phrasing(&mut tx, *doc, question).await? && !touched.contains(doc) {
                touched.push(*doc);
            }
        }
        tx.commit().await?;
        if self.backend == super::Backend::Sqlite {
            // The old pages are in the write-ahead log until a checkpoint: copy them back (zeroed
            // by `secure_delete`) and empty the log now. Best effort: a busy reader only delays it.
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.write).await {
                tracing::warn!(error = %e, "checkpoint after erasure failed; the next one empties the log");
            }
        }
        Ok(Erased { already, documents: touched })
    }

    /// Purges one batch of `kind` older than `before` (Unix ms), skipping customers under legal
    /// hold. Returns how many records it changed.
    ///
    /// # Errors
    /// A database failure.
    pub async fn purge_expired(&self, kind: RetentionKind, before: i64, batch: u32) -> Result<u64> {
        let mut changed = 0;
        for sql in kind.statements() {
            let mut q = sqlx::query(sql).bind(before).bind(i64::from(batch.max(1)));
            if sql.contains("$3") {
                q = match kind {
                    RetentionKind::RawMail => q.bind(Vec::<u8>::new()),
                    RetentionKind::Calls => q.bind(""),
                    RetentionKind::Messages | RetentionKind::Attachments => q.bind(TOMBSTONE),
                };
            }
            changed += q.execute(&self.write).await?.rows_affected();
        }
        Ok(changed)
    }
}

/// Removes `question` from the phrasings of document `doc` (its current content and every
/// version). Returns whether the current content changed.
async fn strip_phrasing(tx: &mut sqlx::Transaction<'_, sqlx::Any>, doc: DocumentId, question: &str) -> Result<bool> {
    let wanted = question.trim().to_lowercase();
    let strip = |json: &str| -> Result<Option<String>> {
        let list: Vec<String> =
            serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("document questions: {e}")))?;
        let kept: Vec<&String> = list.iter().filter(|q| q.trim().to_lowercase() != wanted).collect();
        if kept.len() == list.len() {
            return Ok(None);
        }
        super::to_json(&kept).map(Some)
    };
    let mut changed = false;
    let current = sqlx::query("SELECT questions FROM kb_documents WHERE id = $1")
        .bind(doc.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(row) = current
        && let Some(json) = strip(&row.try_get::<String, _>("questions")?)?
    {
        sqlx::query("UPDATE kb_documents SET questions = $2 WHERE id = $1")
            .bind(doc.to_string())
            .bind(json)
            .execute(&mut **tx)
            .await?;
        // The cached vectors embed the phrasing too: the hub embeds the document again.
        sqlx::query("DELETE FROM kb_embeddings WHERE document_id = $1")
            .bind(doc.to_string())
            .execute(&mut **tx)
            .await?;
        changed = true;
    }
    let versions = sqlx::query("SELECT version, questions FROM kb_document_versions WHERE document_id = $1")
        .bind(doc.to_string())
        .fetch_all(&mut **tx)
        .await?;
    for row in versions {
        if let Some(json) = strip(&row.try_get::<String, _>("questions")?)? {
            sqlx::query("UPDATE kb_document_versions SET questions = $3 WHERE document_id = $1 AND version = $2")
                .bind(doc.to_string())
                .bind(row.try_get::<i64, _>("version")?)
                .bind(json)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(changed)
}
