//! SLA policies and clocks: supervisors' policies per queue and priority (first-response and
//! resolution targets, a team's business calendar, pending time excluded or not, what a reopen
//! does), saved as versions; each ticket's clocks kept in the store as its history moves them;
//! and the timer that wakes at the next warning or deadline, records each breach once as a
//! `sla.breached` ticket event (with the metric), and announces warnings and breaches on the bus
//! for the supervisors' socket and the agents' workspace.
//!
//! The business-time arithmetic is `router::sla` (pure); this module only feeds it the ticket's
//! history and the time.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use router::sla::{Calendar, CalendarDef, ClockRules, Happening, OnReopen, SlaTarget};
use schema::{
    Actor, AgentId, AuthorKind, Priority, QueueName, SlaVersion, Ticket, TicketEvent, TicketId, TicketSla, TicketStatus,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::bus::{Event, Received, SlaNotice, Topic};
use crate::error::Error;
use crate::services::Core;
use crate::services::leader::Lease;

/// Most policies.
pub const MAX_POLICIES: usize = 500;
/// Most calendars.
pub const MAX_CALENDARS: usize = 100;
/// Longest target: 90 days.
pub const MAX_TARGET_SECS: u32 = 90 * 86_400;
/// The longest the timer sleeps without looking (it is woken earlier by every ticket change).
const LONGEST_SLEEP: Duration = Duration::from_secs(30);
/// How often a version saved on another node is picked up.
const REFRESH: Duration = Duration::from_secs(10);
/// Clocks handled per wake.
const BATCH: u32 = 200;
/// Versions listed.
pub const MAX_VERSIONS: u32 = 200;
/// The kinds of ticket events after which the clock that waits for the customer runs again.
const RESUMED: &[&str] = &["customer_replied", "transferred"];
/// The kinds of ticket events that end a ticket (resolve, or the hub closing it).
const ENDED: &[&str] = &["resolved", "closed", "abandoned", "call_ended", "superseded_by_call"];

fn default_warning() -> u8 {
    80
}

/// One policy: the targets of the tickets of a queue (of one priority, or any).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDef {
    pub queue: QueueName,
    /// Only tickets of this priority (1–5); none: any priority without a policy of its own.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Seconds of business time until an agent's first reply.
    #[serde(default)]
    pub first_response_secs: Option<u32>,
    /// Seconds of business time until the ticket is resolved.
    #[serde(default)]
    pub resolution_secs: Option<u32>,
    /// The team's calendar (a name in `calendars`); none: around the clock.
    #[serde(default)]
    pub calendar: Option<String>,
    /// Time waiting for the customer does not count.
    #[serde(default)]
    pub pending_excluded: bool,
    /// What a reopened ticket's resolution clock does (`restart`, the default, or `resume`).
    #[serde(default)]
    pub on_reopen: OnReopen,
}

/// The SLA policies as supervisors save them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaConfig {
    /// Warn when this share of a target has passed (1–99, default 80).
    #[serde(default = "default_warning")]
    pub warning_percent: u8,
    /// Teams' business calendars by name.
    #[serde(default)]
    pub calendars: BTreeMap<String, CalendarDef>,
    #[serde(default)]
    pub policies: Vec<PolicyDef>,
}

impl Default for SlaConfig {
    fn default() -> Self {
        Self { warning_percent: default_warning(), calendars: BTreeMap::new(), policies: Vec::new() }
    }
}

/// The policies in force, checked and compiled.
#[derive(Debug)]
struct Compiled {
    version: i64,
    config: SlaConfig,
    calendars: HashMap<String, Calendar>,
    always: Calendar,
}

