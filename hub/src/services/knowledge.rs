//! The bot trainers' work: knowledge-base documents with their versions (every change searchable
//! as soon as it is stored), a search to try the bot's knowledge, the questions it could not
//! answer (grouped by similarity) turned into answers, and verdicts on its answers.

use std::sync::Arc;

use schema::knowledge::{
    BotAnswer, Document, DocumentContent, DocumentVersion, IntentContent, StoredIntent, Unanswered,
};
use schema::{
    AgentId, BotAnswerFilter, DocumentId, DocumentKind, DocumentStatus, IntentName, Language, MessageId, StoreError,
    UnansweredId, Verdict,
};

use crate::error::Error;
use crate::services::bot::Assistant;

/// A document as trainers write it.
#[derive(Debug)]
pub struct DocumentInput {
    pub kind: String,
    pub language: String,
    pub title: String,
    pub body: String,
    pub questions: Vec<String>,
    pub tags: Vec<String>,
    /// `draft`, `published` (the default) or `archived`.
    pub status: Option<String>,
}

impl DocumentInput {
    fn content(self) -> Result<DocumentContent, Error> {
        Ok(DocumentContent {
            kind: self.kind.parse()?,
            language: self.language.parse()?,
            title: self.title,
            body: self.body,
            questions: self.questions,
            tags: self.tags,
            status: self.status.as_deref().map(str::parse).transpose()?.unwrap_or(DocumentStatus::Published),
        }
        .validate()?)
    }
}

/// One search hit, with the ranks that explain it.
#[derive(Debug)]
pub struct SearchHit {
    pub document_id: String,
    pub kind: &'static str,
    pub language: Language,
    pub title: String,
    pub passage: String,
    pub score: f32,
    pub bm25_rank: Option<u32>,
    pub vector_rank: Option<u32>,
}

/// Unanswered questions asked alike, the first one first.
#[derive(Debug)]
pub struct UnansweredGroup {
    pub items: Vec<Unanswered>,
}

/// Unanswered questions turned into a published Q&A pair.
#[derive(Debug)]
pub struct AnswerInput {
    /// The unanswered questions this answers (a group, usually).
    pub ids: Vec<UnansweredId>,
    /// The answer customers will get.
    pub answer: String,
    /// The Q&A pair's title; default: the first question.
    pub title: Option<String>,
    /// More phrasings, besides the questions themselves.
    pub questions: Vec<String>,
    pub language: Option<String>,
    pub tags: Vec<String>,
}

/// Largest file the import takes, in bytes.
pub const MAX_IMPORT_BYTES: usize = 200 * 1024;
/// Most documents in one imported file.
pub const MAX_IMPORT_DOCUMENTS: usize = 200;

fn check_ids(ids: &[UnansweredId]) -> Result<(), Error> {
    if ids.is_empty() || ids.len() > 1000 {
        return Err(Error::invalid("ids", "1 to 1000 unanswered question ids"));
    }
    Ok(())
}

/// Filters of the bot's answers.
#[derive(Debug, Default)]
pub struct AnswersFilter {
    pub unjudged: bool,
    /// Only answers given with a confidence below this (0..=1).
    pub below_confidence: Option<f64>,
    pub language: Option<String>,
    /// Only answers the customer said did not help.
    pub unhelpful: bool,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

/// One file to import.
#[derive(Debug)]
pub struct ImportInput {
    /// The folder's name: with the document ids, what makes a second import a no-op.
    pub folder: String,
    pub file_name: String,
    pub content: String,
    /// Store the documents as drafts rather than published.
    pub draft: bool,
    /// The trainer importing: each new document's author.
    pub by: AgentId,
}

/// What an import did.
#[derive(Debug)]
pub struct ImportOutcome {
    pub created: Vec<Document>,
    /// Documents imported before, left as they are.
    pub kept: usize,
}

/// A bot decision tried by a trainer, with what explains it.
#[derive(Debug)]
pub struct Trial {
    pub decision: bot::Decision,
    pub assessment: bot::Assessment,
    /// `hybrid` or `keyword_only`.
    pub search: &'static str,
}

/// An intent as trainers write it.
#[derive(Debug)]
pub struct IntentInput {
    /// Examples by language code.
    pub examples: Vec<(String, Vec<String>)>,
    pub always_human: bool,
    pub skills: Vec<(String, i64)>,
}

/// The trainers' service over the bot's knowledge base.
#[derive(Debug)]
pub struct Knowledge {
    store: schema::Store,
    /// `None` when the bot is off: reads work, changes and searches answer 503.
    assistant: Option<Arc<Assistant>>,
}

impl Knowledge {
    #[must_use]
    pub fn new(store: schema::Store, assistant: Option<Arc<Assistant>>) -> Self {
        Self { store, assistant }
    }

