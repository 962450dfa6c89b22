//! The bot trainers' work: knowledge-base documents with their versions (every change searchable
//! as soon as it is stored), a search to try the bot's knowledge, the questions it could not
//! answer (grouped by similarity) turned into answers, and verdicts on its answers.

use std::sync::Arc;

use schema::knowledge::{BotAnswer, Document, DocumentContent, DocumentVersion, Unanswered};
use schema::{
    AgentId, DocumentId, DocumentKind, DocumentStatus, Language, MessageId, StoreError, UnansweredId, Verdict,
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
    /// phrasings) and marks them answered. Returns the document and how many were resolved.
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
        let mut questions: Vec<String> = chosen.iter().map(|u| u.question.clone()).collect();
        questions.extend(input.questions);
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

    /// The bot's answers, newest first.
    ///
    /// # Errors
    /// A limit out of 1..=200 (422).
    pub async fn answers(&self, unjudged: bool, limit: Option<u32>) -> Result<Vec<BotAnswer>, Error> {
        let limit = limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(Error::invalid("limit", "must be between 1 and 200"));
        }
        Ok(self.store.bot_answers(unjudged, limit).await?)
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