fn invalid(field: String, message: impl Into<String>) -> Error {
    Error::InvalidRules { field, message: message.into() }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

impl Compiled {
    fn new(version: i64, config: SlaConfig) -> Result<Self, Error> {
        if !(1..=99).contains(&config.warning_percent) {
            return Err(invalid("warning_percent".into(), "a share from 1 to 99"));
        }
        if config.calendars.len() > MAX_CALENDARS {
            return Err(invalid("calendars".into(), format!("at most {MAX_CALENDARS} calendars")));
        }
        if config.policies.len() > MAX_POLICIES {
            return Err(invalid("policies".into(), format!("at most {MAX_POLICIES} policies")));
        }
        let mut calendars = HashMap::new();
        for (name, def) in &config.calendars {
            if !valid_name(name) {
                return Err(invalid(
                    format!("calendars.{name}"),
                    "a calendar's name is 1 to 64 letters, digits, '-', '_' or '.'",
                ));
            }
            let calendar = Calendar::new(def).map_err(|e| invalid(format!("calendars.{name}"), e.to_string()))?;
            calendars.insert(name.clone(), calendar);
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in config.policies.iter().enumerate() {
            let field = |f: &str| format!("policies[{i}].{f}");
            if !seen.insert((p.queue.clone(), p.priority)) {
                return Err(invalid(field("queue"), "another policy has the same queue and priority"));
            }
            if p.first_response_secs.is_none() && p.resolution_secs.is_none() {
                return Err(invalid(field("first_response_secs"), "a policy sets at least one target"));
            }
            for (name, secs) in [("first_response_secs", p.first_response_secs), ("resolution_secs", p.resolution_secs)]
            {
                if secs.is_some_and(|s| s == 0 || s > MAX_TARGET_SECS) {
                    return Err(invalid(field(name), format!("a target from 1 to {MAX_TARGET_SECS} seconds")));
                }
            }
            if let Some(c) = &p.calendar
                && !calendars.contains_key(c)
            {
                return Err(invalid(field("calendar"), format!("no calendar named {c:?}")));
            }
        }
        Ok(Self { version, config, calendars, always: Calendar::always() })
    }

    /// The policy for a queue and priority: its own, else the queue's for any priority.
    fn policy(&self, queue: &QueueName, priority: Priority) -> Option<&PolicyDef> {
        let ps = &self.config.policies;
        ps.iter()
            .find(|p| &p.queue == queue && p.priority == Some(priority))
            .or_else(|| ps.iter().find(|p| &p.queue == queue && p.priority.is_none()))
    }

    fn rules<'a>(&'a self, p: &PolicyDef) -> ClockRules<'a> {
        ClockRules {
            calendar: p.calendar.as_ref().and_then(|c| self.calendars.get(c)).unwrap_or(&self.always),
            first_response_ms: p.first_response_secs.map(|s| i64::from(s) * 1000),
            resolution_ms: p.resolution_secs.map(|s| i64::from(s) * 1000),
            pending_excluded: p.pending_excluded,
            on_reopen: p.on_reopen,
            warning_percent: self.config.warning_percent,
        }
    }
}

/// Parses and checks policies as a supervisor sent them.
///
/// # Errors
/// 422 naming the first bad field.
pub fn parse_config(value: serde_json::Value) -> Result<SlaConfig, Error> {
    let config: SlaConfig = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path.is_empty() || path == "." { "config".to_owned() } else { path };
        invalid(field, e.into_inner().to_string())
    })?;
    Compiled::new(0, config.clone())?;
    Ok(config)
}

/// One clock of a ticket, as the workspace shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ClockView {
    pub target: SlaTarget,
    pub target_secs: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When the target runs out (none while paused).
    #[serde(with = "time::serde::rfc3339::option")]
    pub due_at: Option<OffsetDateTime>,
    /// When it stopped for good (the first reply, the resolution).
    #[serde(with = "time::serde::rfc3339::option")]
    pub stopped_at: Option<OffsetDateTime>,
    /// Waiting for the customer, with pending time excluded.
    pub paused: bool,
    /// Business seconds left now (negative once past).
    pub remaining_secs: i64,
    /// `running`, `paused`, `met`, `breached`.
    pub state: &'static str,
    #[serde(with = "time::serde::rfc3339::option")]
    pub breached_at: Option<OffsetDateTime>,
}

/// A ticket's clocks and the policy they follow.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TicketClocks {
    /// The policies' version (0: none saved).
    pub version: i64,
    /// None: no policy covers the ticket's queue and priority.
    pub policy: Option<PolicyDef>,
    pub clocks: Vec<ClockView>,
}

fn to_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn to_time(ms: i64) -> OffsetDateTime {
    crate::services::routing::to_time(ms)
}