    fn assistant(&self) -> Result<&Arc<Assistant>, Error> {
        self.assistant.as_ref().ok_or_else(|| Error::Unavailable("the bot is disabled (bot.enabled = false)".into()))
    }

    /// Documents by title.
    ///
    /// # Errors
    /// An unknown status or language (422).
    pub async fn documents(&self, status: Option<&str>, language: Option<&str>) -> Result<Vec<Document>, Error> {
        let status = status.map(str::parse::<DocumentStatus>).transpose()?;
        let language = language.map(str::parse::<Language>).transpose()?;
        Ok(self.store.documents(status, language).await?)
    }

    /// A new article or Q&A pair, searchable at once if published.
    ///
    /// # Errors
    /// A field that does not validate (422); the bot is off (503).
    pub async fn create(&self, trainer: AgentId, input: DocumentInput) -> Result<Document, Error> {
        let assistant = self.assistant()?;
        let content = input.content()?;
        let (doc, _) = self.store.create_document(&content, None, Some(trainer)).await?;
        assistant.reindex(&doc).await?;
        tracing::info!(document_id = %doc.id, by = %trainer, "knowledge-base document created");
        Ok(doc)
    }

    /// One document.
    ///
    /// # Errors
    /// Unknown document (404).
    pub async fn document(&self, id: DocumentId) -> Result<Document, Error> {
        Ok(self.store.document(id).await?)
    }

    /// A published document, as customers may read it (the bot's answers link to it).
    ///
    /// # Errors
    /// Unknown, draft or archived document: all the same 404, so drafts cannot be probed.
    pub async fn published(&self, id: DocumentId) -> Result<Document, Error> {
        match self.store.document(id).await {
            Ok(doc) if doc.content.status == DocumentStatus::Published => Ok(doc),
            Ok(_) | Err(StoreError::NotFound { .. }) => Err(Error::NotFound("article")),
            Err(e) => Err(e.into()),
        }
    }

    /// A new version (`version` must be the current one: 409 otherwise). Unpublishing takes it
    /// out of the bot's answers at once.
    ///
    /// # Errors
    /// No `version` or a field that does not validate (422), a stale version (409).
    pub async fn update(
        &self,
        trainer: AgentId,
        id: DocumentId,
        input: DocumentInput,
        version: Option<i64>,
    ) -> Result<Document, Error> {
        let assistant = self.assistant()?;
        let content = input.content()?;
        let version = version.ok_or(Error::Validation(schema::ValidationError::Empty { field: "version" }))?;
        let doc = self.store.update_document(id, &content, version, trainer).await?;
        assistant.reindex(&doc).await?;
        tracing::info!(document_id = %doc.id, version = doc.version, by = %trainer, "knowledge-base document changed");
        Ok(doc)
    }

    /// Every version of a document, newest first.
    ///
    /// # Errors
    /// The store fails.
    pub async fn versions(&self, id: DocumentId) -> Result<Vec<DocumentVersion>, Error> {
        Ok(self.store.document_versions(id).await?)
    }

