//! Reports' rollups: what each write adds to them, inside the writer's own transaction, and the
//! reads the reports make.
//!
//! Why in the same transaction (and not a consumer with a cursor): a count that commits with the
//! row it counts can neither be lost nor counted twice, whatever crashes or retries; a cursor
//! over PostgreSQL rows committed out of id order would need a second proof. The cost is one
//! upsert per counted change (not per message: only an agent's first reply on a ticket counts),
//! applied in key order so two transactions never wait on each other's rows in opposite orders.

use std::collections::BTreeMap;

use sqlx::{AnyConnection, Row};

use super::{Backend, Result, Store, StoreError};
use crate::reports::{Counters, DurationMeasure, DurationRow, ReportFilter, RollupRow, Span, bucket_of, duration_bin};

/// A rollup row's key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Dims {
    pub bucket_at: i64,
    pub channel: String,
    pub queue: String,
    pub agent_id: String,
    pub language: String,
    pub tier: String,
}

impl Dims {
    /// The one-dimension slices this row adds to: the totals, and each dimension it has.
    fn slices(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("", String::new()),
            ("channel", self.channel.clone()),
            ("language", self.language.clone()),
            ("tier", self.tier.clone()),
        ];
        if !self.queue.is_empty() {
            out.push(("queue", self.queue.clone()));
        }
        if !self.agent_id.is_empty() {
            out.push(("agent", self.agent_id.clone()));
        }
        out
    }

    fn with_agent(&self, agent: Option<&str>) -> Self {
        Self { agent_id: agent.unwrap_or_default().to_owned(), ..self.clone() }
    }
}

/// What one transaction adds to the rollups, gathered first and written at the end in key
/// order.
#[derive(Default)]
pub(super) struct Delta {
    counters: BTreeMap<Dims, Counters>,
    durations: BTreeMap<(Dims, DurationMeasure, i64), i64>,
}

impl Delta {
    pub fn count(&mut self, dims: &Dims, f: impl FnOnce(&mut Counters)) {
        f(self.counters.entry(dims.clone()).or_default());
    }

    pub fn duration(&mut self, dims: &Dims, measure: DurationMeasure, ms: i64) {
        *self.durations.entry((dims.clone(), measure, duration_bin(ms))).or_default() += 1;
    }

