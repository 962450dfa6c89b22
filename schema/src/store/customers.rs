//! A customer's history for the agents' profile of them: their conversations on every channel,
//! newest first, each with its last message (a short preview) and, for e-mail, its subject.

use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use super::{Cursor, ListError, Page, Result, Store, StoreError, conversation_from_row, from_ms, parse};
use crate::domain::Conversation;
use crate::ids::{ConversationId, CustomerId};
use crate::values::AuthorKind;

/// The longest preview of a conversation's last message, in characters (a longer text is cut
/// and ends with `…`).
pub const PREVIEW_CHARS: usize = 160;

/// One of a customer's conversations, as their profile lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerConversation {
    pub conversation: Conversation,
    /// The subject of the mail that opened it (e-mail conversations only).
    pub subject: Option<String>,
    /// Its newest message, if it has any.
    pub last_message: Option<MessagePreview>,
    /// Its latest ticket and how that ended (its outcome), if it was ever handed to staff.
    pub outcome: Option<Outcome>,
}

/// The latest ticket of a conversation: where it stands and, once it ended, how (the kind of
/// its last event: `resolved`, `closed`, `superseded_by_call`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub ticket_id: crate::ids::TicketId,
    pub status: crate::values::TicketStatus,
    pub resolution: Option<String>,
}

/// The start of a message's text (card numbers masked, as every stored text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagePreview {
    pub author: AuthorKind,
    /// At most [`PREVIEW_CHARS`] characters.
    pub text: String,
    pub created_at: OffsetDateTime,
}

/// The latest ticket of conversation `c`, its status, and the kind of that ticket's last event.
const LATEST_TICKET: &str =
    "SELECT t.id FROM tickets t WHERE t.conversation_id = c.id ORDER BY t.created_at DESC, t.id DESC LIMIT 1";

/// The subject of the first personal mail of an e-mail conversation `c`.
const FIRST_SUBJECT: &str = "SELECT e.subject FROM email_inbound e WHERE e.conversation_id = c.id AND e.kind = 'personal' \
     ORDER BY e.received_at, e.message_id LIMIT 1";

fn preview(text: String) -> String {
    match text.char_indices().nth(PREVIEW_CHARS) {
        // Fetched one character more than shown: there is more.
        Some((cut, _)) => {
            let mut short = text[..cut].trim_end().to_owned();
            short.push('…');
            short
        }
        None => text,
    }
}

fn customer_conversation_from_row(row: &AnyRow) -> Result<CustomerConversation> {
    let last_at: Option<i64> = row.try_get("last_created_at")?;
    let last_message = match last_at {
        Some(at) => Some(MessagePreview {
            author: parse(row, "last_author")?,
            text: preview(row.try_get("last_text")?),
            created_at: from_ms(at)?,
        }),
        None => None,
    };
    let outcome = match row.try_get::<Option<String>, _>("ticket_id")? {
        Some(t) => {
            let status: crate::values::TicketStatus = parse(row, "ticket_status")?;
            let ended = matches!(status, crate::values::TicketStatus::Resolved | crate::values::TicketStatus::Closed);
            Some(Outcome {
                ticket_id: t.parse()?,
                status,
                resolution: if ended { row.try_get("ticket_resolution")? } else { None },
            })
        }
        None => None,
    };
    Ok(CustomerConversation {
        outcome,
        conversation: conversation_from_row(row)?,
        subject: row.try_get::<Option<String>, _>("subject")?.filter(|s| !s.trim().is_empty()),
        last_message,
    })
}

