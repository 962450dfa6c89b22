//! Files customers send in the web chat, kept beside e-mail attachments and served the same way.

use super::email::{StoredAttachment, attachment_from_row};
use super::{Result, Store, StoreError, now_ms};
use crate::ids::{AttachmentId, ConversationId};

/// A checked file to keep.
#[derive(Clone, Debug)]
pub struct NewUpload {
    pub id: AttachmentId,
    pub conversation_id: ConversationId,
    pub file_name: Option<String>,
    pub content_type: String,
    pub content: Vec<u8>,
}

impl Store {
    /// Keeps an uploaded file, unless its conversation already holds `max_per_conversation`.
    /// Returns whether it was kept.
    ///
    /// # Errors
    /// A database failure.
    pub async fn create_upload(&self, upload: &NewUpload, max_per_conversation: i64) -> Result<bool> {
        let size = i64::try_from(upload.content.len()).unwrap_or(i64::MAX);
        let mut tx = self.write.begin().await?;
        // Concurrent uploads to one chat queue on its row, so the count below cannot be read by
        // two of them at once (SQLite has one writer anyway).
        if self.backend == super::Backend::Postgres {
            sqlx::query("SELECT id FROM conversations WHERE id = $1 FOR UPDATE")
                .bind(upload.conversation_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query(
            "INSERT INTO chat_uploads (id, conversation_id, file_name, content_type, size, content, created_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7 \
             WHERE (SELECT COUNT(*) FROM chat_uploads WHERE conversation_id = $2) < $8",
        )
        .bind(upload.id.to_string())
        .bind(upload.conversation_id.to_string())
        .bind(upload.file_name.as_deref())
        .bind(&upload.content_type)
        .bind(size)
        .bind(upload.content.clone())
        .bind(now_ms())
        .bind(max_per_conversation)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// A file sent in the web chat.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn upload(&self, id: AttachmentId) -> Result<StoredAttachment> {
        let row = sqlx::query(
            "SELECT id, conversation_id, file_name, content_type, size, content FROM chat_uploads WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.read)
        .await?
        .ok_or(StoreError::NotFound { what: "attachment" })?;
        attachment_from_row(&row)
    }

    /// Marks files as named by a message, so the sweep of unclaimed files keeps them.
    ///
    /// # Errors
    /// A database failure.
    pub async fn claim_uploads(&self, ids: &[AttachmentId]) -> Result<()> {
        for id in ids {
            sqlx::query("UPDATE chat_uploads SET claimed = TRUE WHERE id = $1 AND NOT claimed")
                .bind(id.to_string())
                .execute(&self.write)
                .await?;
        }
        Ok(())
    }

    /// Deletes files uploaded before `before` that no message named; returns how many.
    ///
    /// # Errors
    /// A database failure.
    pub async fn delete_unclaimed_uploads(&self, before: time::OffsetDateTime) -> Result<u64> {
        let done = sqlx::query("DELETE FROM chat_uploads WHERE NOT claimed AND created_at < $1")
            .bind(super::ms(before))
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }

    /// Any file a conversation holds: an e-mail attachment or a web chat upload.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn attachment(&self, id: AttachmentId) -> Result<StoredAttachment> {
        match self.email_attachment(id).await {
            Err(StoreError::NotFound { .. }) => self.upload(id).await,
            other => other,
        }
    }
}
