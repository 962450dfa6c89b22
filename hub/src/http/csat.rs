//! Customer satisfaction: the CSAT report for supervisors (`GET /api/v1/reports/csat`, JSON or
//! CSV), and the small public page an e-mail's one-click link opens (`/csat/{token}`: confirm the
//! score, add a comment; a used, expired or forged link gets a page that says so).
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use actix_web::http::{StatusCode, header};
use actix_web::web::Query;
use actix_web::{HttpResponse, get, post, web};
use schema::csat::{Comment, CsatFilter, Score};
use schema::{AgentId, Channel, CustomerTier, Language, QueueName, Role, SurveyId, TeamName};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::pages::survey;
use crate::http::views::ErrorBody;
use crate::services::csat::{Bucket, Counts, CsatReport, LinkRefusal, LinkState, ReportQuery};
use crate::services::reports;

/// The report route (under `/api/v1`).
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(report);
}

/// The public survey page's routes (at the root).
pub fn page_routes(cfg: &mut ServiceConfig) {
    cfg.service(survey_page).service(survey_answer);
}

/// What the CSAT report is asked for.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CsatQuery {
    /// Start, included: an RFC 3339 time, or a date (its start in `tz`); surveys sent from then.
    from: String,
    /// End: an RFC 3339 time (excluded), or a date (included: up to the next day's start in
    /// `tz`); after `from`, by 400 days at most.
    to: String,
    /// The IANA time zone buckets are cut in (default `UTC`).
    tz: Option<String>,
    /// `hour`, `day` (default) or `week` (weeks start on Monday).
    bucket: Option<String>,
    channel: Option<Channel>,
    queue: Option<String>,
    agent: Option<AgentId>,
    language: Option<Language>,
    tier: Option<CustomerTier>,
    /// Only the surveys of the team's members, sent while they were in it (a team some agent
    /// is or was in; any other value is refused, 422).
    team: Option<String>,
    /// `json` (default) or `csv` (the buckets, one row per bucket).
    format: Option<String>,
    /// Comments after this survey (the `next` of the previous page).
    after: Option<SurveyId>,
    /// Comments per page: 1 to 200, default 50.
    limit: Option<u32>,
}

/// Counts of a group of surveys.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountsView {
    sent: i64,
    answered: i64,
    /// Answers per score, scores 1 to 5.
    distribution: Vec<i64>,
    /// Answered over sent (null: none sent).
    response_rate: Option<f64>,
    /// Mean score (null: no answer).
    average: Option<f64>,
    /// Share of answers scoring 4 or 5 (null: no answer).
    satisfied: Option<f64>,
}

impl From<&Counts> for CountsView {
    fn from(c: &Counts) -> Self {
        Self {
            sent: c.sent,
            answered: c.answered,
            distribution: c.distribution.to_vec(),
            response_rate: c.response_rate(),
            average: c.average(),
            satisfied: c.satisfied_share(),
        }
    }
}

/// One bucket of the report.
#[derive(Debug, Serialize, ToSchema)]
pub struct BucketView {
    /// The bucket's start in the report's zone (RFC 3339 with its offset).
    start: String,
    #[serde(flatten)]
    counts: CountsView,
}

/// One agent's surveys.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentCsatView {
    /// Null: tickets resolved with nobody assigned.
    agent_id: Option<AgentId>,
    #[serde(flatten)]
    counts: CountsView,
}

/// A comment a customer left.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentView {
    survey_id: SurveyId,
    score: Option<u8>,
    comment: String,
    channel: Channel,
    agent_id: Option<AgentId>,
    queue: String,
    language: Language,
    #[serde(with = "time::serde::rfc3339::option")]
    answered_at: Option<OffsetDateTime>,
}

/// The CSAT report.
#[derive(Debug, Serialize, ToSchema)]
pub struct CsatReportView {
    tz: String,
    bucket: &'static str,
    total: CountsView,
    buckets: Vec<BucketView>,
    agents: Vec<AgentCsatView>,
    /// Newest answer first, one page.
    comments: Vec<CommentView>,
    /// Pass as `after` for the next page of comments (null: no more).
    next: Option<SurveyId>,
}