    /// What the bot's search finds, with its scores.
    ///
    /// # Errors
    /// An empty or overlong query, a limit out of 1..=50 (422); the bot is off (503).
    pub async fn search(
        &self,
        q: String,
        language: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<SearchHit>, Error> {
        let kb = self.assistant()?.knowledge_base();
        if q.trim().is_empty() || q.chars().count() > 1000 {
            return Err(Error::invalid("q", "1 to 1000 characters"));
        }
        let language = language.map(str::parse::<Language>).transpose()?;
        let limit = limit.unwrap_or(5);
        if !(1..=50).contains(&limit) {
            return Err(Error::invalid("limit", "must be between 1 and 50"));
        }
        let hits = tokio::task::spawn_blocking(move || kb.search(&q, language, limit))
            .await
            .map_err(Error::internal)?
            .map_err(Error::internal)?;
        Ok(hits
            .into_iter()
            .map(|h| SearchHit {
                document_id: h.id.to_string(),
                kind: if h.kind == knowledge_base::DocKind::QaPair { "qa" } else { "article" },
                language: h.language,
                title: h.title,
                passage: h.passage,
                score: h.score,
                bm25_rank: h.bm25_rank,
                vector_rank: h.vector_rank,
            })
            .collect())
    }

    /// Open questions the bot could not answer, grouped by similarity, most asked first.
    ///
    /// # Errors
    /// The bot is off (503), or the store fails.
    pub async fn unanswered(&self) -> Result<Vec<UnansweredGroup>, Error> {
        let kb = self.assistant()?.knowledge_base();
        let open = self.store.open_unanswered(1000).await?;
        let texts: Vec<String> = open.iter().map(|u| u.question.clone()).collect();
        let groups = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            bot::group_questions(&kb, &refs)
        })
        .await
        .map_err(Error::internal)?
        .map_err(Error::internal)?;
        Ok(groups
            .into_iter()
            .map(|members| UnansweredGroup { items: members.iter().filter_map(|&i| open.get(i)).cloned().collect() })
            .filter(|g| !g.items.is_empty())
            .collect())
    }

    /// Turns unanswered questions into a published Q&A pair (their own words become its
    /// phrasings, the most asked first, up to the cap; every one is resolved) and marks them
    /// answered. Returns the document and how many were resolved.
    ///
    /// # Errors
    /// No ids or too many (422), none still open (409), the bot is off (503).
    pub async fn answer_unanswered(&self, trainer: AgentId, input: AnswerInput) -> Result<(Document, u64), Error> {
        let assistant = self.assistant()?;
        if input.ids.is_empty() || input.ids.len() > 1000 {
            return Err(Error::invalid("ids", "1 to 1000 unanswered question ids"));
        }
        let open = self.store.open_unanswered(10_000).await?;
        let chosen: Vec<_> = open.iter().filter(|u| input.ids.contains(&u.id)).collect();
        let Some(first) = chosen.first() else {
            return Err(Error::Conflict("none of these questions is still open".into()));
        };
        let language = match input.language.as_deref() {
            Some(l) => l.parse()?,
            None => first.language,
        };
        let mut questions = input.questions;
        let added = phrasings_to_add(&questions, chosen.iter().map(|u| u.question.as_str()));
        questions.extend(added);
        let content = DocumentContent {
            kind: DocumentKind::Qa,
            language,
            title: input.title.unwrap_or_else(|| first.question.chars().take(200).collect()),
            body: input.answer,
            questions,
            tags: input.tags,
            status: DocumentStatus::Published,
        }
        .validate()?;
        let (doc, _) = self.store.create_document(&content, None, Some(trainer)).await?;
        assistant.reindex(&doc).await?;
        let ids: Vec<UnansweredId> = chosen.iter().map(|u| u.id).collect();
        let resolved = self.store.resolve_unanswered(&ids, doc.id, trainer).await?;
        tracing::info!(document_id = %doc.id, resolved, by = %trainer, "unanswered questions answered");
        Ok((doc, resolved))
    }

