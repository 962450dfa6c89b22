//! The supervisors' routing (supervisor): the rules (versioned), a dry run, queue figures, the
//! live wall.

use actix_web::{HttpResponse, get, post, put, web};
use router::rules::RoutingRules;
use schema::{AuditAction, EscalationStep, Priority, QueueName, Role, SkillRequirement, TargetKind, TicketId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::{self, ErrorBody, QueueStatsView, RulesVersionSummaryView, RulesVersionView};
use crate::services::audit::Event;
use crate::services::tickets::{DryRunInput, HISTORY_MAX_TICKETS, HISTORY_SAMPLE, HistoryDryRun};
use crate::services::wall::WallSnapshot;
use router::history::{QueueForecast, QueueMove};

/// Routing routes (supervisors).
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(get_rules)
        .service(save_rules)
        .service(rules_versions)
        .service(rules_version)
        .service(restore_rules)
        .service(dry_run)
        .service(dry_run_history)
        .service(queues);
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
    security(("bearer" = ["supervisor"])),
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
    security(("bearer" = ["supervisor"])),
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
    staff.require_fresh_auth(&state)?;
    let SaveRules { rules, expected_version } = body.into_inner();
    let before = state.tickets.rules().await?;
    let (version, rules) = state.tickets.save_rules(supervisor.id, rules, expected_version).await?;
    let after = RulesView { version, rules };
    let before = RulesView { version: before.0, rules: before.1 };
    state.audit.record(&staff.actor(), rules_event(AuditAction::RulesPublished, &before, &after)).await?;
    Ok(HttpResponse::Ok().json(after))
}

/// The saved versions of the rules, newest first (at most 200), with who saved each, when, and
/// how many rules it holds; not the rules themselves (`GET …/versions/{version}`) (supervisor).
#[utoipa::path(
    tag = "routing",
    security(("bearer" = ["supervisor"])),
    responses(
        (status = 200, body = Vec<RulesVersionSummaryView>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)
    )
)]
#[get("/routing/rules/versions")]
pub async fn rules_versions(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    staff.require(Role::Supervisor)?;
    let versions: Vec<RulesVersionSummaryView> = views::all(state.tickets.rules_versions().await?);
    Ok(HttpResponse::Ok().json(versions))
}

/// One saved version of the rules, with who saved it and when (supervisor).
#[utoipa::path(
    tag = "routing",
    security(("bearer" = ["supervisor"])),
    params(("version" = i64, Path, description = "The version number")),
    responses(
        (status = 200, body = RulesVersionView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[get("/routing/rules/versions/{version}")]
pub async fn rules_version(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
) -> Result<HttpResponse, Error> {
    staff.require(Role::Supervisor)?;
    let version: RulesVersionView = state.tickets.rules_version(path.into_inner()).await?.into();
    Ok(HttpResponse::Ok().json(version))
}

/// Which version the editor started from, for a restore.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreRules {
    /// The version the editor showed as in force: the restore is refused (409) if another was
    /// saved since.
    #[serde(default)]
    expected_version: Option<i64>,
}

/// Puts a saved version's rules back in force as a new version that records which version it
/// restored (supervisor).
#[utoipa::path(
    tag = "routing",
    security(("bearer" = ["supervisor"])),
    params(("version" = i64, Path, description = "The version to restore")),
    request_body = RestoreRules,
    responses(
        (status = 200, body = RulesView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "another version was saved since `expected_version`", body = ErrorBody),
        (status = 422, description = "the old rules no longer validate", body = ErrorBody)
    )
)]
#[post("/routing/rules/versions/{version}/restore")]
pub async fn restore_rules(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
    body: web::Json<RestoreRules>,
) -> Result<HttpResponse, Error> {
    let supervisor = staff.require(Role::Supervisor)?;
    staff.require_fresh_auth(&state)?;
    let RestoreRules { expected_version } = body.into_inner();
    let before = state.tickets.rules().await?;
    let (version, rules) = state.tickets.restore_rules(supervisor.id, path.into_inner(), expected_version).await?;
    let after = RulesView { version, rules };
    let before = RulesView { version: before.0, rules: before.1 };
    state.audit.record(&staff.actor(), rules_event(AuditAction::RulesRestored, &before, &after)).await?;
    Ok(HttpResponse::Ok().json(after))
}

/// The audit entry of a rules change: the versions and rules before and after.
fn rules_event(action: AuditAction, before: &RulesView, after: &RulesView) -> Event {
    Event::new(action).target(TargetKind::Rules, after.version).change(before, after)
}