fn query(q: &CsatQuery) -> Result<(ReportQuery, String, &'static str), Error> {
    let tz_name = q.tz.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| "UTC".to_owned());
    let tz = reports::parse_zone(&tz_name)?;
    // The same forms as the other reports: RFC 3339 or dates read in `tz` (`to` included).
    let (from, to) = reports::parse_range(&q.from, &q.to, &tz)?;
    let (from, to) = (reports::survey_time("from", from)?, reports::survey_time("to", to)?);
    let (bucket, bucket_name) = match q.bucket.as_deref().unwrap_or("day") {
        "hour" => (Bucket::Hour, "hour"),
        "day" => (Bucket::Day, "day"),
        "week" => (Bucket::Week, "week"),
        _ => return Err(Error::invalid("bucket", "hour, day or week")),
    };
    let team = q
        .team
        .as_deref()
        .map(|t| t.parse::<TeamName>().map_err(|_| Error::invalid("team", "a team name")))
        .transpose()?;
    let queue = q.queue.as_deref().map(str::parse::<QueueName>).transpose()?;
    let limit = crate::http::page_size(q.limit, "limit")?;
    let filter = CsatFilter {
        from,
        to,
        channel: q.channel,
        queue,
        agent: q.agent,
        language: q.language,
        tier: q.tier,
        team: None,
    };
    Ok((ReportQuery { filter, team, tz, bucket, after: q.after, limit }, tz_name, bucket_name))
}

fn view(found: &CsatReport, tz: String, bucket: &'static str, limit: u32) -> CsatReportView {
    let comments: Vec<CommentView> = found
        .comments
        .iter()
        .map(|s| CommentView {
            survey_id: s.id,
            score: s.score.map(Score::get),
            comment: s.comment.clone().unwrap_or_default(),
            channel: s.channel,
            agent_id: s.agent_id,
            queue: s.queue.as_str().to_owned(),
            language: s.language,
            answered_at: s.answered_at,
        })
        .collect();
    let next = (comments.len() == limit as usize).then(|| comments.last().map(|c| c.survey_id)).flatten();
    CsatReportView {
        tz,
        bucket,
        total: (&found.total).into(),
        buckets: found
            .buckets
            .iter()
            .map(|(start, counts)| BucketView {
                start: start.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
                counts: counts.into(),
            })
            .collect(),
        agents: found
            .agents
            .iter()
            .map(|(agent_id, c)| AgentCsatView { agent_id: *agent_id, counts: c.into() })
            .collect(),
        comments,
        next,
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| format!("{v:.4}"))
}

/// The buckets as CSV: one header line, one line per bucket (no text from customers in it).
fn csv(view: &CsatReportView) -> String {
    let mut out =
        String::from("start,sent,answered,score_1,score_2,score_3,score_4,score_5,response_rate,average,satisfied\n");
    for b in &view.buckets {
        let c = &b.counts;
        let d = &c.distribution;
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            b.start,
            c.sent,
            c.answered,
            d[0],
            d[1],
            d[2],
            d[3],
            d[4],
            opt(c.response_rate),
            opt(c.average),
            opt(c.satisfied)
        ));
    }
    out
}

/// The CSAT report over a range (supervisor or admin): score distribution, response rate,
/// average and share satisfied, in total, per bucket of the operator's time zone and per agent,
/// and the customers' comments (paged). `format=csv` gives the buckets as CSV.
#[utoipa::path(
    params(CsatQuery),
    tag = "reports",
    security(("bearer" = ["supervisor"]), ("bearer" = ["admin"])),
    responses(
        (status = 200, body = CsatReportView, description = "the report (`text/csv` with `format=csv`)"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "a bad range, zone, bucket, filter or `team`", body = ErrorBody)
    )
)]
#[get("/reports/csat")]
pub async fn report(state: web::Data<AppState>, staff: Staff, q: Query<CsatQuery>) -> Result<HttpResponse, Error> {
    staff.require_any(&[Role::Supervisor, Role::Admin])?;
    let as_csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(Error::invalid("format", "json or csv")),
    };
    let (query, tz, bucket) = query(&q)?;
    let limit = query.limit;
    let found = state.csat.report(&query).await?;
    let view = view(&found, tz, bucket, limit);
    if as_csv {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"csat.csv\""))
            .body(csv(&view)));
    }
    Ok(HttpResponse::Ok().json(view))
}

