//! Tickets (staff): hand a conversation over, list and read tickets, accept or reject an offer,
//! resolve, wait for the customer, transfer, notes and tags.
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use actix_web::web::Query;
use actix_web::{HttpResponse, get, post, put, web};
use schema::{AgentId, AuditAction, ConversationId, Role, TargetKind, Ticket, TicketId, TicketStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::{self, ErrorBody, TicketEventView, TicketNoteView};
use crate::services::audit::Event;
use crate::services::tickets::TransferTo;

/// Ticket routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(hand_over)
        .service(list)
        .service(get)
        .service(accept)
        .service(reject)
        .service(resolve)
        .service(pending)
        .service(transfer)
        .service(add_note)
        .service(set_tags);
}

/// What the agent says of the hand-over.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandOver {
    #[serde(default)]
    tags: Vec<String>,
}

/// The conversation needs a person (agent): the rules pick queue, skills and priority; the
/// router offers it.
#[utoipa::path(
    tag = "tickets",
    security(("bearer" = ["agent"])),
    params(("id" = ConversationId, Path, description = "the conversation")),
    request_body(content = Option<HandOver>, description = "optional tags the rules see"),
    responses(
        (status = 201, body = Ticket),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the conversation has an open ticket", body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[post("/conversations/{id}/handover")]
pub async fn hand_over(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
    body: Option<web::Json<HandOver>>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require(Role::Agent)?;
    let body = body.map(web::Json::into_inner).unwrap_or_default();
    let ticket = state.tickets.hand_over(agent, *id, body.tags).await?;
    state.audit.record(&staff.actor(), ticket_event(AuditAction::TicketHandedOver, None, &ticket)).await?;
    Ok(HttpResponse::Created().json(ticket))
}

/// Filters of the ticket list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// `queued`, `offered`, `assigned`, `pending_customer`, `resolved`, `closed`.
    status: Option<String>,
    /// 1 to 200, default 50.
    limit: Option<u32>,
}

/// Tickets, newest first (agent).
#[utoipa::path(
    params(TicketQuery),
    tag = "tickets",
    security(("bearer" = ["agent"])),
    responses(
        (status = 200, body = Vec<Ticket>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[get("/tickets")]
pub async fn list(state: web::Data<AppState>, staff: Staff, q: Query<TicketQuery>) -> Result<HttpResponse, Error> {
    staff.require(Role::Agent)?;
    let status = q.status.as_deref().map(str::parse::<TicketStatus>).transpose()?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(Error::invalid("limit", "must be between 1 and 200"));
    }
    Ok(HttpResponse::Ok().json(state.core.store.list_tickets(status, limit).await?))
}

/// A ticket with its full history and internal notes.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketDetail {
    ticket: Ticket,
    events: Vec<TicketEventView>,
    notes: Vec<TicketNoteView>,
}

/// The ticket, its full history and its internal notes (agent).
#[utoipa::path(
    tag = "tickets",
    security(("bearer" = ["agent"])),
    params(("id" = TicketId, Path, description = "the ticket")),
    responses(
        (status = 200, body = TicketDetail),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[get("/tickets/{id}")]
pub async fn get(state: web::Data<AppState>, staff: Staff, id: web::Path<TicketId>) -> Result<HttpResponse, Error> {
    staff.require(Role::Agent)?;
    let d = state.tickets.detail(*id).await?;
    Ok(HttpResponse::Ok().json(TicketDetail {
        ticket: d.ticket,
        events: views::all(d.events),
        notes: views::all(d.notes),
    }))
}

/// Takes the ticket offered to the caller (agent).
#[utoipa::path(
    tag = "tickets",
    security(("bearer" = ["agent"])),
    params(("id" = TicketId, Path, description = "the ticket")),
    responses(
        (status = 200, body = Ticket),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the offer expired or went to someone else", body = ErrorBody)
    )
)]
#[post("/tickets/{id}/accept")]
pub async fn accept(state: web::Data<AppState>, staff: Staff, id: web::Path<TicketId>) -> Result<HttpResponse, Error> {
    let agent = staff.require(Role::Agent)?;
    let ticket = state.tickets.accept(agent.id, *id).await?;
    state.audit.record(&staff.actor(), ticket_event(AuditAction::TicketAccepted, None, &ticket)).await?;
    Ok(HttpResponse::Ok().json(ticket))
}

/// Declines the ticket offered to the caller (agent).
#[utoipa::path(
    tag = "tickets",
    security(("bearer" = ["agent"])),
    params(("id" = TicketId, Path, description = "the ticket")),
    responses(
        (status = 200, body = Ticket),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "there is no such offer", body = ErrorBody)
    )
)]
#[post("/tickets/{id}/reject")]
pub async fn reject(state: web::Data<AppState>, staff: Staff, id: web::Path<TicketId>) -> Result<HttpResponse, Error> {
    let agent = staff.require(Role::Agent)?;
    let ticket = state.tickets.reject(agent.id, *id).await?;
    state.audit.record(&staff.actor(), ticket_event(AuditAction::TicketRejected, None, &ticket)).await?;
    Ok(HttpResponse::Ok().json(ticket))
}

