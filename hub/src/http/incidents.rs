//! The incident feed (staff read it; supervisors and admins enter, change and resolve
//! incidents, and resolve their tickets in bulk), Prometheus Alertmanager's webhook, the banners
//! (the widget's, with the visitor token, and the workspace's, per conversation), and line tests
//! run from a conversation.
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use std::collections::BTreeMap;

use actix_web::web::Query;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use schema::incidents::{
    Diagnostic, DiagnosticMeasure, DiagnosticVerdict, Incident, IncidentSource, IncidentStatus, ServiceKind,
};
use schema::{AgentId, AuditAction, ConversationId, DiagnosticId, IncidentId, Language, Role, TargetKind, TicketId};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::{Error, ErrorCode};
use crate::http::auth::{Staff, header_bearer};
use crate::http::client_address;
use crate::http::views::ErrorBody;
use crate::services::audit::{Actor, Event};
use crate::services::outages::{AlertOutcome, IncidentInput};

/// Incident, banner, webhook and diagnostics routes (under `/api/v1`).
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get)
        .service(update)
        .service(resolve_tickets)
        .service(alertmanager)
        .service(widget_banner)
        .service(conversation_banner)
        .service(run_diagnostic)
        .service(diagnostics);
}

/// An incident's text in one language.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextView {
    /// 1 to 200 characters.
    title: String,
    /// Up to 2,000 characters.
    #[serde(default)]
    description: String,
}

/// An incident, as staff see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentView {
    id: IncidentId,
    /// The neutral title (shown when there is none in the reader's language).
    title: String,
    description: String,
    /// The text per language (`en`, `es`, `pt`), where written.
    texts: BTreeMap<Language, TextView>,
    services: Vec<ServiceKind>,
    postcodes: Vec<String>,
    cells: Vec<String>,
    status: IncidentStatus,
    source: IncidentSource,
    /// The Alertmanager alert's fingerprint (`source` = `alertmanager`).
    fingerprint: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    started_at: OffsetDateTime,
    /// When service is expected back.
    #[serde(with = "time::serde::rfc3339::option")]
    eta: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    resolved_at: Option<OffsetDateTime>,
    created_by: Option<AgentId>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl From<Incident> for IncidentView {
    fn from(i: Incident) -> Self {
        let c = i.content;
        Self {
            id: i.id,
            title: c.text.title,
            description: c.text.description,
            texts: c
                .texts
                .into_iter()
                .map(|(l, t)| (l, TextView { title: t.title, description: t.description }))
                .collect(),
            services: c.services.into_iter().collect(),
            postcodes: c.postcodes.into_iter().map(String::from).collect(),
            cells: c.cells.into_iter().map(String::from).collect(),
            status: c.status,
            source: i.source,
            fingerprint: i.fingerprint,
            started_at: c.started_at,
            eta: c.eta,
            resolved_at: i.resolved_at,
            created_by: i.created_by,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

/// What customers see of an incident (the banners): its public text in their language, its
/// status and ETA; never the area or anything about an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicIncidentView {
    id: IncidentId,
    title: String,
    description: String,
    services: Vec<ServiceKind>,
    status: IncidentStatus,
    #[serde(with = "time::serde::rfc3339")]
    started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    eta: Option<OffsetDateTime>,
}

impl PublicIncidentView {
    fn of(i: &Incident, language: Language) -> Self {
        let text = i.content.text_in(language);
        Self {
            id: i.id,
            title: text.title.clone(),
            description: text.description.clone(),
            services: i.content.services.iter().copied().collect(),
            status: i.content.status,
            started_at: i.content.started_at,
            eta: i.content.eta,
        }
    }
}

/// `Some(value)` for a field that is present, `null` included (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// An incident as staff write it. On `PATCH`, omitted fields keep their value.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentBody {
    /// The neutral title, 1 to 200 characters (required on create).
    title: Option<String>,
    /// Up to 2,000 characters.
    description: Option<String>,
    /// The text per language (`en`, `es`, `pt`); replaces all of them.
    texts: Option<BTreeMap<String, TextView>>,
    /// `mobile`, `fibre`, `tv`, `landline` (at least one).
    services: Option<Vec<String>>,
    /// Affected postcodes (at most 500); with `cells`, at least one area.
    postcodes: Option<Vec<String>>,
    /// Affected radio cell ids (at most 500).
    cells: Option<Vec<String>>,
    /// `investigating` (default), `identified`, `monitoring`, `resolved`.
    status: Option<String>,
    /// RFC 3339; default now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    started_at: Option<OffsetDateTime>,
    /// RFC 3339, or `null` to clear.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    eta: Option<Option<String>>,
}

impl IncidentBody {
    fn input(self) -> Result<IncidentInput, Error> {
        let eta = match self.eta {
            None => None,
            Some(None) => Some(None),
            Some(Some(text)) => Some(Some(
                OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| Error::invalid("eta", "an RFC 3339 time, or null"))?,
            )),
        };
        Ok(IncidentInput {
            title: self.title,
            description: self.description,
            texts: self.texts.map(|t| t.into_iter().map(|(l, v)| (l, (v.title, v.description))).collect()),
            services: self.services,
            postcodes: self.postcodes,
            cells: self.cells,
            status: self.status,
            started_at: self.started_at,
            eta,
        })
    }
}

