//! Platform channels: accounts, customers found by their platform handle, and the outbound
//! queue (messages whose `delivery_status` is `queued`).

use std::time::Duration;

use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use super::{
    CONVERSATION_COLUMNS, MESSAGE_COLUMNS, Result, Store, StoreError, conversation_from_row, from_ms, message_from_row,
    ms, now_ms, parse,
};
use crate::domain::{Conversation, Message, Template};
use crate::identity::{HandleKind, Identity};
use crate::ids::{AgentId, ConversationId, CustomerId, MessageId, SocialAccountId};
use crate::values::{Channel, ConversationStatus, DeliveryStatus, DisplayName, Language};

/// A platform account the operator receives messages on (a Facebook page, a WhatsApp phone
/// number, a Telegram bot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocialAccount {
    pub id: SocialAccountId,
    pub channel: Channel,
    /// The platform's id of the account: page id, phone-number id, or the bot's name here.
    pub account_id: String,
    pub name: String,
    /// The account's secrets, encrypted by the hub (the store never sees them in clear).
    pub secrets: String,
    pub created_by: AgentId,
    pub created_at: OffsetDateTime,
}

/// A queued outbound message with what is needed to send it.
#[derive(Clone, Debug)]
pub struct Outbound {
    pub message: Message,
    pub channel: Channel,
    /// The customer's handle on the platform: `account_id:sender_id`.
    pub handle: String,
    pub template: Option<Template>,
    pub attempts: i64,
    /// When this attempt was due (ms since the epoch), as claimed.
    next_attempt_at: i64,
    /// When the customer last wrote on this conversation (for messaging windows).
    pub last_customer_message_at: Option<OffsetDateTime>,
}

fn account_from_row(row: &AnyRow) -> Result<SocialAccount> {
    Ok(SocialAccount {
        id: parse(row, "id")?,
        channel: parse(row, "channel")?,
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        secrets: row.try_get("secrets")?,
        created_by: parse(row, "created_by")?,
        created_at: from_ms(row.try_get("created_at")?)?,
    })
}

const ACCOUNT_COLUMNS: &str = "id, channel, account_id, name, secrets, created_by, created_at";

impl Store {
    /// Stores a new platform account.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the channel already has that account id, or a database failure.
    pub async fn create_social_account(&self, account: &SocialAccount) -> Result<()> {
        sqlx::query(&format!("INSERT INTO social_accounts ({ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
            .bind(account.id.to_string())
            .bind(account.channel.as_str())
            .bind(&account.account_id)
            .bind(&account.name)
            .bind(&account.secrets)
            .bind(account.created_by.to_string())
            .bind(ms(account.created_at))
            .execute(&self.write)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => {
                    StoreError::Conflict(format!("{} account {} exists already", account.channel, account.account_id))
                }
                other => other,
            })?;
        Ok(())
    }

