//! The bot trainers' knowledge base (role `bot_trainer`): documents with their versions, and a
//! search to try the bot's knowledge. Every change is searchable as soon as the call returns.
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use actix_web::web::Query;
use actix_web::{HttpResponse, get, post, put, web};
use schema::{AuditAction, DocumentId, DocumentStatus, Language, Role, TargetKind};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::{DocumentVersionView, DocumentView, ErrorBody, Items};
use crate::services::audit::Event;
use crate::services::knowledge::{self, DocumentInput, ImportInput};

/// Knowledge-base routes (trainers).
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get)
        .service(update)
        .service(versions)
        .service(restore)
        .service(import)
        .service(search);
}

/// A document as trainers write it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentBody {
    /// `article` or `qa`.
    kind: String,
    /// `en`, `es` or `pt`.
    language: String,
    title: String,
    /// Markdown; for a Q&A pair, the answer.
    body: String,
    /// Phrasings of the question (Q&A pairs need at least one).
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
    fn split(self) -> (DocumentInput, Option<i64>) {
        let Self { kind, language, title, body, questions, tags, status, version } = self;
        (DocumentInput { kind, language, title, body, questions, tags, status }, version)
    }
}

/// Filters of the document list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DocumentQuery {
    /// `draft`, `published` or `archived`.
    status: Option<String>,
    /// `en`, `es` or `pt`.
    language: Option<String>,
}

/// Documents, by title.
#[utoipa::path(
    params(DocumentQuery),
    tag = "knowledge base",
    security(("bearer" = ["bot_trainer"])),
    responses(
        (status = 200, body = Items<DocumentView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[get("/kb/documents")]
pub async fn list(state: web::Data<AppState>, staff: Staff, q: Query<DocumentQuery>) -> Result<HttpResponse, Error> {
    staff.require(Role::BotTrainer)?;
    let items = state.knowledge.documents(q.status.as_deref(), q.language.as_deref()).await?;
    Ok(HttpResponse::Ok().json(Items::<DocumentView>::of(items)))
}

/// A new article or Q&A pair, searchable at once if published.
#[utoipa::path(
    tag = "knowledge base",
    security(("bearer" = ["bot_trainer"])),
    request_body = DocumentBody,
    responses(
        (status = 201, body = DocumentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "the bot is disabled", body = ErrorBody)
    )
)]
#[post("/kb/documents")]
pub async fn create(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<DocumentBody>,
) -> Result<HttpResponse, Error> {
    let trainer = staff.require(Role::BotTrainer)?;
    let (input, _) = body.into_inner().split();
    let document = DocumentView::from(state.knowledge.create(trainer.id, input).await?);
    state.audit.record(&staff.actor(), document_event(None, &document)).await?;
    Ok(HttpResponse::Created().json(document))
}

/// One document.
#[utoipa::path(
    tag = "knowledge base",
    security(("bearer" = ["bot_trainer"])),
    params(("id" = DocumentId, Path, description = "the document")),
    responses(
        (status = 200, body = DocumentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[get("/kb/documents/{id}")]
pub async fn get(state: web::Data<AppState>, staff: Staff, id: web::Path<DocumentId>) -> Result<HttpResponse, Error> {
    staff.require(Role::BotTrainer)?;
    Ok(HttpResponse::Ok().json(DocumentView::from(state.knowledge.document(*id).await?)))
}

/// A new version (`version` must be the current one). Unpublishing takes it out of the bot's
/// answers at once.
#[utoipa::path(
    tag = "knowledge base",
    security(("bearer" = ["bot_trainer"])),
    params(("id" = DocumentId, Path, description = "the document")),
    request_body = DocumentBody,
    responses(
        (status = 200, body = DocumentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "someone saved a newer version", body = ErrorBody),
        (status = 422, description = "no `version`, or a field does not validate", body = ErrorBody),
        (status = 503, description = "the bot is disabled", body = ErrorBody)
    )
)]
#[put("/kb/documents/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<DocumentId>,
    body: web::Json<DocumentBody>,
) -> Result<HttpResponse, Error> {
    let trainer = staff.require(Role::BotTrainer)?;
    let (input, version) = body.into_inner().split();
    let before = DocumentView::from(state.knowledge.document(*id).await?);
    let document = DocumentView::from(state.knowledge.update(trainer.id, *id, input, version).await?);
    state.audit.record(&staff.actor(), document_event(Some(&before), &document)).await?;
    Ok(HttpResponse::Ok().json(document))
}

/// Every version of a document, newest first.
#[utoipa::path(
    tag = "knowledge base",
    security(("bearer" = ["bot_trainer"])),
    params(("id" = DocumentId, Path, description = "the document")),
    responses(
        (status = 200, body = Items<DocumentVersionView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)
    )
)]
#[get("/kb/documents/{id}/versions")]
pub async fn versions(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<DocumentId>,
) -> Result<HttpResponse, Error> {
    staff.require(Role::BotTrainer)?;
    Ok(HttpResponse::Ok().json(Items::<DocumentVersionView>::of(state.knowledge.versions(*id).await?)))
}

/// A search to try the bot's knowledge.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// 1 to 1000 characters.
    q: String,
    /// `en`, `es` or `pt`; default: every language.
    language: Option<String>,
    /// 1 to 50, default 5.
    limit: Option<usize>,
}

/// One hit, with the ranks that explain it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHit {
    document_id: String,
    kind: &'static str,
    language: Language,
    title: String,
    passage: String,
    score: f32,
    bm25_rank: Option<u32>,
    vector_rank: Option<u32>,
}

