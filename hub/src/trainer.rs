//! The bot trainers' API (role `bot_trainer`): knowledge-base documents with their versions,
//! a search to try the bot's knowledge, the questions it could not answer (grouped), and
//! verdicts on its answers. Every change is searchable as soon as the call returns.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use schema::knowledge::DocumentContent;
use schema::{
    ConversationId, DocumentId, DocumentKind, DocumentStatus, Language, MessageId, Role, UnansweredId, ValidationError,
    Verdict,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::AppState;
use crate::assistant::Assistant;
use crate::auth::Staff;
use crate::error::ApiError;

fn assistant(state: &AppState) -> Result<&Arc<Assistant>, ApiError> {
    state.assistant.as_ref().ok_or_else(|| ApiError::Unavailable("the bot is disabled (bot.enabled = false)".into()))
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ApiError {
    ApiError::Validation(ValidationError::Invalid { field, reason: reason.into() })
}

/// A document as trainers write it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentBody {
    kind: String,
    language: String,
    title: String,
    body: String,
    #[serde(default)]
    questions: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    /// `draft`, `published` (the default) or `archived`.
    status: Option<String>,
    /// For updates: the version the edit is based on.
    version: Option<i64>,
}

impl DocumentBody {
    fn content(self) -> Result<(DocumentContent, Option<i64>), ApiError> {
        let content = DocumentContent {
            kind: self.kind.parse()?,
            language: self.language.parse()?,
            title: self.title,
            body: self.body,
            questions: self.questions,
            tags: self.tags,
            status: self.status.as_deref().map(str::parse).transpose()?.unwrap_or(DocumentStatus::Published),
        }
        .validate()?;
        Ok((content, self.version))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentQuery {
    status: Option<String>,
    language: Option<String>,
}

/// `GET /api/v1/kb/documents?status=&language=`: documents by title.
pub async fn list(
    state: web::Data<AppState>,
    staff: Staff,
    q: web::Query<DocumentQuery>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::BotTrainer)?;
    let status = q.status.as_deref().map(str::parse::<DocumentStatus>).transpose()?;
    let language = q.language.as_deref().map(str::parse::<Language>).transpose()?;
    Ok(HttpResponse::Ok().json(json!({ "items": state.store.documents(status, language).await? })))
}

/// `POST /api/v1/kb/documents`: a new article or Q&A pair, searchable at once if published.
pub async fn create(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<DocumentBody>,
) -> Result<HttpResponse, ApiError> {
    let trainer = staff.require(Role::BotTrainer)?;
    let assistant = assistant(&state)?;
    let (content, _) = body.into_inner().content()?;
    let (doc, _) = state.store.create_document(&content, None, Some(trainer.id)).await?;
    assistant.reindex(&state.store, &doc).await?;
    tracing::info!(document_id = %doc.id, by = %trainer.id, "knowledge-base document created");
    Ok(HttpResponse::Created().json(doc))
}

/// `GET /api/v1/kb/documents/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<DocumentId>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::BotTrainer)?;
    Ok(HttpResponse::Ok().json(state.store.document(*id).await?))
}

/// `PUT /api/v1/kb/documents/{id}`: a new version (`version` must be the current one: 409
/// otherwise). Unpublishing takes it out of the bot's answers at once.
pub async fn update(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<DocumentId>,
    body: web::Json<DocumentBody>,
) -> Result<HttpResponse, ApiError> {
    let trainer = staff.require(Role::BotTrainer)?;
    let assistant = assistant(&state)?;
    let (content, version) = body.into_inner().content()?;
    let version = version.ok_or(ApiError::Validation(ValidationError::Empty { field: "version" }))?;
    let doc = state.store.update_document(*id, &content, version, trainer.id).await?;
    assistant.reindex(&state.store, &doc).await?;
    tracing::info!(document_id = %doc.id, version = doc.version, by = %trainer.id, "knowledge-base document changed");
    Ok(HttpResponse::Ok().json(doc))
}

/// `GET /api/v1/kb/documents/{id}/versions`: every version, newest first.
pub async fn versions(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<DocumentId>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::BotTrainer)?;
    Ok(HttpResponse::Ok().json(json!({ "items": state.store.document_versions(*id).await? })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    q: String,
    language: Option<String>,
    limit: Option<usize>,
}

#[derive(Serialize)]
struct SearchHit {
    document_id: String,
    kind: &'static str,
    language: Language,
    title: String,
    passage: String,
    score: f32,
    bm25_rank: Option<u32>,
    vector_rank: Option<u32>,
}

/// `GET /api/v1/kb/search?q=&language=&limit=`: what the bot's search finds, with its scores.
pub async fn search(
    state: web::Data<AppState>,
    staff: Staff,
    q: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::BotTrainer)?;
    let kb = Arc::clone(assistant(&state)?.knowledge_base());
    let q = q.into_inner();
    if q.q.trim().is_empty() || q.q.chars().count() > 1000 {
        return Err(invalid("q", "1 to 1000 characters"));
    }
    let language = q.language.as_deref().map(str::parse::<Language>).transpose()?;
    let limit = q.limit.unwrap_or(5);
    if !(1..=50).contains(&limit) {
        return Err(invalid("limit", "must be between 1 and 50"));
    }
    let hits = tokio::task::spawn_blocking(move || kb.search(&q.q, language, limit))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let items: Vec<SearchHit> = hits
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
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

#[derive(Serialize)]
struct UnansweredItem {
    id: UnansweredId,
    conversation_id: ConversationId,
    question: String,
    reason: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

#[derive(Serialize)]
struct UnansweredGroup {
    /// The first question asked this way.
    question: String,
    language: Language,
    count: usize,
    items: Vec<UnansweredItem>,
}

/// `GET /api/v1/bot/unanswered`: open questions the bot could not answer, grouped by
/// similarity, most asked first.
pub async fn unanswered(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    staff.require(Role::BotTrainer)?;
    let kb = Arc::clone(assistant(&state)?.knowledge_base());
    let open = state.store.open_unanswered(1000).await?;
    let texts: Vec<String> = open.iter().map(|u| u.question.clone()).collect();
    let groups = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        bot::group_questions(&kb, &refs)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let groups: Vec<UnansweredGroup> = groups
        .into_iter()
        .filter_map(|members| {
            let first = open.get(*members.first()?)?;
            let items: Vec<UnansweredItem> = members
                .iter()
                .filter_map(|&i| open.get(i))
                .map(|u| UnansweredItem {
                    id: u.id,
                    conversation_id: u.conversation_id,
                    question: u.question.clone(),
                    reason: u.reason.clone(),
                    created_at: u.created_at,
                })
                .collect();
            Some(UnansweredGroup {
                question: first.question.clone(),
                language: first.language,
                count: items.len(),
                items,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "groups": groups })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerUnanswered {
    /// The unanswered questions this answers (a group, usually).
    ids: Vec<UnansweredId>,
    /// The answer customers will get.
    answer: String,
    /// The Q&A pair's title; default: the first question.
    title: Option<String>,
    /// More phrasings, besides the questions themselves.
    #[serde(default)]
    questions: Vec<String>,
    language: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

/// `POST /api/v1/bot/unanswered/answer`: turns unanswered questions into a published Q&A pair
/// (their own words become its phrasings) and marks them answered. The next customer who asks
/// gets it.
pub async fn answer_unanswered(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<AnswerUnanswered>,
) -> Result<HttpResponse, ApiError> {
    let trainer = staff.require(Role::BotTrainer)?;
    let assistant = assistant(&state)?;
    let body = body.into_inner();
    if body.ids.is_empty() || body.ids.len() > 1000 {
        return Err(invalid("ids", "1 to 1000 unanswered question ids"));
    }
    let open = state.store.open_unanswered(10_000).await?;
    let chosen: Vec<_> = open.iter().filter(|u| body.ids.contains(&u.id)).collect();
    let Some(first) = chosen.first() else {
        return Err(ApiError::Conflict("none of these questions is still open".into()));
    };
    let language = match body.language.as_deref() {
        Some(l) => l.parse()?,
        None => first.language,
    };
    let mut questions: Vec<String> = chosen.iter().map(|u| u.question.clone()).collect();
    questions.extend(body.questions);
    let content = DocumentContent {
        kind: DocumentKind::Qa,
        language,
        title: body.title.unwrap_or_else(|| first.question.chars().take(200).collect()),
        body: body.answer,
        questions,
        tags: body.tags,
        status: DocumentStatus::Published,
    }
    .validate()?;
    let (doc, _) = state.store.create_document(&content, None, Some(trainer.id)).await?;
    assistant.reindex(&state.store, &doc).await?;
    let ids: Vec<UnansweredId> = chosen.iter().map(|u| u.id).collect();
    let resolved = state.store.resolve_unanswered(&ids, doc.id, trainer.id).await?;
    tracing::info!(document_id = %doc.id, resolved, by = %trainer.id, "unanswered questions answered");
    Ok(HttpResponse::Created().json(json!({ "document": doc, "resolved": resolved })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswersQuery {
    unjudged: Option<bool>,
    limit: Option<u32>,
}

/// `GET /api/v1/bot/answers?unjudged=true&limit=`: the bot's answers, newest first.
pub async fn answers(
    state: web::Data<AppState>,
    staff: Staff,
    q: web::Query<AnswersQuery>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::BotTrainer)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(invalid("limit", "must be between 1 and 200"));
    }
    Ok(HttpResponse::Ok().json(json!({ "items": state.store.bot_answers(q.unjudged.unwrap_or(false), limit).await? })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictBody {
    verdict: String,
}

/// `PUT /api/v1/bot/answers/{message_id}/verdict`: `right` or `wrong`; a wrong answer's
/// question joins the unanswered queue.
pub async fn judge(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<MessageId>,
    body: web::Json<VerdictBody>,
) -> Result<HttpResponse, ApiError> {
    let trainer = staff.require(Role::BotTrainer)?;
    let verdict: Verdict = body.verdict.parse()?;
    Ok(HttpResponse::Ok().json(state.store.judge_bot_answer(*id, verdict, trainer.id).await?))
}
