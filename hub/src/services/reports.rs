//! Reports for supervisors: volume, times, agents and the bot over a date range, bucketed by
//! hour, day or week in the operator's time zone (DST included, with `jiff`'s bundled time-zone
//! database), read from the store's 15-minute rollups (never from the raw rows), as JSON or CSV.
//! The bot report adds two bounded indexed reads: the conversations still pending containment
//! (the last 24 h) and the top unanswered topics (the range's newest questions, with a limit).
//!
//! Every measure is defined in docs/reports.md.

use std::collections::{BTreeMap, HashMap};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use schema::reports::{
    BUCKET_MS, BotCounters, BotFilter, Counters, DurationMeasure, DurationRow, HandOverReason, PresenceTimes,
    ReportFilter, RollupRow, Span, TeamStretch, quantile_ms, split_by_bucket,
};
use schema::{Channel, CustomerTier, Language, QueueName, Store, TeamName};
use serde_json::{Map, Value, json};

use crate::config::ReportsConfig;
use crate::error::Error;

/// The longest range one report covers.
pub const MAX_RANGE_DAYS: i64 = 400;
/// The most buckets one report has (an hourly report covers at most about 104 days).
pub const MAX_BUCKETS: usize = 2_500;
/// The longest value of a filter, in bytes.
const MAX_FILTER: usize = 100;

/// How many topics the bot report's top unanswered list has.
pub const TOP_TOPICS: usize = 10;

/// Which report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportKind {
    Volume,
    Times,
    Agents,
    Bot,
}

impl ReportKind {
    /// Its name in the URL (`/reports/{kind}`) and the CSV file.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Volume => "volume",
            Self::Times => "times",
            Self::Agents => "agents",
            Self::Bot => "bot",
        }
    }
}

/// A bucket's width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BucketWidth {
    Hour,
    Day,
    Week,
}

impl BucketWidth {
    fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Week => "week",
        }
    }
}

/// A report request as it arrives (query parameters), before any check.
#[derive(Clone, Debug, Default)]
pub struct ReportParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub tz: Option<String>,
    pub bucket: Option<String>,
    pub channel: Option<String>,
    pub queue: Option<String>,
    pub agent: Option<String>,
    pub language: Option<String>,
    pub tier: Option<String>,
    pub team: Option<String>,
}

/// A checked request.
#[derive(Clone, Debug)]
struct Request {
    from: Timestamp,
    to: Timestamp,
    tz: TimeZone,
    tz_name: String,
    width: BucketWidth,
    filter: ReportFilter,
    /// The same range and filters for the satisfaction surveys (the agents report's CSAT
    /// columns; its `team` is set once the members are known).
    surveys: schema::csat::CsatFilter,
    /// Agent-attributed measures of this team's members only (each bucket: the members then).
    team: Option<TeamName>,
}

/// A report: its range, zone, bucket width, one point per bucket and the totals; the agents
/// report adds one row per agent.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub tz: String,
    pub bucket: &'static str,
    /// Each point: `start` (RFC 3339 in the zone's offset) and the measures.
    pub series: Vec<Map<String, Value>>,
    pub totals: Map<String, Value>,
    /// The agents report only: one row per agent with `agent_id`, `name` and the measures.
    pub agents: Option<Vec<Map<String, Value>>>,
    /// The bot report only: the most asked unanswered questions of the range.
    pub top_unanswered: Option<TopUnanswered>,
}

/// The bot report's top unanswered topics.
#[derive(Clone, Debug, PartialEq)]
pub struct TopUnanswered {
    /// Most asked first: `topic` (the normalised question), `count`, `example` (one wording).
    pub topics: Vec<Map<String, Value>>,
    /// The range held more questions than one report reads (the newest are grouped).
    pub truncated: bool,
}

/// The reports service.
#[derive(Clone, Debug)]
pub struct Reports {
    store: Store,
    tz: TimeZone,
    tz_name: String,
}