    /// Replaces an account's sealed secrets, if they are still `old` (another node may have
    /// re-sealed them first: then nothing changes). Returns whether this call changed them.
    ///
    /// # Errors
    /// A database failure.
    pub async fn reseal_social_account(&self, id: SocialAccountId, old: &str, new: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE social_accounts SET secrets = $3 WHERE id = $1 AND secrets = $2")
            .bind(id.to_string())
            .bind(old)
            .bind(new)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every platform account.
    ///
    /// # Errors
    /// A database failure.
    pub async fn social_accounts(&self) -> Result<Vec<SocialAccount>> {
        sqlx::query(&format!("SELECT {ACCOUNT_COLUMNS} FROM social_accounts ORDER BY channel, account_id"))
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(account_from_row)
            .collect()
    }

    /// The conversation a sender whose handle is verified writes into (a platform sender signed
    /// by the platform's webhook, an authenticated mail, a caller from a trusted identity
    /// source): their open conversation on `channel` with this exact handle, or a new one in
    /// `status` for the customer holding the handle's verified identity (the same phone number
    /// on voice and WhatsApp, the same address in any case), or a new customer the first time.
    /// `handle` is `account_id:sender_id` on the platforms, the lower-cased address on e-mail,
    /// the caller on voice.
    ///
    /// # Errors
    /// A database failure.
    pub async fn conversation_for_handle(
        &self,
        channel: Channel,
        handle: &str,
        name: Option<DisplayName>,
        status: ConversationStatus,
    ) -> Result<Conversation> {
        self.open_conversation_for_handle(channel, handle, name, status, true).await
    }

    /// A new conversation for a sender whose handle could not be verified (an e-mail that
    /// failed the MTA's checks): never an existing customer's verified identity, but the
    /// customer keyed on this exact unverified channel handle (a new one the first time), and
    /// never an open conversation.
    ///
    /// # Errors
    /// A database failure.
    pub async fn new_conversation_for_handle(
        &self,
        channel: Channel,
        handle: &str,
        name: Option<DisplayName>,
        status: ConversationStatus,
    ) -> Result<Conversation> {
        self.open_conversation_for_handle(channel, handle, name, status, false).await
    }

    async fn open_conversation_for_handle(
        &self,
        channel: Channel,
        handle: &str,
        name: Option<DisplayName>,
        status: ConversationStatus,
        verified: bool,
    ) -> Result<Conversation> {
        // Two first messages of a new sender can race; the loser finds the winner's rows.
        for _ in 0..3 {
            match self.try_conversation_for_handle(channel, handle, name.clone(), status, verified).await {
                Err(StoreError::Conflict(_)) => continue,
                other => return other,
            }
        }
        Err(StoreError::Conflict(format!("could not open a conversation for {handle}")))
    }

    async fn try_conversation_for_handle(
        &self,
        channel: Channel,
        handle: &str,
        name: Option<DisplayName>,
        status: ConversationStatus,
        verified: bool,
    ) -> Result<Conversation> {
        let identity = Identity::of_arrival(channel, handle);
        if verified {
            // The hot path: one indexed look-up (the conversation by its handle, the owner by the
            // unique verified identity).
            let existing = sqlx::query(&format!(
                "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE channel = $1 AND handle = $2 \
                 AND status <> 'closed' AND customer_id = (SELECT customer_id FROM customer_handles \
                   WHERE kind = $3 AND value = $4 AND verified = 1) \
                 ORDER BY created_at DESC LIMIT 1"
            ))
            .bind(channel.as_str())
            .bind(handle)
            .bind(identity.kind.as_str())
            .bind(&identity.value)
            .fetch_optional(&self.read)
            .await?;
            if let Some(row) = existing {
                return conversation_from_row(&row);
            }
        }
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let owner = if verified {
            sqlx::query("SELECT customer_id FROM customer_handles WHERE kind = $1 AND value = $2 AND verified = 1")
                .bind(identity.kind.as_str())
                .bind(&identity.value)
                .fetch_optional(&mut *tx)
                .await?
        } else {
            sqlx::query("SELECT customer_id FROM customer_handles WHERE channel = $1 AND handle = $2 AND verified = 0")
                .bind(channel.as_str())
                .bind(handle)
                .fetch_optional(&mut *tx)
                .await?
        };
        let customer: Option<String> = owner.map(|r| r.try_get("customer_id")).transpose()?;
        let customer_id = match customer {
            Some(id) if !verified => id.parse::<CustomerId>()?,
            Some(id) => {
                // A concurrent first message of this sender may have opened the conversation
                // since the look-up above: take the customer's row lock (PostgreSQL; SQLite has
                // one writer) and look again, inside the transaction.
                if self.backend == super::Backend::Postgres {
                    sqlx::query("SELECT id FROM customers WHERE id = $1 FOR UPDATE")
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                }
                let open = sqlx::query(&format!(
                    "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE channel = $1 AND handle = $2 \
                     AND status <> 'closed' AND customer_id = $3 ORDER BY created_at DESC LIMIT 1"
                ))
                .bind(channel.as_str())
                .bind(handle)
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(row) = open {
                    tx.rollback().await?;
                    return conversation_from_row(&row);
                }
                id.parse::<CustomerId>()?
            }
            None => {
                let id = CustomerId::new();
                // What the handle says about them (only a verified one: an unverified address
                // is not theirs to show as their contact detail).
                let email = (verified && identity.kind == HandleKind::Email).then_some(identity.value.as_str());
                let phone = (verified && identity.kind == HandleKind::Phone && identity.value.starts_with('+'))
                    .then_some(identity.value.as_str());
                sqlx::query(
                    "INSERT INTO customers (id, name, email, phone, language, tier, created_at) \
                     VALUES ($1, $2, $3, $4, $5, 'standard', $6)",
                )
                .bind(id.to_string())
                .bind(name.as_ref().map(|n| n.as_str().to_owned()))
                .bind(email)
                .bind(phone)
                .bind(Language::default().as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                super::identity::insert_handle(&mut tx, id, &identity, verified, channel, handle, None, now).await?;
                id
            }
        };
        let id = ConversationId::new();
        let row = sqlx::query(&format!(
            "INSERT INTO conversations (id, customer_id, channel, handle, status, assignee_id, language, last_seq, \
             created_at, updated_at) SELECT $1, $2, $3, $4, $5, NULL, language, 0, $6, $6 FROM customers WHERE id = $2 \
             RETURNING {CONVERSATION_COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(customer_id.to_string())
        .bind(channel.as_str())
        .bind(handle)
        .bind(status.as_str())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        super::reports::conversation_created(&mut tx, &id.to_string(), now).await?;
        tx.commit().await?;
        conversation_from_row(&row)
    }

    /// Claims up to `limit` queued outbound messages due at `now`, oldest first: each is
    /// leased to the caller until `now + lease` (its next attempt is moved there), so hub nodes
    /// sharing the store never send the same message at once, and a node that dies mid-send
    /// leaves it to be sent again when the lease runs out.
    ///
    /// # Errors
    /// A database failure.
    pub async fn claim_outbound(&self, now: OffsetDateTime, lease: Duration, limit: u32) -> Result<Vec<Outbound>> {
        let mut claimed = Vec::new();
        for item in self.due_outbound(now, limit).await? {
            if self.lease_queued(item.message.id, item.next_attempt_at, now + lease).await? {
                claimed.push(item);
            }
        }
        Ok(claimed)
    }

    /// Leases one queued outbound message until `until`, if it is still queued and due at
    /// `due` (ms), i.e. no other node claimed it since it was read. Returns whether it did.
    pub(super) async fn lease_queued(&self, id: MessageId, due: i64, until: OffsetDateTime) -> Result<bool> {
        let won = sqlx::query(
            "UPDATE messages SET next_attempt_at = $3 \
             WHERE id = $1 AND delivery_status = 'queued' AND next_attempt_at = $2",
        )
        .bind(id.to_string())
        .bind(due)
        .bind(ms(until))
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(won == 1)
    }

    async fn due_outbound(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<Outbound>> {
        let columns = MESSAGE_COLUMNS.split(", ").map(|c| format!("m.{c}")).collect::<Vec<_>>().join(", ");
        sqlx::query(&format!(
            "SELECT {columns}, m.template, m.attempts, m.next_attempt_at, c.channel AS conv_channel, c.handle, \
             (SELECT MAX(created_at) FROM messages x WHERE x.conversation_id = m.conversation_id \
                AND x.author = 'customer') AS last_customer \
             FROM messages m JOIN conversations c ON c.id = m.conversation_id \
             WHERE m.delivery_status = 'queued' AND m.next_attempt_at <= $1 AND c.channel <> 'email' AND c.handle IS NOT NULL \
             ORDER BY m.next_attempt_at, m.id LIMIT $2"
        ))
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|row| {
            let template: Option<String> = row.try_get("template")?;
            let last: Option<i64> = row.try_get("last_customer")?;
            Ok(Outbound {
                message: message_from_row(row)?,
                channel: parse(row, "conv_channel")?,
                handle: row.try_get("handle")?,
                template: template
                    .map(|t| serde_json::from_str(&t))
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(format!("template: {e}")))?,
                attempts: row.try_get("attempts")?,
                next_attempt_at: row.try_get("next_attempt_at")?,
                last_customer_message_at: last.map(from_ms).transpose()?,
            })
        })
        .collect()
    }

    /// Records a send attempt: `Queued` again with the next try at `retry_at`, or the outcome.
    /// Returns the message as it now stands.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn record_delivery(
        &self,
        id: MessageId,
        status: DeliveryStatus,
        error: Option<&str>,
        external_id: Option<&str>,
        retry_at: Option<OffsetDateTime>,
    ) -> Result<Message> {
        let row = sqlx::query(&format!(
            "UPDATE messages SET delivery_status = $2, delivery_error = $3, \
             external_id = COALESCE($4, external_id), attempts = attempts + 1, next_attempt_at = $5 \
             WHERE id = $1 RETURNING {MESSAGE_COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(status.as_str())
        .bind(error)
        .bind(external_id)
        .bind(retry_at.map(ms))
        .fetch_optional(&self.write)
        .await?
        .ok_or(StoreError::NotFound { what: "message" })?;
        message_from_row(&row)
    }

    /// A platform's status report for a message we sent, by the platform's id for it. Status
    /// only moves forward (sent, delivered, read); `failed` always applies. Returns the message
    /// if it changed.
    ///
    /// # Errors
    /// A database failure.
    pub async fn delivery_report(
        &self,
        external_id: &str,
        status: DeliveryStatus,
        error: Option<&str>,
    ) -> Result<Option<Message>> {
        let row = sqlx::query(&format!(
            "UPDATE messages SET delivery_status = $2, delivery_error = COALESCE($3, delivery_error) \
             WHERE external_id = $1 AND ($2 = 'failed' OR \
               (CASE delivery_status WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 ELSE 0 END) < \
               (CASE $2 WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 ELSE 0 END)) \
             RETURNING {MESSAGE_COLUMNS}"
        ))
        .bind(external_id)
        .bind(status.as_str())
        .bind(error)
        .fetch_optional(&self.write)
        .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    /// Messenger's read receipts: every message sent to `handle` up to `watermark` is read.
    /// Returns the messages that changed.
    ///
    /// # Errors
    /// A database failure.
    pub async fn read_up_to(&self, channel: Channel, handle: &str, watermark: OffsetDateTime) -> Result<Vec<Message>> {
        sqlx::query(&format!(
            "UPDATE messages SET delivery_status = 'read' \
             WHERE delivery_status IN ('sent', 'delivered') AND created_at <= $3 AND conversation_id IN \
               (SELECT c.id FROM conversations c WHERE c.channel = $1 AND c.handle = $2) \
             RETURNING {MESSAGE_COLUMNS}"
        ))
        .bind(channel.as_str())
        .bind(handle)
        .bind(ms(watermark))
        .fetch_all(&self.write)
        .await?
        .iter()
        .map(message_from_row)
        .collect()
    }
}
