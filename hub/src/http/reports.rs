//! Reports (supervisor or admin): volume, times, agents and the bot over a date range, bucketed
//! in the operator's time zone, as JSON or CSV (`format=csv` or `Accept: text/csv`): one handler,
//! `GET /reports/{kind}`.
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
use crate::services::reports::{Report, ReportKind, ReportParams, TopUnanswered, to_csv};

/// Report routes (under `/api/v1`).
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(report);
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
    /// Only this queue (not for `bot`: 422).
    queue: Option<String>,
    /// Only this agent, by id (not for `bot`: 422).
    agent: Option<String>,
    /// Only conversations in this language (`en`, `es`, `pt`).
    language: Option<String>,
    /// Only customers of this tier (not for `bot`: 422).
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
    /// The bot report: the most asked unanswered questions of the range.
    #[serde(skip_serializing_if = "Option::is_none")]
    top_unanswered: Option<TopUnansweredView>,
}

/// The bot report's top unanswered topics.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopUnansweredView {
    /// Most asked first: `topic` (the normalised question), `count`, `example` (one wording).
    #[schema(value_type = Vec<Object>)]
    topics: Vec<Map<String, Value>>,
    /// The range held more questions than one report reads (the newest 5,000 are grouped).
    truncated: bool,
}

/// Which report (the path's `{kind}`).
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportKindParam {
    /// Conversations, new tickets, resolved, reopened, abandoned, transfers, reopen rate.
    Volume,
    /// First response and resolution (mean, median, p90), SLA share, handle time, transfers.
    Times,
    /// Per agent: handled, handle time, resolved, first responses; the series sums all agents.
    Agents,
    /// The bot: containment, hand-over reasons, verdicts, unanswered questions and top topics.
    Bot,
}

impl From<ReportKindParam> for ReportKind {
    fn from(kind: ReportKindParam) -> Self {
        match kind {
            ReportKindParam::Volume => Self::Volume,
            ReportKindParam::Times => Self::Times,
            ReportKindParam::Agents => Self::Agents,
            ReportKindParam::Bot => Self::Bot,
        }
    }
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

/// A report (supervisor or admin): `volume`, `times`, `agents` (CSV: one line per agent) or
/// `bot` (filters: channel and language only). Measures: docs/reports.md.
#[utoipa::path(
    params(("kind" = ReportKindParam, Path, example = "volume", description = "volume, times, agents or bot"), ReportQuery),
    tag = "reports",
    security(("bearer" = ["supervisor"]), ("bearer" = ["admin"])),
    responses(
        (status = 200, body = ReportView, description = "JSON, or CSV (`text/csv`) with `format=csv` or `Accept: text/csv`"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 400, description = "no such report (`invalid_path`)", body = ErrorBody),
        (status = 422, description = "a parameter does not check (`field` names it): range, zone, bucket count, filter", body = ErrorBody)
    )
)]
#[get("/reports/{kind}")]
pub async fn report(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    kind: web::Path<ReportKindParam>,
    query: Query<ReportQuery>,
) -> Result<HttpResponse, Error> {
    staff.require_any(&[Role::Supervisor, Role::Admin])?;
    let kind = ReportKind::from(kind.into_inner());
    let query = query.into_inner();
    let csv = wants_csv(&req, &query)?;
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
            .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}.csv\"", kind.as_str())))
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
        top_unanswered: report
            .top_unanswered
            .map(|TopUnanswered { topics, truncated }| TopUnansweredView { topics, truncated }),
    }))
}