/// What moved a ticket's clocks, from its history and its first agent reply.
fn happenings(events: &[TicketEvent], first_reply: Option<OffsetDateTime>) -> Vec<Happening> {
    let mut out: Vec<Happening> = events
        .iter()
        .filter_map(|e| {
            let at = to_ms(e.at);
            match e.kind.as_str() {
                "created" => Some(Happening::Opened(at)),
                "pending_customer" => Some(Happening::Pending(at)),
                "reopened" => Some(Happening::Reopened(at)),
                k if RESUMED.contains(&k) => Some(Happening::Resumed(at)),
                k if ENDED.contains(&k) => Some(Happening::Resolved(at)),
                _ => None,
            }
        })
        .collect();
    if let Some(r) = first_reply {
        let at = to_ms(r);
        let pos = out.iter().position(|h| happening_at(*h) > at).unwrap_or(out.len());
        out.insert(pos, Happening::AgentReplied(at));
    }
    out
}

fn happening_at(h: Happening) -> i64 {
    match h {
        Happening::Opened(t)
        | Happening::AgentReplied(t)
        | Happening::Pending(t)
        | Happening::Resumed(t)
        | Happening::Resolved(t)
        | Happening::Reopened(t) => t,
    }
}

/// The SLA service of a hub node.
#[derive(Debug)]
pub struct Sla {
    core: Core,
    compiled: RwLock<Arc<Compiled>>,
    /// Wakes the timer when a clock may have moved earlier.
    wake: Notify,
}

impl Sla {
    /// Loads the policies in force.
    ///
    /// # Errors
    /// The store fails, or holds policies that no longer validate.
    pub async fn load(core: Core) -> Result<Arc<Self>, Error> {
        let compiled = match core.store.current_sla().await? {
            Some(v) => compile(&v)?,
            None => Compiled::new(0, SlaConfig::default())?,
        };
        Ok(Arc::new(Self { core, compiled: RwLock::new(Arc::new(compiled)), wake: Notify::new() }))
    }