impl Store {
    /// The customer `id`'s conversations on every channel, newest first (by when they were
    /// opened), with their last message and e-mail subject. `cursor` is the `next_cursor` of
    /// the previous page. An unknown customer has none.
    ///
    /// # Errors
    /// A malformed cursor, or a database failure.
    pub async fn customer_conversations(
        &self,
        id: CustomerId,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<CustomerConversation>, ListError> {
        let after = cursor.map(Cursor::decode).transpose()?;
        // One character more than the preview shows, to know whether to cut it.
        let fetch_chars = PREVIEW_CHARS + 1;
        let mut sql = format!(
            "SELECT c.id, c.customer_id, c.channel, c.status, c.assignee_id, c.language, c.last_seq, c.created_at, \
             c.updated_at, m.author AS last_author, substr(m.body, 1, {fetch_chars}) AS last_text, \
             m.created_at AS last_created_at, ({FIRST_SUBJECT}) AS subject, ({LATEST_TICKET}) AS ticket_id, \
             (SELECT t.status FROM tickets t WHERE t.id = ({LATEST_TICKET})) AS ticket_status, \
             (SELECT e.kind FROM ticket_events e WHERE e.ticket_id = ({LATEST_TICKET}) \
               ORDER BY e.at DESC, e.id DESC LIMIT 1) AS ticket_resolution \
             FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.id AND m.seq = c.last_seq \
             WHERE c.customer_id = $1"
        );
        if after.is_some() {
            sql.push_str(" AND (c.created_at < $2 OR (c.created_at = $3 AND c.id < $4)) ORDER BY c.created_at DESC, c.id DESC LIMIT $5");
        } else {
            sql.push_str(" ORDER BY c.created_at DESC, c.id DESC LIMIT $2");
        }
        let mut q = sqlx::query(&sql).bind(id.to_string());
        if let Some(c) = &after {
            q = q.bind(c.updated_at).bind(c.updated_at).bind(c.id.clone());
        }
        let rows = q.bind(i64::from(limit) + 1).fetch_all(&self.read).await.map_err(StoreError::from)?;
        let mut items = rows.iter().map(customer_conversation_from_row).collect::<Result<Vec<_>>>()?;
        let next_cursor =
            Cursor::after_page(&mut items, limit, |c| (c.conversation.created_at, c.conversation.id.to_string()));
        Ok(Page { items, next_cursor })
    }

    /// The subject of the mail that opened the e-mail conversation `id` (`None` for other
    /// channels, or a conversation without a personal mail yet).
    ///
    /// # Errors
    /// A database failure.
    pub async fn conversation_subject(&self, id: ConversationId) -> Result<Option<String>> {
        let row = sqlx::query(&format!("SELECT ({FIRST_SUBJECT}) AS subject FROM conversations c WHERE c.id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?;
        Ok(row
            .map(|r| r.try_get::<Option<String>, _>("subject"))
            .transpose()?
            .flatten()
            .filter(|s| !s.trim().is_empty()))
    }
}

impl Store {
    /// The id in the operator's billing system of the customer `id` (TMF629 `Customer.id`), if
    /// they are linked to one.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown customer, or a database failure.
    pub async fn customer_bss_id(&self, id: CustomerId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT bss_customer_id FROM customers WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound { what: "customer" })?;
        Ok(row.try_get("bss_customer_id")?)
    }

    /// Links the customer `id` to the billing system's customer `bss_id` (or unlinks them with
    /// `None`). A BSS customer is linked to one of ours at most.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown customer, [`StoreError::Conflict`] when `bss_id`
    /// is linked to another customer, or a database failure.
    pub async fn set_customer_bss_id(&self, id: CustomerId, bss_id: Option<&str>) -> Result<()> {
        let done = sqlx::query("UPDATE customers SET bss_customer_id = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(bss_id)
            .execute(&self.write)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => {
                    StoreError::Conflict("the billing customer is linked to another customer".to_owned())
                }
                other => other,
            })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "customer" });
        }
        Ok(())
    }

    /// The hub's customer linked to the billing system's customer `bss_id`, if any.
    ///
    /// # Errors
    /// A database failure.
    pub async fn customer_by_bss_id(&self, bss_id: &str) -> Result<Option<CustomerId>> {
        let row = sqlx::query("SELECT id FROM customers WHERE bss_customer_id = $1")
            .bind(bss_id)
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| parse(&r, "id")).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_cut_at_a_character_boundary() {
        assert_eq!(preview("short".into()), "short");
        let long = "é".repeat(PREVIEW_CHARS + 1);
        let cut = preview(long);
        assert_eq!(cut.chars().count(), PREVIEW_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(preview("a".repeat(PREVIEW_CHARS)), "a".repeat(PREVIEW_CHARS));
    }
}
