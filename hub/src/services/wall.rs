//! The supervisors' live wall: one snapshot of every queue, skill and agent, computed at most once
//! per [`FRESH_FOR`] and shared (with its JSON rendered once) by every supervisor socket and the
//! REST read, however many supervisors watch.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use router::rules::RoutingRules;
use router::{AgentStats, QueueStats};
use schema::{AgentId, Channel, DisplayName, Presence, QueueName, SkillName, TicketId};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::Error;
use crate::services::routing::Routing;
use crate::services::{Core, now_ms};

/// A snapshot younger than this is served as is: the sockets push once a second, so one
/// computation serves every socket's push.
const FRESH_FOR: Duration = Duration::from_millis(900);
/// How often the agents' names are re-read from the store.
const NAMES_FOR: Duration = Duration::from_secs(10);
/// At most this many agents in a snapshot (the rest are counted in `agents_omitted`).
pub const MAX_AGENTS: usize = 1000;
/// At most this many tickets per agent (the rest are counted in `tickets_omitted`).
pub const MAX_TICKETS_PER_AGENT: usize = 50;

/// Agents by presence.
#[derive(Clone, Copy, Debug, Default, Serialize, ToSchema, PartialEq, Eq)]
pub struct PresenceCounts {
    pub available: usize,
    pub busy: usize,
    pub away: usize,
    pub offline: usize,
}

impl PresenceCounts {
    fn add(&mut self, presence: Presence) {
        match presence {
            Presence::Available => self.available += 1,
            Presence::Busy => self.busy += 1,
            Presence::Away => self.away += 1,
            Presence::Offline => self.offline += 1,
        }
    }
}

/// Agents with a skill (at any level), by presence.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SkillCounts {
    #[schema(value_type = String)]
    pub skill: SkillName,
    #[serde(flatten)]
    pub agents: PresenceCounts,
}

/// One queue on the wall.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WallQueue {
    #[schema(value_type = String)]
    pub queue: QueueName,
    /// Tickets queued or offered.
    pub waiting: usize,
    /// Of those, offered to an agent and not yet accepted.
    pub offered: usize,
    /// How long the oldest waiting ticket has waited, in ms (0 if none).
    pub longest_wait_ms: i64,
    /// Available agents with free capacity who qualify for a waiting ticket of the queue (or, if
    /// none wait, available agents with any free capacity).
    pub available_agents: usize,
    /// Waiting tickets past 80% of the queue's first-response target (breached ones included).
    pub sla_at_risk: usize,
    /// Waiting tickets past the queue's first-response target.
    pub sla_breached: usize,
    /// The queue's first-response target, if it has one.
    pub first_response_secs: Option<u32>,
    /// Agents who serve the queue (they meet the skills of a rule, or the fallback, that sends
    /// tickets to it), by presence.
    pub agents: PresenceCounts,
    /// The skills the rules require for this queue, each with its agents by presence.
    pub skills: Vec<SkillCounts>,
}

/// A ticket an agent holds or is offered.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WallTicket {
    #[schema(value_type = String)]
    pub id: TicketId,
    #[schema(value_type = String)]
    pub channel: Channel,
    /// `offered` (not yet accepted) or `assigned`.
    pub state: &'static str,
}

/// One agent on the wall.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WallAgent {
    #[schema(value_type = String)]
    pub id: AgentId,
    /// Absent for an agent the hub has not yet listed (added in the last few seconds).
    #[schema(value_type = Option<String>)]
    pub name: Option<DisplayName>,
    #[schema(value_type = String)]
    pub presence: Presence,
    /// Offered and assigned tickets per channel (channels with none left out).
    #[schema(value_type = BTreeMap<String, u8>)]
    pub load: BTreeMap<Channel, u8>,
    /// Most tickets at once per channel (voice is 0 without a registered softphone when SIP is
    /// on).
    #[schema(value_type = BTreeMap<String, u8>)]
    pub capacity: BTreeMap<Channel, u8>,
    /// Offered, then assigned tickets, at most 50.
    pub tickets: Vec<WallTicket>,
    /// Tickets left out of `tickets`.
    pub tickets_omitted: usize,
}

