//! Self-service through the bot: each bot conversation's self-service state (an opaque JSON the
//! hub writes: what the bot awaits, the code's digest, verified until when) and the log of codes
//! sent, which the resend limits count.

use sqlx::Row;

use super::{Result, Store, now_ms};
use crate::ids::ConversationId;

/// Codes sent are kept this long (ms) for the resend limits, then pruned.
const SENDS_KEPT_MS: i64 = 24 * 60 * 60 * 1000;

impl Store {
    /// The conversation's self-service state, if any was written.
    ///
    /// # Errors
    /// A database failure.
    pub async fn selfservice_state(&self, conversation: ConversationId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT state FROM selfservice_sessions WHERE conversation_id = $1")
            .bind(conversation.to_string())
            .fetch_optional(&self.write)
            .await?;
        Ok(row.map(|r| r.try_get("state")).transpose()?)
    }

    /// Writes (or replaces) the conversation's self-service state.
    ///
    /// # Errors
    /// A database failure (an unknown conversation among them).
    pub async fn put_selfservice_state(&self, conversation: ConversationId, state: &str) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM selfservice_sessions WHERE conversation_id = $1")
            .bind(conversation.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO selfservice_sessions (conversation_id, state, updated_at) VALUES ($1, $2, $3)")
            .bind(conversation.to_string())
            .bind(state)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many codes were sent since `since_ms` (Unix ms): for this conversation, and to this
    /// destination (a digest) from any conversation.
    ///
    /// # Errors
    /// A database failure.
    pub async fn selfservice_sends_since(
        &self,
        conversation: ConversationId,
        destination: &str,
        since_ms: i64,
    ) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM selfservice_sends WHERE conversation_id = $1 AND sent_at >= $3) AS here, \
             (SELECT COUNT(*) FROM selfservice_sends WHERE destination = $2 AND sent_at >= $3) AS there",
        )
        .bind(conversation.to_string())
        .bind(destination)
        .bind(since_ms)
        .fetch_one(&self.write)
        .await?;
        Ok((row.try_get("here")?, row.try_get("there")?))
    }

    /// Records a code sent to `destination` (a digest), pruning the log's old rows.
    ///
    /// # Errors
    /// A database failure.
    pub async fn record_selfservice_send(&self, conversation: ConversationId, destination: &str) -> Result<()> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM selfservice_sends WHERE sent_at < $1")
            .bind(now - SENDS_KEPT_MS)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO selfservice_sends (conversation_id, destination, sent_at) VALUES ($1, $2, $3)")
            .bind(conversation.to_string())
            .bind(destination)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