    fn compiled(&self) -> Arc<Compiled> {
        Arc::clone(&self.compiled.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The policies in force and their version (0 until a supervisor saves some).
    #[must_use]
    pub fn config(&self) -> (i64, SlaConfig) {
        let c = self.compiled();
        (c.version, c.config.clone())
    }

    /// Validates, saves as a new version and puts in force; every open ticket's clocks follow.
    ///
    /// # Errors
    /// Invalid policies (422 naming the field), another version saved since `expected` (409).
    pub async fn save(
        &self,
        by: AgentId,
        config: serde_json::Value,
        expected: Option<i64>,
    ) -> Result<(i64, SlaConfig), Error> {
        let config = parse_config(config)?;
        let json = serde_json::to_value(&config).map_err(Error::internal)?;
        let saved = self.core.store.save_sla(&json, by, expected).await?;
        let compiled = Compiled::new(saved.version, config.clone())?;
        *self.compiled.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(compiled);
        tracing::info!(version = saved.version, "SLA policies saved");
        self.recompute_open().await;
        Ok((saved.version, config))
    }

    /// The saved versions, newest first.
    ///
    /// # Errors
    /// The store fails.
    pub async fn versions(&self) -> Result<Vec<SlaVersion>, Error> {
        Ok(self.core.store.sla_versions(MAX_VERSIONS).await?)
    }

    /// A ticket's clocks as of now.
    ///
    /// # Errors
    /// Unknown ticket (404), or the store fails.
    pub async fn ticket_clocks(&self, id: TicketId) -> Result<TicketClocks, Error> {
        let ticket = self.core.store.ticket(id).await?;
        let compiled = self.compiled();
        let Some(policy) = compiled.policy(&ticket.queue, ticket.priority).cloned() else {
            return Ok(TicketClocks { version: compiled.version, policy: None, clocks: Vec::new() });
        };
        let now = OffsetDateTime::now_utc();
        let clocks = self.compute(&compiled, &policy, &ticket, now).await?;
        let stored = self.core.store.ticket_sla(id).await?;
        let views = clocks
            .into_iter()
            .map(|c| {
                let breached_at = stored
                    .iter()
                    .find(|s| s.target == c.target.as_str() && to_ms(s.started_at) == c.started_at)
                    .and_then(|s| s.breached_at);
                let state = if breached_at.is_some() || c.breached_by(to_ms(now)) {
                    "breached"
                } else if c.stopped_at.is_some() {
                    "met"
                } else if c.paused {
                    "paused"
                } else {
                    "running"
                };
                ClockView {
                    target: c.target,
                    target_secs: c.target_ms / 1000,
                    started_at: to_time(c.started_at),
                    due_at: c.due_at.map(to_time),
                    stopped_at: c.stopped_at.map(to_time),
                    paused: c.paused,
                    remaining_secs: c.remaining_ms.div_euclid(1000),
                    state,
                    breached_at,
                }
            })
            .collect();
        Ok(TicketClocks { version: compiled.version, policy: Some(policy), clocks: views })
    }

    async fn compute(
        &self,
        compiled: &Compiled,
        policy: &PolicyDef,
        ticket: &Ticket,
        now: OffsetDateTime,
    ) -> Result<Vec<router::sla::Clock>, Error> {
        let store = &self.core.store;
        let events = store.ticket_events(ticket.id).await?;
        let first_reply = store.first_agent_reply(ticket.conversation_id, ticket.created_at).await?;
        let history = happenings(&events, first_reply);
        Ok(router::sla::clocks(&compiled.rules(policy), &history, to_ms(now)))
    }

    /// Computes a ticket's clocks again and stores what the timer needs.
    async fn recompute(&self, ticket: &Ticket) -> Result<(), Error> {
        let compiled = self.compiled();
        let Some(policy) = compiled.policy(&ticket.queue, ticket.priority).cloned() else {
            self.core.store.set_ticket_sla(ticket.id, &[]).await?;
            return Ok(());
        };
        let clocks = self.compute(&compiled, &policy, ticket, OffsetDateTime::now_utc()).await?;
        let rows: Vec<TicketSla> = clocks
            .iter()
            .map(|c| {
                let running = c.stopped_at.is_none() && !c.paused;
                // Stopped late: the deadline stays so the breach is recorded (once) if it was not.
                let due_at = match (c.due_at, c.stopped_at) {
                    (Some(due), Some(stop)) if stop > due => Some(due),
                    (due, None) if !c.paused => due,
                    _ => None,
                };
                TicketSla {
                    ticket_id: ticket.id,
                    target: c.target.as_str().to_owned(),
                    queue: ticket.queue.clone(),
                    started_at: to_time(c.started_at),
                    due_at: due_at.map(to_time),
                    warn_at: if running { c.warn_at.map(to_time) } else { None },
                    warned_at: None,
                    breached_at: None,
                }
            })
            .collect();
        self.core.store.set_ticket_sla(ticket.id, &rows).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Every open ticket's clocks again (start-up, a new version, a lagging bus).
    async fn recompute_open(&self) {
        let tickets = match self.core.store.open_tickets().await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the open tickets for their SLA clocks");
                return;
            }
        };
        for ticket in &tickets {
            if let Err(e) = self.recompute(ticket).await {
                tracing::warn!(error = %e, ticket_id = %ticket.id, "cannot compute a ticket's SLA clocks");
            }
        }
    }

    async fn on_event(&self, event: &Event) {
        let ticket = match event {
            Event::TicketUpdated { ticket } => Some(ticket.clone()),
            Event::MessageCreated { message, conversation } if message.author == AuthorKind::Agent => {
                match self.core.store.latest_ticket(conversation.id).await {
                    Ok(t) => t.filter(|t| !matches!(t.status, TicketStatus::Resolved | TicketStatus::Closed)),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read a conversation's ticket for its SLA clocks");
                        None
                    }
                }
            }
            _ => None,
        };
        if let Some(ticket) = ticket
            && let Err(e) = self.recompute(&ticket).await
        {
            tracing::warn!(error = %e, ticket_id = %ticket.id, "cannot compute a ticket's SLA clocks");
        }
    }

