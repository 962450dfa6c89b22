//! Reports (supervisor or admin): volume, times and agents over a date range, bucketed in the
//! operator's time zone, as JSON or CSV (`format=csv` or `Accept: text/csv`).
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use actix_web::http::header;
use actix_web::web::Query;
use actix_web::{HttpRequest, HttpResponse, get, web};
use schema::Role;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::ErrorBody;
use crate::services::reports::{Report, ReportKind, ReportParams, to_csv};

/// Report routes (under `/api/v1`).
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(volume).service(times).service(agents);
}

/// A report's range, zone, buckets and filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Start: RFC 3339, or a date (its midnight in `tz`). Default: 7 days before `to`.
    from: Option<String>,
    /// End (exclusive): RFC 3339, or a date (included: up to the next midnight in `tz`).
    /// Default: now. At most 400 days after `from`.
    to: Option<String>,
    /// IANA time zone of the buckets (`Europe/Madrid`); default `[reports] time_zone`.
    tz: Option<String>,
    /// `hour`, `day` (default) or `week` (from Monday); at most 2,500 buckets.
    bucket: Option<String>,
    /// Only this channel (`webchat`, `email`, `voice`, …).
    channel: Option<String>,
    /// Only this queue.
    queue: Option<String>,
    /// Only this agent (id).
    agent: Option<String>,
    /// Only conversations in this language (`en`, `es`, `pt`).
    language: Option<String>,
    /// Only customers of this tier.
    tier: Option<String>,
    /// Only agent-attributed measures of this team's members (as members were at each
    /// 15-minute bucket); a team nobody was ever in is refused (422).
    team: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// A report. Measures are defined in docs/reports.md.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportView {
    /// The range's start and end, RFC 3339 in the zone's offset.
    from: String,
    to: String,
    tz: String,
    /// `hour`, `day` or `week`.
    bucket: String,
    /// One point per bucket, oldest first: `start` and the measures.
    #[schema(value_type = Vec<Object>)]
    series: Vec<Map<String, Value>>,
    /// The measures over the whole range.
    #[schema(value_type = Object)]
    totals: Map<String, Value>,
    /// The agents report: one row per agent (`agent_id`, `name`, `team`, measures).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    agents: Option<Vec<Map<String, Value>>>,
}

fn wants_csv(req: &HttpRequest, query: &ReportQuery) -> Result<bool, Error> {
    match query.format.as_deref() {
        Some("csv") => return Ok(true),
        Some("json") => return Ok(false),
        Some(_) => return Err(Error::invalid("format", "json or csv")),
        None => {}
    }
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    Ok(accept.split(',').any(|a| a.trim().starts_with("text/csv")))
}

async fn answer(
    state: &AppState,
    staff: &Staff,
    req: &HttpRequest,
    query: ReportQuery,
    kind: ReportKind,
    name: &str,
) -> Result<HttpResponse, Error> {
    staff.require_any(&[Role::Supervisor, Role::Admin])?;
    let csv = wants_csv(req, &query)?;
    let params = ReportParams {
        from: query.from,
        to: query.to,
        tz: query.tz,
        bucket: query.bucket,
        channel: query.channel,
        queue: query.queue,
        agent: query.agent,
        language: query.language,
        tier: query.tier,
        team: query.team,
    };
    let report: Report = state.reports.report(kind, params, jiff::Timestamp::now()).await?;
    if csv {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.csv\"")))
            .body(to_csv(&report)));
    }
    Ok(HttpResponse::Ok().json(ReportView {
        from: report.from,
        to: report.to,
        tz: report.tz,
        bucket: report.bucket.to_owned(),
        series: report.series,
        totals: report.totals,
        agents: report.agents,
    }))
}

/// Volume: conversations, new tickets, resolved, reopened, abandoned, transfers, reopen rate
/// (supervisor or admin).
#[utoipa::path(
    params(ReportQuery),
    tag = "reports",
    security(("bearer" = ["supervisor"]), ("bearer" = ["admin"])),
    responses(
        (status = 200, body = ReportView, description = "JSON, or CSV (`text/csv`) with `format=csv` or `Accept: text/csv`"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "a parameter does not check (`field` names it): range, zone, bucket count, filter", body = ErrorBody)
    )
)]
#[get("/reports/volume")]
pub async fn volume(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    query: Query<ReportQuery>,
) -> Result<HttpResponse, Error> {
    answer(&state, &staff, &req, query.into_inner(), ReportKind::Volume, "volume").await
}

/// Times: first response and resolution (mean, median, p90), share within the queue's
/// first-response target, handle time, transfers (supervisor or admin).
#[utoipa::path(
    params(ReportQuery),
    tag = "reports",
    security(("bearer" = ["supervisor"]), ("bearer" = ["admin"])),
    responses(
        (status = 200, body = ReportView, description = "JSON, or CSV (`text/csv`) with `format=csv` or `Accept: text/csv`"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "a parameter does not check (`field` names it)", body = ErrorBody)
    )
)]
#[get("/reports/times")]
pub async fn times(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    query: Query<ReportQuery>,
) -> Result<HttpResponse, Error> {
    answer(&state, &staff, &req, query.into_inner(), ReportKind::Times, "times").await
}

/// Agents: per agent, tickets handled, handle time, resolved, first responses, presence times and
/// occupancy; the series sums all agents (supervisor or admin). CSV: one line per agent.
#[utoipa::path(
    params(ReportQuery),
    tag = "reports",
    security(("bearer" = ["supervisor"]), ("bearer" = ["admin"])),
    responses(
        (status = 200, body = ReportView, description = "JSON, or CSV (`text/csv`) with `format=csv` or `Accept: text/csv`"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "a parameter does not check (`field` names it)", body = ErrorBody)
    )
)]
#[get("/reports/agents")]
pub async fn agents(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    query: Query<ReportQuery>,
) -> Result<HttpResponse, Error> {
    answer(&state, &staff, &req, query.into_inner(), ReportKind::Agents, "agents").await
}