/// Resolves the ticket (the assignee or a supervisor).
#[utoipa::path(
    tag = "tickets",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = TicketId, Path, description = "the ticket")),
    responses(
        (status = 200, body = Ticket),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the ticket is already resolved or closed", body = ErrorBody)
    )
)]
#[post("/tickets/{id}/resolve")]
pub async fn resolve(state: web::Data<AppState>, staff: Staff, id: web::Path<TicketId>) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&[Role::Agent, Role::Supervisor])?;
    let before = state.core.store.ticket(*id).await?;
    let ticket = state.tickets.resolve(agent, *id).await?;
    state.audit.record(&staff.actor(), ticket_event(AuditAction::TicketResolved, Some(&before), &ticket)).await?;
    Ok(HttpResponse::Ok().json(ticket))
}

/// Waits for the customer (the assignee or a supervisor): their next message puts the ticket back
/// to the assignee.
#[utoipa::path(
    tag = "tickets",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = TicketId, Path, description = "the ticket")),
    responses(
        (status = 200, body = Ticket),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "only an assigned ticket can wait", body = ErrorBody)
    )
)]
#[post("/tickets/{id}/pending")]
pub async fn pending(state: web::Data<AppState>, staff: Staff, id: web::Path<TicketId>) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&[Role::Agent, Role::Supervisor])?;
    let before = state.core.store.ticket(*id).await?;
    let ticket = state.tickets.pending(agent, *id).await?;
    state.audit.record(&staff.actor(), ticket_event(AuditAction::TicketPending, Some(&before), &ticket)).await?;
    Ok(HttpResponse::Ok().json(ticket))
}

/// Where to transfer: exactly one of `agent_id` and `queue`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    agent_id: Option<AgentId>,
    queue: Option<String>,
}

/// Moves the ticket to an agent (assigned at once) or a queue (queued anew): the assignee or a
/// supervisor.
#[utoipa::path(
    tag = "tickets",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = TicketId, Path, description = "the ticket")),
    request_body = TransferBody,
    responses(
        (status = 200, body = Ticket),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the ticket is resolved or closed", body = ErrorBody),
        (status = 422, description = "not an active agent, no such queue, or not exactly one target", body = ErrorBody)
    )
)]
#[post("/tickets/{id}/transfer")]
pub async fn transfer(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<TicketId>,
    body: web::Json<TransferBody>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&[Role::Agent, Role::Supervisor])?;
    let to = match (body.agent_id, body.queue.as_deref()) {
        (Some(target), None) => TransferTo::Agent(target),
        (None, Some(queue)) => TransferTo::Queue(queue),
        _ => return Err(Error::invalid("agent_id", "give exactly one of agent_id and queue")),
    };
    let before = state.core.store.ticket(*id).await?;
    let ticket = state.tickets.transfer(agent, *id, to).await?;
    state.audit.record(&staff.actor(), ticket_event(AuditAction::TicketTransferred, Some(&before), &ticket)).await?;
    Ok(HttpResponse::Ok().json(ticket))
}

/// An internal note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    text: String,
}

/// An internal note, never shown to the customer (the assignee, or a supervisor: a whisper).
#[utoipa::path(
    tag = "tickets",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = TicketId, Path, description = "the ticket")),
    request_body = NoteBody,
    responses(
        (status = 201, body = TicketNoteView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[post("/tickets/{id}/notes")]
pub async fn add_note(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<TicketId>,
    body: web::Json<NoteBody>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&[Role::Agent, Role::Supervisor])?;
    let note = state.tickets.add_note(agent, *id, &body.text).await?;
    let details = json!({"chars": note.text.chars().count()});
    state
        .audit
        .record(&staff.actor(), Event::new(AuditAction::TicketNoted).target(TargetKind::Ticket, *id).details(details))
        .await?;
    Ok(HttpResponse::Created().json(TicketNoteView::from(note)))
}

/// A ticket's tags.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsBody {
    tags: Vec<String>,
}

/// Replaces the ticket's tags (agent).
#[utoipa::path(
    tag = "tickets",
    security(("bearer" = ["agent"])),
    params(("id" = TicketId, Path, description = "the ticket")),
    request_body = TagsBody,
    responses(
        (status = 200, body = Ticket),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "more than 20 tags, or an empty or overlong one", body = ErrorBody)
    )
)]
#[put("/tickets/{id}/tags")]
pub async fn set_tags(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<TicketId>,
    body: web::Json<TagsBody>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require(Role::Agent)?;
    let before = state.core.store.ticket(*id).await?;
    let ticket = state.tickets.set_tags(agent, *id, body.into_inner().tags).await?;
    state.audit.record(&staff.actor(), ticket_event(AuditAction::TicketTagged, Some(&before), &ticket)).await?;
    Ok(HttpResponse::Ok().json(ticket))
}

/// The audit entry of a ticket change: its status, queue, assignee and tags before and after.
fn ticket_event(action: AuditAction, before: Option<&Ticket>, after: &Ticket) -> Event {
    let state =
        |t: &Ticket| json!({"status": t.status, "queue": t.queue, "assignee_id": t.assignee_id, "tags": t.tags});
    let event = Event::new(action).target(TargetKind::Ticket, after.id);
    match before {
        Some(b) => event.change(&state(b), &state(after)),
        None => event.after(&state(after)),
    }
}