    /// The bot's answers, newest first, filtered.
    ///
    /// # Errors
    /// A limit out of 1..=200, a confidence out of 0..=1, an unknown language (422).
    pub async fn answers(&self, filter: AnswersFilter) -> Result<Vec<BotAnswer>, Error> {
        let limit = filter.limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(Error::invalid("limit", "must be between 1 and 200"));
        }
        if let Some(c) = filter.below_confidence
            && !(0.0..=1.0).contains(&c)
        {
            return Err(Error::invalid("below_confidence", "must be between 0 and 1"));
        }
        let language = filter.language.as_deref().map(str::parse::<Language>).transpose()?;
        let filter = BotAnswerFilter {
            unjudged: filter.unjudged,
            below_confidence: filter.below_confidence,
            language,
            unhelpful: filter.unhelpful,
            limit,
        };
        Ok(self.store.bot_answers(&filter).await?)
    }

    /// Takes unanswered questions out of the queue without answering them. Returns how many
    /// were still open.
    ///
    /// # Errors
    /// No ids or too many (422).
    pub async fn dismiss_unanswered(&self, trainer: AgentId, ids: &[UnansweredId]) -> Result<u64, Error> {
        check_ids(ids)?;
        let dismissed = self.store.dismiss_unanswered(ids, trainer).await?;
        tracing::info!(dismissed, by = %trainer, "unanswered questions dismissed");
        Ok(dismissed)
    }

    /// Adds unanswered questions to an existing document as phrasings (a new version, published
    /// as it was; the most asked first, up to the cap, though every one is resolved) and marks
    /// them answered by it. Returns the document and how many were resolved.
    ///
    /// # Errors
    /// No ids or too many (422), none still open (409), an unknown document (404), a document
    /// in another language or not published (422), the bot is off (503).
    pub async fn merge_unanswered(
        &self,
        trainer: AgentId,
        ids: &[UnansweredId],
        document: DocumentId,
    ) -> Result<(Document, u64), Error> {
        let assistant = self.assistant()?;
        check_ids(ids)?;
        let doc = self.store.document(document).await?;
        if doc.content.status != DocumentStatus::Published {
            return Err(Error::invalid(
                "document_id",
                format!("the document is {}: merge into a published document", doc.content.status),
            ));
        }
        let open = self.store.open_unanswered_among(ids).await?;
        let chosen: Vec<&Unanswered> = open.iter().collect();
        if chosen.is_empty() {
            return Err(Error::Conflict("none of these questions is still open".into()));
        }
        if let Some(other) = chosen.iter().find(|u| u.language != doc.content.language) {
            return Err(Error::invalid(
                "document_id",
                format!(
                    "the document is in {}, a question is in {}: merge into a document of the questions' language",
                    doc.content.language, other.language
                ),
            ));
        }
        let mut content = doc.content.clone();
        let added = phrasings_to_add(&content.questions, chosen.iter().map(|u| u.question.as_str()));
        content.questions.extend(added);
        let content = content.validate()?;
        // The new version and the questions' resolution are one transaction; then the index.
        let chosen_ids: Vec<UnansweredId> = chosen.iter().map(|u| u.id).collect();
        let (updated, resolved) =
            self.store.update_document_resolving(doc.id, &content, doc.version, trainer, &chosen_ids).await?;
        assistant.reindex(&updated).await?;
        tracing::info!(document_id = %updated.id, resolved, by = %trainer, "unanswered questions merged");
        Ok((updated, resolved))
    }

    /// A past version's content as a new version (the current one stays in the history), with
    /// the document's current status kept.
    ///
    /// # Errors
    /// An unknown document or version (404), someone saved meanwhile (409), the bot is off (503).
    pub async fn restore(&self, trainer: AgentId, id: DocumentId, version: i64) -> Result<Document, Error> {
        let assistant = self.assistant()?;
        let current = self.store.document(id).await?;
        let old = self
            .store
            .document_versions(id)
            .await?
            .into_iter()
            .find(|v| v.version == version)
            .ok_or(Error::NotFound("version"))?;
        // The version's words, not its status: restoring never republishes an archived document
        // (nor unpublishes one).
        let content = DocumentContent { status: current.content.status, ..old.content };
        let doc = self.store.update_document(id, &content, current.version, trainer).await?;
        assistant.reindex(&doc).await?;
        tracing::info!(document_id = %doc.id, restored = version, version = doc.version, by = %trainer, "knowledge-base version restored");
        Ok(doc)
    }

    /// Imports the documents of one file (JSON or Markdown with front matter, as `switchboard kb
    /// import` reads them) under `folder`: a document imported before from the same folder and
    /// id is left as it is. All or nothing: a file with one bad document stores none.
    ///
    /// # Errors
    /// A bad name or file (422), the bot is off (503).
    pub async fn import_file(&self, input: ImportInput) -> Result<ImportOutcome, Error> {
        let assistant = self.assistant()?;
        let ImportInput { folder, file_name, content, draft, by } = input;
        let name_ok = |s: &str| {
            !s.trim().is_empty()
                && s.chars().count() <= 200
                && !s.contains(['/', '\\'])
                && !s.starts_with('.')
                && !s.chars().any(char::is_control)
        };
        if !name_ok(&folder) {
            return Err(Error::invalid("folder", "1 to 200 characters, no slash, not starting with a dot"));
        }
        if !name_ok(&file_name) {
            return Err(Error::invalid("file_name", "1 to 200 characters, no slash, not starting with a dot"));
        }
        if content.len() > MAX_IMPORT_BYTES {
            return Err(Error::invalid("content", format!("at most {MAX_IMPORT_BYTES} bytes")));
        }
        let path = std::path::Path::new(&file_name);
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        let docs = match ext.as_deref() {
            Some("json") => knowledge_base::parse_json(&content, path),
            Some("md" | "markdown") => knowledge_base::parse_markdown(&content, path).map(|d| vec![d]),
            _ => return Err(Error::invalid("file_name", "a .json, .md or .markdown file")),
        }
        .map_err(|e| Error::invalid("content", e.to_string()))?;
        if docs.len() > MAX_IMPORT_DOCUMENTS {
            return Err(Error::invalid("content", format!("at most {MAX_IMPORT_DOCUMENTS} documents in one file")));
        }
        let mut contents = Vec::with_capacity(docs.len());
        for doc in docs {
            let source = format!("import:{folder}/{}", doc.id);
            let mut content = crate::services::bot::stored_content(doc)?;
            if draft {
                content.status = DocumentStatus::Draft;
            }
            contents.push((source, content));
        }
        let mut outcome = ImportOutcome { created: Vec::new(), kept: 0 };
        for (source, content) in contents {
            let (doc, created) = self.store.create_document(&content, Some(&source), Some(by)).await?;
            if created {
                assistant.reindex(&doc).await?;
                outcome.created.push(doc);
            } else {
                // Kept as it is; but an import that failed partway may have stored it without
                // indexing it: a retry puts it in the index.
                if doc.content.status == DocumentStatus::Published && !assistant.indexed(&doc)? {
                    assistant.reindex(&doc).await?;
                    tracing::info!(document_id = %doc.id, "an imported document missing from the index is indexed");
                }
                outcome.kept += 1;
            }
        }
        tracing::info!(file = %file_name, created = outcome.created.len(), kept = outcome.kept, by = %by, "knowledge-base file imported");
        Ok(outcome)
    }

    /// What the bot would do with a question, and why, without a conversation: nothing is
    /// stored, nobody is told, the unanswered queue is not touched.
    ///
    /// # Errors
    /// An empty or overlong text, an unknown language (422); the bot is off (503).
    pub async fn try_turn(&self, text: String, language: Option<&str>) -> Result<Trial, Error> {
        let assistant = self.assistant()?;
        if text.trim().is_empty() || text.chars().count() > 1000 {
            return Err(Error::invalid("text", "1 to 1000 characters"));
        }
        let language = language.map(str::parse::<Language>).transpose()?.unwrap_or(Language::En);
        let bot = assistant.bot();
        let input = bot::TurnInput::new(text, language);
        let (decision, assessment) = tokio::task::spawn_blocking(move || bot.explain(&input))
            .await
            .map_err(Error::internal)?
            .map_err(Error::internal)?;
        Ok(Trial { decision, assessment, search: assistant.search_mode().as_str() })
    }

    /// The bot's part of a conversation a question came from (trainers read it for context;
    /// they are not agents, so this is their one read of a conversation, and only of those the
    /// bot answered in or queued a question from). Only the messages up to the hand-over: those
    /// before the conversation's first ticket, or, with no ticket, up to the bot's last message
    /// and the customer's next one; never an agent's message or anything after it. Each read is
    /// logged with the trainer's id.
    ///
    /// # Errors
    /// An unknown conversation, or one the bot took no part in (404).
    pub async fn conversation_messages(
        &self,
        trainer: AgentId,
        id: schema::ConversationId,
    ) -> Result<Vec<schema::Message>, Error> {
        let conversation = self.store.conversation(id).await?;
        if !self.store.bot_took_part(conversation.id).await? {
            return Err(Error::NotFound("conversation"));
        }
        let handed_over = self.store.first_ticket_at(conversation.id).await?;
        let messages = self.store.messages_after(conversation.id, 0, 200).await?;
        let messages = before_hand_over(messages, handed_over);
        tracing::info!(conversation_id = %conversation.id, messages = messages.len(), by = %trainer, "trainer read a conversation");
        Ok(messages)
    }

    /// The bot's intents, in their order.
    ///
    /// # Errors
    /// The store fails.
    pub async fn intents(&self) -> Result<Vec<StoredIntent>, Error> {
        Ok(self.store.intents().await?)
    }

    /// Creates or replaces an intent; the bot uses it from the next turn.
    ///
    /// # Errors
    /// A bad name, example or skill (422); the bot is off (503).
    pub async fn put_intent(&self, trainer: AgentId, name: &str, input: IntentInput) -> Result<StoredIntent, Error> {
        let assistant = self.assistant()?;
        let name: IntentName = name.parse()?;
        let mut examples = std::collections::BTreeMap::new();
        if input.examples.len() > Language::ALL.len() {
            return Err(Error::invalid("examples", "en, es and pt at most"));
        }
        for (language, list) in input.examples {
            examples.insert(language.parse::<Language>()?, list);
        }
        let skills = input
            .skills
            .into_iter()
            .map(|(s, l)| Ok((s.parse()?, schema::SkillLevel::try_from(l)?)))
            .collect::<Result<Vec<_>, schema::ValidationError>>()?;
        let content = IntentContent { examples, always_human: input.always_human, skills }.validate()?;
        let stored = assistant.put_intent(&name, &content, trainer).await?;
        tracing::info!(intent = %name, by = %trainer, "bot intent changed");
        Ok(stored)
    }

    /// `right` or `wrong`; a wrong answer's question joins the unanswered queue.
    ///
    /// # Errors
    /// An unknown verdict (422), unknown answer (404).
    pub async fn judge(&self, trainer: AgentId, id: MessageId, verdict: &str) -> Result<BotAnswer, Error> {
        let verdict: Verdict = verdict.parse()?;
        Ok(self.store.judge_bot_answer(id, verdict, trainer).await?)
    }
}

