//! Knowledge-base documents with their versions, bot answers, and unanswered questions.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{Result, Store, StoreError, from_ms, now_ms, parse, parse_opt, to_json};
use crate::ids::{AgentId, ConversationId, DocumentId, MessageId, UnansweredId};
use crate::knowledge::{
    BotAnswer, Document, DocumentContent, DocumentVersion, IntentContent, StoredIntent, Unanswered,
};
use crate::values::{DocumentStatus, IntentName, Language, SkillLevel, SkillName, Verdict};

/// Which bot answers to list.
#[derive(Clone, Debug, PartialEq)]
pub struct BotAnswerFilter {
    /// Only those without a verdict.
    pub unjudged: bool,
    /// Only those with a confidence below this.
    pub below_confidence: Option<f64>,
    pub language: Option<Language>,
    /// Only those the customer said did not help.
    pub unhelpful: bool,
    pub limit: u32,
}

const DOCUMENT_COLUMNS: &str =
    "id, kind, language, title, body, questions, tags, status, version, source, updated_by, created_at, updated_at";
const VERSION_COLUMNS: &str =
    "document_id, version, kind, language, title, body, questions, tags, status, edited_by, edited_at";
const ANSWER_COLUMNS: &str = "message_id, conversation_id, question, language, intent, document_id, confidence, \
     verdict, judged_by, judged_at, created_at, unhelpful";
const UNANSWERED_COLUMNS: &str = "id, conversation_id, message_id, question, language, reason, \
     resolved_document_id, resolved_by, created_at, resolved_at";