/// The whole wall at one moment.
#[derive(Debug, Serialize, ToSchema)]
pub struct WallSnapshot {
    /// When it was computed, in ms since the Unix epoch.
    pub at_ms: i64,
    /// Every queue of the rules, and any other that has tickets, by name.
    pub queues: Vec<WallQueue>,
    /// Every skill of the rules' catalogue, and any other an agent has, by name.
    pub skills: Vec<SkillCounts>,
    /// Agents the router knows, and active agents it has not met yet (offline), by name, at most
    /// 1,000.
    pub agents: Vec<WallAgent>,
    /// Agents left out of `agents`.
    pub agents_omitted: usize,
    #[serde(skip)]
    json: OnceLock<String>,
}

impl WallSnapshot {
    /// The snapshot as the supervisor socket's frame, `{"type":"queues", …}`, rendered once.
    pub fn frame_json(&self) -> String {
        self.json
            .get_or_init(|| {
                #[derive(Serialize)]
                struct Frame<'a> {
                    r#type: &'static str,
                    #[serde(flatten)]
                    snapshot: &'a WallSnapshot,
                }
                serde_json::to_string(&Frame { r#type: "queues", snapshot: self }).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "the wall could not be serialised");
                    r#"{"type":"queues","queues":[],"skills":[],"agents":[],"agents_omitted":0}"#.to_owned()
                })
            })
            .clone()
    }
}

/// A staff member as the wall needs them: their name, and whether they are an active agent
/// (listed even before the router knows them).
#[derive(Clone, Debug)]
struct Staff {
    name: DisplayName,
    agent: bool,
}

#[derive(Debug, Default)]
struct Cache {
    snapshot: Option<(Instant, Arc<WallSnapshot>)>,
    names: Option<(Instant, HashMap<AgentId, Staff>)>,
}

/// The wall, computed on demand and shared.
#[derive(Debug)]
pub struct Wall {
    core: Core,
    routing: Arc<Routing>,
    cache: tokio::sync::Mutex<Cache>,
}

impl Wall {
    #[must_use]
    pub fn new(core: Core, routing: Arc<Routing>) -> Self {
        Self { core, routing, cache: tokio::sync::Mutex::new(Cache::default()) }
    }

    /// The current snapshot: the shared one if it is fresh, else a new one (computed once while
    /// every other caller waits for it).
    ///
    /// # Errors
    /// The store fails while the agents' names are re-read (only with no names cached yet).
    pub async fn snapshot(&self) -> Result<Arc<WallSnapshot>, Error> {
        let mut cache = self.cache.lock().await;
        if let Some((at, snapshot)) = &cache.snapshot
            && at.elapsed() < FRESH_FOR
        {
            return Ok(Arc::clone(snapshot));
        }
        let stale_names = cache.names.as_ref().is_none_or(|(at, _)| at.elapsed() >= NAMES_FOR);
        if stale_names {
            match self.core.store.agents().await {
                Ok(agents) => {
                    let staff = agents
                        .into_iter()
                        .map(|a| (a.id, Staff { agent: a.active && a.has_role(schema::Role::Agent), name: a.name }))
                        .collect();
                    cache.names = Some((Instant::now(), staff));
                }
                // Keep the old names rather than fail the wall; with none, fail.
                Err(e) if cache.names.is_some() => tracing::warn!(error = %e, "cannot re-read the agents' names"),
                Err(e) => return Err(e.into()),
            }
        }
        let names = cache.names.as_ref().map(|(_, n)| n).cloned().unwrap_or_default();
        let (queues, agents, rules) = self.routing.wall_figures().await;
        let snapshot = Arc::new(build(now_ms(), queues, agents, &rules, &names));
        cache.snapshot = Some((Instant::now(), Arc::clone(&snapshot)));
        Ok(snapshot)
    }
}