fn zone(name: &str) -> Option<TimeZone> {
    if name.is_empty() || name.len() > 64 {
        return None;
    }
    TimeZone::get(name).ok()
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `from`/`to`: an RFC 3339 time, or a date (its start in `tz`; for `to`, the start of the next
/// day, so the date is included).
fn parse_time(field: &'static str, text: &str, tz: &TimeZone, end: bool) -> Result<Timestamp, Error> {
    let bad = || Error::invalid(field, "an RFC 3339 time (2026-10-25T00:00:00Z) or a date (2026-10-25)");
    if text.len() > 40 {
        return Err(bad());
    }
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    let date: Date = text.parse().map_err(|_| bad())?;
    let date = if end { date.tomorrow().map_err(|_| bad())? } else { date };
    Ok(date.to_zoned(tz.clone()).map_err(|_| bad())?.timestamp())
}

/// A range as every report takes it (`from` and `to` as [`parse_time`] reads them in `tz`),
/// checked: `to` after `from`, by [`MAX_RANGE_DAYS`] at most. The CSAT report's range too.
///
/// # Errors
/// `invalid_field` naming `from` or `to`.
pub fn parse_range(from: &str, to: &str, tz: &TimeZone) -> Result<(Timestamp, Timestamp), Error> {
    let to = parse_time("to", to, tz, true)?;
    let from = parse_time("from", from, tz, false)?;
    check_range(from, to)?;
    Ok((from, to))
}

fn check_range(from: Timestamp, to: Timestamp) -> Result<(), Error> {
    if from >= to {
        return Err(Error::invalid("to", "after from"));
    }
    if ms(to) - ms(from) > MAX_RANGE_DAYS * 86_400_000 {
        return Err(Error::invalid("to", format!("at most {MAX_RANGE_DAYS} days after from")));
    }
    Ok(())
}

/// A report's time as the store's surveys take it (`field` named if it cannot be one).
///
/// # Errors
/// `invalid_field` naming `field`: outside the years `time` represents.
pub fn survey_time(field: &'static str, t: Timestamp) -> Result<time::OffsetDateTime, Error> {
    time::OffsetDateTime::from_unix_timestamp_nanos(t.as_nanosecond())
        .map_err(|_| Error::invalid(field, "a time the hub can represent"))
}

/// An IANA time zone's name as the reports take it (at most 64 bytes).
///
/// # Errors
/// `invalid_field` naming `tz`.
pub fn parse_zone(name: &str) -> Result<TimeZone, Error> {
    zone(name).ok_or_else(|| Error::invalid("tz", "an IANA time zone such as Europe/Madrid"))
}

/// A filter's value: none when empty, else at most 100 bytes that parse as a `T`: the text as
/// given (what the rollups are filtered by) and the parsed value.
fn filter_value<T: std::str::FromStr>(
    field: &'static str,
    value: Option<String>,
    what: &str,
) -> Result<Option<(String, T)>, Error> {
    let bad = || Error::invalid(field, format!("{what}, at most {MAX_FILTER} bytes"));
    match value {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if v.len() > MAX_FILTER => Err(bad()),
        Some(v) => {
            let parsed = v.parse::<T>().map_err(|_| bad())?;
            Ok(Some((v, parsed)))
        }
    }
}

/// The text of a [`filter_value`].
fn text<T>(value: &Option<(String, T)>) -> Option<String> {
    value.as_ref().map(|(v, _)| v.clone())
}

/// The bucket starts covering `[from, to)`, in ms: the first at or before `from`, the last
/// before `to`; then `to` itself closes the last bucket.
fn boundaries(from: Timestamp, to: Timestamp, tz: &TimeZone, width: BucketWidth) -> Result<Vec<i64>, Error> {
    let too_many = || Error::invalid("bucket", format!("at most {MAX_BUCKETS} buckets: choose a wider bucket"));
    let internal = |e: jiff::Error| Error::Internal(format!("time zone arithmetic: {e}"));
    let mut out = Vec::new();
    match width {
        BucketWidth::Hour => {
            // The local hour holding each instant, whatever the offset (+05:45 included).
            let floor = |t: Timestamp| -> i64 {
                let offset_ms = i64::from(tz.to_offset(t).seconds()) * 1000;
                let local = ms(t) + offset_ms;
                local.div_euclid(3_600_000) * 3_600_000 - offset_ms
            };
            let mut b = floor(from);
            while b < ms(to) {
                out.push(b);
                if out.len() > MAX_BUCKETS {
                    return Err(too_many());
                }
                let next = floor(at(b + 3_600_000));
                b = if next > b { next } else { b + 3_600_000 };
            }
        }
        BucketWidth::Day | BucketWidth::Week => {
            let mut date = from.to_zoned(tz.clone()).date();
            if width == BucketWidth::Week {
                let back = i64::from(date.weekday().to_monday_zero_offset());
                date = date.checked_sub(back.days()).map_err(internal)?;
            }
            let step = if width == BucketWidth::Week { 7 } else { 1 };
            loop {
                let b = ms(date.to_zoned(tz.clone()).map_err(internal)?.timestamp());
                if b >= ms(to) {
                    break;
                }
                out.push(b);
                if out.len() > MAX_BUCKETS {
                    return Err(too_many());
                }
                date = date.checked_add(step.days()).map_err(internal)?;
            }
        }
    }
    Ok(out)
}

fn rfc3339(ms: i64, tz: &TimeZone) -> String {
    let zoned = at(ms).to_zoned(tz.clone());
    zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

#[allow(clippy::cast_precision_loss)]
fn ratio(part: i64, whole: i64) -> Value {
    if whole == 0 { Value::Null } else { json!(((part as f64 / whole as f64) * 10_000.0).round() / 10_000.0) }
}

#[allow(clippy::cast_precision_loss)]
fn seconds(ms: i64) -> Value {
    json!((ms as f64 / 1000.0 * 10.0).round() / 10.0)
}

#[allow(clippy::cast_precision_loss)]
fn mean_seconds(sum_ms: i64, n: i64) -> Value {
    if n == 0 { Value::Null } else { json!((sum_ms as f64 / n as f64 / 1000.0 * 10.0).round() / 10.0) }
}

fn quantile_seconds(bins: Option<&BTreeMap<i64, i64>>, q: f64) -> Value {
    match bins.and_then(|b| quantile_ms(b, q)) {
        Some(v) => json!((v / 1000.0 * 10.0).round() / 10.0),
        None => Value::Null,
    }
}

type Histograms = HashMap<DurationMeasure, BTreeMap<i64, i64>>;

/// The measures of one report kind from summed counters, histograms and (the agents report)
/// presence times.
fn measures(kind: ReportKind, c: &Counters, h: Option<&Histograms>, p: Option<&PresenceTimes>) -> Map<String, Value> {
    let mut m = Map::new();
    let fr = h.and_then(|h| h.get(&DurationMeasure::FirstResponse));
    let res = h.and_then(|h| h.get(&DurationMeasure::Resolution));
    match kind {
        ReportKind::Volume => {
            m.insert("conversations".into(), json!(c.conversations));
            m.insert("new".into(), json!(c.new_tickets));
            m.insert("resolved".into(), json!(c.resolved));
            m.insert("reopened".into(), json!(c.reopened));
            m.insert("abandoned".into(), json!(c.abandoned));
            m.insert("transfers".into(), json!(c.transfers));
            m.insert("reopen_rate".into(), ratio(c.reopened, c.resolved));
        }
        ReportKind::Times => {
            m.insert("first_responses".into(), json!(c.first_responses));
            m.insert("first_response_mean_s".into(), mean_seconds(c.first_response_ms, c.first_responses));
            m.insert("first_response_median_s".into(), quantile_seconds(fr, 0.5));
            m.insert("first_response_p90_s".into(), quantile_seconds(fr, 0.9));
            m.insert("sla_targeted".into(), json!(c.sla_targeted));
            m.insert("sla_met".into(), json!(c.sla_met));
            m.insert("within_sla".into(), ratio(c.sla_met, c.sla_targeted));
            m.insert("resolved".into(), json!(c.resolved));
            m.insert("resolution_mean_s".into(), mean_seconds(c.resolution_ms, c.resolved));
            m.insert("resolution_median_s".into(), quantile_seconds(res, 0.5));
            m.insert("resolution_p90_s".into(), quantile_seconds(res, 0.9));
            m.insert("handled".into(), json!(c.handled));
            m.insert("handle_time_s".into(), seconds(c.handle_ms));
            m.insert("handle_time_mean_s".into(), mean_seconds(c.handle_ms, c.handled));
            m.insert("transfers".into(), json!(c.transfers));
        }
        ReportKind::Bot => {}
        ReportKind::Agents => {
            m.insert("handled".into(), json!(c.handled));
            m.insert("handle_time_s".into(), seconds(c.handle_ms));
            m.insert("handle_time_mean_s".into(), mean_seconds(c.handle_ms, c.handled));
            m.insert("resolved".into(), json!(c.resolved));
            m.insert("first_responses".into(), json!(c.first_responses));
            m.insert("first_response_mean_s".into(), mean_seconds(c.first_response_ms, c.first_responses));
            m.insert("transfers".into(), json!(c.transfers));
            let p = p.copied().unwrap_or_default();
            m.insert("available_ms".into(), json!(p.available_ms));
            m.insert("busy_ms".into(), json!(p.busy_ms));
            m.insert("away_ms".into(), json!(p.away_ms));
            m.insert("occupancy".into(), ratio(c.handle_ms, p.staffed_ms()));
        }
    }
    m
}

/// Whether `agent`'s figures of the bucket at `bucket_at` count: always without a team filter,
/// else when the agent was in the team then.
fn counts_for(members: Option<&[TeamStretch]>, agent: &str, bucket_at: i64) -> bool {
    members.is_none_or(|m| m.iter().any(|s| s.agent_id == agent && s.covers(bucket_at)))
}

impl Reports {
    /// The service, with the default time zone from `[reports]`.
    ///
    /// # Errors
    /// `time_zone` is not an IANA time zone.
    pub fn new(store: Store, config: &ReportsConfig) -> Result<Self, Error> {
        let tz = zone(&config.time_zone).ok_or_else(|| {
            Error::Internal(format!("reports.time_zone {:?} is not an IANA time zone", config.time_zone))
        })?;
        Ok(Self { store, tz, tz_name: config.time_zone.clone() })
    }
}

/// Checks a request for `kind`; `tz` and `tz_name` are the default zone. The bot report refuses
/// the queue, agent, team and tier filters: bot traffic has no queue or agent (so no team), and
/// its rollups keep no tier.
fn check(kind: ReportKind, p: ReportParams, tz: &TimeZone, tz_name: &str, now: Timestamp) -> Result<Request, Error> {
    if kind == ReportKind::Bot {
        for (field, value) in [("queue", &p.queue), ("agent", &p.agent), ("team", &p.team), ("tier", &p.tier)] {
            if value.as_ref().is_some_and(|v| !v.is_empty()) {
                return Err(Error::invalid(field, "not a filter of the bot report (only channel and language)"));
            }
        }
    }
    let (tz, tz_name) = match p.tz.filter(|t| !t.is_empty()) {
        Some(name) => (parse_zone(&name)?, name),
        None => (tz.clone(), tz_name.to_owned()),
    };
    let width = match p.bucket.as_deref().unwrap_or("day") {
        "hour" => BucketWidth::Hour,
        "day" => BucketWidth::Day,
        "week" => BucketWidth::Week,
        _ => return Err(Error::invalid("bucket", "hour, day or week")),
    };
    let to = match p.to.as_deref() {
        Some(t) => parse_time("to", t, &tz, true)?,
        None => now,
    };
    let from = match p.from.as_deref() {
        Some(t) => parse_time("from", t, &tz, false)?,
        None => to.checked_sub(SignedDuration::from_hours(24 * 7)).map_err(|_| Error::invalid("to", "too early"))?,
    };
    check_range(from, to)?;
    let channel = filter_value::<Channel>("channel", p.channel, "a channel name")?;
    let language = filter_value::<Language>("language", p.language, "en, es or pt")?;
    let tier = filter_value::<CustomerTier>("tier", p.tier, "a customer tier")?;
    let queue = filter_value::<QueueName>("queue", p.queue, "a queue name")?;
    let agent = filter_value::<schema::AgentId>("agent", p.agent, "an agent id")?;
    let team = filter_value::<TeamName>("team", p.team, "a team name")?.map(|(_, t)| t);
    let filter = ReportFilter {
        channel: text(&channel),
        queue: text(&queue),
        agent_id: text(&agent),
        language: text(&language),
        tier: text(&tier),
    };
    let surveys = schema::csat::CsatFilter {
        from: survey_time("from", from)?,
        to: survey_time("to", to)?,
        channel: channel.map(|(_, v)| v),
        queue: queue.map(|(_, v)| v),
        agent: agent.map(|(_, v)| v),
        language: language.map(|(_, v)| v),
        tier: tier.map(|(_, v)| v),
        team: None,
    };
    Ok(Request { from, to, tz, tz_name, width, filter, surveys, team })
}

impl Reports {
    /// The report `kind` for `params`, at `now` (the default end).
    ///
    /// # Errors
    /// A parameter that does not check (422), or the store fails.
    pub async fn report(&self, kind: ReportKind, params: ReportParams, now: Timestamp) -> Result<Report, Error> {
        if kind == ReportKind::Bot {
            return self.bot_report(params, now).await;
        }
        let req = check(kind, params, &self.tz, &self.tz_name, now)?;
        let starts = boundaries(req.from, req.to, &req.tz, req.width)?;
        // Rollups hold whole quarter hours: the range is read from the quarter hour holding `from`
        // to the one holding `to` (exclusive).
        let from_ms = schema::reports::bucket_of(ms(req.from));
        let to_ms = schema::reports::bucket_of(ms(req.to) + BUCKET_MS - 1);
        let slot = |bucket_at: i64| starts.partition_point(|s| *s <= bucket_at).checked_sub(1);
        // The report's buckets as the store sums them (rows come back per report bucket).
        let spans = Span::cover(&starts, from_ms, to_ms);
        let members = match &req.team {
            Some(team) => {
                let stretches = self.store.team_stretches(team).await?;
                if stretches.is_empty() && !self.store.team_known(team).await? {
                    return Err(Error::invalid("team", "a team some agent is or was in"));
                }
                Some(stretches)
            }
            None => None,
        };
        let members = members.as_deref();
        // Per agent and bucket: to keep a team's members' rows while they were in it.
        let by_agent: Vec<RollupRow> = if members.is_some() {
            self.store
                .report_rollups_by_agent(from_ms, to_ms, &req.filter)
                .await?
                .into_iter()
                .filter(|r| {
                    let agent = r.agent_id.as_deref().unwrap_or_default();
                    !agent.is_empty() && counts_for(members, agent, r.bucket_at)
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut counters = vec![Counters::default(); starts.len()];
        let mut totals = Counters::default();
        let rows =
            if members.is_some() { by_agent.clone() } else { self.store.report_rollups(&spans, &req.filter).await? };
        for row in &rows {
            if let Some(i) = slot(row.bucket_at) {
                counters[i].add(&row.counters);
            }
            totals.add(&row.counters);
        }
        let mut histograms: Vec<Histograms> = vec![HashMap::new(); starts.len()];
        let mut total_histograms: Histograms = HashMap::new();
        if kind == ReportKind::Times {
            let durations: Vec<DurationRow> = if members.is_some() {
                self.store
                    .report_durations_by_agent(from_ms, to_ms, &req.filter)
                    .await?
                    .into_iter()
                    .filter(|(agent, row)| counts_for(members, agent, row.bucket_at))
                    .map(|(_, row)| row)
                    .collect()
            } else {
                self.store.report_durations(&spans, &req.filter).await?
            };
            for row in durations {
                if let Some(i) = slot(row.bucket_at) {
                    *histograms[i].entry(row.measure).or_default().entry(row.bin).or_default() += row.n;
                }
                *total_histograms.entry(row.measure).or_default().entry(row.bin).or_default() += row.n;
            }
        }
        // Presence times (the agents report): per agent and bucket.
        let presence = if kind == ReportKind::Agents {
            self.presence(&spans, ms(now), req.filter.agent_id.as_deref(), members).await?
        } else {
            Vec::new()
        };
        let mut presence_series = vec![PresenceTimes::default(); starts.len()];
        let mut presence_totals = PresenceTimes::default();
        for (bucket_at, _, t) in &presence {
            if let Some(i) = slot(*bucket_at) {
                presence_series[i].add(t);
            }
            presence_totals.add(t);
        }
        let series = starts
            .iter()
            .zip(counters.iter().zip(&histograms))
            .zip(&presence_series)
            .map(|((start, (c, h)), p)| {
                let mut point = Map::new();
                point.insert("start".into(), json!(rfc3339(*start, &req.tz)));
                point.extend(measures(kind, c, Some(h), Some(p)));
                point
            })
            .collect();
        let agents = if kind == ReportKind::Agents {
            let counters = if members.is_some() {
                let mut per_agent: BTreeMap<String, Counters> = BTreeMap::new();
                for row in &by_agent {
                    per_agent.entry(row.agent_id.clone().unwrap_or_default()).or_default().add(&row.counters);
                }
                per_agent.into_iter().collect()
            } else {
                self.store.report_rollups_per_agent(from_ms, to_ms, &req.filter).await?
            };
            let csat = self.csat_per_agent(&req, members).await?;
            Some(self.agent_rows(counters, &presence, csat).await?)
        } else {
            None
        };
        Ok(Report {
            from: rfc3339(ms(req.from), &req.tz),
            to: rfc3339(ms(req.to), &req.tz),
            tz: req.tz_name,
            bucket: req.width.as_str(),
            series,
            totals: measures(kind, &totals, Some(&total_histograms), Some(&presence_totals)),
            agents,
            top_unanswered: None,
        })
    }

    /// Presence times per bucket in `[from_ms, to_ms)` and agent (`agent` only, or the team's
    /// members then): the rollups, and the intervals still open counted up to `now_ms`.
    async fn presence(
        &self,
        spans: &[Span],
        now_ms: i64,
        agent: Option<&str>,
        members: Option<&[TeamStretch]>,
    ) -> Result<Vec<(i64, String, PresenceTimes)>, Error> {
        let (Some(from_ms), Some(to_ms)) = (spans.first().map(|s| s.lo), spans.last().map(|s| s.hi)) else {
            return Ok(Vec::new());
        };
        let wanted = |id: &str, bucket_at: i64| agent.is_none_or(|a| a == id) && counts_for(members, id, bucket_at);
        // Summed per report bucket by the store, unless a team needs each quarter hour's members.
        let rows = match members {
            None => self.store.presence_rollups_in_spans(spans).await?,
            Some(_) => self.store.presence_rollups(from_ms, to_ms).await?,
        };
        let mut out: Vec<(i64, String, PresenceTimes)> = rows
            .into_iter()
            .filter(|r| wanted(&r.agent_id, r.bucket_at))
            .map(|r| (r.bucket_at, r.agent_id, r.times))
            .collect();
        for open in self.store.open_presence().await? {
            for (bucket_at, spent) in split_by_bucket(open.since.max(from_ms), now_ms.min(to_ms)) {
                if wanted(&open.agent_id, bucket_at) {
                    out.push((bucket_at, open.agent_id.clone(), PresenceTimes::of(open.presence, spent)));
                }
            }
        }
        Ok(out)
    }

    /// The satisfaction surveys sent over the report's range and filters (a team: its members'
    /// while they were in it), counted per agent: the agents report's CSAT columns.
    async fn csat_per_agent(
        &self,
        req: &Request,
        members: Option<&[TeamStretch]>,
    ) -> Result<HashMap<String, crate::services::csat::Counts>, Error> {
        let filter = schema::csat::CsatFilter { team: members.map(<[TeamStretch]>::to_vec), ..req.surveys.clone() };
        let mut out: HashMap<String, crate::services::csat::Counts> = HashMap::new();
        for row in self.store.csat_by_agent(&filter).await? {
            if let Some(agent) = row.agent_id {
                out.entry(agent.to_string()).or_default().add(row.score, row.count);
            }
        }
        Ok(out)
    }

    /// The agents report's rows: each agent's summed counters, presence times and surveys,
    /// with name and current team.
    async fn agent_rows(
        &self,
        counters: Vec<(String, Counters)>,
        presence: &[(i64, String, PresenceTimes)],
        csat: HashMap<String, crate::services::csat::Counts>,
    ) -> Result<Vec<Map<String, Value>>, Error> {
        let mut per_agent: BTreeMap<&str, (Counters, PresenceTimes)> = BTreeMap::new();
        for (agent, c) in &counters {
            per_agent.entry(agent).or_default().0.add(c);
        }
        for (_, agent, t) in presence {
            per_agent.entry(agent).or_default().1.add(t);
        }
        for agent in csat.keys() {
            per_agent.entry(agent).or_default();
        }
        let names: HashMap<String, String> =
            self.store.agents().await?.into_iter().map(|a| (a.id.to_string(), a.name.as_str().to_owned())).collect();
        let teams: HashMap<String, String> =
            self.store.current_teams().await?.into_iter().map(|(a, t)| (a.to_string(), t.to_string())).collect();
        Ok(per_agent
            .into_iter()
            .map(|(id, (c, p))| {
                let mut row = Map::new();
                row.insert("name".into(), names.get(id).map_or(Value::Null, |n| json!(n)));
                row.insert("agent_id".into(), json!(id));
                row.insert("team".into(), teams.get(id).map_or(Value::Null, |t| json!(t)));
                row.extend(measures(ReportKind::Agents, &c, None, Some(&p)));
                let surveys = csat.get(id).cloned().unwrap_or_default();
                row.insert("csat_sent".into(), json!(surveys.sent));
                row.insert("csat_answered".into(), json!(surveys.answered));
                row.insert(
                    "csat_average".into(),
                    surveys.average().map_or(Value::Null, |a| json!((a * 100.0).round() / 100.0)),
                );
                let satisfied = surveys.satisfied_share();
                row.insert(
                    "csat_satisfied".into(),
                    satisfied.map_or(Value::Null, |s| json!((s * 10_000.0).round() / 10_000.0)),
                );
                row
            })
            .collect())
    }
}

/// The bot report's measures from summed counters and the conversations still pending.
fn bot_measures(c: &BotCounters, pending: i64) -> Map<String, Value> {
    let mut m = Map::new();
    let contained = (c.conversations - c.handed_over - c.returned - pending).max(0);
    m.insert("conversations".into(), json!(c.conversations));
    m.insert("answers".into(), json!(c.answers));
    m.insert("handed_over".into(), json!(c.handed_over));
    m.insert("returned".into(), json!(c.returned));
    m.insert("pending".into(), json!(pending));
    m.insert("contained".into(), json!(contained));
    m.insert("containment_rate".into(), ratio(contained, contained + c.handed_over + c.returned));
    m.insert("handovers".into(), json!(c.handovers.iter().sum::<i64>()));
    for reason in HandOverReason::ALL {
        m.insert(format!("handovers_{}", reason.as_str()), json!(c.handovers_for(reason)));
    }
    m.insert("verdict_right".into(), json!(c.verdict_right));
    m.insert("verdict_wrong".into(), json!(c.verdict_wrong));
    m.insert("right_rate".into(), ratio(c.verdict_right, c.verdict_right + c.verdict_wrong));
    m.insert("unanswered".into(), json!(c.unanswered));
    m
}

impl Reports {
    /// The bot report: rollups per bucket, the conversations still pending containment at
    /// `now`, and the top unanswered topics of the range.
    async fn bot_report(&self, params: ReportParams, now: Timestamp) -> Result<Report, Error> {
        let req = check(ReportKind::Bot, params, &self.tz, &self.tz_name, now)?;
        let starts = boundaries(req.from, req.to, &req.tz, req.width)?;
        let from_ms = schema::reports::bucket_of(ms(req.from));
        let to_ms = schema::reports::bucket_of(ms(req.to) + BUCKET_MS - 1);
        let slot = |bucket_at: i64| starts.partition_point(|s| *s <= bucket_at).checked_sub(1);
        // The report's buckets as the store sums them (rows come back per report bucket).
        let spans = Span::cover(&starts, from_ms, to_ms);
        let filter = BotFilter { channel: req.filter.channel.clone(), language: req.filter.language.clone() };
        let mut counters = vec![BotCounters::default(); starts.len()];
        let mut totals = BotCounters::default();
        for row in self.store.bot_rollups(&spans, &filter).await? {
            if let Some(i) = slot(row.bucket_at) {
                counters[i].add(&row.counters);
            }
            totals.add(&row.counters);
        }
        let mut pending = vec![0_i64; starts.len()];
        let mut total_pending = 0;
        for (bucket_at, n) in self.store.bot_pending(from_ms, to_ms, &filter, ms(now)).await? {
            if let Some(i) = slot(bucket_at) {
                pending[i] += n;
            }
            total_pending += n;
        }
        let series = starts
            .iter()
            .zip(counters.iter().zip(&pending))
            .map(|(start, (c, p))| {
                let mut point = Map::new();
                point.insert("start".into(), json!(rfc3339(*start, &req.tz)));
                point.extend(bot_measures(c, *p));
                point
            })
            .collect();
        let (topics, truncated) = self.store.top_unanswered(from_ms, to_ms, &filter, TOP_TOPICS).await?;
        let topics = topics
            .into_iter()
            .map(|t| {
                let mut row = Map::new();
                row.insert("topic".into(), json!(t.topic));
                row.insert("count".into(), json!(t.count));
                row.insert("example".into(), json!(t.example));
                row
            })
            .collect();
        Ok(Report {
            from: rfc3339(ms(req.from), &req.tz),
            to: rfc3339(ms(req.to), &req.tz),
            tz: req.tz_name,
            bucket: req.width.as_str(),
            series,
            totals: bot_measures(&totals, total_pending),
            agents: None,
            top_unanswered: Some(TopUnanswered { topics, truncated }),
        })
    }
}

/// A report as CSV: the header, then one line per bucket (the agents report: one per agent),
/// values as in the JSON (empty for `null`), RFC 4180 quoting.
#[must_use]
pub fn to_csv(report: &Report) -> String {
    let rows: &[Map<String, Value>] = report.agents.as_deref().unwrap_or(&report.series);
    let mut out = String::new();
    let Some(first) = rows.first() else { return out };
    let header: Vec<&String> = first.keys().collect();
    out.push_str(&header.iter().map(|h| csv_field(h)).collect::<Vec<_>>().join(","));
    out.push_str("\r\n");
    for row in rows {
        let line: Vec<String> = header
            .iter()
            .map(|h| match row.get(h.as_str()) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => csv_field(s),
                Some(v) => v.to_string(),
            })
            .collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One CSV field, quoted when needed; a leading `=`, `+`, `-` or `@` is prefixed with `'` so a
/// spreadsheet does not run it as a formula (an agent's name is staff-entered text).
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_owned() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn madrid() -> TimeZone {
        TimeZone::get("Europe/Madrid").unwrap()
    }

    #[test]
    fn the_dst_day_has_25_hours_and_days_follow_local_midnight() {
        let tz = madrid();
        let from = parse_time("from", "2026-10-25", &tz, false).unwrap();
        let to = parse_time("to", "2026-10-25", &tz, true).unwrap();
        assert_eq!(from.to_string(), "2026-10-24T22:00:00Z");
        assert_eq!(to.to_string(), "2026-10-25T23:00:00Z");
        let hours = boundaries(from, to, &tz, BucketWidth::Hour).unwrap();
        assert_eq!(hours.len(), 25);
        let labels: Vec<String> = hours.iter().map(|h| rfc3339(*h, &tz)).collect();
        assert_eq!(labels[2], "2026-10-25T02:00:00+02:00");
        assert_eq!(labels[3], "2026-10-25T02:00:00+01:00");
        let days = boundaries(from, at(ms(to) + 86_400_000), &tz, BucketWidth::Day).unwrap();
        assert_eq!(
            days.iter().map(|d| rfc3339(*d, &tz)).collect::<Vec<_>>(),
            ["2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00"]
        );
    }

    #[test]
    fn weeks_start_on_monday_and_odd_offsets_floor_to_their_local_hour() {
        let tz = madrid();
        let from = parse_time("from", "2026-10-28", &tz, false).unwrap();
        let to = parse_time("to", "2026-11-03", &tz, true).unwrap();
        let weeks = boundaries(from, to, &tz, BucketWidth::Week).unwrap();
        assert_eq!(
            weeks.iter().map(|d| rfc3339(*d, &tz)).collect::<Vec<_>>(),
            ["2026-10-26T00:00:00+01:00", "2026-11-02T00:00:00+01:00"]
        );
        let nepal = TimeZone::get("Asia/Kathmandu").unwrap();
        let t: Timestamp = "2026-01-01T00:20:00Z".parse().unwrap();
        let hours = boundaries(t, at(ms(t) + 1), &nepal, BucketWidth::Hour).unwrap();
        assert_eq!(rfc3339(hours[0], &nepal), "2026-01-01T06:00:00+05:45");
    }

    #[test]
    fn bad_parameters_are_refused_with_their_field() {
        let now: Timestamp = "2026-11-29T12:00:00Z".parse().unwrap();
        let field = |p: ReportParams| {
            check(ReportKind::Times, p, &madrid(), "Europe/Madrid", now).unwrap_err().field().map(str::to_owned)
        };
        let ok = check(ReportKind::Times, ReportParams::default(), &madrid(), "Europe/Madrid", now).unwrap();
        assert_eq!((ok.to, ok.width, ok.tz_name.as_str()), (now, BucketWidth::Day, "Europe/Madrid"));
        let p = |f: fn(&mut ReportParams)| {
            let mut p = ReportParams::default();
            f(&mut p);
            p
        };
        assert_eq!(field(p(|p| p.from = Some("yesterday".into()))).as_deref(), Some("from"));
        assert_eq!(field(p(|p| p.to = Some("9".repeat(100)))).as_deref(), Some("to"));
        assert_eq!(field(p(|p| p.tz = Some("Mars/Olympus".into()))).as_deref(), Some("tz"));
        assert_eq!(field(p(|p| p.bucket = Some("minute".into()))).as_deref(), Some("bucket"));
        assert_eq!(field(p(|p| p.from = Some("2020-01-01".into()))).as_deref(), Some("to"));
        assert_eq!(field(p(|p| p.from = Some("2026-12-01".into()))).as_deref(), Some("to"));
        assert_eq!(field(p(|p| p.channel = Some("pigeon".into()))).as_deref(), Some("channel"));
        assert_eq!(field(p(|p| p.language = Some("xx".into()))).as_deref(), Some("language"));
        assert_eq!(field(p(|p| p.agent = Some("x".repeat(101)))).as_deref(), Some("agent"));
        assert_eq!(field(p(|p| p.team = Some("Billing North!".into()))).as_deref(), Some("team"));
        let hourly = p(|p| {
            p.from = Some("2026-01-01".into());
            p.bucket = Some("hour".into());
        });
        let req = check(ReportKind::Times, hourly, &madrid(), "Europe/Madrid", now).unwrap();
        assert!(boundaries(req.from, req.to, &req.tz, req.width).is_err());
    }

    #[test]
    fn the_bot_report_refuses_the_filters_bot_traffic_lacks() {
        let now: Timestamp = "2026-11-29T12:00:00Z".parse().unwrap();
        for (field, p) in [
            ("queue", ReportParams { queue: Some("general".into()), ..ReportParams::default() }),
            (
                "agent",
                ReportParams { agent: Some("0190d5f0-0000-7000-8000-000000000000".into()), ..ReportParams::default() },
            ),
            ("tier", ReportParams { tier: Some("vip".into()), ..ReportParams::default() }),
        ] {
            let err = check(ReportKind::Bot, p.clone(), &madrid(), "Europe/Madrid", now).unwrap_err();
            assert_eq!(err.field(), Some(field));
            assert!(check(ReportKind::Volume, p, &madrid(), "Europe/Madrid", now).is_ok(), "{field}");
        }
        let p =
            ReportParams { channel: Some("webchat".into()), language: Some("en".into()), ..ReportParams::default() };
        assert!(check(ReportKind::Bot, p, &madrid(), "Europe/Madrid", now).is_ok());
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