/// Which incidents to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    /// `true`: resolved ones too; default: live ones only.
    all: Option<bool>,
    /// 1 to 200, default 50.
    limit: Option<u32>,
}

/// Incidents, newest start first: the live ones (or all with `all=true`) (agent, supervisor or
/// admin).
#[utoipa::path(
    params(IncidentQuery),
    tag = "incidents",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"]), ("bearer" = ["admin"])),
    responses(
        (status = 200, body = Vec<IncidentView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[get("/incidents")]
pub async fn list(
    state: web::Data<AppState>,
    staff: Staff,
    query: Query<IncidentQuery>,
) -> Result<HttpResponse, Error> {
    staff.require_any(&[Role::Agent, Role::Supervisor, Role::Admin])?;
    let limit = crate::http::page_size(query.limit, "limit")?;
    let items = state.outages.list(query.all.unwrap_or(false), limit).await?;
    Ok(HttpResponse::Ok().json(items.into_iter().map(IncidentView::from).collect::<Vec<_>>()))
}

/// One incident (agent, supervisor or admin).
#[utoipa::path(
    tag = "incidents",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"]), ("bearer" = ["admin"])),
    params(("id" = IncidentId, Path, description = "the incident")),
    responses(
        (status = 200, body = IncidentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[get("/incidents/{id}")]
pub async fn get(state: web::Data<AppState>, staff: Staff, id: web::Path<IncidentId>) -> Result<HttpResponse, Error> {
    staff.require_any(&[Role::Agent, Role::Supervisor, Role::Admin])?;
    Ok(HttpResponse::Ok().json(IncidentView::from(state.outages.get(*id).await?)))
}

/// A new incident (supervisor or admin); customers with open conversations in its area are
/// told, and it answers their outage questions to the bot.
#[utoipa::path(
    tag = "incidents",
    security(("bearer" = ["supervisor"]), ("bearer" = ["admin"])),
    request_body = IncidentBody,
    responses(
        (status = 201, body = IncidentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "a field does not validate (`field` names it): no title, no area, no service, a bad postcode…", body = ErrorBody)
    )
)]
#[post("/incidents")]
pub async fn create(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<IncidentBody>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&[Role::Supervisor, Role::Admin])?;
    let body = body.into_inner();
    if body.title.is_none() {
        return Err(Error::Validation(schema::ValidationError::Empty { field: "title" }));
    }
    let incident = IncidentView::from(state.outages.create(agent, body.input()?).await?);
    state
        .audit
        .record(
            &staff.actor(),
            Event::new(AuditAction::IncidentCreated).target(TargetKind::Incident, incident.id).after(&incident),
        )
        .await?;
    Ok(HttpResponse::Created().json(incident))
}

/// Changes an incident: only the fields given (supervisor or admin). Resolving it
/// (`"status": "resolved"`) tells the customers in its area.
#[utoipa::path(
    tag = "incidents",
    security(("bearer" = ["supervisor"]), ("bearer" = ["admin"])),
    params(("id" = IncidentId, Path, description = "the incident")),
    request_body = IncidentBody,
    responses(
        (status = 200, body = IncidentView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[patch("/incidents/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<IncidentId>,
    body: web::Json<IncidentBody>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&[Role::Supervisor, Role::Admin])?;
    let (before, after) = state.outages.update(agent, *id, body.into_inner().input()?).await?;
    let (before, after) = (IncidentView::from(before), IncidentView::from(after));
    state
        .audit
        .record(
            &staff.actor(),
            Event::new(AuditAction::IncidentUpdated).target(TargetKind::Incident, *id).change(&before, &after),
        )
        .await?;
    Ok(HttpResponse::Ok().json(after))
}

/// The tickets a bulk resolution closed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResolvedTickets {
    resolved: Vec<TicketId>,
}

/// Resolves every open ticket tagged `incident:<id>` (at most 500 a call) (supervisor).
#[utoipa::path(
    tag = "incidents",
    security(("bearer" = ["supervisor"])),
    params(("id" = IncidentId, Path, description = "the incident")),
    responses(
        (status = 200, body = ResolvedTickets),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[post("/incidents/{id}/resolve-tickets")]
pub async fn resolve_tickets(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<IncidentId>,
) -> Result<HttpResponse, Error> {
    let supervisor = staff.require(Role::Supervisor)?;
    let resolved = state.outages.resolve_tickets(supervisor, *id).await?;
    let body = ResolvedTickets { resolved };
    state
        .audit
        .record(
            &staff.actor(),
            Event::new(AuditAction::IncidentTicketsResolved).target(TargetKind::Incident, *id).after(&body),
        )
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// Prometheus Alertmanager's webhook (`webhook_config` with `http_config.authorization`: the
/// bearer token `outages.alertmanager_token`), payload version 4. Firing alerts open or update
/// the incident keyed by their fingerprint; resolved ones resolve it. Labels map by
/// `[outages.alertmanager]`; every alert is checked before anything is written.
#[utoipa::path(
    tag = "webhooks",
    request_body(content = String, description = "Alertmanager's webhook JSON (version 4)", content_type = "application/json"),
    responses(
        (status = 200, body = AlertOutcome),
        (status = 400, description = "`malformed_webhook`: not JSON, another version, a field missing or mistyped", body = ErrorBody),
        (status = 401, description = "a wrong or missing bearer token, or none configured (the webhook is off)", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, description = "an alert's labels do not map: `field` names the label (`alerts[0].labels.postcode`); nothing written", body = ErrorBody),
        (status = 429, body = ErrorBody),
        (status = 503, description = "the store is down (Alertmanager retries)", body = ErrorBody)
    )
)]
#[post("/webhooks/alertmanager")]
pub async fn alertmanager(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let max = state.outages.max_body_bytes();
    let body = match payload.to_bytes_limited(max).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            return Err(Error::BadRequest {
                code: ErrorCode::MalformedWebhook,
                message: format!("cannot read the body: {e}"),
            });
        }
        Err(_) => return Err(Error::PayloadTooLarge(format!("webhook bodies are limited to {max} bytes"))),
    };
    let source = client_address(&state.config, &req);
    let outcome = state.outages.alertmanager(header_bearer(&req), source, &body).await?;
    if !(outcome.opened.is_empty() && outcome.updated.is_empty() && outcome.resolved.is_empty()) {
        state
            .audit
            .record(
                &Actor { ip: source, ..Actor::system() },
                Event::new(AuditAction::IncidentUpdated).details(serde_json::json!({
                    "source": "alertmanager",
                    "opened": outcome.opened,
                    "updated": outcome.updated,
                    "resolved": outcome.resolved,
                })),
            )
            .await?;
    }
    Ok(HttpResponse::Ok().json(outcome))
}