/// The messages of a conversation (in order) a trainer may read: those before the first agent
/// message and before `handed_over` (the first ticket's creation); with no ticket, only up to the
/// bot's last message and the customer's next one.
fn before_hand_over(messages: Vec<schema::Message>, handed_over: Option<time::OffsetDateTime>) -> Vec<schema::Message> {
    let mut kept: Vec<schema::Message> = messages
        .into_iter()
        .take_while(|m| m.author != schema::AuthorKind::Agent && handed_over.is_none_or(|at| m.created_at <= at))
        .collect();
    if handed_over.is_none() {
        let end = match kept.iter().rposition(|m| m.author == schema::AuthorKind::Bot) {
            Some(last_bot) => kept
                .iter()
                .skip(last_bot + 1)
                .position(|m| m.author == schema::AuthorKind::Customer)
                .map_or(last_bot + 1, |next| last_bot + next + 2),
            None => kept.iter().position(|m| m.author == schema::AuthorKind::Customer).map_or(0, |first| first + 1),
        };
        kept.truncate(end);
    }
    kept
}

/// The distinct phrasings among `questions` a document with `existing` phrasings can take: the
/// most asked first (then in the order they came), leaving out those it has (case aside), those
/// too long to be a phrasing, and any past [`schema::knowledge::MAX_PHRASINGS`] in all.
fn phrasings_to_add<'a>(existing: &[String], questions: impl Iterator<Item = &'a str>) -> Vec<String> {
    use schema::knowledge::{MAX_PHRASING_CHARS, MAX_PHRASINGS};
    let have: std::collections::HashSet<String> = existing.iter().map(|q| q.trim().to_lowercase()).collect();
    let mut counted: Vec<(String, usize)> = Vec::new();
    for q in questions.map(str::trim) {
        if q.is_empty() || q.chars().count() > MAX_PHRASING_CHARS || have.contains(&q.to_lowercase()) {
            continue;
        }
        match counted.iter_mut().find(|(seen, _)| seen.to_lowercase() == q.to_lowercase()) {
            Some((_, n)) => *n += 1,
            None => counted.push((q.to_owned(), 1)),
        }
    }
    // A stable sort keeps the first-asked first among equals.
    counted.sort_by_key(|c| std::cmp::Reverse(c.1));
    counted.into_iter().map(|(q, _)| q).take(MAX_PHRASINGS.saturating_sub(have.len())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: i64, author: schema::AuthorKind, text: &str) -> schema::Message {
        schema::Message {
            id: MessageId::new(),
            conversation_id: schema::ConversationId::new(),
            seq,
            author,
            author_id: None,
            text: schema::MessageText::parse(text, 4000).unwrap(),
            channel_message_id: None,
            media: Vec::new(),
            delivery_status: None,
            delivery_error: None,
            created_at: time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(seq),
        }
    }

    #[test]
    fn a_trainer_reads_only_up_to_the_hand_over() {
        use schema::AuthorKind::{Agent, Bot, Customer};
        let texts = |m: Vec<schema::Message>| m.iter().map(|m| m.text.as_str().to_owned()).collect::<Vec<_>>();
        let talk = || {
            vec![
                message(1, Customer, "q1"),
                message(2, Bot, "a1"),
                message(3, Customer, "that didn't help"),
                message(4, Customer, "my address is 1 Secret Street"),
                message(5, Agent, "hello"),
                message(6, Customer, "account ACC-1"),
            ]
        };
        // No ticket: the bot's last message and the customer's next one, nothing after.
        assert_eq!(texts(before_hand_over(talk(), None)), ["q1", "a1", "that didn't help"]);
        // A ticket: what came before it.
        let at = time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(2);
        assert_eq!(texts(before_hand_over(talk(), Some(at))), ["q1", "a1"]);
        // Never an agent's message, whenever the ticket.
        let late = time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(100);
        assert_eq!(texts(before_hand_over(talk(), Some(late))).len(), 4);
        // No bot message yet: the customer's first message only.
        let quiet = vec![message(1, Customer, "q1"), message(2, Customer, "q2")];
        assert_eq!(texts(before_hand_over(quiet, None)), ["q1"]);
    }

    #[test]
    fn a_big_group_adds_its_most_asked_phrasings_up_to_the_cap() {
        let many: Vec<String> = (0..120).map(|i| format!("question {i}")).collect();
        let mut asked: Vec<&str> = many.iter().map(String::as_str).collect();
        asked.extend(["Question 7", "question 7 ", "question 99", "  ", "already here"]);
        let long = "x".repeat(501);
        asked.push(&long);
        let existing = vec!["Already here".to_owned(), "another".to_owned()];
        let added = phrasings_to_add(&existing, asked.into_iter());
        assert_eq!(added.len(), schema::knowledge::MAX_PHRASINGS - 2, "{added:?}");
        assert_eq!(&added[..3], ["question 7", "question 99", "question 0"], "the most asked first");
        assert!(!added.iter().any(|q| q.eq_ignore_ascii_case("already here") || q.len() > 500));
        let full: Vec<String> = (0..60).map(|i| format!("have {i}")).collect();
        assert!(phrasings_to_add(&full, ["new one"].into_iter()).is_empty(), "a full document takes none");
        // What it gives a document validates.
        let content = DocumentContent {
            kind: DocumentKind::Qa,
            language: Language::En,
            title: "t".into(),
            body: "b".into(),
            questions: phrasings_to_add(&[], many.iter().map(String::as_str)),
            tags: vec![],
            status: DocumentStatus::Published,
        };
        assert!(content.validate().is_ok());
    }
}