    /// Gives the warnings and records the breaches that are due; returns how many clocks it saw.
    async fn fire_due(&self) -> Result<usize, Error> {
        let store = &self.core.store;
        let now = OffsetDateTime::now_utc();
        let due = store.sla_due(now, BATCH).await?;
        let mut tickets: Vec<TicketId> = due.iter().map(|c| c.ticket_id).collect();
        tickets.dedup();
        for id in &tickets {
            // The stored clock may be behind the ticket (a missed event): compute it again first.
            let ticket = store.ticket(*id).await?;
            self.recompute(&ticket).await?;
            for clock in store.ticket_sla(*id).await? {
                self.fire(&ticket, &clock, now).await?;
            }
        }
        Ok(due.len())
    }

    async fn fire(&self, ticket: &Ticket, clock: &TicketSla, now: OffsetDateTime) -> Result<(), Error> {
        let Some(target) = SlaTarget::parse(&clock.target) else { return Ok(()) };
        if clock.breached_at.is_some() {
            return Ok(());
        }
        let notice = |due_at| SlaNotice {
            ticket_id: ticket.id,
            conversation_id: ticket.conversation_id,
            queue: clock.queue.clone(),
            target,
            due_at,
        };
        if let Some(due) = clock.due_at
            && due <= now
        {
            let event = TicketEvent {
                ticket_id: ticket.id,
                actor: Actor::System,
                kind: "sla.breached".to_owned(),
                detail: serde_json::json!({
                    "target": target.as_str(),
                    "queue": clock.queue,
                    "due_at": due.unix_timestamp(),
                    "recorded_at": now.unix_timestamp(),
                }),
                at: due,
            };
            if self.core.store.record_sla_breach(clock, due, &event).await? {
                self.core.metrics.sla_breaches.with_label_values(&[target.as_str(), clock.queue.as_str()]).inc();
                tracing::info!(ticket_id = %ticket.id, target = target.as_str(), queue = %clock.queue, "SLA breached");
                self.core.bus.publish(Event::SlaBreached(notice(due)));
            }
            return Ok(());
        }
        if let (Some(warn), None, Some(due)) = (clock.warn_at, clock.warned_at, clock.due_at)
            && warn <= now
            && self.core.store.mark_sla_warned(clock, warn, now).await?
        {
            self.core.metrics.sla_warnings.with_label_values(&[target.as_str(), clock.queue.as_str()]).inc();
            self.core.bus.publish(Event::SlaWarning(notice(due)));
        }
        Ok(())
    }

    /// Puts in force a version another node saved (each node keeps the policies in memory).
    async fn follow_other_nodes(&self) {
        match self.core.store.current_sla().await {
            Ok(Some(v)) if v.version > self.compiled().version => match compile(&v) {
                Ok(compiled) => {
                    *self.compiled.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(compiled);
                    tracing::info!(version = v.version, "SLA policies saved on another node put in force");
                    self.recompute_open().await;
                }
                Err(e) => tracing::error!(error = %e, version = v.version, "stored SLA policies do not validate"),
            },
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the SLA policies"),
        }
    }

    /// Until shutdown: on every node, follows the versions other nodes save; on the node that
    /// holds the `jobs` lease, also runs the timer ([`Sla::run_timer`]) for as long as it holds
    /// it.
    pub async fn run(self: Arc<Self>, mut jobs: Lease) {
        loop {
            let term = tokio::select! {
                term = jobs.acquired() => match term {
                    Some(term) => term.token,
                    None => return,
                },
                () = tokio::time::sleep(REFRESH) => {
                    self.follow_other_nodes().await;
                    continue;
                }
            };
            self.run_timer(&term).await;
            // Only a closed bus ends the timer early: wait for the term to end.
            term.cancelled().await;
        }
    }