/// The live incidents where the web chat's customer is (their address with the operator), for
/// the widget's banner (visitor token in `Authorization: Bearer`): public text in the chat's
/// language and the ETA only.
#[utoipa::path(
    tag = "web chat",
    responses(
        (status = 200, body = Vec<PublicIncidentView>),
        (status = 401, description = "no valid visitor token", body = ErrorBody)
    )
)]
#[get("/webchat/incidents")]
pub async fn widget_banner(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, Error> {
    let token = header_bearer(&req)
        .ok_or_else(|| Error::Unauthorized("a visitor token is required (Authorization: Bearer)".to_owned()))?;
    let claims = state.webchat.verify(token).map_err(|e| Error::Unauthorized(e.to_string()))?;
    let conversation = state.core.store.conversation(claims.conversation_id).await?;
    let live = state.outages.for_customer(claims.customer_id).await?;
    Ok(HttpResponse::Ok()
        .json(live.iter().map(|i| PublicIncidentView::of(i, conversation.language)).collect::<Vec<_>>()))
}

/// The live incidents where the conversation's customer is (the workspace's banner) (agent or
/// supervisor).
#[utoipa::path(
    tag = "incidents",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = ConversationId, Path, description = "the conversation")),
    responses(
        (status = 200, body = Vec<IncidentView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[get("/conversations/{id}/incidents")]
pub async fn conversation_banner(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, Error> {
    staff.require_any(&[Role::Agent, Role::Supervisor])?;
    let live = state.outages.for_conversation(*id).await?;
    Ok(HttpResponse::Ok().json(live.into_iter().map(IncidentView::from).collect::<Vec<_>>()))
}

/// A line test's result on a conversation's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiagnosticView {
    id: DiagnosticId,
    conversation_id: ConversationId,
    /// The BSS product the test ran on.
    product: String,
    /// The BSS's test id.
    test: String,
    verdict: DiagnosticVerdict,
    summary: String,
    measures: Vec<DiagnosticMeasure>,
    run_by: AgentId,
    #[serde(with = "time::serde::rfc3339")]
    finished_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl From<Diagnostic> for DiagnosticView {
    fn from(d: Diagnostic) -> Self {
        Self {
            id: d.id,
            conversation_id: d.conversation_id,
            product: d.product,
            test: d.test,
            verdict: d.verdict,
            summary: d.summary,
            measures: d.measures,
            run_by: d.run_by,
            finished_at: d.finished_at,
            created_at: d.created_at,
        }
    }
}

/// Which product to test.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiagnosticBody {
    /// The BSS product id (one of the customer's products).
    product: String,
}

/// Runs a line test on one of the customer's products through the BSS (TMF653 or the embedded
/// simulator); the result lands on the conversation's timeline and as a note on its open ticket
/// (the assignee or a supervisor).
#[utoipa::path(
    tag = "incidents",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = ConversationId, Path, description = "the conversation")),
    request_body = DiagnosticBody,
    responses(
        (status = 201, body = DiagnosticView),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not the assignee nor a supervisor", body = ErrorBody),
        (status = 404, description = "no such conversation, or the BSS knows no such product", body = ErrorBody),
        (status = 422, description = "a malformed product reference", body = ErrorBody),
        (status = 503, description = "the billing system is unavailable", body = ErrorBody)
    )
)]
#[post("/conversations/{id}/diagnostics")]
pub async fn run_diagnostic(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
    body: web::Json<DiagnosticBody>,
) -> Result<HttpResponse, Error> {
    let agent = staff.require_any(&[Role::Agent, Role::Supervisor])?;
    let diagnostic = DiagnosticView::from(state.outages.diagnose(agent, *id, &body.product).await?);
    state
        .audit
        .record(
            &staff.actor(),
            Event::new(AuditAction::DiagnosticRun).target(TargetKind::Conversation, *id).after(&diagnostic),
        )
        .await?;
    Ok(HttpResponse::Created().json(diagnostic))
}

/// A conversation's line tests, newest first (agent or supervisor).
#[utoipa::path(
    tag = "incidents",
    security(("bearer" = ["agent"]), ("bearer" = ["supervisor"])),
    params(("id" = ConversationId, Path, description = "the conversation")),
    responses(
        (status = 200, body = Vec<DiagnosticView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[get("/conversations/{id}/diagnostics")]
pub async fn diagnostics(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, Error> {
    staff.require_any(&[Role::Agent, Role::Supervisor])?;
    let items = state.outages.diagnostics(*id).await?;
    Ok(HttpResponse::Ok().json(items.into_iter().map(DiagnosticView::from).collect::<Vec<_>>()))
}
