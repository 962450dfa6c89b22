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
        let (queues, agents, rules) = self.routing.wall_figures().await?;
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
    // By name; agents without one yet (added in the last seconds) last.
    let key = |a: &WallAgent| (a.name.is_none(), a.name.as_ref().map(|n| n.as_str().to_owned()), a.id);
    agents.sort_by_cached_key(key);
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

#[cfg(test)]
mod tests {
    use router::AgentTicket;
    use router::rules::{QueueDef, Rule, Target};
    use schema::{SkillLevel, SkillRequirement};

    use super::*;

    fn aid(n: u32) -> AgentId {
        format!("00000000-0000-7000-8000-{n:012x}").parse().unwrap()
    }
    fn sk(s: &str) -> SkillName {
        s.parse().unwrap()
    }
    fn q(s: &str) -> QueueName {
        s.parse().unwrap()
    }
    fn target(queue: &str, skills: &[(&str, i64)]) -> Target {
        Target {
            queue: q(queue),
            skills: skills
                .iter()
                .map(|(s, l)| SkillRequirement { skill: sk(s), level: SkillLevel::try_from(*l).unwrap() })
                .collect(),
            priority: schema::Priority::default(),
            escalation: Vec::new(),
        }
    }
    fn agent(n: u32, presence: Presence, skills: &[(&str, i64)], tickets: usize) -> AgentStats {
        AgentStats {
            id: aid(n),
            presence,
            skills: skills.iter().map(|(s, l)| (sk(s), SkillLevel::try_from(*l).unwrap())).collect(),
            load: [(Channel::WebChat, 1)].into_iter().collect(),
            capacity: [(Channel::WebChat, 3)].into_iter().collect(),
            tickets: (0..tickets)
                .map(|i| AgentTicket {
                    ticket: format!("00000000-0000-7000-9000-{:012x}", u64::from(n) * 1000 + i as u64).parse().unwrap(),
                    channel: Channel::WebChat,
                    offered: i == 0,
                })
                .collect(),
        }
    }

    #[test]
    fn the_wall_joins_queues_skills_agents_and_names_and_stays_bounded() {
        let rules = RoutingRules {
            skills: [sk("billing"), sk("spanish"), sk("tech")].into_iter().collect(),
            queues: vec![
                QueueDef { name: q("billing"), first_response_secs: Some(60) },
                QueueDef { name: q("general"), first_response_secs: None },
            ],
            rules: vec![Rule {
                name: "billing".into(),
                when: router::rules::Conditions::default(),
                then: target("billing", &[("billing", 5)]),
            }],
            fallback: target("general", &[]),
        };
        let agents = vec![
            agent(1, Presence::Available, &[("billing", 8)], 2),
            agent(2, Presence::Away, &[("billing", 3), ("spanish", 9)], 0),
            agent(3, Presence::Busy, &[("billing", 5)], MAX_TICKETS_PER_AGENT + 3),
        ];
        let queues = vec![QueueStats {
            queue: q("billing"),
            waiting: 2,
            offered: 1,
            longest_wait_ms: 70_000,
            available_agents: 1,
            sla_at_risk: 1,
            sla_breached: 1,
        }];
        let mut names = HashMap::new();
        names.insert(aid(1), Staff { name: "Zoe".parse().unwrap(), agent: true });
        names.insert(aid(2), Staff { name: "Ana".parse().unwrap(), agent: true });
        // Not yet met by the router: listed offline; a trainer (no agent role) is not listed.
        names.insert(aid(4), Staff { name: "Nuno".parse().unwrap(), agent: true });
        names.insert(aid(5), Staff { name: "Tina".parse().unwrap(), agent: false });
        let wall = build(7, queues, agents, &rules, &names);

        assert_eq!(wall.queues.iter().map(|q| q.queue.as_str()).collect::<Vec<_>>(), ["billing", "general"]);
        let billing = &wall.queues[0];
        assert_eq!((billing.waiting, billing.sla_breached, billing.first_response_secs), (2, 1, Some(60)));
        // Billing 5 is served by agents 1 (available) and 3 (busy), not 2 (level 3).
        assert_eq!(billing.agents, PresenceCounts { available: 1, busy: 1, away: 0, offline: 0 });
        assert_eq!(billing.skills.len(), 1);
        assert_eq!(billing.skills[0].agents, PresenceCounts { available: 1, busy: 1, away: 1, offline: 0 });
        let general = &wall.queues[1];
        assert_eq!((general.waiting, general.first_response_secs), (0, None));
        assert_eq!(general.agents, PresenceCounts { available: 1, busy: 1, away: 1, offline: 0 });
        assert!(general.skills.is_empty());
        let skill = |s: &str| wall.skills.iter().find(|c| c.skill.as_str() == s).unwrap().agents;
        assert_eq!(skill("spanish"), PresenceCounts { available: 0, busy: 0, away: 1, offline: 0 });
        assert_eq!(skill("tech"), PresenceCounts::default());

        // By name (unnamed last), the unmet agent offline with the default capacity.
        let order: Vec<_> = wall.agents.iter().map(|a| a.name.as_ref().map(|n| n.as_str().to_owned())).collect();
        assert_eq!(order, [Some("Ana".into()), Some("Nuno".into()), Some("Zoe".into()), None]);
        let nuno = &wall.agents[1];
        assert_eq!((nuno.presence, nuno.tickets.len()), (Presence::Offline, 0));
        assert_eq!(nuno.capacity, schema::Capacity::default().limits);
        let zoe = &wall.agents[2];
        assert_eq!(zoe.tickets.iter().map(|t| t.state).collect::<Vec<_>>(), ["offered", "assigned"]);
        let unnamed = &wall.agents[3];
        assert_eq!((unnamed.tickets.len(), unnamed.tickets_omitted), (MAX_TICKETS_PER_AGENT, 3));

        let frame: serde_json::Value = serde_json::from_str(&wall.frame_json()).unwrap();
        assert_eq!(frame["type"], "queues");
        assert_eq!(frame["at_ms"], 7);
        assert_eq!(
            frame["queues"][0]["skills"][0],
            serde_json::json!({"skill": "billing", "available": 1, "busy": 1, "away": 1, "offline": 0})
        );
        assert_eq!(frame["agents"][2]["load"], serde_json::json!({"webchat": 1}));
    }

    #[test]
    fn at_most_a_thousand_agents() {
        let rules = crate::services::routing::default_rules().unwrap();
        let agents = (0..1005).map(|n| agent(n, Presence::Offline, &[], 0)).collect();
        let wall = build(0, Vec::new(), agents, &rules, &HashMap::new());
        assert_eq!((wall.agents.len(), wall.agents_omitted), (MAX_AGENTS, 5));
    }
}
