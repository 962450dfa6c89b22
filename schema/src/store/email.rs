//! The e-mail channel: raw inbound mail (kept for audit, malformed mail included), the
//! Message-ID → conversation map for threading, conversation tokens, attachments, and the
//! built mail of queued replies (the `messages` row with `delivery_status = 'queued'` is the
//! queue entry; `email_outbound` holds the bytes sent on every try).

use std::time::Duration;

use sqlx::Row;
use time::OffsetDateTime;

use super::append::Began;
use super::{
    Cursor, ListError, MESSAGE_COLUMNS, Page, Result, Store, StoreError, from_ms, message_from_row, ms, now_ms, parse,
    parse_opt,
};
use crate::domain::{Appended, Message, NewMessage};
use crate::ids::{AttachmentId, ConversationId, MessageId};

/// What kind of mail was received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InboundEmailKind {
    Personal,
    AutoReply,
    Bounce,
    /// Not readable as a mail: kept raw with its parse error.
    Unparseable,
}

impl InboundEmailKind {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Personal => "personal",
            Self::AutoReply => "auto_reply",
            Self::Bounce => "bounce",
            Self::Unparseable => "unparseable",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "personal" => Self::Personal,
            "auto_reply" => Self::AutoReply,
            "bounce" => Self::Bounce,
            "unparseable" => Self::Unparseable,
            other => return Err(StoreError::Corrupt(format!("inbound e-mail kind {other:?}"))),
        })
    }
}

/// An attachment to store with an inbound mail.
#[derive(Clone, Debug)]
pub struct NewAttachment {
    pub id: AttachmentId,
    pub file_name: Option<String>,
    pub content_type: String,
    pub size: i64,
    /// `None` when the attachment was over the size limits (listed, bytes not kept).
    pub content: Option<Vec<u8>>,
}

/// A received mail, as stored.
#[derive(Clone, Debug)]
pub struct InboundEmail {
    /// The Message-ID (without brackets), or a synthetic one.
    pub message_id: String,
    pub conversation_id: Option<ConversationId>,
    /// The message the mail became, if any.
    pub message_ref: Option<MessageId>,
    pub kind: InboundEmailKind,
    pub parse_error: Option<String>,
    /// The envelope's reverse path (`None`: the null path `<>`).
    pub mail_from: Option<String>,
    pub rcpt_to: Vec<String>,
    pub peer: String,
    pub helo: String,
    pub tls: bool,
    pub from_address: Option<String>,
    pub reply_to: Option<String>,
    pub subject: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub raw: Vec<u8>,
    /// The conversation's token, to remember with the conversation (first mail only).
    pub conversation_token: Option<String>,
    pub attachments: Vec<NewAttachment>,
}

/// A stored inbound mail, for audit.
#[derive(Clone, Debug)]
pub struct StoredInboundEmail {
    pub message_id: String,
    pub conversation_id: Option<ConversationId>,
    pub message_ref: Option<MessageId>,
    pub kind: InboundEmailKind,
    pub parse_error: Option<String>,
    pub mail_from: Option<String>,
    pub raw: Vec<u8>,
    pub received_at: OffsetDateTime,
}

/// A stored attachment.
#[derive(Clone, Debug)]
pub struct StoredAttachment {
    pub id: AttachmentId,
    pub conversation_id: ConversationId,
    pub file_name: Option<String>,
    pub content_type: String,
    pub size: i64,
    /// `None` when it was over the size limits.
    pub content: Option<Vec<u8>>,
}

/// A stored file from its row (`id, conversation_id, file_name, content_type, size, content`).
pub(super) fn attachment_from_row(row: &sqlx::any::AnyRow) -> Result<StoredAttachment> {
    Ok(StoredAttachment {
        id: parse(row, "id")?,
        conversation_id: parse(row, "conversation_id")?,
        file_name: row.try_get("file_name")?,
        content_type: row.try_get("content_type")?,
        size: row.try_get("size")?,
        content: row.try_get("content")?,
    })
}

/// What a reply on an e-mail conversation threads onto.
#[derive(Clone, Debug)]
pub struct EmailReplyContext {
    pub token: String,
    /// The address the conversation was opened with.
    pub customer_address: String,
    /// The customer's latest personal mail on the conversation, if any.
    pub last_inbound: Option<LastInbound>,
}

/// A received mail kept with a parse error, for an administrator to look at.
#[derive(Clone, Debug)]
pub struct UnprocessedEmail {
    pub message_id: String,
    /// `unparseable`, or `personal` when the mail parsed but had no usable sender.
    pub kind: String,
    pub parse_error: String,
    /// The envelope's reverse path; `None` for the null path.
    pub mail_from: Option<String>,
    pub rcpt_to: Vec<String>,
    pub subject: String,
    /// The size received, in bytes.
    pub size: i64,
    pub received_at: OffsetDateTime,
}