/// `?score=` on a link: the score the customer clicked.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkQuery {
    /// 1 to 5: preselected on the page (nothing is recorded by opening a link: mail scanners
    /// open links too).
    score: Option<String>,
}

/// The form the page posts.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AnswerForm {
    score: String,
    #[serde(default)]
    comment: String,
}

fn refusal_status(r: LinkRefusal) -> StatusCode {
    match r {
        LinkRefusal::Invalid => StatusCode::NOT_FOUND,
        LinkRefusal::Expired => StatusCode::GONE,
        LinkRefusal::Used => StatusCode::CONFLICT,
    }
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CONTENT_SECURITY_POLICY, survey::CSP))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .body(body)
}

/// The page an e-mail's survey link opens: the question with the clicked score selected, a
/// comment box and a button to send. A used link (the first answer is kept), an expired or a
/// forged one gets a page saying so (409, 410, 404).
#[utoipa::path(
    tag = "pages",
    params(("token" = String, Path, description = "the link's signed token"), LinkQuery),
    responses(
        (status = 200, description = "the survey form", content_type = "text/html"),
        (status = 404, description = "not a link this hub signed", content_type = "text/html"),
        (status = 409, description = "answered already", content_type = "text/html"),
        (status = 410, description = "expired", content_type = "text/html")
    )
)]
#[get("/csat/{token}")]
pub async fn survey_page(
    state: web::Data<AppState>,
    token: web::Path<String>,
    q: Query<LinkQuery>,
) -> Result<HttpResponse, Error> {
    let chosen = q.score.as_deref().and_then(|s| s.parse::<Score>().ok());
    Ok(match state.csat.link(&token).await? {
        LinkState::Open(s) => html(StatusCode::OK, survey::form(s.language, &token, chosen, None)),
        LinkState::Refused(r, language) => html(refusal_status(r), survey::refused(language.unwrap_or_default(), r)),
    })
}

/// Records the answer from the survey page (`application/x-www-form-urlencoded`: `score` 1 to
/// 5, `comment` up to 1,000 characters). The first answer is kept: a second gets the 409 page.
#[utoipa::path(
    tag = "pages",
    params(("token" = String, Path, description = "the link's signed token")),
    request_body(content = AnswerForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "thanks", content_type = "text/html"),
        (status = 404, description = "not a link this hub signed", content_type = "text/html"),
        (status = 409, description = "answered already", content_type = "text/html"),
        (status = 410, description = "expired", content_type = "text/html"),
        (status = 422, description = "no score, or a comment too long: the form again, with the error", content_type = "text/html")
    )
)]
#[post("/csat/{token}")]
pub async fn survey_answer(
    state: web::Data<AppState>,
    token: web::Path<String>,
    form: web::Form<AnswerForm>,
) -> Result<HttpResponse, Error> {
    let score = form.score.parse::<Score>();
    let comment = Comment::parse(&form.comment);
    let (score, comment) = match (score, comment) {
        (Ok(score), Ok(comment)) => (score, comment),
        (score, _) => {
            // The form again, with what was wrong, if the link itself is good.
            return Ok(match state.csat.link(&token).await? {
                LinkState::Open(s) => {
                    let problem = if score.is_err() { survey::Problem::NoScore } else { survey::Problem::LongComment };
                    html(StatusCode::UNPROCESSABLE_ENTITY, survey::form(s.language, &token, score.ok(), Some(problem)))
                }
                LinkState::Refused(r, language) => {
                    html(refusal_status(r), survey::refused(language.unwrap_or_default(), r))
                }
            });
        }
    };
    Ok(match state.csat.answer_link(&token, score, comment.as_ref()).await? {
        Ok(s) => html(StatusCode::OK, survey::thanks(s.language)),
        Err((r, language)) => html(refusal_status(r), survey::refused(language.unwrap_or_default(), r)),
    })
}