    /// The timer, for one term of the `jobs` lease: computes every open ticket's clocks, then
    /// follows ticket changes on the bus and wakes at the next warning or deadline. Breaches that
    /// came due while no node ran it are recorded on the first wake (once: the store's write is
    /// conditional, so a node still finishing a step after losing the lease cannot record one
    /// twice). Ends with the term.
    async fn run_timer(&self, term: &CancellationToken) {
        let mut events = self.core.bus.subscribe(Topic::Inbox);
        self.recompute_open().await;
        let mut refreshed = tokio::time::Instant::now();
        loop {
            if refreshed.elapsed() >= REFRESH {
                refreshed = tokio::time::Instant::now();
                self.follow_other_nodes().await;
            }
            match self.fire_due().await {
                // A full batch: go on at once (after a yield).
                Ok(n) if n >= BATCH as usize => {
                    tokio::task::yield_now().await;
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "SLA timer failed; retrying"),
            }
            let sleep = match self.core.store.next_sla_due().await {
                Ok(Some(next)) => {
                    let wait = next - OffsetDateTime::now_utc();
                    Duration::try_from(wait).unwrap_or(Duration::ZERO).min(LONGEST_SLEEP)
                }
                Ok(None) => LONGEST_SLEEP,
                Err(e) => {
                    tracing::error!(error = %e, "SLA timer cannot read the next deadline");
                    Duration::from_secs(1)
                }
            };
            // A floor, so a clock that cannot be settled does not spin the loop.
            let sleep = sleep.max(Duration::from_millis(20)).min(REFRESH);
            tokio::select! {
                () = term.cancelled() => return,
                () = tokio::time::sleep(sleep) => {}
                () = self.wake.notified() => {}
                received = events.recv() => match received {
                    Received::Event(e) => self.on_event(&e).await,
                    Received::Lagged => self.recompute_open().await,
                    Received::Closed => return,
                },
            }
        }
    }
}

fn compile(v: &SlaVersion) -> Result<Compiled, Error> {
    let config: SlaConfig = serde_json::from_value(v.config.clone())
        .map_err(|e| Error::Internal(format!("stored SLA policies are unreadable: {e}")))?;
    Compiled::new(v.version, config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policies_are_checked() {
        let ok = json!({
            "warning_percent": 75,
            "calendars": {"lisbon": {"time_zone": "Europe/Lisbon", "hours": [{"days": ["mon"], "from": "09:00", "to": "17:00"}], "holidays": ["2026-12-25"]}},
            "policies": [{"queue": "general", "first_response_secs": 60, "calendar": "lisbon", "pending_excluded": true}]
        });
        assert!(parse_config(ok.clone()).is_ok());
        let field = |v: serde_json::Value| parse_config(v).unwrap_err().field().map(str::to_owned);
        let mut bad = ok.clone();
        bad["policies"][0]["calendar"] = json!("porto");
        assert_eq!(field(bad).as_deref(), Some("policies[0].calendar"));
        let mut bad = ok.clone();
        bad["policies"][0]["first_response_secs"] = json!(0);
        assert_eq!(field(bad).as_deref(), Some("policies[0].first_response_secs"));
        let mut bad = ok.clone();
        bad["calendars"]["lisbon"]["time_zone"] = json!("Europe/Nowhere");
        assert_eq!(field(bad).as_deref(), Some("calendars.lisbon"));
        let mut bad = ok.clone();
        bad["warning_percent"] = json!(100);
        assert_eq!(field(bad).as_deref(), Some("warning_percent"));
        let mut bad = ok.clone();
        bad["policies"] =
            json!([{"queue": "general", "first_response_secs": 60}, {"queue": "general", "resolution_secs": 60}]);
        assert_eq!(field(bad).as_deref(), Some("policies[1].queue"));
        let mut bad = ok;
        bad["policies"][0]["surprise"] = json!(1);
        assert!(field(bad).unwrap().starts_with("policies[0]"));
    }

    #[test]
    fn a_priority_policy_wins_over_the_queue_default() {
        let config: SlaConfig = serde_json::from_value(json!({"policies": [
            {"queue": "general", "first_response_secs": 600},
            {"queue": "general", "priority": 5, "first_response_secs": 60}
        ]}))
        .unwrap();
        let c = Compiled::new(1, config).unwrap();
        let q: QueueName = "general".parse().unwrap();
        let urgent: Priority = serde_json::from_value(json!(5)).unwrap();
        assert_eq!(c.policy(&q, urgent).unwrap().first_response_secs, Some(60));
        assert_eq!(c.policy(&q, Priority::default()).unwrap().first_response_secs, Some(600));
        assert!(c.policy(&"billing".parse().unwrap(), urgent).is_none());
    }
}
