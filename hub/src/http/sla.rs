//! SLA policies (supervisor: read, save as a new version, list versions) and a ticket's SLA
//! clocks (agent: the workspace's countdown).

use actix_web::{HttpResponse, get, put, web};
use schema::{AgentId, AuditAction, Role, TargetKind, TicketId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::ErrorBody;
use crate::services::audit::Event;
use crate::services::sla::{SlaConfig, TicketClocks};

/// SLA routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(get_policies).service(save_policies).service(versions).service(ticket_clocks);
}

/// The SLA policies in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaView {
    /// 0 until a supervisor saves policies (none in force).
    version: i64,
    config: SlaConfig,
}

/// The SLA policies in force and their version (supervisor).
#[utoipa::path(
    tag = "sla",
    security(("bearer" = ["supervisor"])),
    responses((status = 200, body = SlaView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
#[get("/sla/policies")]
pub async fn get_policies(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    staff.require(Role::Supervisor)?;
    let (version, config) = state.sla.config();
    Ok(HttpResponse::Ok().json(SlaView { version, config }))
}

/// Policies to put in force.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveSla {
    #[schema(value_type = SlaConfig)]
    config: serde_json::Value,
    /// The version the editor started from: the save is refused (409) if another was saved since.
    #[serde(default)]
    expected_version: Option<i64>,
}

/// Validates the SLA policies, saves them as a new version and puts them in force; every open
/// ticket's clocks follow (supervisor).
#[utoipa::path(
    tag = "sla",
    security(("bearer" = ["supervisor"])),
    request_body = SaveSla,
    responses(
        (status = 200, body = SlaView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "another version was saved since `expected_version`", body = ErrorBody),
        (status = 422, description = "the policies do not validate; `field` is the first problem's path", body = ErrorBody)
    )
)]
#[put("/sla/policies")]
pub async fn save_policies(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<SaveSla>,
) -> Result<HttpResponse, Error> {
    let supervisor = staff.require(Role::Supervisor)?;
    staff.require_fresh_auth(&state)?;
    let SaveSla { config, expected_version } = body.into_inner();
    let (before_version, before) = state.sla.config();
    let before = SlaView { version: before_version, config: before };
    let (version, config) = state.sla.save(supervisor.id, config, expected_version).await?;
    let after = SlaView { version, config };
    let event = Event::new(AuditAction::SettingsChanged).target(TargetKind::Setting, "sla").change(&before, &after);
    state.audit.record(&staff.actor(), event).await?;
    Ok(HttpResponse::Ok().json(after))
}

/// A saved version of the SLA policies.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaVersionView {
    version: i64,
    #[schema(value_type = SlaConfig)]
    config: serde_json::Value,
    created_by: AgentId,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

/// The saved versions of the SLA policies, newest first (at most 200) (supervisor).
#[utoipa::path(
    tag = "sla",
    security(("bearer" = ["supervisor"])),
    responses(
        (status = 200, body = Vec<SlaVersionView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)
    )
)]
#[get("/sla/policies/versions")]
pub async fn versions(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    staff.require(Role::Supervisor)?;
    let versions: Vec<SlaVersionView> = state
        .sla
        .versions()
        .await?
        .into_iter()
        .map(|v| SlaVersionView {
            version: v.version,
            config: v.config,
            created_by: v.created_by,
            created_at: v.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(versions))
}

/// A ticket's SLA clocks now: each target's deadline, business time left, and state (`running`,
/// `paused`, `met`, `breached`), with the policy they follow (agent).
#[utoipa::path(
    tag = "sla",
    security(("bearer" = ["agent"])),
    params(("id" = TicketId, Path, description = "the ticket")),
    responses(
        (status = 200, body = TicketClocks),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[get("/tickets/{id}/sla")]
pub async fn ticket_clocks(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<TicketId>,
) -> Result<HttpResponse, Error> {
    staff.require(Role::Agent)?;
    Ok(HttpResponse::Ok().json(state.sla.ticket_clocks(*id).await?))
}