impl From<knowledge::SearchHit> for SearchHit {
    fn from(h: knowledge::SearchHit) -> Self {
        Self {
            document_id: h.document_id,
            kind: h.kind,
            language: h.language,
            title: h.title,
            passage: h.passage,
            score: h.score,
            bm25_rank: h.bm25_rank,
            vector_rank: h.vector_rank,
        }
    }
}

/// What the bot's search finds, with the fused score and the BM25 and vector ranks.
#[utoipa::path(
    params(SearchQuery),
    tag = "knowledge base",
    security(("bearer" = ["bot_trainer"])),
    responses(
        (status = 200, body = Items<SearchHit>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "the bot is disabled", body = ErrorBody)
    )
)]
#[get("/kb/search")]
pub async fn search(state: web::Data<AppState>, staff: Staff, q: Query<SearchQuery>) -> Result<HttpResponse, Error> {
    staff.require(Role::BotTrainer)?;
    let SearchQuery { q, language, limit } = q.into_inner();
    let hits = state.knowledge.search(q, language.as_deref(), limit).await?;
    Ok(HttpResponse::Ok().json(Items::<SearchHit>::of(hits)))
}

/// Puts a past version's content back, as a new version (the history keeps every version); the
/// document keeps its current status (an archived one stays archived).
#[utoipa::path(
    tag = "knowledge base",
    security(("bearer" = ["bot_trainer"])),
    params(
        ("id" = DocumentId, Path, description = "the document"),
        ("version" = i64, Path, description = "the version to restore")
    ),
    responses(
        (status = 200, body = DocumentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "no such document or version", body = ErrorBody),
        (status = 409, description = "someone saved meanwhile", body = ErrorBody),
        (status = 503, description = "the bot is disabled", body = ErrorBody)
    )
)]
#[post("/kb/documents/{id}/versions/{version}/restore")]
pub async fn restore(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(DocumentId, i64)>,
) -> Result<HttpResponse, Error> {
    let trainer = staff.require(Role::BotTrainer)?;
    let (id, version) = path.into_inner();
    let before = DocumentView::from(state.knowledge.document(id).await?);
    let document = DocumentView::from(state.knowledge.restore(trainer.id, id, version).await?);
    let (b, a) = (document_state(&before), document_state(&document));
    let event = Event::new(AuditAction::KbRestored).target(TargetKind::Document, id).change(&b, &a);
    state.audit.record(&staff.actor(), event.details(json!({"restored_version": version}))).await?;
    Ok(HttpResponse::Ok().json(document))
}

/// What the audit trail keeps of a document: its version, status, language and title.
fn document_state(d: &DocumentView) -> serde_json::Value {
    json!({"version": d.version, "status": d.content.status, "language": d.content.language, "title": d.content.title})
}

/// The audit entry of a document written: published or archived when its status became so,
/// else created or updated.
fn document_event(before: Option<&DocumentView>, after: &DocumentView) -> Event {
    let status_changed = before.is_none_or(|b| b.content.status != after.content.status);
    let action = match (after.content.status, status_changed) {
        (DocumentStatus::Published, true) => AuditAction::KbPublished,
        (DocumentStatus::Archived, true) => AuditAction::KbArchived,
        _ if before.is_none() => AuditAction::KbCreated,
        _ => AuditAction::KbUpdated,
    };
    let event = Event::new(action).target(TargetKind::Document, after.id);
    match before {
        Some(b) => event.change(&document_state(b), &document_state(after)),
        None => event.after(&document_state(after)),
    }
}

/// One file of a folder to import.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// The folder's name (no slash): with each document's id, what makes importing the same
    /// folder again leave the documents already there as they are, as `switchboard kb import`.
    folder: String,
    /// `.json` (one document or an array) or `.md`/`.markdown` with front matter.
    file_name: String,
    /// The file's text, at most 200 KiB.
    content: String,
    /// Store the documents as drafts (default: published).
    #[serde(default)]
    draft: bool,
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Imported {
    /// The documents created (searchable at once when published).
    created: Vec<DocumentView>,
    /// Documents imported before from this folder, left as they are.
    kept: usize,
}

/// Imports one file of a folder (the page sends a folder file by file and shows the progress).
/// A file with a bad document stores none of its documents.
#[utoipa::path(
    tag = "knowledge base",
    security(("bearer" = ["bot_trainer"])),
    request_body = ImportBody,
    responses(
        (status = 201, body = Imported),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "a bad name, file type or document", body = ErrorBody),
        (status = 503, description = "the bot is disabled", body = ErrorBody)
    )
)]
#[post("/kb/import")]
pub async fn import(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<ImportBody>,
) -> Result<HttpResponse, Error> {
    let trainer = staff.require(Role::BotTrainer)?;
    let ImportBody { folder, file_name, content, draft } = body.into_inner();
    let details = json!({"folder": folder, "file_name": file_name, "draft": draft});
    let outcome =
        state.knowledge.import_file(ImportInput { folder, file_name, content, draft, by: trainer.id }).await?;
    let created: Vec<DocumentView> = outcome.created.into_iter().map(DocumentView::from).collect();
    let after = json!({"created": created.iter().map(|d| d.id).collect::<Vec<_>>(), "kept": outcome.kept});
    state.audit.record(&staff.actor(), Event::new(AuditAction::KbImported).details(details).after(&after)).await?;
    Ok(HttpResponse::Created().json(Imported { created, kept: outcome.kept }))
}
