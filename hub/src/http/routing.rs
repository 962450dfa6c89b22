//! The supervisors' routing (supervisor): the rules (versioned), a dry run, queue figures, the
//! live wall.

use actix_web::{HttpResponse, get, post, put, web};
use router::rules::RoutingRules;
use schema::{EscalationStep, Priority, QueueName, Role, SkillRequirement};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::{self, ErrorBody, QueueStatsView, RulesVersionView};
use crate::services::tickets::DryRunInput;
use crate::services::wall::WallSnapshot;

/// Routing routes (supervisors).
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(get_rules).service(save_rules).service(rules_versions).service(dry_run).service(queues);
    cfg.service(wall);
}

/// The routing rules in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct RulesView {
    /// 0 until a supervisor saves rules (the built-in defaults are in force).
    version: i64,
    rules: RoutingRules,
}

/// The rules in force and their version (supervisor).
#[utoipa::path(
    tag = "routing",
    security(("bearer" = [])),
    responses((status = 200, body = RulesView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
#[get("/routing/rules")]
pub async fn get_rules(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    staff.require(Role::Supervisor)?;
    let (version, rules) = state.tickets.rules().await?;
    Ok(HttpResponse::Ok().json(RulesView { version, rules }))
}

/// Rules to put in force.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveRules {
    #[schema(value_type = RoutingRules)]
    rules: serde_json::Value,
    /// The version the editor started from: the save is refused (409) if another was saved since.
    expected_version: Option<i64>,
}

/// Validates the rules, saves them as a new version and puts them in force (supervisor).
#[utoipa::path(
    tag = "routing",
    security(("bearer" = [])),
    request_body = SaveRules,
    responses(
        (status = 200, body = RulesView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "another version was saved since `expected_version`", body = ErrorBody),
        (status = 422, description = "the rules do not validate; `field` is the first problem's path", body = ErrorBody)
    )
)]
#[put("/routing/rules")]
pub async fn save_rules(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<SaveRules>,
) -> Result<HttpResponse, Error> {
    let supervisor = staff.require(Role::Supervisor)?;
    let SaveRules { rules, expected_version } = body.into_inner();
    let (version, rules) = state.tickets.save_rules(supervisor.id, rules, expected_version).await?;
    Ok(HttpResponse::Ok().json(RulesView { version, rules }))
}

/// Every saved version of the rules, newest first, with who saved it (supervisor).
#[utoipa::path(
    tag = "routing",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<RulesVersionView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)
    )
)]
#[get("/routing/rules/versions")]
pub async fn rules_versions(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    staff.require(Role::Supervisor)?;
    let versions: Vec<RulesVersionView> = views::all(state.tickets.rules_versions().await?);
    Ok(HttpResponse::Ok().json(versions))
}

/// A sample conversation, and optionally draft rules.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRun {
    channel: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    tier: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    text: String,
    /// RFC 3339; default now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    at: Option<OffsetDateTime>,
    /// Rules to try instead of those in force (validated the same way).
    #[serde(default)]
    #[schema(value_type = Option<RoutingRules>)]
    rules: Option<serde_json::Value>,
}

/// Where the sample would go.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRunResult {
    /// The rule that matched; `null`: the fallback.
    rule: Option<String>,
    queue: QueueName,
    skills: Vec<SkillRequirement>,
    priority: Priority,
    escalation: Vec<EscalationStep>,
}

/// Which rule and queue a sample conversation would hit, with the rules in force or with draft
/// rules (supervisor).
#[utoipa::path(
    tag = "routing",
    security(("bearer" = [])),
    request_body = DryRun,
    responses(
        (status = 200, body = DryRunResult),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[post("/routing/dry-run")]
pub async fn dry_run(state: web::Data<AppState>, staff: Staff, body: web::Json<DryRun>) -> Result<HttpResponse, Error> {
    staff.require(Role::Supervisor)?;
    let DryRun { channel, language, tier, tags, text, at, rules } = body.into_inner();
    let classification = state.tickets.dry_run(DryRunInput { channel, language, tier, tags, text, at, rules })?;
    let t = classification.target;
    Ok(HttpResponse::Ok().json(DryRunResult {
        rule: classification.rule,
        queue: t.queue,
        skills: t.skills,
        priority: t.priority,
        escalation: t.escalation,
    }))
}

/// Per queue: waiting, offered, longest wait, available agents, SLA at risk (supervisor).
#[utoipa::path(
    tag = "routing",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<QueueStatsView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
#[get("/queues")]
pub async fn queues(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    staff.require(Role::Supervisor)?;
    let queues: Vec<QueueStatsView> = views::all(state.routing.queue_stats().await);
    Ok(HttpResponse::Ok().json(queues))
}

/// The supervisors' wall at this moment (supervisor): every queue (waiting, offered, longest
/// wait, SLA at risk and breached, agents serving it and per required skill by presence), every
/// skill's agents by presence, every agent (presence, load and capacity per channel, tickets).
/// The same snapshot `/ws/supervisor` pushes every second, shared by all who ask within it.
#[utoipa::path(
    tag = "routing",
    security(("bearer" = [])),
    responses((status = 200, body = WallSnapshot), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
#[get("/wall")]
pub async fn wall(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    staff.require(Role::Supervisor)?;
    let snapshot = state.wall.snapshot().await?;
    Ok(HttpResponse::Ok().json(&*snapshot))
}