/// The customer's latest mail on a conversation.
#[derive(Clone, Debug)]
pub struct LastInbound {
    pub message_id: String,
    pub subject: String,
    pub references: Vec<String>,
    pub from_address: Option<String>,
    pub reply_to: Option<String>,
}

/// A reply's built mail, queued with its message.
#[derive(Clone, Debug)]
pub struct OutboundEmail {
    /// Its Message-ID (without brackets).
    pub mail_message_id: String,
    pub envelope_from: String,
    pub envelope_to: Vec<String>,
    /// The formatted mail, sent as is on every try.
    pub raw: Vec<u8>,
}

/// A queued reply claimed for sending.
#[derive(Clone, Debug)]
pub struct QueuedEmail {
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    pub attempts: i64,
    pub mail: OutboundEmail,
}

fn split_list(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

impl Store {
    /// Whether a mail with this Message-ID was already received (a redelivery).
    ///
    /// # Errors
    /// A database failure.
    pub async fn email_inbound_seen(&self, message_id: &str) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM email_inbound WHERE message_id = $1")
            .bind(message_id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.is_some())
    }

    /// The conversation of the first of `message_ids` the store knows (ours or the
    /// customers'), in the order given.
    ///
    /// # Errors
    /// A database failure.
    pub async fn email_thread_lookup(&self, message_ids: &[String]) -> Result<Option<ConversationId>> {
        if message_ids.is_empty() {
            return Ok(None);
        }
        let placeholders = (1..=message_ids.len()).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ");
        let sql =
            format!("SELECT message_id, conversation_id FROM email_message_ids WHERE message_id IN ({placeholders})");
        let mut q = sqlx::query(&sql);
        for id in message_ids {
            q = q.bind(id.as_str());
        }
        let rows = q.fetch_all(&self.read).await?;
        for id in message_ids {
            for row in &rows {
                let found: String = row.try_get("message_id")?;
                if &found == id {
                    return Ok(Some(parse(row, "conversation_id")?));
                }
            }
        }
        Ok(None)
    }

    /// The conversation with this token, and the customer address it was opened with.
    ///
    /// # Errors
    /// A database failure.
    pub async fn email_conversation_by_token(&self, token: &str) -> Result<Option<(ConversationId, String)>> {
        let row = sqlx::query("SELECT conversation_id, customer_address FROM email_conversations WHERE token = $1")
            .bind(token)
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| Ok((parse(&r, "conversation_id")?, r.try_get("customer_address")?))).transpose()
    }

    /// The address an e-mail conversation was opened with.
    ///
    /// # Errors
    /// A database failure.
    pub async fn email_customer_address(&self, conversation: ConversationId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT customer_address FROM email_conversations WHERE conversation_id = $1")
            .bind(conversation.to_string())
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| r.try_get("customer_address").map_err(StoreError::from)).transpose()
    }

    /// Stores a received mail with its attachments, its Message-ID → conversation mapping and
    /// (for a conversation's first mail) its token, in one transaction. Returns `false`, writing
    /// nothing, if a mail with that Message-ID is already stored.
    ///
    /// # Errors
    /// A database failure.
    pub async fn record_inbound_email(&self, mail: &InboundEmail) -> Result<bool> {
        let now = now_ms();
        let conversation = mail.conversation_id.map(|c| c.to_string());
        let mut tx = self.write.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO email_inbound (message_id, conversation_id, message_ref, kind, parse_error, mail_from, \
             rcpt_to, peer, helo, tls, from_address, reply_to, subject, in_reply_to, refs, size, raw, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
             ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
        )
        .bind(&mail.message_id)
        .bind(conversation.clone())
        .bind(mail.message_ref.map(|m| m.to_string()))
        .bind(mail.kind.as_str())
        .bind(mail.parse_error.as_deref())
        .bind(mail.mail_from.as_deref())
        .bind(mail.rcpt_to.join(" "))
        .bind(&mail.peer)
        .bind(&mail.helo)
        .bind(i64::from(mail.tls))
        .bind(mail.from_address.as_deref())
        .bind(mail.reply_to.as_deref())
        .bind(&mail.subject)
        .bind(mail.in_reply_to.as_deref())
        .bind(mail.references.join(" "))
        .bind(i64::try_from(mail.raw.len()).unwrap_or(i64::MAX))
        .bind(mail.raw.clone())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if inserted.is_none() {
            tx.rollback().await?;
            return Ok(false);
        }
        if let Some(conversation) = &conversation {
            sqlx::query(
                "INSERT INTO email_message_ids (message_id, conversation_id, direction, message_ref, created_at) \
                 VALUES ($1, $2, 'in', $3, $4) ON CONFLICT (message_id) DO NOTHING",
            )
            .bind(&mail.message_id)
            .bind(conversation)
            .bind(mail.message_ref.map(|m| m.to_string()))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if let (Some(token), Some(address)) = (&mail.conversation_token, &mail.from_address) {
                sqlx::query(
                    "INSERT INTO email_conversations (conversation_id, token, customer_address, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (conversation_id) DO NOTHING",
                )
                .bind(conversation)
                .bind(token)
                .bind(address)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            for a in &mail.attachments {
                sqlx::query(
                    "INSERT INTO email_attachments (id, mail_message_id, conversation_id, file_name, content_type, \
                     size, content, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(a.id.to_string())
                .bind(&mail.message_id)
                .bind(conversation)
                .bind(a.file_name.as_deref())
                .bind(&a.content_type)
                .bind(a.size)
                .bind(a.content.clone())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// A received mail, by its Message-ID (or synthetic id).
    ///
    /// # Errors
    /// A database failure.
    pub async fn inbound_email(&self, message_id: &str) -> Result<Option<StoredInboundEmail>> {
        let row = sqlx::query(
            "SELECT message_id, conversation_id, message_ref, kind, parse_error, mail_from, raw, received_at \
             FROM email_inbound WHERE message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let kind: String = row.try_get("kind")?;
        Ok(Some(StoredInboundEmail {
            message_id: row.try_get("message_id")?,
            conversation_id: parse_opt(&row, "conversation_id")?,
            message_ref: parse_opt(&row, "message_ref")?,
            kind: InboundEmailKind::parse(&kind)?,
            parse_error: row.try_get("parse_error")?,
            mail_from: row.try_get("mail_from")?,
            raw: row.try_get("raw")?,
            received_at: from_ms(row.try_get("received_at")?)?,
        }))
    }

    /// Received mails kept with a parse error (unparseable, too large to fetch, no usable
    /// sender), newest first. `cursor` is the `next_cursor` of the previous page.
    ///
    /// # Errors
    /// A malformed cursor, or a database failure.
    pub async fn unprocessed_emails(
        &self,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<UnprocessedEmail>, ListError> {
        let after = cursor.map(Cursor::decode_any).transpose()?;
        let mut sql = "SELECT message_id, kind, parse_error, mail_from, rcpt_to, subject, size, received_at \
                       FROM email_inbound WHERE parse_error IS NOT NULL"
            .to_owned();
        if after.is_some() {
            sql.push_str(" AND (received_at < $2 OR (received_at = $2 AND message_id < $3))");
        }
        sql.push_str(" ORDER BY received_at DESC, message_id DESC LIMIT $1");
        let mut q = sqlx::query(&sql).bind(i64::from(limit) + 1);
        if let Some(c) = &after {
            q = q.bind(c.updated_at).bind(c.id.clone());
        }
        let rows = q.fetch_all(&self.read).await.map_err(StoreError::from)?;
        let mut items = rows
            .iter()
            .map(|r| -> Result<UnprocessedEmail> {
                let kind: String = r.try_get("kind")?;
                let rcpt: String = r.try_get("rcpt_to")?;
                Ok(UnprocessedEmail {
                    message_id: r.try_get("message_id")?,
                    kind: InboundEmailKind::parse(&kind)?.as_str().to_owned(),
                    parse_error: r.try_get::<Option<String>, _>("parse_error")?.unwrap_or_default(),
                    mail_from: r.try_get("mail_from")?,
                    rcpt_to: split_list(&rcpt),
                    subject: r.try_get("subject")?,
                    size: r.try_get("size")?,
                    received_at: from_ms(r.try_get("received_at")?)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = Cursor::after_page(&mut items, limit, |m| (m.received_at, m.message_id.clone()));
        Ok(Page { items, next_cursor })
    }

    /// What a reply on `conversation` threads onto; `None` if it is not an e-mail conversation
    /// the store knows.
    ///
    /// # Errors
    /// A database failure.
    pub async fn email_reply_context(&self, conversation: ConversationId) -> Result<Option<EmailReplyContext>> {
        let Some(row) =
            sqlx::query("SELECT token, customer_address FROM email_conversations WHERE conversation_id = $1")
                .bind(conversation.to_string())
                .fetch_optional(&self.read)
                .await?
        else {
            return Ok(None);
        };
        let last = sqlx::query(
            "SELECT message_id, subject, refs, from_address, reply_to FROM email_inbound \
             WHERE conversation_id = $1 AND kind = 'personal' ORDER BY received_at DESC, message_id DESC LIMIT 1",
        )
        .bind(conversation.to_string())
        .fetch_optional(&self.read)
        .await?;
        let last_inbound = last
            .map(|r| -> Result<LastInbound> {
                let refs: String = r.try_get("refs")?;
                Ok(LastInbound {
                    message_id: r.try_get("message_id")?,
                    subject: r.try_get("subject")?,
                    references: split_list(&refs),
                    from_address: r.try_get("from_address")?,
                    reply_to: r.try_get("reply_to")?,
                })
            })
            .transpose()?;
        Ok(Some(EmailReplyContext {
            token: row.try_get("token")?,
            customer_address: row.try_get("customer_address")?,
            last_inbound,
        }))
    }

    /// Appends a reply on an e-mail conversation and queues its built mail, in one transaction:
    /// the message (queued), the mail's bytes and envelope, and its Message-ID for threading.
    /// Idempotent like [`Store::append_message`].
    ///
    /// # Errors
    /// As [`Store::append_message`].
    pub async fn append_email_reply(&self, new: NewMessage, mail: &OutboundEmail) -> Result<Appended> {
        for _ in 0..3 {
            let (mut tx, appended, now) = match self.begin_append(&new).await? {
                Began::Open(tx, appended, now) => (tx, appended, now),
                Began::Done(appended) => return Ok(appended),
                Began::Raced => continue,
            };
            let message = appended.message.id.to_string();
            sqlx::query(
                "INSERT INTO email_outbound (message_ref, mail_message_id, envelope_from, envelope_to, raw) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&message)
            .bind(&mail.mail_message_id)
            .bind(&mail.envelope_from)
            .bind(mail.envelope_to.join(" "))
            .bind(mail.raw.clone())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO email_message_ids (message_id, conversation_id, direction, message_ref, \
                 created_at) VALUES ($1, $2, 'out', $3, $4)",
            )
            .bind(&mail.mail_message_id)
            .bind(new.conversation_id.to_string())
            .bind(&message)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(appended);
        }
        Err(StoreError::Conflict("the message is being stored concurrently; retry".into()))
    }

    /// Claims up to `limit` queued e-mail replies due at `now`, oldest first, leasing each to
    /// the caller until `now + lease` (as [`Store::claim_outbound`] does for the platforms).
    ///
    /// # Errors
    /// A database failure.
    pub async fn claim_email_outbound(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<QueuedEmail>> {
        let rows = sqlx::query(
            "SELECT m.id, m.conversation_id, m.attempts, m.next_attempt_at, o.mail_message_id, o.envelope_from, \
             o.envelope_to, o.raw FROM messages m JOIN email_outbound o ON o.message_ref = m.id \
             WHERE m.delivery_status = 'queued' AND m.next_attempt_at <= $1 \
             ORDER BY m.next_attempt_at, m.id LIMIT $2",
        )
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        let mut claimed = Vec::new();
        for row in rows {
            let id: MessageId = parse(&row, "id")?;
            let due: i64 = row.try_get("next_attempt_at")?;
            if !self.lease_queued(id, due, now + lease).await? {
                continue;
            }
            let to: String = row.try_get("envelope_to")?;
            claimed.push(QueuedEmail {
                message_id: id,
                conversation_id: parse(&row, "conversation_id")?,
                attempts: row.try_get("attempts")?,
                mail: OutboundEmail {
                    mail_message_id: row.try_get("mail_message_id")?,
                    envelope_from: row.try_get("envelope_from")?,
                    envelope_to: split_list(&to),
                    raw: row.try_get("raw")?,
                },
            });
        }
        Ok(claimed)
    }

    /// A bounce for the mail we sent with this Message-ID: its message is marked failed with
    /// `reason`. Returns the message if it changed (`None`: not ours, or already failed).
    ///
    /// # Errors
    /// A database failure.
    pub async fn email_bounced(&self, mail_message_id: &str, reason: &str) -> Result<Option<Message>> {
        let row = sqlx::query(&format!(
            "UPDATE messages SET delivery_status = 'failed', delivery_error = $2 \
             WHERE id = (SELECT message_ref FROM email_message_ids WHERE message_id = $1 AND direction = 'out') \
             AND delivery_status <> 'failed' RETURNING {MESSAGE_COLUMNS}"
        ))
        .bind(mail_message_id)
        .bind(reason)
        .fetch_optional(&self.write)
        .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    /// The conversation of a mail we sent, by its Message-ID.
    ///
    /// # Errors
    /// A database failure.
    pub async fn email_outbound_conversation(&self, mail_message_id: &str) -> Result<Option<ConversationId>> {
        let row =
            sqlx::query("SELECT conversation_id FROM email_message_ids WHERE message_id = $1 AND direction = 'out'")
                .bind(mail_message_id)
                .fetch_optional(&self.read)
                .await?;
        row.map(|r| parse(&r, "conversation_id")).transpose()
    }

    /// An inbound mail's attachment.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn email_attachment(&self, id: AttachmentId) -> Result<StoredAttachment> {
        let row = sqlx::query(
            "SELECT id, conversation_id, file_name, content_type, size, content FROM email_attachments WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound { what: "attachment" })?;
        attachment_from_row(&row)
    }
}