/// Puts the engine's figures, the rules and the names together.
fn build(
    at_ms: i64,
    queues: Vec<QueueStats>,
    agents: Vec<AgentStats>,
    rules: &RoutingRules,
    names: &HashMap<AgentId, Staff>,
) -> WallSnapshot {
    // Skills per queue, from the targets that send tickets there.
    let mut queue_skills: BTreeMap<QueueName, BTreeSet<SkillName>> = BTreeMap::new();
    for target in rules.rules.iter().map(|r| &r.then).chain([&rules.fallback]) {
        queue_skills.entry(target.queue.clone()).or_default().extend(target.skills.iter().map(|s| s.skill.clone()));
    }
    let mut skills: BTreeMap<SkillName, PresenceCounts> =
        rules.skills.iter().map(|s| (s.clone(), PresenceCounts::default())).collect();
    let mut serving: BTreeMap<QueueName, PresenceCounts> = BTreeMap::new();
    for a in &agents {
        for skill in a.skills.keys() {
            skills.entry(skill.clone()).or_default().add(a.presence);
        }
        for q in rules.queues_served(&a.skills) {
            serving.entry(q).or_default().add(a.presence);
        }
    }
    let mut by_queue: BTreeMap<QueueName, QueueStats> = queues.into_iter().map(|q| (q.queue.clone(), q)).collect();
    for def in &rules.queues {
        by_queue.entry(def.name.clone()).or_insert_with(|| QueueStats {
            queue: def.name.clone(),
            waiting: 0,
            offered: 0,
            longest_wait_ms: 0,
            available_agents: 0,
            sla_at_risk: 0,
            sla_breached: 0,
        });
    }
    let sla: BTreeMap<&QueueName, Option<u32>> =
        rules.queues.iter().map(|q| (&q.name, q.first_response_secs)).collect();
    let queues = by_queue
        .into_values()
        .map(|q| WallQueue {
            first_response_secs: sla.get(&q.queue).copied().flatten(),
            agents: serving.get(&q.queue).copied().unwrap_or_default(),
            skills: queue_skills
                .get(&q.queue)
                .into_iter()
                .flatten()
                .map(|s| SkillCounts { skill: s.clone(), agents: skills.get(s).copied().unwrap_or_default() })
                .collect(),
            queue: q.queue,
            waiting: q.waiting,
            offered: q.offered,
            longest_wait_ms: q.longest_wait_ms,
            available_agents: q.available_agents,
            sla_at_risk: q.sla_at_risk,
            sla_breached: q.sla_breached,
        })
        .collect();
    let known: BTreeSet<AgentId> = agents.iter().map(|a| a.id).collect();
    // Active agents the router has not met yet (never signed in, no profile): offline, with the
    // capacity they will get.
    let unmet = names.iter().filter(|(id, s)| s.agent && !known.contains(id)).map(|(id, _)| AgentStats {
        id: *id,
        presence: Presence::Offline,
        skills: BTreeMap::new(),
        load: BTreeMap::new(),
        capacity: schema::Capacity::default().limits,
        tickets: Vec::new(),
    });
    let mut agents: Vec<WallAgent> = agents
        .into_iter()
        .chain(unmet)
        .map(|a| {
            let omitted = a.tickets.len().saturating_sub(MAX_TICKETS_PER_AGENT);
            WallAgent {
                name: names.get(&a.id).map(|s| s.name.clone()),
                id: a.id,
                presence: a.presence,
                load: a.load,
                capacity: a.capacity,
                tickets: a
                    .tickets
                    .iter()
                    .take(MAX_TICKETS_PER_AGENT)
                    .map(|t| WallTicket {
                        id: t.ticket,
                        channel: t.channel,
                        state: if t.offered { "offered" } else { "assigned" },
                    })
                    .collect(),
                tickets_omitted: omitted,
            }
        })
        .collect();
    agents.sort_by(|a, b| {
        (a.name.as_ref().map(DisplayName::as_str), a.id).cmp(&(b.name.as_ref().map(DisplayName::as_str), b.id))
    });
    let agents_omitted = agents.len().saturating_sub(MAX_AGENTS);
    agents.truncate(MAX_AGENTS);
    WallSnapshot {
        at_ms,
        queues,
        skills: skills.into_iter().map(|(skill, agents)| SkillCounts { skill, agents }).collect(),
        agents,
        agents_omitted,
        json: OnceLock::new(),
    }
}