/// Draft rules and the window of history to try them on.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunHistory {
    /// The draft (validated as for saving).
    #[schema(value_type = RoutingRules)]
    rules: serde_json::Value,
    /// The window: the tickets opened in the last `hours`, 1 to 168.
    hours: i64,
}

/// The draft compared with the rules in force over the window's tickets.
#[derive(Debug, Serialize, ToSchema)]
pub struct DryRunHistoryResult {
    hours: i64,
    /// The window's start.
    #[serde(with = "time::serde::rfc3339")]
    since: OffsetDateTime,
    /// The version in force compared against (0: the built-in defaults).
    rules_version: i64,
    /// Tickets read and classified.
    tickets: usize,
    /// More tickets were opened in the window than `max_tickets`: only the newest were read.
    truncated: bool,
    max_tickets: u32,
    /// Tickets the draft sends to another queue.
    moved: usize,
    /// Moves by (from, to), most tickets first.
    moves: Vec<QueueMove>,
    /// Up to `sample_cap` of the moved tickets, newest first.
    moved_sample: Vec<TicketId>,
    sample_cap: usize,
    /// Each queue of either rule set: tickets, serving agents, observed and expected waits.
    queues: Vec<QueueForecast>,
}

impl From<HistoryDryRun> for DryRunHistoryResult {
    fn from(r: HistoryDryRun) -> Self {
        let c = r.comparison;
        Self {
            hours: r.hours,
            since: r.since,
            rules_version: r.rules_version,
            tickets: c.tickets,
            truncated: r.truncated,
            max_tickets: HISTORY_MAX_TICKETS,
            moved: c.moved,
            moves: c.moves,
            moved_sample: c.moved_sample,
            sample_cap: HISTORY_SAMPLE,
            queues: c.queues,
        }
    }
}

/// Tries draft rules on the tickets opened in the last `hours` (at most 168, the newest 5000
/// tickets): how many would move queue, from where to where, and the expected wait per queue
/// (supervisor).
#[utoipa::path(
    tag = "routing",
    security(("bearer" = ["supervisor"])),
    request_body = DryRunHistory,
    responses(
        (status = 200, body = DryRunHistoryResult),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "`hours` out of range, or the draft does not validate (`field` names it)", body = ErrorBody),
        (status = 429, description = "another dry run over history is still running after 2 seconds", body = ErrorBody)
    )
)]
#[post("/routing/dry-run/history")]
pub async fn dry_run_history(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<DryRunHistory>,
) -> Result<HttpResponse, Error> {
    staff.require(Role::Supervisor)?;
    let DryRunHistory { rules, hours } = body.into_inner();
    let result: DryRunHistoryResult = state.tickets.dry_run_history(rules, hours).await?.into();
    Ok(HttpResponse::Ok().json(result))
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
    /// The customer's churn-risk score (0 to 100), for `churn_risk_at_least`; absent: unknown.
    #[serde(default)]
    churn_risk: Option<u8>,
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
    security(("bearer" = ["supervisor"])),
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
    let DryRun { channel, language, tier, tags, text, at, churn_risk, rules } = body.into_inner();
    let classification =
        state.tickets.dry_run(DryRunInput { channel, language, tier, tags, text, at, churn_risk, rules })?;
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
    security(("bearer" = ["supervisor"])),
    responses((status = 200, body = Vec<QueueStatsView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
#[get("/queues")]
pub async fn queues(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    staff.require(Role::Supervisor)?;
    let queues: Vec<QueueStatsView> = views::all(state.routing.queue_stats().await?);
    Ok(HttpResponse::Ok().json(queues))
}

/// The supervisors' wall at this moment (supervisor): every queue (waiting, offered, longest
/// wait, SLA at risk and breached, agents serving it and per required skill by presence), every
/// skill's agents by presence, every agent (presence, load and capacity per channel, tickets).
/// The same snapshot `/ws/supervisor` pushes every second, shared by all who ask within it.
#[utoipa::path(
    tag = "routing",
    security(("bearer" = ["supervisor"])),
    responses((status = 200, body = WallSnapshot), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
#[get("/wall")]
pub async fn wall(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, Error> {
    staff.require(Role::Supervisor)?;
    let snapshot = state.wall.snapshot().await?;
    Ok(HttpResponse::Ok().json(&*snapshot))
}
