//! Canned responses: agents list and search those they may use (global, and their queues');
//! supervisors create, change and delete them.
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use actix_web::web::Query;
use actix_web::{HttpResponse, delete, get, post, put, web};
use schema::canned::{CannedResponse, Shortcut};
use schema::{AgentId, AuditAction, CannedResponseId, Language, QueueName, Role, TargetKind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::ErrorBody;
use crate::http::{Page, page_size};
use crate::services::audit::Event;
use crate::services::canned::{CannedInput, CannedQuery};

/// Canned-response routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(get).service(create).service(update).service(remove);
}

/// A canned response.
#[derive(Debug, Serialize, ToSchema)]
pub struct CannedView {
    id: CannedResponseId,
    /// `null`: every agent's; else only for the agents of this queue.
    queue: Option<QueueName>,
    /// What the agent types after `/`.
    shortcut: Shortcut,
    title: String,
    /// The text inserted into the reply (card numbers masked). `{agent_name}` is left for the
    /// workspace to fill in.
    body: String,
    language: Language,
    created_by: AgentId,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl From<CannedResponse> for CannedView {
    fn from(c: CannedResponse) -> Self {
        Self {
            id: c.id,
            queue: c.content.queue,
            shortcut: c.content.shortcut,
            title: c.content.title,
            body: c.content.body,
            language: c.content.language,
            created_by: c.created_by,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A canned response as a supervisor writes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedBody {
    /// A queue of the routing rules; omitted or `null`: every agent's.
    queue: Option<String>,
    /// 2 to 40 lower-case letters, digits and single dashes, starting with a letter; unique per
    /// queue and language.
    shortcut: String,
    /// 1 to 100 characters.
    title: String,
    /// 1 to 4000 characters; card numbers are masked before it is stored.
    body: String,
    /// `en`, `es` or `pt`.
    language: String,
}

impl From<CannedBody> for CannedInput {
    fn from(b: CannedBody) -> Self {
        Self { queue: b.queue, shortcut: b.shortcut, title: b.title, body: b.body, language: b.language }
    }
}

/// Search and paging of the canned responses.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CannedListQuery {
    /// Words that must all appear in the shortcut, title or body (any case, accents ignored).
    q: Option<String>,
    /// `en`, `es` or `pt`.
    language: Option<String>,
    /// Only the global ones and this queue's.
    queue: Option<String>,
    /// 1 to 200, default 50.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The canned responses the caller may use, by shortcut: the global ones and those of the
/// queues whose skills the agent has (every queue's for a supervisor) (agent or supervisor).
#[utoipa::path(
    params(CannedListQuery),
    tag = "canned responses",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    responses(
        (status = 200, body = Page<CannedView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "a bad language, queue, search, limit or cursor", body = ErrorBody)
    )
)]
#[get("/canned-responses")]
pub async fn list(
    state: web::Data<AppState>,
    staff: Staff,
    query: Query<CannedListQuery>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&[Role::Agent, Role::Supervisor])?;
    let query = CannedQuery {
        q: query.q.as_deref(),
        language: query.language.as_deref(),
        queue: query.queue.as_deref(),
        limit: page_size(query.limit, "limit")?,
        cursor: query.cursor.as_deref(),
    };
    let page = state.canned.list(agent, query).await?;
    Ok(HttpResponse::Ok().json(Page::<CannedView>::of(page)))
}

/// One canned response the caller may use (agent or supervisor).
#[utoipa::path(
    tag = "canned responses",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = CannedResponseId, Path, description = "the canned response")),
    responses(
        (status = 200, body = CannedView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "no such canned response for the caller", body = ErrorBody)
    )
)]
#[get("/canned-responses/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<CannedResponseId>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&[Role::Agent, Role::Supervisor])?;
    Ok(HttpResponse::Ok().json(CannedView::from(state.canned.get(agent, *id).await?)))
}

/// A new canned response (supervisor).
#[utoipa::path(
    tag = "canned responses",
    security(("bearer" = ["supervisor"])),
    request_body = CannedBody,
    responses(
        (status = 201, body = CannedView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "the shortcut is taken for that queue and language", body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[post("/canned-responses")]
pub async fn create(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<CannedBody>,
) -> Result<HttpResponse, Error> {
    let supervisor = staff.require(Role::Supervisor)?;
    let canned = CannedView::from(state.canned.create(supervisor, body.into_inner().into()).await?);
    state
        .audit
        .record(
            &staff.actor(),
            Event::new(AuditAction::CannedCreated).target(TargetKind::Canned, canned.id).after(&canned),
        )
        .await?;
    Ok(HttpResponse::Created().json(canned))
}

/// Replaces a canned response (supervisor).
#[utoipa::path(
    tag = "canned responses",
    security(("bearer" = ["supervisor"])),
    params(("id" = CannedResponseId, Path, description = "the canned response")),
    request_body = CannedBody,
    responses(
        (status = 200, body = CannedView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the shortcut is taken for that queue and language", body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[put("/canned-responses/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<CannedResponseId>,
    body: web::Json<CannedBody>,
) -> Result<HttpResponse, Error> {
    let supervisor = staff.require(Role::Supervisor)?;
    let before = CannedView::from(state.canned.get(supervisor, *id).await?);
    let canned = CannedView::from(state.canned.update(supervisor, *id, body.into_inner().into()).await?);
    state
        .audit
        .record(
            &staff.actor(),
            Event::new(AuditAction::CannedUpdated).target(TargetKind::Canned, *id).change(&before, &canned),
        )
        .await?;
    Ok(HttpResponse::Ok().json(canned))
}

/// Deletes a canned response (supervisor).
#[utoipa::path(
    tag = "canned responses",
    security(("bearer" = ["supervisor"])),
    params(("id" = CannedResponseId, Path, description = "the canned response")),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[delete("/canned-responses/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<CannedResponseId>,
) -> Result<HttpResponse, Error> {
    let supervisor = staff.require(Role::Supervisor)?;
    let before = CannedView::from(state.canned.get(supervisor, *id).await?);
    state.canned.delete(supervisor, *id).await?;
    state
        .audit
        .record(
            &staff.actor(),
            Event::new(AuditAction::CannedDeleted).target(TargetKind::Canned, *id).change(&before, &()),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