    /// Writes the gathered additions in `conn`'s transaction.
    pub async fn apply(self, conn: &mut AnyConnection) -> Result<()> {
        let columns = Counters::COLUMNS.join(", ");
        let params: Vec<String> = (7..7 + Counters::COLUMNS.len()).map(|i| format!("${i}")).collect();
        let updates: Vec<String> =
            Counters::COLUMNS.iter().map(|c| format!("{c} = report_rollups.{c} + excluded.{c}")).collect();
        let sql = format!(
            "INSERT INTO report_rollups (bucket_at, channel, queue, agent_id, language, tier, {columns}) \
             VALUES ($1, $2, $3, $4, $5, $6, {}) \
             ON CONFLICT (bucket_at, channel, queue, agent_id, language, tier) DO UPDATE SET {}",
            params.join(", "),
            updates.join(", ")
        );
        for (dims, counters) in &self.counters {
            if counters.is_zero() {
                continue;
            }
            let mut q = sqlx::query(&sql)
                .bind(dims.bucket_at)
                .bind(dims.channel.clone())
                .bind(dims.queue.clone())
                .bind(dims.agent_id.clone())
                .bind(dims.language.clone())
                .bind(dims.tier.clone());
            for v in counters.values() {
                q = q.bind(v);
            }
            q.execute(&mut *conn).await?;
        }
        for ((dims, measure, bin), n) in &self.durations {
            sqlx::query(
                "INSERT INTO report_durations (bucket_at, measure, channel, queue, agent_id, language, tier, bin, n) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (bucket_at, measure, channel, queue, agent_id, language, tier, bin) \
                 DO UPDATE SET n = report_durations.n + excluded.n",
            )
            .bind(dims.bucket_at)
            .bind(measure.as_str())
            .bind(dims.channel.clone())
            .bind(dims.queue.clone())
            .bind(dims.agent_id.clone())
            .bind(dims.language.clone())
            .bind(dims.tier.clone())
            .bind(*bin)
            .bind(*n)
            .execute(&mut *conn)
            .await?;
        }
        // The one-dimension slices.
        let mut slices: BTreeMap<(&'static str, String, i64), Counters> = BTreeMap::new();
        for (dims, counters) in &self.counters {
            for (dim, value) in dims.slices() {
                slices.entry((dim, value, dims.bucket_at)).or_default().add(counters);
            }
        }
        let sql = format!(
            "INSERT INTO report_slices (dim, value, bucket_at, {columns}) VALUES ($1, $2, $3, {}) \
             ON CONFLICT (dim, value, bucket_at) DO UPDATE SET {}",
            (4..4 + Counters::COLUMNS.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", "),
            Counters::COLUMNS
                .iter()
                .map(|c| format!("{c} = report_slices.{c} + excluded.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for ((dim, value, bucket_at), counters) in slices {
            let mut q = sqlx::query(&sql).bind(dim).bind(value).bind(bucket_at);
            for v in counters.values() {
                q = q.bind(v);
            }
            q.execute(&mut *conn).await?;
        }
        let mut slices: BTreeMap<(&'static str, String, i64, DurationMeasure, i64), i64> = BTreeMap::new();
        for ((dims, measure, bin), n) in &self.durations {
            for (dim, value) in dims.slices() {
                *slices.entry((dim, value, dims.bucket_at, *measure, *bin)).or_default() += n;
            }
        }
        for ((dim, value, bucket_at, measure, bin), n) in slices {
            sqlx::query(
                "INSERT INTO report_slice_durations (dim, value, bucket_at, measure, bin, n) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dim, value, bucket_at, measure, bin) \
                 DO UPDATE SET n = report_slice_durations.n + excluded.n",
            )
            .bind(dim)
            .bind(value)
            .bind(bucket_at)
            .bind(measure.as_str())
            .bind(bin)
            .bind(n)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// The conversation's channel, language and its customer's tier (as they are now).
async fn conversation_dims(conn: &mut AnyConnection, conversation: &str, at: i64) -> Result<Dims> {
    let row = sqlx::query(
        "SELECT c.channel, c.language, u.tier FROM conversations c JOIN customers u ON u.id = c.customer_id \
         WHERE c.id = $1",
    )
    .bind(conversation)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound { what: "conversation" })?;
    Ok(Dims {
        bucket_at: bucket_of(at),
        channel: row.try_get("channel")?,
        queue: String::new(),
        agent_id: String::new(),
        language: row.try_get("language")?,
        tier: row.try_get("tier")?,
    })
}

/// A conversation was created at `at`.
pub(super) async fn conversation_created(conn: &mut AnyConnection, conversation: &str, at: i64) -> Result<()> {
    let dims = conversation_dims(conn, conversation, at).await?;
    let mut delta = Delta::default();
    delta.count(&dims, |c| c.conversations += 1);
    delta.apply(conn).await
}

/// The reporting state of a ticket, read (and on PostgreSQL locked) before a change.
#[derive(Clone, Debug)]
pub(super) struct TicketState {
    pub conversation_id: String,
    pub status: String,
    pub queue: String,
    pub assignee_id: Option<String>,
    pub created_at: i64,
    pub opened_at: i64,
    pub first_response_at: Option<i64>,
    pub first_response_due: Option<i64>,
    /// The first-response clock of the SLA policy over the ticket, if one is: it judges the
    /// first response rather than the routing queue's target (`first_response_due`).
    pub policy_clock: Option<PolicyClock>,
    pub active_since: Option<i64>,
}

/// An SLA policy's first-response clock as stored (`ticket_sla`): its deadline (none while
/// paused or once stopped in time) and whether its breach was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PolicyClock {
    pub due_at: Option<i64>,
    pub breached: bool,
}

/// The SLA policy's first-response clock joined as `policy_ticket`, `policy_due`,
/// `policy_breached_at` (see [`POLICY_CLOCK_JOIN`]).
fn policy_clock(row: &sqlx::any::AnyRow) -> Result<Option<PolicyClock>> {
    if row.try_get::<Option<String>, _>("policy_ticket")?.is_none() {
        return Ok(None);
    }
    Ok(Some(PolicyClock {
        due_at: row.try_get("policy_due")?,
        breached: row.try_get::<Option<i64>, _>("policy_breached_at")?.is_some(),
    }))
}

/// Joins a ticket `t` to its SLA policy's first-response clock `s`.
const POLICY_CLOCK_JOIN: &str = "LEFT JOIN ticket_sla s ON s.ticket_id = t.id AND s.target = 'first_response'";
/// The columns [`policy_clock`] reads.
const POLICY_CLOCK_COLUMNS: &str =
    "s.ticket_id AS policy_ticket, s.due_at AS policy_due, s.breached_at AS policy_breached_at";

fn owned(status: &str) -> bool {
    matches!(status, "assigned" | "pending_customer")
}

fn active(status: &str) -> bool {
    status == "assigned"
}

fn open(status: &str) -> bool {
    !matches!(status, "resolved" | "closed")
}

pub(super) async fn ticket_state(conn: &mut AnyConnection, backend: Backend, id: &str) -> Result<Option<TicketState>> {
    let lock = if backend == Backend::Postgres { " FOR UPDATE OF t" } else { "" };
    let row = sqlx::query(&format!(
        "SELECT t.conversation_id, t.status, t.queue, t.assignee_id, t.created_at, t.opened_at, t.first_response_at, \
         t.first_response_due, t.active_since, {POLICY_CLOCK_COLUMNS} FROM tickets t {POLICY_CLOCK_JOIN} \
         WHERE t.id = $1{lock}"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        let created_at: i64 = row.try_get("created_at")?;
        Ok(TicketState {
            conversation_id: row.try_get("conversation_id")?,
            status: row.try_get("status")?,
            queue: row.try_get("queue")?,
            assignee_id: row.try_get("assignee_id")?,
            created_at,
            opened_at: row.try_get::<Option<i64>, _>("opened_at")?.unwrap_or(created_at),
            first_response_at: row.try_get("first_response_at")?,
            first_response_due: row.try_get("first_response_due")?,
            policy_clock: policy_clock(&row)?,
            active_since: row.try_get("active_since")?,
        })
    })
    .transpose()
}

/// Counts a first response made at `at` by `agent` on the ticket in `state`.
fn first_response(delta: &mut Delta, dims: &Dims, state: &TicketState, agent: Option<&str>, at: i64) {
    let ms = (at - state.created_at).max(0);
    let dims = Dims { queue: state.queue.clone(), ..dims.with_agent(agent) };
    delta.count(&dims, |c| {
        c.first_responses += 1;
        c.first_response_ms += ms;
        let met = match (state.policy_clock, state.first_response_due) {
            (Some(clock), _) => Some(!clock.breached && clock.due_at.is_none_or(|due| at <= due)),
            (None, Some(due)) => Some(at <= due),
            (None, None) => None,
        };
        if let Some(met) = met {
            c.sla_targeted += 1;
            c.sla_met += i64::from(met);
        }
    });
    delta.duration(&dims, DurationMeasure::FirstResponse, ms);
}

/// A ticket was created in state `new` at `at`.
pub(super) async fn ticket_created(conn: &mut AnyConnection, id: &str, new: &TicketState, at: i64) -> Result<()> {
    let dims = conversation_dims(conn, &new.conversation_id, at).await?;
    let mut delta = Delta::default();
    delta.count(&Dims { queue: new.queue.clone(), ..dims }, |c| c.new_tickets += 1);
    let since = (owned(&new.status) && active(&new.status) && new.assignee_id.is_some()).then_some(at);
    sqlx::query("UPDATE tickets SET opened_at = $2, active_since = $3 WHERE id = $1")
        .bind(id)
        .bind(at)
        .bind(since)
        .execute(&mut *conn)
        .await?;
    delta.apply(conn).await
}

/// The reporting columns a ticket keeps (`opened_at`, `first_response_at`, `active_since`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Kept {
    pub opened_at: i64,
    pub first_response_at: Option<i64>,
    pub active_since: Option<i64>,
}

/// What a ticket's change from `old` to `new` at `at` (history lines of these `kinds`) adds to
/// `delta`, and the reporting columns it keeps after. `base`: the conversation's dimensions in
/// `at`'s bucket. The one definition of the ticket measures: the live writes and the backfill
/// both call it.
pub(super) fn ticket_change(
    delta: &mut Delta,
    base: &Dims,
    voice: bool,
    old: &TicketState,
    new: &TicketState,
    kinds: &[&str],
    at: i64,
) -> Kept {
    let old_dims = Dims { queue: old.queue.clone(), ..base.with_agent(old.assignee_id.as_deref()) };
    let new_dims = Dims { queue: new.queue.clone(), ..base.with_agent(new.assignee_id.as_deref()) };
    let mut opened_at = old.opened_at;
    let mut first_response_at = old.first_response_at;
    for kind in kinds {
        match *kind {
            "reopened" => {
                opened_at = at;
                delta.count(&Dims { agent_id: String::new(), ..new_dims.clone() }, |c| c.reopened += 1);
            }
            "transferred" => delta.count(&old_dims, |c| c.transfers += 1),
            _ => {}
        }
    }
    // The assignee's active stretch and ownership.
    let same_owner = old.assignee_id.is_some() && old.assignee_id == new.assignee_id;
    let was_active = active(&old.status) && old.assignee_id.is_some();
    let is_active = active(&new.status) && new.assignee_id.is_some();
    let mut active_since = old.active_since;
    if was_active && !(is_active && same_owner) {
        let ms = (at - old.active_since.unwrap_or(at)).max(0);
        delta.count(&old_dims, |c| c.handle_ms += ms);
        active_since = None;
    }
    if is_active && !(was_active && same_owner) {
        active_since = Some(at);
    }
    if !is_active {
        active_since = None;
    }
    let was_owned = owned(&old.status) && old.assignee_id.is_some();
    let is_owned = owned(&new.status) && new.assignee_id.is_some();
    if was_owned && !(is_owned && same_owner) {
        delta.count(&old_dims, |c| c.handled += 1);
    }
    // A call answered is its first response.
    if voice && first_response_at.is_none() && is_active {
        first_response(delta, base, old, new.assignee_id.as_deref(), at);
        first_response_at = Some(at);
    }
    if open(&old.status) && !open(&new.status) {
        let agent = if new.status == "resolved" { new.assignee_id.as_deref() } else { None };
        let dims = Dims { queue: new.queue.clone(), ..base.with_agent(agent) };
        if new.status == "resolved" {
            let ms = (at - opened_at).max(0);
            delta.count(&dims, |c| {
                c.resolved += 1;
                c.resolution_ms += ms;
            });
            delta.duration(&dims, DurationMeasure::Resolution, ms);
        } else if first_response_at.is_none() {
            delta.count(&dims, |c| c.abandoned += 1);
        }
    }
    Kept { opened_at, first_response_at, active_since }
}

/// A ticket went from `old` to `new` at `at`, with history lines of these `kinds`.
pub(super) async fn ticket_changed(
    conn: &mut AnyConnection,
    id: &str,
    voice: bool,
    old: &TicketState,
    new: &TicketState,
    kinds: &[&str],
    at: i64,
) -> Result<()> {
    let base = conversation_dims(conn, &old.conversation_id, at).await?;
    let mut delta = Delta::default();
    let kept = ticket_change(&mut delta, &base, voice, old, new, kinds, at);
    sqlx::query("UPDATE tickets SET opened_at = $2, first_response_at = $3, active_since = $4 WHERE id = $1")
        .bind(id)
        .bind(kept.opened_at)
        .bind(kept.first_response_at)
        .bind(kept.active_since)
        .execute(&mut *conn)
        .await?;
    delta.apply(conn).await
}

/// An agent's message was appended at `at` to `conversation`: the first on its open ticket is
/// that ticket's first response.
pub(super) async fn agent_replied(
    conn: &mut AnyConnection,
    conversation: &str,
    agent: Option<&str>,
    at: i64,
) -> Result<()> {
    let row = sqlx::query(
        "UPDATE tickets SET first_response_at = $2 WHERE conversation_id = $1 \
         AND status NOT IN ('resolved', 'closed') AND first_response_at IS NULL \
         RETURNING id, queue, created_at, first_response_due",
    )
    .bind(conversation)
    .bind(at)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(()) };
    let created_at: i64 = row.try_get("created_at")?;
    let id: String = row.try_get("id")?;
    let clock =
        sqlx::query(&format!("SELECT {POLICY_CLOCK_COLUMNS} FROM tickets t {POLICY_CLOCK_JOIN} WHERE t.id = $1"))
            .bind(&id)
            .fetch_one(&mut *conn)
            .await?;
    let state = TicketState {
        conversation_id: conversation.to_owned(),
        status: String::new(),
        queue: row.try_get("queue")?,
        assignee_id: None,
        created_at,
        opened_at: created_at,
        first_response_at: None,
        first_response_due: row.try_get("first_response_due")?,
        policy_clock: policy_clock(&clock)?,
        active_since: None,
    };
    let dims = conversation_dims(conn, conversation, at).await?;
    let mut delta = Delta::default();
    first_response(&mut delta, &dims, &state, agent, at);
    delta.apply(conn).await
}

/// A rollup row's report bucket in a read over one [`Span`] (`$1` its start, `$2` its width).
pub(super) const SPAN_KEY: &str = "$1 + (bucket_at - $1) / $2 * $2";

pub(super) fn filter_sql(first_param: usize) -> String {
    let cols = ["channel", "queue", "agent_id", "language", "tier"];
    cols.iter().enumerate().map(|(i, c)| format!(" AND (${p} = '' OR {c} = ${p})", p = first_param + i)).collect()
}

pub(super) fn filter_values(filter: &ReportFilter) -> [String; 5] {
    [
        filter.channel.clone().unwrap_or_default(),
        filter.queue.clone().unwrap_or_default(),
        filter.agent_id.clone().unwrap_or_default(),
        filter.language.clone().unwrap_or_default(),
        filter.tier.clone().unwrap_or_default(),
    ]
}

/// Where a report's rows come from: a one-dimension slice (no filter: the totals, `""`), or
/// the rows of every dimension (two filters or more).
enum Source {
    Slice { dim: &'static str, value: String },
    Full,
}

fn source(filter: &ReportFilter) -> Source {
    let set: Vec<(&'static str, &String)> = [
        ("channel", filter.channel.as_ref()),
        ("queue", filter.queue.as_ref()),
        ("agent", filter.agent_id.as_ref()),
        ("language", filter.language.as_ref()),
        ("tier", filter.tier.as_ref()),
    ]
    .into_iter()
    .filter_map(|(d, v)| v.filter(|v| !v.is_empty()).map(|v| (d, v)))
    .collect();
    match set.as_slice() {
        [] => Source::Slice { dim: "", value: String::new() },
        [(dim, value)] => Source::Slice { dim, value: (*value).clone() },
        _ => Source::Full,
    }
}

/// A histogram row (`bucket_at`, `measure`, `bin`, `n`).
pub(super) fn duration_row(row: &sqlx::any::AnyRow) -> Result<DurationRow> {
    let measure: String = row.try_get("measure")?;
    let measure = match measure.as_str() {
        "first_response" => DurationMeasure::FirstResponse,
        "resolution" => DurationMeasure::Resolution,
        other => return Err(StoreError::Corrupt(format!("report measure {other:?}"))),
    };
    Ok(DurationRow { bucket_at: row.try_get("bucket_at")?, measure, bin: row.try_get("bin")?, n: row.try_get("n")? })
}

fn counters_of(row: &sqlx::any::AnyRow) -> Result<Counters> {
    let mut values = [0_i64; 13];
    for (v, c) in values.iter_mut().zip(Counters::COLUMNS) {
        *v = row.try_get::<Option<i64>, _>(c)?.unwrap_or(0);
    }
    Ok(Counters::from_values(values))
}

impl Store {
    /// The rollups' counters over the rows `filter` matches, summed per report bucket of
    /// `spans` (each row's `bucket_at` is its report bucket's start): with no filter or one, from
    /// a one-dimension slice (a few rows per quarter hour); with more, from the rows of every
    /// dimension. One query per span.
    ///
    /// # Errors
    /// A database failure.
    pub async fn report_rollups(&self, spans: &[Span], filter: &ReportFilter) -> Result<Vec<RollupRow>> {
        let sums: Vec<String> = Counters::COLUMNS.iter().map(|c| format!("CAST(SUM({c}) AS BIGINT) AS {c}")).collect();
        let rows = self.read_spans(spans, filter, ("report_slices", "report_rollups"), &sums.join(", "), "").await?;
        rows.iter()
            .map(|row| {
                Ok(RollupRow { bucket_at: row.try_get("bucket_at")?, agent_id: None, counters: counters_of(row)? })
            })
            .collect()
    }

    /// Runs a read of rollups summed per report bucket once per span: `SELECT <the bucket's
    /// start> AS bucket_at, {select}` from the slice table (`tables.0`, one filter or none) or the
    /// table of every dimension (`tables.1`, more filters), grouped by the bucket and `group`.
    async fn read_spans(
        &self,
        spans: &[Span],
        filter: &ReportFilter,
        tables: (&str, &str),
        select: &str,
        group: &str,
    ) -> Result<Vec<sqlx::any::AnyRow>> {
        // `$1` the span's start, `$2` its width, `$3`/`$4` the range of quarter hours.
        let key = SPAN_KEY;
        let source = source(filter);
        let sql = match &source {
            Source::Slice { .. } => format!(
                "SELECT {key} AS bucket_at, {select} FROM {} WHERE dim = $5 AND value = $6 \
                 AND bucket_at >= $3 AND bucket_at < $4 GROUP BY {key}{group}",
                tables.0
            ),
            Source::Full => format!(
                "SELECT {key} AS bucket_at, {select} FROM {} WHERE bucket_at >= $3 AND bucket_at < $4{} \
                 GROUP BY {key}{group}",
                tables.1,
                filter_sql(5)
            ),
        };
        let more: Vec<String> = match source {
            Source::Slice { dim, value } => vec![dim.to_owned(), value],
            Source::Full => filter_values(filter).to_vec(),
        };
        self.fetch_over_spans(&sql, spans, &more).await
    }

    /// Runs `sql` once per span (`$1` the span's start, `$2` its width, `$3`/`$4` its quarter
    /// hours, then `more` from `$5`) and returns every row.
    pub(super) async fn fetch_over_spans(
        &self,
        sql: &str,
        spans: &[Span],
        more: &[String],
    ) -> Result<Vec<sqlx::any::AnyRow>> {
        let mut out = Vec::new();
        for span in spans {
            let mut q = sqlx::query(sql).bind(span.start).bind(span.width).bind(span.lo).bind(span.hi);
            for v in more {
                q = q.bind(v.as_str());
            }
            out.extend(q.fetch_all(&self.read).await?);
        }
        Ok(out)
    }

    /// The rollups' counters per 15-minute bucket and agent in `[from_ms, to_ms)` over the rows
    /// `filter` matches, rows with no agent left out, oldest first: what a `team` filter needs
    /// (the members of each quarter hour).
    ///
    /// # Errors
    /// A database failure.
    pub async fn report_rollups_by_agent(
        &self,
        from_ms: i64,
        to_ms: i64,
        filter: &ReportFilter,
    ) -> Result<Vec<RollupRow>> {
        let sums: Vec<String> = Counters::COLUMNS.iter().map(|c| format!("CAST(SUM({c}) AS BIGINT) AS {c}")).collect();
        let sums = sums.join(", ");
        let rows = if matches!(source(filter), Source::Slice { dim: "agent" | "", .. }) {
            let agent = filter.agent_id.clone().unwrap_or_default();
            let sql = format!(
                "SELECT bucket_at, value AS agent_id, {sums} FROM report_slices WHERE dim = 'agent' \
                 AND ($1 = '' OR value = $1) AND value <> '' AND bucket_at >= $2 AND bucket_at < $3 \
                 GROUP BY bucket_at, value ORDER BY bucket_at, value"
            );
            sqlx::query(&sql).bind(agent).bind(from_ms).bind(to_ms).fetch_all(&self.read).await?
        } else {
            let sql = format!(
                "SELECT bucket_at, agent_id, {sums} FROM report_rollups WHERE bucket_at >= $1 AND bucket_at < $2{} \
                 AND agent_id <> '' GROUP BY bucket_at, agent_id ORDER BY bucket_at, agent_id",
                filter_sql(3)
            );
            let mut q = sqlx::query(&sql).bind(from_ms).bind(to_ms);
            for v in filter_values(filter) {
                q = q.bind(v);
            }
            q.fetch_all(&self.read).await?
        };
        rows.iter()
            .map(|row| {
                Ok(RollupRow {
                    bucket_at: row.try_get("bucket_at")?,
                    agent_id: Some(row.try_get("agent_id")?),
                    counters: counters_of(row)?,
                })
            })
            .collect()
    }

    /// The rollups' counters in `[from_ms, to_ms)` over the rows `filter` matches, summed per
    /// agent over the whole range (rows with no agent left out), by agent id: the agents
    /// report's rows. The database sums them, so the rows per agent and quarter hour never
    /// cross the driver (at 7.65 million messages on SQLite: 0.35 s against 7 s).
    ///
    /// # Errors
    /// A database failure.
    pub async fn report_rollups_per_agent(
        &self,
        from_ms: i64,
        to_ms: i64,
        filter: &ReportFilter,
    ) -> Result<Vec<(String, Counters)>> {
        let sums: Vec<String> = Counters::COLUMNS.iter().map(|c| format!("CAST(SUM({c}) AS BIGINT) AS {c}")).collect();
        let sums = sums.join(", ");
        let rows = if matches!(source(filter), Source::Slice { dim: "agent" | "", .. }) {
            let sql = format!(
                "SELECT value AS agent_id, {sums} FROM report_slices WHERE dim = 'agent' \
                 AND ($1 = '' OR value = $1) AND bucket_at >= $2 AND bucket_at < $3 \
                 GROUP BY value ORDER BY value"
            );
            let agent = filter.agent_id.clone().unwrap_or_default();
            sqlx::query(&sql).bind(agent).bind(from_ms).bind(to_ms).fetch_all(&self.read).await?
        } else {
            let sql = format!(
                "SELECT agent_id, {sums} FROM report_rollups WHERE bucket_at >= $1 AND bucket_at < $2{} \
                 AND agent_id <> '' GROUP BY agent_id ORDER BY agent_id",
                filter_sql(3)
            );
            let mut q = sqlx::query(&sql).bind(from_ms).bind(to_ms);
            for v in filter_values(filter) {
                q = q.bind(v);
            }
            q.fetch_all(&self.read).await?
        };
        rows.iter()
            .filter_map(|row| match row.try_get::<String, _>("agent_id") {
                Ok(agent) if agent.is_empty() => None,
                Ok(agent) => Some(counters_of(row).map(|c| (agent, c))),
                Err(e) => Some(Err(e.into())),
            })
            .collect()
    }

    /// The duration histograms over the rows `filter` matches (from a slice as
    /// [`Store::report_rollups`] does), summed per report bucket of `spans`: each row's
    /// `bucket_at` is the start of its report bucket. One query per span; a report has a few.
    ///
    /// # Errors
    /// A database failure, or a measure this version does not know.
    pub async fn report_durations(&self, spans: &[Span], filter: &ReportFilter) -> Result<Vec<DurationRow>> {
        let select = "measure, bin, CAST(SUM(n) AS BIGINT) AS n";
        let tables = ("report_slice_durations", "report_durations");
        let rows = self.read_spans(spans, filter, tables, select, ", measure, bin").await?;
        rows.iter().map(duration_row).collect()
    }

    /// How many rows the rollups hold: every dimension, and the one-dimension slices (the
    /// benchmark prints them).
    ///
    /// # Errors
    /// A database failure.
    pub async fn report_rollup_rows(&self) -> Result<(i64, i64)> {
        let full = sqlx::query("SELECT COUNT(*) AS n FROM report_rollups").fetch_one(&self.read).await?.try_get("n")?;
        let slices =
            sqlx::query("SELECT COUNT(*) AS n FROM report_slices").fetch_one(&self.read).await?.try_get("n")?;
        Ok((full, slices))
    }

    /// The reports benchmark's check of what it loaded: rows in `conversations`, `tickets`,
    /// `messages`, and `ticket_events`.
    ///
    /// # Errors
    /// A database failure.
    #[doc(hidden)]
    pub async fn bench_rows(&self) -> Result<[i64; 4]> {
        let mut out = [0; 4];
        for (n, table) in out.iter_mut().zip(["conversations", "tickets", "messages", "ticket_events"]) {
            *n =
                sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}")).fetch_one(&self.read).await?.try_get("n")?;
        }
        Ok(out)
    }

    /// After the reports benchmark's bulk load, on PostgreSQL: `ANALYZE`, what autovacuum does
    /// after that many inserts (the benchmark cannot wait for it). SQLite: nothing (the hub
    /// never analyses its file).
    ///
    /// # Errors
    /// A database failure.
    #[doc(hidden)]
    pub async fn bench_analyze(&self) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("ANALYZE").execute(&self.write).await?;
        }
        Ok(())
    }

    /// Counts into the rollups, once, what was stored before they existed (migration 0024
    /// recorded when): conversations created, and every ticket's history lines and agents'
    /// messages before that moment, replayed through the same definitions as the live writes
    /// ([`ticket_change`]). Later changes were counted as they were stored, so nothing is counted
    /// twice; a second run does nothing. The customer's tier is today's (the past one is not
    /// kept). Returns the conversations and tickets counted, or `None` if it ran before.
    ///
    /// # Errors
    /// A database failure, or corrupt stored history.
    pub async fn backfill_reports(&self) -> Result<Option<(u64, u64)>> {
        let setting = |key: &'static str| {
            sqlx::query("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(&self.read)
        };
        if setting("reports.backfilled").await?.is_some() {
            return Ok(None);
        }
        let cutoff: String = setting("reports.counted_since")
            .await?
            .ok_or_else(|| StoreError::Corrupt("no reports.counted_since setting".into()))?
            .try_get("value")?;
        let cutoff: i64 =
            cutoff.parse().map_err(|_| StoreError::Corrupt(format!("reports.counted_since {cutoff:?}")))?;
        let mut delta = Delta::default();
        let conversations = sqlx::query(
            "SELECT c.channel, c.language, u.tier, c.created_at FROM conversations c \
             JOIN customers u ON u.id = c.customer_id WHERE c.created_at < $1",
        )
        .bind(cutoff)
        .fetch_all(&self.read)
        .await?;
        for row in &conversations {
            let dims = Dims {
                bucket_at: bucket_of(row.try_get("created_at")?),
                channel: row.try_get("channel")?,
                queue: String::new(),
                agent_id: String::new(),
                language: row.try_get("language")?,
                tier: row.try_get("tier")?,
            };
            delta.count(&dims, |c| c.conversations += 1);
        }
        let tickets = sqlx::query(&format!(
            "SELECT t.id, t.conversation_id, t.channel, t.created_at, t.first_response_due, c.language, u.tier, \
                 {POLICY_CLOCK_COLUMNS} FROM tickets t JOIN conversations c ON c.id = t.conversation_id \
                 JOIN customers u ON u.id = c.customer_id {POLICY_CLOCK_JOIN} \
                 WHERE t.created_at < $1 ORDER BY t.created_at, t.id"
        ))
        .bind(cutoff)
        .fetch_all(&self.read)
        .await?;
        for t in &tickets {
            self.replay_ticket(t, cutoff, &mut delta).await?;
        }
        let mut tx = self.write.begin().await?;
        // The guard: a concurrent second run fails here on the key and rolls back.
        sqlx::query("INSERT INTO settings (key, value) VALUES ('reports.backfilled', $1)")
            .bind(super::now_ms().to_string())
            .execute(&mut *tx)
            .await?;
        delta.apply(&mut tx).await?;
        tx.commit().await?;
        Ok(Some((conversations.len() as u64, tickets.len() as u64)))
    }

    /// Replays one ticket's history lines and agents' messages before `cutoff` into `delta`.
    async fn replay_ticket(&self, t: &sqlx::any::AnyRow, cutoff: i64, delta: &mut Delta) -> Result<()> {
        let id: String = t.try_get("id")?;
        let conversation: String = t.try_get("conversation_id")?;
        let created_at: i64 = t.try_get("created_at")?;
        let voice = t.try_get::<String, _>("channel")? == "voice";
        let json = |text: String| -> Result<serde_json::Value> {
            serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("ticket event detail: {e}")))
        };
        // (time, messages after lines at the same time, kind, detail, agent)
        let mut steps: Vec<(i64, u8, String, serde_json::Value, Option<String>)> = Vec::new();
        for e in
            sqlx::query("SELECT kind, detail, at FROM ticket_events WHERE ticket_id = $1 AND at < $2 ORDER BY at, id")
                .bind(&id)
                .bind(cutoff)
                .fetch_all(&self.read)
                .await?
        {
            steps.push((e.try_get("at")?, 0, e.try_get("kind")?, json(e.try_get("detail")?)?, None));
        }
        for m in sqlx::query(
            "SELECT author_id, created_at FROM messages WHERE conversation_id = $1 AND author = 'agent' \
             AND created_at >= $2 AND created_at < $3 ORDER BY seq",
        )
        .bind(&conversation)
        .bind(created_at)
        .bind(cutoff)
        .fetch_all(&self.read)
        .await?
        {
            steps.push((m.try_get("created_at")?, 1, String::new(), serde_json::Value::Null, m.try_get("author_id")?));
        }
        steps.sort_by_key(|s| (s.0, s.1));
        let mut state = TicketState {
            conversation_id: conversation,
            status: "queued".into(),
            queue: String::new(),
            assignee_id: None,
            created_at,
            opened_at: created_at,
            first_response_at: None,
            first_response_due: t.try_get("first_response_due")?,
            policy_clock: policy_clock(t)?,
            active_since: None,
        };
        let text = |v: &serde_json::Value, key: &str| v[key].as_str().map(str::to_owned);
        for (at, is_message, kind, detail, author) in steps {
            let base = Dims {
                bucket_at: bucket_of(at),
                channel: t.try_get("channel")?,
                queue: String::new(),
                agent_id: String::new(),
                language: t.try_get("language")?,
                tier: t.try_get("tier")?,
            };
            if is_message == 1 {
                if open(&state.status) && state.first_response_at.is_none() {
                    first_response(delta, &base, &state, author.as_deref(), at);
                    state.first_response_at = Some(at);
                }
                continue;
            }
            let mut new = state.clone();
            match kind.as_str() {
                "created" => {
                    new.queue = text(&detail, "queue").unwrap_or_default();
                    delta.count(&Dims { queue: new.queue.clone(), ..base }, |c| c.new_tickets += 1);
                    state = new;
                    continue;
                }
                "offered" => new.status = "offered".into(),
                "offer_rejected" | "offer_timed_out" | "offer_withdrawn" | "requeued" => new.status = "queued".into(),
                "assigned" => {
                    new.status = "assigned".into();
                    new.assignee_id = text(&detail, "agent_id");
                }
                "pending_customer" => new.status = "pending_customer".into(),
                "customer_replied" => new.status = "assigned".into(),
                "escalated" => new.queue = text(&detail, "queue").unwrap_or(new.queue),
                "transferred" => {
                    if let Some(agent) = text(&detail, "to_agent") {
                        new.status = "assigned".into();
                        new.assignee_id = Some(agent);
                    } else {
                        new.status = "queued".into();
                        new.assignee_id = None;
                        new.queue = text(&detail, "to_queue").unwrap_or(new.queue);
                    }
                }
                "resolved" | "call_ended" | "superseded_by_call" => new.status = "resolved".into(),
                "abandoned" => new.status = "closed".into(),
                "reopened" => {
                    new.status = "queued".into();
                    new.assignee_id = None;
                }
                _ => continue,
            }
            let kept = ticket_change(delta, &base, voice, &state, &new, &[kind.as_str()], at);
            new.opened_at = kept.opened_at;
            new.first_response_at = kept.first_response_at;
            new.active_since = kept.active_since;
            state = new;
        }
        Ok(())
    }

    /// The reports benchmark's bulk loader: stores `batch` (customers, conversations, tickets,
    /// messages, history lines `created`, `assigned`, `resolved`) in one transaction with
    /// multi-row inserts, and adds to the rollups what the write paths add for the same life
    /// (created, handed over, taken, first answer (for a call: taken), resolved by the one
    /// agent). Not for production use: nothing is checked.
    ///
    /// # Errors
    /// A database failure.
    #[doc(hidden)]
    pub async fn bench_load(&self, batch: &[crate::reports::BenchConversation]) -> Result<()> {
        const ROWS: usize = 400;
        let mut tx = self.write.begin().await?;
        let mut delta = Delta::default();
        let ids: Vec<(String, String, String)> = batch
            .iter()
            .map(|_| {
                (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string())
            })
            .collect();
        for (chunk, ids) in batch.chunks(ROWS).zip(ids.chunks(ROWS)) {
            let values = |n: usize, per: usize| -> String {
                (0..n)
                    .map(|r| {
                        let p: Vec<String> = (1..=per).map(|c| format!("${}", r * per + c)).collect();
                        format!("({})", p.join(", "))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let sql =
                format!("INSERT INTO customers (id, language, tier, created_at) VALUES {}", values(chunk.len(), 4));
            let mut q = sqlx::query(&sql);
            for (c, (customer, _, _)) in chunk.iter().zip(ids) {
                q = q.bind(customer.clone()).bind(c.language.as_str()).bind(c.tier.as_str()).bind(c.at_ms);
            }
            q.execute(&mut *tx).await?;
            let sql = format!(
                "INSERT INTO conversations (id, customer_id, channel, status, assignee_id, language, last_seq, \
                 created_at, updated_at) VALUES {}",
                values(chunk.len(), 9)
            );
            let mut q = sqlx::query(&sql);
            for (c, (customer, conversation, _)) in chunk.iter().zip(ids) {
                q = q
                    .bind(conversation.clone())
                    .bind(customer.clone())
                    .bind(c.channel.as_str())
                    .bind("resolved")
                    .bind(c.agent.to_string())
                    .bind(c.language.as_str())
                    .bind(i64::from(c.messages))
                    .bind(c.at_ms)
                    .bind(c.at_ms + c.resolution_ms);
            }
            q.execute(&mut *tx).await?;
            let sql = format!(
                "INSERT INTO tickets (id, conversation_id, channel, status, priority, queue, skills, escalation, tags, \
                 assignee_id, queued_at, first_response_due, created_at, updated_at, opened_at, first_response_at) \
                 VALUES {}",
                values(chunk.len(), 16)
            );
            let mut q = sqlx::query(&sql);
            for (c, (_, conversation, ticket)) in chunk.iter().zip(ids) {
                q = q
                    .bind(ticket.clone())
                    .bind(conversation.clone())
                    .bind(c.channel.as_str())
                    .bind("resolved")
                    .bind(3_i64)
                    .bind(c.queue.clone())
                    .bind("[]")
                    .bind("[]")
                    .bind("[]")
                    .bind(c.agent.to_string())
                    .bind(c.at_ms)
                    .bind(c.first_response_target_ms.map(|t| c.at_ms + t))
                    .bind(c.at_ms)
                    .bind(c.at_ms + c.resolution_ms)
                    .bind(c.at_ms)
                    .bind(c.at_ms + c.first_response_offset_ms());
            }
            q.execute(&mut *tx).await?;
            // History lines, as the router writes them.
            let sql = format!(
                "INSERT INTO ticket_events (id, ticket_id, actor, actor_id, kind, detail, at) VALUES {}",
                values(chunk.len() * 3, 7)
            );
            let mut q = sqlx::query(&sql);
            for (c, (_, _, ticket)) in chunk.iter().zip(ids) {
                let agent = c.agent.to_string();
                let lines = [
                    ("system", None, "created", serde_json::json!({ "queue": c.queue }), c.at_ms),
                    (
                        "agent",
                        Some(agent.clone()),
                        "assigned",
                        serde_json::json!({ "agent_id": agent }),
                        c.at_ms + c.assigned_ms,
                    ),
                    ("agent", Some(agent.clone()), "resolved", serde_json::json!({}), c.at_ms + c.resolution_ms),
                ];
                for (actor, actor_id, kind, detail, at) in lines {
                    q = q
                        .bind(uuid::Uuid::now_v7().to_string())
                        .bind(ticket.clone())
                        .bind(actor)
                        .bind(actor_id)
                        .bind(kind)
                        .bind(detail.to_string())
                        .bind(at);
                }
            }
            q.execute(&mut *tx).await?;
            // Messages: many rows per statement.
            let mut rows: Vec<(String, String, i64, bool, String, i64)> = Vec::new();
            for (c, (_, conversation, _)) in chunk.iter().zip(ids) {
                for seq in 1..=i64::from(c.messages) {
                    let agent = seq % 2 == 0;
                    let at = if seq == 1 {
                        c.at_ms
                    } else {
                        c.at_ms
                            + c.first_response_ms
                            + (c.resolution_ms - c.first_response_ms) * (seq - 2) / i64::from(c.messages)
                    };
                    rows.push((
                        uuid::Uuid::now_v7().to_string(),
                        conversation.clone(),
                        seq,
                        agent,
                        c.agent.to_string(),
                        at,
                    ));
                }
            }
            for part in rows.chunks(ROWS * 2) {
                let sql = format!(
                    "INSERT INTO messages (id, conversation_id, seq, author, author_id, body, created_at) VALUES {}",
                    values(part.len(), 7)
                );
                let mut q = sqlx::query(&sql);
                for (id, conversation, seq, agent, agent_id, at) in part {
                    q = q
                        .bind(id.clone())
                        .bind(conversation.clone())
                        .bind(*seq)
                        .bind(if *agent { "agent" } else { "customer" })
                        .bind(agent.then(|| agent_id.clone()))
                        .bind("the line keeps dropping since this morning")
                        .bind(*at);
                }
                q.execute(&mut *tx).await?;
            }
            // The rollups, as the write paths add them.
            for c in chunk {
                let base = Dims {
                    bucket_at: bucket_of(c.at_ms),
                    channel: c.channel.as_str().to_owned(),
                    queue: String::new(),
                    agent_id: String::new(),
                    language: c.language.as_str().to_owned(),
                    tier: c.tier.as_str().to_owned(),
                };
                delta.count(&base, |n| n.conversations += 1);
                let queued = Dims { queue: c.queue.clone(), ..base.clone() };
                delta.count(&queued, |n| n.new_tickets += 1);
                let state = TicketState {
                    conversation_id: String::new(),
                    status: "assigned".into(),
                    queue: c.queue.clone(),
                    assignee_id: Some(c.agent.to_string()),
                    created_at: c.at_ms,
                    opened_at: c.at_ms,
                    first_response_at: None,
                    first_response_due: c.first_response_target_ms.map(|t| c.at_ms + t),
                    policy_clock: None,
                    active_since: None,
                };
                let answered = c.at_ms + c.first_response_offset_ms();
                first_response(
                    &mut delta,
                    &Dims { bucket_at: bucket_of(answered), ..base.clone() },
                    &state,
                    Some(&c.agent.to_string()),
                    answered,
                );
                let end = c.at_ms + c.resolution_ms;
                let done = Dims {
                    bucket_at: bucket_of(end),
                    queue: c.queue.clone(),
                    ..base.with_agent(Some(&c.agent.to_string()))
                };
                // Taken at `assigned_ms`, never waiting for the customer: active until resolved.
                let (handle, resolution) = (c.resolution_ms - c.assigned_ms, c.resolution_ms);
                delta.count(&done, |n| {
                    n.handled += 1;
                    n.handle_ms += handle;
                    n.resolved += 1;
                    n.resolution_ms += resolution;
                });
                delta.duration(&done, DurationMeasure::Resolution, resolution);
            }
        }
        delta.apply(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}