fn list_col(row: &AnyRow, col: &str) -> Result<Vec<String>> {
    let s: String = row.try_get(col)?;
    serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn content_from_row(row: &AnyRow) -> Result<DocumentContent> {
    Ok(DocumentContent {
        kind: parse(row, "kind")?,
        language: parse(row, "language")?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        questions: list_col(row, "questions")?,
        tags: list_col(row, "tags")?,
        status: parse(row, "status")?,
    })
}

fn document_from_row(row: &AnyRow) -> Result<Document> {
    Ok(Document {
        id: parse(row, "id")?,
        content: content_from_row(row)?,
        version: row.try_get("version")?,
        source: row.try_get("source")?,
        updated_by: parse_opt(row, "updated_by")?,
        created_at: from_ms(row.try_get("created_at")?)?,
        updated_at: from_ms(row.try_get("updated_at")?)?,
    })
}

fn version_from_row(row: &AnyRow) -> Result<DocumentVersion> {
    Ok(DocumentVersion {
        document_id: parse(row, "document_id")?,
        version: row.try_get("version")?,
        content: content_from_row(row)?,
        edited_by: parse_opt(row, "edited_by")?,
        edited_at: from_ms(row.try_get("edited_at")?)?,
    })
}

fn answer_from_row(row: &AnyRow) -> Result<BotAnswer> {
    Ok(BotAnswer {
        message_id: parse(row, "message_id")?,
        conversation_id: parse(row, "conversation_id")?,
        question: row.try_get("question")?,
        language: parse(row, "language")?,
        intent: row.try_get("intent")?,
        document_id: parse(row, "document_id")?,
        confidence: row.try_get("confidence")?,
        verdict: parse_opt(row, "verdict")?,
        judged_by: parse_opt(row, "judged_by")?,
        judged_at: row.try_get::<Option<i64>, _>("judged_at")?.map(from_ms).transpose()?,
        created_at: from_ms(row.try_get("created_at")?)?,
        unhelpful: row.try_get::<i64, _>("unhelpful")? != 0,
    })
}

fn unanswered_from_row(row: &AnyRow) -> Result<Unanswered> {
    Ok(Unanswered {
        id: parse(row, "id")?,
        conversation_id: parse(row, "conversation_id")?,
        message_id: parse(row, "message_id")?,
        question: row.try_get("question")?,
        language: parse(row, "language")?,
        reason: row.try_get("reason")?,
        resolved_document_id: parse_opt(row, "resolved_document_id")?,
        resolved_by: parse_opt(row, "resolved_by")?,
        created_at: from_ms(row.try_get("created_at")?)?,
        resolved_at: row.try_get::<Option<i64>, _>("resolved_at")?.map(from_ms).transpose()?,
    })
}

async fn insert_version(
    tx: &mut Transaction<'static, Any>,
    id: DocumentId,
    version: i64,
    content: &DocumentContent,
    by: Option<AgentId>,
    at: i64,
) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO kb_document_versions ({VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(id.to_string())
    .bind(version)
    .bind(content.kind.as_str())
    .bind(content.language.as_str())
    .bind(&content.title)
    .bind(&content.body)
    .bind(to_json(&content.questions)?)
    .bind(to_json(&content.tags)?)
    .bind(content.status.as_str())
    .bind(by.map(|a| a.to_string()))
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Creates a document at version 1. With a `source`, an import: if a document from that
    /// source exists already it is returned unchanged (trainers' edits win) with `false`.
    ///
    /// # Errors
    /// A database failure.
    pub async fn create_document(
        &self,
        content: &DocumentContent,
        source: Option<&str>,
        by: Option<AgentId>,
    ) -> Result<(Document, bool)> {
        if let Some(source) = source
            && let Some(row) = sqlx::query(&format!("SELECT {DOCUMENT_COLUMNS} FROM kb_documents WHERE source = $1"))
                .bind(source)
                .fetch_optional(&self.read)
                .await?
        {
            return Ok((document_from_row(&row)?, false));
        }
        let id = DocumentId::new();
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO kb_documents ({DOCUMENT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10, $11, $11) RETURNING {DOCUMENT_COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(content.kind.as_str())
        .bind(content.language.as_str())
        .bind(&content.title)
        .bind(&content.body)
        .bind(to_json(&content.questions)?)
        .bind(to_json(&content.tags)?)
        .bind(content.status.as_str())
        .bind(source)
        .bind(by.map(|a| a.to_string()))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        insert_version(&mut tx, id, 1, content, by, now).await?;
        tx.commit().await?;
        Ok((document_from_row(&row)?, true))
    }

    /// Replaces a document's content, if it is still at `expected_version`, keeping the old
    /// version in its history.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Conflict`] when someone changed it since, or a
    /// database failure.
    pub async fn update_document(
        &self,
        id: DocumentId,
        content: &DocumentContent,
        expected_version: i64,
        by: AgentId,
    ) -> Result<Document> {
        Ok(self.update_document_resolving(id, content, expected_version, by, &[]).await?.0)
    }

    /// [`Store::update_document`], and in the same transaction marks the open questions among
    /// `resolve` as answered by the new version. Returns the document and how many were resolved;
    /// when `resolve` is not empty and none of them is still open, nothing is written.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the document is not at `expected_version` or no question is
    /// still open, [`StoreError::NotFound`], or a database failure.
    pub async fn update_document_resolving(
        &self,
        id: DocumentId,
        content: &DocumentContent,
        expected_version: i64,
        by: AgentId,
        resolve: &[UnansweredId],
    ) -> Result<(Document, u64)> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE kb_documents SET kind = $3, language = $4, title = $5, body = $6, questions = $7, tags = $8, \
             status = $9, version = version + 1, updated_by = $10, updated_at = $11 \
             WHERE id = $1 AND version = $2 RETURNING {DOCUMENT_COLUMNS}"
        ))
        .bind(id.to_string())
        .bind(expected_version)
        .bind(content.kind.as_str())
        .bind(content.language.as_str())
        .bind(&content.title)
        .bind(&content.body)
        .bind(to_json(&content.questions)?)
        .bind(to_json(&content.tags)?)
        .bind(content.status.as_str())
        .bind(by.to_string())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            drop(tx);
            let current = self.document(id).await?;
            return Err(StoreError::Conflict(format!(
                "the document changed since version {expected_version}: it is at version {}",
                current.version
            )));
        };
        let document = document_from_row(&row)?;
        insert_version(&mut tx, id, document.version, content, Some(by), now).await?;
        let resolved = resolve_open(&mut tx, resolve, id, by, now).await?;
        if !resolve.is_empty() && resolved == 0 {
            return Err(StoreError::Conflict("none of these questions is still open".into()));
        }
        tx.commit().await?;
        Ok((document, resolved))
    }

    /// One document.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn document(&self, id: DocumentId) -> Result<Document> {
        let row = sqlx::query(&format!("SELECT {DOCUMENT_COLUMNS} FROM kb_documents WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?
            .ok_or(StoreError::NotFound { what: "document" })?;
        document_from_row(&row)
    }

    /// Documents, optionally only those with `status` and in `language`, by title.
    ///
    /// # Errors
    /// A database failure.
    pub async fn documents(&self, status: Option<DocumentStatus>, language: Option<Language>) -> Result<Vec<Document>> {
        sqlx::query(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM kb_documents WHERE ($1 IS NULL OR status = $1) \
             AND ($2 IS NULL OR language = $2) ORDER BY title, id"
        ))
        .bind(status.map(DocumentStatus::as_str))
        .bind(language.map(Language::as_str))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(document_from_row)
        .collect()
    }

    /// Every version of a document, newest first.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or a database failure.
    pub async fn document_versions(&self, id: DocumentId) -> Result<Vec<DocumentVersion>> {
        let versions = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM kb_document_versions WHERE document_id = $1 ORDER BY version DESC"
        ))
        .bind(id.to_string())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(version_from_row)
        .collect::<Result<Vec<_>>>()?;
        if versions.is_empty() {
            return Err(StoreError::NotFound { what: "document" });
        }
        Ok(versions)
    }

    /// Records the bot's answer (its message is stored already).
    ///
    /// # Errors
    /// A database failure.
    pub async fn record_bot_answer(&self, answer: &BotAnswer) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let conversation = answer.conversation_id.to_string();
        // The conversation first, as every writer of it takes it (PostgreSQL).
        super::bot_reports::lock_conversation(&mut tx, self.backend, &conversation).await?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO bot_answers ({ANSWER_COLUMNS}, counted) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, NULL, $8, 0, 1) ON CONFLICT (message_id) DO NOTHING"
        ))
        .bind(answer.message_id.to_string())
        .bind(answer.conversation_id.to_string())
        .bind(&answer.question)
        .bind(answer.language.as_str())
        .bind(answer.intent.as_deref())
        .bind(answer.document_id.to_string())
        .bind(answer.confidence)
        .bind(super::ms(answer.created_at))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            super::bot_reports::answer_recorded(&mut tx, self.backend, &conversation, super::ms(answer.created_at))
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Bot answers, newest first, as `filter` says.
    ///
    /// # Errors
    /// A database failure.
    pub async fn bot_answers(&self, filter: &BotAnswerFilter) -> Result<Vec<BotAnswer>> {
        sqlx::query(&format!(
            "SELECT {ANSWER_COLUMNS} FROM bot_answers WHERE ($1 = 0 OR verdict IS NULL) AND confidence < $2 \
             AND ($3 = '' OR language = $3) AND ($4 = 0 OR unhelpful = 1) \
             ORDER BY created_at DESC, message_id LIMIT $5"
        ))
        .bind(i64::from(filter.unjudged))
        .bind(filter.below_confidence.unwrap_or(f64::MAX))
        .bind(filter.language.map_or("", Language::as_str))
        .bind(i64::from(filter.unhelpful))
        .bind(i64::from(filter.limit))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(answer_from_row)
        .collect()
    }

    /// Notes that the customer said a bot answer did not help (no-op for a message that is no
    /// bot answer).
    ///
    /// # Errors
    /// A database failure.
    pub async fn mark_answer_unhelpful(&self, message_id: MessageId) -> Result<()> {
        sqlx::query("UPDATE bot_answers SET unhelpful = 1 WHERE message_id = $1")
            .bind(message_id.to_string())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// A trainer's verdict on a bot answer. A wrong answer puts its question in the
    /// unanswered queue (once).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the message is no bot answer, or a database failure.
    pub async fn judge_bot_answer(&self, message_id: MessageId, verdict: Verdict, by: AgentId) -> Result<BotAnswer> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let lock = if self.backend == super::Backend::Postgres { " FOR UPDATE" } else { "" };
        let before = sqlx::query(&format!(
            "SELECT conversation_id, verdict, counted, created_at FROM bot_answers WHERE message_id = $1{lock}"
        ))
        .bind(message_id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound { what: "bot answer" })?;
        let row = sqlx::query(&format!(
            "UPDATE bot_answers SET verdict = $2, judged_by = $3, judged_at = $4 WHERE message_id = $1 \
             RETURNING {ANSWER_COLUMNS}"
        ))
        .bind(message_id.to_string())
        .bind(verdict.as_str())
        .bind(by.to_string())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound { what: "bot answer" })?;
        let answer = answer_from_row(&row)?;
        if before.try_get::<i64, _>("counted")? == 1 {
            super::bot_reports::verdict_changed(
                &mut tx,
                &before.try_get::<String, _>("conversation_id")?,
                before.try_get("created_at")?,
                before.try_get::<Option<String>, _>("verdict")?.as_deref(),
                verdict.as_str(),
            )
            .await?;
        }
        if verdict == Verdict::Wrong {
            // The customer's question is the message the answer replied to; the queue is keyed
            // by that message, so judging twice queues it once.
            let question: Option<String> = sqlx::query(
                "SELECT q.id FROM messages q JOIN messages a ON a.conversation_id = q.conversation_id \
                 WHERE a.id = $1 AND q.author = 'customer' AND q.seq < a.seq ORDER BY q.seq DESC LIMIT 1",
            )
            .bind(message_id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("id"))
            .transpose()?;
            if let Some(question_id) = question {
                insert_unanswered(
                    &mut tx,
                    answer.conversation_id,
                    &question_id,
                    &answer.question,
                    answer.language,
                    "marked_wrong",
                    now,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(answer)
    }

    /// Puts a customer's question in the unanswered queue (once per message).
    ///
    /// # Errors
    /// A database failure.
    pub async fn record_unanswered(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        question: &str,
        language: Language,
        reason: &str,
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        insert_unanswered(&mut tx, conversation_id, &message_id.to_string(), question, language, reason, now_ms())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Unanswered questions no trainer has resolved yet, oldest first.
    ///
    /// # Errors
    /// A database failure.
    pub async fn open_unanswered(&self, limit: u32) -> Result<Vec<Unanswered>> {
        sqlx::query(&format!(
            "SELECT {UNANSWERED_COLUMNS} FROM bot_unanswered WHERE resolved_at IS NULL \
             ORDER BY created_at, id LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(unanswered_from_row)
        .collect()
    }

    /// The questions among `ids` no trainer has resolved yet, oldest first (asked in chunks of
    /// 500 ids, so any number is bounded per query).
    ///
    /// # Errors
    /// A database failure.
    pub async fn open_unanswered_among(&self, ids: &[UnansweredId]) -> Result<Vec<Unanswered>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {UNANSWERED_COLUMNS} FROM bot_unanswered WHERE id IN ({}) AND resolved_at IS NULL",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.read).await? {
                out.push(unanswered_from_row(&row)?);
            }
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.to_string().cmp(&b.id.to_string())));
        out.dedup_by_key(|u| u.id);
        Ok(out)
    }

    /// Marks questions as answered by `document`. Returns how many were still open.
    ///
    /// # Errors
    /// A database failure.
    pub async fn resolve_unanswered(&self, ids: &[UnansweredId], document: DocumentId, by: AgentId) -> Result<u64> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let resolved = resolve_open(&mut tx, ids, document, by, now).await?;
        tx.commit().await?;
        Ok(resolved)
    }

    /// Whether the bot answered in a conversation or queued a question from it for trainers.
    ///
    /// # Errors
    /// A database failure.
    pub async fn bot_took_part(&self, conversation_id: ConversationId) -> Result<bool> {
        let found = sqlx::query(
            "SELECT 1 AS one FROM bot_unanswered WHERE conversation_id = $1 \
             UNION ALL SELECT 1 AS one FROM bot_answers WHERE conversation_id = $1 LIMIT 1",
        )
        .bind(conversation_id.to_string())
        .fetch_optional(&self.read)
        .await?;
        Ok(found.is_some())
    }

    /// Takes open questions out of the queue without an answer (no document). Returns how many
    /// were still open.
    ///
    /// # Errors
    /// A database failure.
    pub async fn dismiss_unanswered(&self, ids: &[UnansweredId], by: AgentId) -> Result<u64> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let mut dismissed = 0;
        for id in ids {
            dismissed += sqlx::query(
                "UPDATE bot_unanswered SET resolved_by = $2, resolved_at = $3 WHERE id = $1 AND resolved_at IS NULL",
            )
            .bind(id.to_string())
            .bind(by.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(dismissed)
    }

    /// The bot's intents, in their order.
    ///
    /// # Errors
    /// A database failure, or a corrupt row.
    pub async fn intents(&self) -> Result<Vec<StoredIntent>> {
        sqlx::query(&format!("SELECT {INTENT_COLUMNS} FROM bot_intents ORDER BY position, name"))
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(intent_from_row)
            .collect()
    }

    /// Stores the built-in intents when there are none yet. Returns whether it did.
    ///
    /// # Errors
    /// A database failure.
    pub async fn seed_intents(&self, intents: &[(IntentName, IntentContent)]) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let count: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM bot_intents").fetch_one(&mut *tx).await?.try_get("n")?;
        if count > 0 {
            return Ok(false);
        }
        for (position, (name, content)) in intents.iter().enumerate() {
            sqlx::query(&format!(
                "INSERT INTO bot_intents ({INTENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, NULL, $6) \
                 ON CONFLICT (name) DO NOTHING"
            ))
            .bind(name.as_str())
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(to_json(&content.examples)?)
            .bind(i64::from(content.always_human))
            .bind(skills_json(content)?)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Adds those of `intents` the store does not have yet (after the others), leaving every
    /// stored one as trainers left it: how intents built in by a later version reach a store
    /// seeded before. Returns how many were added.
    ///
    /// # Errors
    /// A database failure.
    pub async fn add_missing_intents(&self, intents: &[(IntentName, IntentContent)]) -> Result<usize> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let next: i64 = sqlx::query("SELECT COALESCE(MAX(position), -1) + 1 AS n FROM bot_intents")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        let mut added = 0;
        for (name, content) in intents {
            let done = sqlx::query(&format!(
                "INSERT INTO bot_intents ({INTENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, NULL, $6) \
                 ON CONFLICT (name) DO NOTHING"
            ))
            .bind(name.as_str())
            .bind(next + i64::try_from(added).unwrap_or(i64::MAX))
            .bind(to_json(&content.examples)?)
            .bind(i64::from(content.always_human))
            .bind(skills_json(content)?)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            added += usize::try_from(done.rows_affected()).unwrap_or(0);
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Creates or replaces an intent (a new one goes last).
    ///
    /// # Errors
    /// A database failure.
    pub async fn put_intent(&self, name: &IntentName, content: &IntentContent, by: AgentId) -> Result<StoredIntent> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let updated = sqlx::query(&format!(
            "UPDATE bot_intents SET examples = $2, always_human = $3, skills = $4, updated_by = $5, updated_at = $6 \
             WHERE name = $1 RETURNING {INTENT_COLUMNS}"
        ))
        .bind(name.as_str())
        .bind(to_json(&content.examples)?)
        .bind(i64::from(content.always_human))
        .bind(skills_json(content)?)
        .bind(by.to_string())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let row = match updated {
            Some(row) => row,
            None => {
                sqlx::query(&format!(
                    "INSERT INTO bot_intents ({INTENT_COLUMNS}) \
                     SELECT $1, COALESCE(MAX(position), -1) + 1, $2, $3, $4, $5, $6 FROM bot_intents \
                     RETURNING {INTENT_COLUMNS}"
                ))
                .bind(name.as_str())
                .bind(to_json(&content.examples)?)
                .bind(i64::from(content.always_human))
                .bind(skills_json(content)?)
                .bind(by.to_string())
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        tx.commit().await?;
        intent_from_row(&row)
    }
}

const INTENT_COLUMNS: &str = "name, position, examples, always_human, skills, updated_by, updated_at";

fn skills_json(content: &IntentContent) -> Result<String> {
    let pairs: Vec<(&str, u8)> = content.skills.iter().map(|(s, l)| (s.as_str(), l.get())).collect();
    to_json(&pairs)
}

fn intent_from_row(row: &AnyRow) -> Result<StoredIntent> {
    let corrupt = |col: &str, e: &dyn std::fmt::Display| StoreError::Corrupt(format!("bot_intents.{col}: {e}"));
    let examples: String = row.try_get("examples")?;
    let examples = serde_json::from_str(&examples).map_err(|e| corrupt("examples", &e))?;
    let skills: String = row.try_get("skills")?;
    let pairs: Vec<(String, i64)> = serde_json::from_str(&skills).map_err(|e| corrupt("skills", &e))?;
    let skills = pairs
        .into_iter()
        .map(|(s, l)| Ok((s.parse()?, SkillLevel::try_from(l)?)))
        .collect::<Result<Vec<(SkillName, SkillLevel)>>>()?;
    Ok(StoredIntent {
        name: parse(row, "name")?,
        content: IntentContent { examples, always_human: row.try_get::<i64, _>("always_human")? != 0, skills },
        updated_by: parse_opt(row, "updated_by")?,
        updated_at: from_ms(row.try_get("updated_at")?)?,
    })
}

/// Marks the questions that are still open as answered by `document`; returns how many were.
async fn resolve_open(
    tx: &mut Transaction<'static, Any>,
    ids: &[UnansweredId],
    document: DocumentId,
    by: AgentId,
    now: i64,
) -> Result<u64> {
    let mut resolved = 0;
    for id in ids {
        resolved += sqlx::query(
            "UPDATE bot_unanswered SET resolved_document_id = $2, resolved_by = $3, resolved_at = $4 \
             WHERE id = $1 AND resolved_at IS NULL",
        )
        .bind(id.to_string())
        .bind(document.to_string())
        .bind(by.to_string())
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    Ok(resolved)
}

async fn insert_unanswered(
    tx: &mut Transaction<'static, Any>,
    conversation_id: ConversationId,
    message_id: &str,
    question: &str,
    language: Language,
    reason: &str,
    at: i64,
) -> Result<()> {
    let inserted = sqlx::query(&format!(
        "INSERT INTO bot_unanswered ({UNANSWERED_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, $7, NULL) \
         ON CONFLICT (message_id) DO NOTHING"
    ))
    .bind(UnansweredId::new().to_string())
    .bind(conversation_id.to_string())
    .bind(message_id)
    .bind(question)
    .bind(language.as_str())
    .bind(reason)
    .bind(at)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        super::bot_reports::unanswered_recorded(tx, &conversation_id.to_string(), at).await?;
    }
    Ok(())
}

/// A document's cached embedding vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedEmbedding {
    /// The document version they were computed from.
    pub version: i64,
    /// One row per embedded text.
    pub rows: Vec<Vec<f32>>,
}

fn rows_to_bytes(rows: &[Vec<f32>]) -> Vec<u8> {
    rows.iter().flatten().flat_map(|f| f.to_le_bytes()).collect()
}

fn bytes_to_rows(bytes: &[u8], dim: usize) -> Option<Vec<Vec<f32>>> {
    let row_bytes = dim.checked_mul(4).filter(|&n| n > 0)?;
    if !bytes.len().is_multiple_of(row_bytes) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(row_bytes)
            .map(|row| row.chunks_exact(4).map(|f| f32::from_le_bytes([f[0], f[1], f[2], f[3]])).collect())
            .collect(),
    )
}

impl Store {
    /// Cached embedding vectors of `dim` floats computed by `model`, by document.
    ///
    /// # Errors
    /// A database failure, or a cached row of the wrong size.
    pub async fn document_embeddings(
        &self,
        model: &str,
        dim: usize,
    ) -> Result<std::collections::HashMap<DocumentId, CachedEmbedding>> {
        let rows = sqlx::query("SELECT document_id, version, vectors FROM kb_embeddings WHERE model = $1")
            .bind(model)
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|row| {
                let id: DocumentId = parse(row, "document_id")?;
                let bytes: Vec<u8> = row.try_get("vectors")?;
                let rows = bytes_to_rows(&bytes, dim)
                    .ok_or_else(|| StoreError::Corrupt(format!("embedding of document {id}: {} bytes", bytes.len())))?;
                Ok((id, CachedEmbedding { version: row.try_get("version")?, rows }))
            })
            .collect()
    }

    /// Caches a document version's embedding vectors (replacing older ones).
    ///
    /// # Errors
    /// A database failure.
    pub async fn save_document_embedding(
        &self,
        id: DocumentId,
        version: i64,
        model: &str,
        rows: &[Vec<f32>],
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO kb_embeddings (document_id, version, model, vectors) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (document_id) DO UPDATE SET version = $2, model = $3, vectors = $4",
        )
        .bind(id.to_string())
        .bind(version)
        .bind(model)
        .bind(rows_to_bytes(rows))
        .execute(&self.write)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_and_bad_sizes_are_refused() {
        let rows = vec![vec![0.5, -1.25, 3.0], vec![f32::MIN_POSITIVE, 0.0, 1e-7]];
        assert_eq!(bytes_to_rows(&rows_to_bytes(&rows), 3), Some(rows));
        assert_eq!(bytes_to_rows(&[0; 13], 3), None);
        assert_eq!(bytes_to_rows(&[], 3), Some(Vec::new()));
        assert_eq!(bytes_to_rows(&[0; 12], 0), None);
    }
}
