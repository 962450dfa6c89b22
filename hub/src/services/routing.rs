//! Carries out the router's decisions: the only place that feeds the engine, persists what it
//! decides, and announces it on the bus.
//!
//! The engine runs on one node at a time, the holder of the `router` lease ([`Routing::lead`]):
//! every other node sends it what it must know or do (`Command`), through the Redis link
//! (`routing_link`), and gets its answer. One lock serialises every routing change on that node,
//! held across the store write, so the engine and the store never disagree about who holds what.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use router::rules::{Classification, RoutingRules, Target};
use router::{AgentProfile, Decision, Engine, EngineConfig, EngineError, Input, Millis, OfferEnd, TicketRequest};
use schema::{
    Actor, AgentId, AgentRouting, Capacity, Channel, Conversation, ConversationChange, ConversationId,
    ConversationStatus, Presence, QueueName, SkillName, Store, Ticket, TicketEvent, TicketId, TicketStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::bus::{Event, Received, Subscription, Topic};
use crate::config::RoutingConfig;
use crate::error::Error;
use crate::services::leader::Term;
use crate::services::routing_link::{Answer, RouterLink};
use crate::services::{Core, now_ms};

/// How often a node vouches in the store for the presence of its signed-in agents: after a
/// crash, their intervals end at most this late (docs/reports.md, "Occupancy").
pub const PRESENCE_HEARTBEAT: Duration = Duration::from_secs(30);

/// Told when a ticket is resolved (after the store has it, outside the routing lock): it must
/// only queue work. The satisfaction survey is sent this way, without routing knowing about it.
pub trait ResolvedHook: Send + Sync + std::fmt::Debug {
    /// `ticket` was resolved (not closed: an abandoned call is not surveyed).
    fn resolved(&self, ticket: &Ticket);
}

/// A router time (ms since the epoch) as a date-time.
pub(crate) fn to_time(ms: Millis) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn time_ms(t: OffsetDateTime) -> Millis {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The rules a hub starts with before a supervisor saves any: one `general` queue, no skills.
///
/// # Errors
/// Never in practice: the names are fixed and valid.
pub fn default_rules() -> Result<RoutingRules, schema::ValidationError> {
    let general: QueueName = "general".parse()?;
    Ok(RoutingRules {
        skills: ["billing", "tech", "sales", "english", "spanish", "portuguese", "voice"]
            .iter()
            .map(|s| s.parse::<SkillName>())
            .collect::<Result<_, _>>()?,
        queues: vec![router::rules::QueueDef { name: general.clone(), first_response_secs: Some(120) }],
        rules: Vec::new(),
        fallback: Target {
            queue: general,
            skills: Vec::new(),
            priority: schema::Priority::default(),
            escalation: Vec::new(),
        },
    })
}

fn engine_config(config: &RoutingConfig, rules: &RoutingRules) -> EngineConfig {
    EngineConfig {
        offer_timeout_ms: i64::try_from(config.offer_timeout_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
        max_missed_offers: config.max_missed_offers,
        aging_ms_per_level: i64::try_from(config.aging_secs_per_level.saturating_mul(1000)).unwrap_or(i64::MAX),
        sla_ms: rules.queue_sla_ms(),
        sla_warning_percent: 80,
    }
}

fn request_of(ticket: &Ticket) -> TicketRequest {
    TicketRequest {
        id: ticket.id,
        queue: ticket.queue.clone(),
        channel: ticket.channel,
        priority: ticket.priority,
        skills: ticket.skills.clone(),
        queued_at: time_ms(ticket.queued_at),
        escalation: ticket.escalation.clone(),
    }
}

fn event(ticket: TicketId, actor: Actor, kind: &str, detail: serde_json::Value, at: OffsetDateTime) -> TicketEvent {
    TicketEvent { ticket_id: ticket, actor, kind: kind.to_owned(), detail, at }
}

/// How often every node tells the router which of its agents are connected (and, with SIP, have a
/// softphone registered): a new leader knows them within this long after it takes over.
pub const NODE_REPORT: Duration = Duration::from_secs(2);
/// A node whose report the leader has not had for this long is gone: its agents' sockets and
/// softphones no longer count.
pub const NODE_EXPIRY: Duration = Duration::from_secs(10);
/// How often a node re-reads the rules in force, to pick up another node's publication.
pub const RULES_REFRESH: Duration = Duration::from_secs(10);

/// What the router is asked to do or tell; whichever node the request reaches, it is carried out
/// by the node that holds the `router` lease (locally, or forwarded by `routing_link`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Command {
    HandOver {
        conversation: Box<Conversation>,
        classification: Classification,
        tags: BTreeSet<String>,
        summary: Option<String>,
        actor: Actor,
    },
    Finish {
        ticket: TicketId,
        status: TicketStatus,
        actor: Actor,
        kind: String,
    },
    Transfer {
        ticket: TicketId,
        to: Transfer,
        actor: Actor,
    },
    Reopen {
        ticket: TicketId,
    },
    SetPending {
        ticket: TicketId,
        actor: Actor,
    },
    CustomerReplied {
        conversation: ConversationId,
    },
    SetProfile {
        routing: AgentRouting,
    },
    SetPresence {
        agent: AgentId,
        presence: Presence,
    },
    /// The agent's answer to an offer.
    Answer {
        ticket: TicketId,
        agent: AgentId,
        accept: bool,
    },
    /// The first inbox socket of `agent` opened on `node`, or its last one there closed.
    Sockets {
        node: String,
        agent: AgentId,
        connected: bool,
    },
    /// A softphone of `agent` registered on `node`, or its last registration there went away.
    Softphone {
        node: String,
        agent: AgentId,
        registered: bool,
    },
    /// Everything `node` holds now (sent every [`NODE_REPORT`]).
    NodeReport {
        node: String,
        sockets: Vec<AgentId>,
        softphones: Vec<AgentId>,
    },
    /// A node put a new version of the rules in force.
    RulesChanged,
    Presence {
        agent: AgentId,
    },
    Presences {
        agents: Vec<AgentId>,
    },
    Connected {
        agent: AgentId,
    },
    QueueStats,
    Wall,
}

/// The router's answer to a [`Command`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
enum Reply {
    Done,
    Ticket { ticket: Box<Ticket> },
    Presence { presence: Presence },
    Presences { presences: Vec<Presence> },
    Connected { connected: bool },
    QueueStats { queues: Vec<router::QueueStats> },
    Wall { queues: Vec<router::QueueStats>, agents: Vec<router::AgentStats> },
}

fn unexpected(reply: &Reply) -> Error {
    Error::Internal(format!("the router answered with an unexpected reply: {reply:?}"))
}

/// The leader's knowledge of the nodes: which agents have an inbox socket open and a softphone
/// registered on each, and when each last reported.
#[derive(Debug, Default)]
struct Nodes {
    nodes: HashMap<String, NodeAgents>,
}

#[derive(Debug)]
struct NodeAgents {
    sockets: HashSet<AgentId>,
    softphones: HashSet<AgentId>,
    seen: Instant,
}

impl Nodes {
    fn connected(&self, agent: AgentId) -> bool {
        self.nodes.values().any(|n| n.sockets.contains(&agent))
    }

    fn softphone(&self, agent: AgentId) -> bool {
        self.nodes.values().any(|n| n.softphones.contains(&agent))
    }

    fn node(&mut self, node: &str) -> &mut NodeAgents {
        let entry = self.nodes.entry(node.to_owned()).or_insert_with(|| NodeAgents {
            sockets: HashSet::new(),
            softphones: HashSet::new(),
            seen: Instant::now(),
        });
        entry.seen = Instant::now();
        entry
    }

    /// Adds `agent` to (or takes them out of) the set `of` of `node`, which is heard from now:
    /// whether any node had them in that set before.
    fn mark(&mut self, node: &str, agent: AgentId, on: bool, of: fn(&mut NodeAgents) -> &mut HashSet<AgentId>) -> bool {
        let before = self.nodes.values_mut().any(|n| of(n).contains(&agent));
        let set = of(self.node(node));
        if on {
            set.insert(agent);
        } else {
            set.remove(&agent);
        }
        before
    }

    /// Forgets the nodes not heard from within [`NODE_EXPIRY`]; the agents they held.
    fn expire(&mut self) -> HashSet<AgentId> {
        let mut agents = HashSet::new();
        self.nodes.retain(|_, n| {
            let alive = n.seen.elapsed() < NODE_EXPIRY;
            if !alive {
                agents.extend(n.sockets.iter().chain(n.softphones.iter()).copied());
            }
            alive
        });
        agents
    }
}

/// The routing service of a hub node.
#[derive(Debug)]
pub struct Routing {
    core: Core,
    config: RoutingConfig,
    /// Told of every resolution (the satisfaction survey), when set.
    resolved_hook: std::sync::OnceLock<Arc<dyn ResolvedHook>>,
    /// The engine, while this node holds the `router` lease: restored from the store at the
    /// start of each term, dropped at its end. One lock serialises every routing change.
    engine: tokio::sync::Mutex<Option<Engine>>,
    /// Whether the engine is here: callers on a node without a link wait for it.
    leading: watch::Sender<bool>,
    /// While the engine is here: the store it writes tickets and presence through, fenced with
    /// this node's term of the `router` lease, so that if another node took the lease before this
    /// one noticed, these writes fail instead of overwriting the new router's.
    writes: RwLock<Option<Store>>,
    /// The rules in force and their version (0: the defaults).
    rules: RwLock<(i64, Arc<RoutingRules>)>,
    /// This node's id among the nodes (the link's, or `local`).
    node: String,
    /// How commands reach the router on another node (with the Redis bus).
    link: Option<Arc<RouterLink>>,
    /// Open inbox sockets per agent on this node: the first connect anywhere sets them
    /// available, the last disconnect everywhere offline.
    sockets: Mutex<HashMap<AgentId, usize>>,
    /// With SIP on: the agents with a softphone registered on this node. `None` with SIP off.
    softphones: Option<Mutex<HashSet<AgentId>>>,
    /// Keeps this node's reports and its socket changes in the order they were taken.
    report_order: tokio::sync::Mutex<()>,
    /// On the leader: every node's agents. Changed under the engine lock only.
    nodes: Mutex<Nodes>,
    /// Conversations whose ticket waits for the customer: their next message puts it back to
    /// the assignee. Kept on every node from the bus, so a customer message costs no query.
    pending: Mutex<HashSet<ConversationId>>,
    /// The bus subscription that keeps `pending`, until [`Routing::follow_pending`] takes it.
    pending_events: Mutex<Option<Subscription>>,
}

impl Routing {
    /// A node's routing service: the rules in force and the tickets waiting for their
    /// customer. The engine comes with the `router` lease ([`Routing::lead`]).
    ///
    /// # Errors
    /// The store fails, or holds rules this version cannot read.
    pub async fn new(
        core: Core,
        config: &RoutingConfig,
        sip_enabled: bool,
        link: Option<Arc<RouterLink>>,
    ) -> Result<Self, Error> {
        let (version, rules) = load_rules(&core).await?;
        // Subscribed before the read, so no change falls between them.
        let pending_events = core.bus.subscribe(Topic::Inbox);
        let pending = pending_conversations(&core).await?;
        Ok(Self {
            config: config.clone(),
            resolved_hook: std::sync::OnceLock::new(),
            core,
            engine: tokio::sync::Mutex::new(None),
            leading: watch::channel(false).0,
            writes: RwLock::new(None),
            rules: RwLock::new((version, Arc::new(rules))),
            node: link.as_ref().map_or_else(|| "local".to_owned(), |l| l.node().to_string()),
            link,
            sockets: Mutex::new(HashMap::new()),
            softphones: sip_enabled.then(|| Mutex::new(HashSet::new())),
            report_order: tokio::sync::Mutex::new(()),
            nodes: Mutex::new(Nodes::default()),
            pending: Mutex::new(pending),
            pending_events: Mutex::new(Some(pending_events)),
        })
    }

    /// Restores the engine from the store: agents (offline until a node reports their inbox
    /// connected), and every open ticket. Offers that were live when the last holder stopped
    /// are void: those tickets queue again.
    async fn restore(&self) -> Result<Engine, Error> {
        let store = &self.core.store;
        let writes = self.writes()?;
        let (version, rules) = load_rules(&self.core).await?;
        let mut engine = Engine::new(engine_config(&self.config, &rules));
        self.put_rules(version, rules);
        let now = now_ms();
        // Nobody is connected yet: intervals left open by the last term end at its last heartbeat.
        let closed = writes.close_open_presence().await?;
        if closed > 0 {
            tracing::info!(agents = closed, "presence left open by the last term closed at its last heartbeat");
        }
        let gate = |p: AgentProfile| gate_voice(self.softphones.is_some(), &Nodes::default(), p);
        for routing in store.agent_routings().await? {
            engine
                .handle(now, Input::AgentUpdated(gate(profile(&routing))))
                .map_err(|e| Error::Internal(format!("restoring agent {}: {e}", routing.agent_id)))?;
        }
        let mut restored = 0usize;
        for mut ticket in store.open_tickets().await? {
            match (ticket.status, ticket.assignee_id) {
                (TicketStatus::Assigned | TicketStatus::PendingCustomer, Some(agent)) => {
                    if engine.presence(agent).is_none() {
                        engine
                            .handle(now, Input::AgentUpdated(gate(default_profile(agent))))
                            .map_err(|e| Error::Internal(e.to_string()))?;
                    }
                    engine
                        .handle(now, Input::TicketAssigned { ticket: ticket.id, agent, channel: ticket.channel })
                        .map_err(|e| Error::Internal(e.to_string()))?;
                }
                _ => {
                    if ticket.status == TicketStatus::Offered {
                        let at = OffsetDateTime::now_utc();
                        let was = ticket.offered_to;
                        ticket.status = TicketStatus::Queued;
                        ticket.offered_to = None;
                        ticket.offer_expires_at = None;
                        ticket.updated_at = at;
                        let line = event(
                            ticket.id,
                            Actor::System,
                            "requeued",
                            json!({"reason": "restart", "offered_to": was}),
                            at,
                        );
                        writes.update_ticket(&ticket, &[line], None).await?;
                        self.core.bus.publish(Event::TicketUpdated { ticket: ticket.clone() });
                    }
                    engine
                        .handle(now, Input::TicketQueued(request_of(&ticket)))
                        .map_err(|e| Error::Internal(e.to_string()))?;
                }
            }
            restored += 1;
        }
        tracing::info!(tickets = restored, "routing state restored");
        Ok(engine)
    }

    /// Runs the router on this node for as long as `term` lasts (this node holds the `router`
    /// lease): restores the engine, serves the other nodes' commands, runs the clock (offers
    /// time out, escalations fire, the presence heartbeat beats, gone nodes are forgotten). Its
    /// writes are fenced with the term.
    pub async fn lead(self: Arc<Self>, term: Term) {
        let Term { token: term, fence } = term;
        let mut guard = self.engine.lock().await;
        let store = fence.map_or_else(|| self.core.store.clone(), |f| self.core.store.fenced(f));
        self.set_writes(Some(store));
        let mut retry = Duration::from_millis(200);
        loop {
            match self.restore().await {
                Ok(engine) => {
                    *guard = Some(engine);
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot restore the routing state; trying again");
                    tokio::select! {
                        () = term.cancelled() => {
                            self.set_writes(None);
                            return;
                        }
                        () = tokio::time::sleep(retry) => {}
                    }
                    retry = (retry * 2).min(Duration::from_secs(5));
                }
            }
        }
        self.nodes_lock().nodes.clear();
        drop(guard);
        self.leading.send_replace(true);
        self.core.metrics.routing.with_label_values(&["takeover"]).inc();
        // Serving first: a call this node forwarded just before its term began waits in the list.
        let serving = self.link.clone().map(|link| {
            let routing = Arc::clone(&self);
            let term = term.clone();
            tokio::spawn(async move {
                link.serve(term, |command| {
                    let routing = Arc::clone(&routing);
                    async move { routing.serve_one(command).await }
                })
                .await;
            })
        });
        // This node's own agents at once; the others' within a report.
        self.report().await;
        self.run_clock(&term).await;
        self.leading.send_replace(false);
        let mut guard = self.engine.lock().await;
        *guard = None;
        self.set_writes(None);
        drop(guard);
        if let Some(serving) = serving {
            let _ = serving.await;
        }
        tracing::warn!("this node no longer runs the router");
    }

    /// Carries out one command forwarded by another node.
    async fn serve_one(&self, command: serde_json::Value) -> Answer {
        let result = match serde_json::from_value::<Command>(command) {
            Ok(command) => match self.here(command).await {
                Ok(result) => result,
                // The term ended while the request waited: the caller retries elsewhere.
                Err(_) => Err(Error::Unavailable("the router moved to another node; retry".into())),
            },
            Err(e) => Err(Error::Internal(format!("an unreadable routing command: {e}"))),
        };
        match result {
            Ok(reply) => match serde_json::to_value(&reply) {
                Ok(v) => Answer::Ok(v),
                Err(e) => internal_answer(&Error::Internal(e.to_string())),
            },
            Err(Error::Internal(detail)) => internal_answer(&Error::Internal(detail)),
            Err(e) => Answer::Err { code: e.code().as_str().to_owned(), message: e.to_string() },
        }
    }

    /// Carries out `command` here if this node holds the engine; gives it back if not.
    async fn here(&self, command: Command) -> Result<Result<Reply, Error>, Command> {
        let mut guard = self.engine.lock().await;
        let Some(engine) = guard.as_mut() else { return Err(command) };
        Ok(self.execute(engine, command).await)
    }

    /// Carries out `command` wherever the router is: here, or on the node holding the lease
    /// (through the link), or, on a node with no link, here once the engine is restored.
    async fn send(&self, command: Command) -> Result<Reply, Error> {
        let command = match self.here(command).await {
            Ok(result) => return result,
            Err(command) => command,
        };
        if let Some(link) = &self.link {
            let value = serde_json::to_value(&command).map_err(Error::internal)?;
            return match link.call(value).await {
                Ok(Answer::Ok(v)) => serde_json::from_value(v)
                    .map_err(|e| Error::Internal(format!("an unreadable answer from the router: {e}"))),
                Ok(Answer::Err { code, message }) => Err(remote_error(&code, message)),
                Err(e) => Err(Error::Unavailable(e.to_string())),
            };
        }
        // One node without Redis: the engine is being restored (or this node waits for a lease
        // another holds, which needs the Redis bus to be reached).
        let mut leading = self.leading.subscribe();
        let wait = Duration::from_secs(self.config.forward_timeout_secs.max(1));
        let led = tokio::time::timeout(wait, async { leading.wait_for(|l| *l).await.is_ok() }).await;
        if led == Ok(true)
            && let Ok(result) = self.here(command).await
        {
            return result;
        }
        Err(Error::Unavailable(
            "no node runs the router (several nodes need the Redis bus to reach the one that does)".into(),
        ))
    }

    async fn execute(&self, engine: &mut Engine, command: Command) -> Result<Reply, Error> {
        let ticket = |t: Ticket| Reply::Ticket { ticket: Box::new(t) };
        match command {
            Command::HandOver { conversation, classification, tags, summary, actor } => {
                self.do_hand_over(engine, &conversation, classification, tags, summary, actor).await.map(ticket)
            }
            Command::Finish { ticket: id, status, actor, kind } => {
                self.do_finish(engine, id, status, actor, &kind).await.map(ticket)
            }
            Command::Transfer { ticket: id, to, actor } => self.do_transfer(engine, id, to, actor).await.map(ticket),
            Command::Reopen { ticket } => self.do_reopen(engine, ticket).await.map(|()| Reply::Done),
            Command::SetPending { ticket: id, actor } => self.do_set_pending(id, actor).await.map(ticket),
            Command::CustomerReplied { conversation } => {
                self.do_customer_replied(conversation).await.map(|()| Reply::Done)
            }
            Command::SetProfile { routing } => self.do_set_profile(engine, routing).await.map(|()| Reply::Done),
            Command::SetPresence { agent, presence } => {
                self.do_set_presence(engine, agent, presence).await.map(|()| Reply::Done)
            }
            Command::Answer { ticket, agent, accept } => {
                let input = if accept {
                    Input::OfferAccepted { ticket, agent }
                } else {
                    Input::OfferRejected { ticket, agent }
                };
                let decisions = self.decide(engine, input).map_err(engine_error)?;
                self.carry_out(decisions).await;
                Ok(Reply::Done)
            }
            Command::Sockets { node, agent, connected } => {
                let before = self.nodes_lock().mark(&node, agent, connected, |n| &mut n.sockets);
                self.agents_changed(engine, &[(agent, before)], &[]).await;
                Ok(Reply::Done)
            }
            Command::Softphone { node, agent, registered } => {
                let before = self.nodes_lock().mark(&node, agent, registered, |n| &mut n.softphones);
                self.agents_changed(engine, &[], &[(agent, before)]).await;
                Ok(Reply::Done)
            }
            Command::NodeReport { node, sockets, softphones } => {
                let (connected, phones) = {
                    let mut nodes = self.nodes_lock();
                    let sockets: HashSet<AgentId> = sockets.into_iter().collect();
                    let softphones: HashSet<AgentId> = softphones.into_iter().collect();
                    // The agents whose sockets (softphones) on this node changed, with whether
                    // they had any anywhere before.
                    let none = HashSet::new();
                    let old = nodes.nodes.get(&node);
                    let connected: Vec<(AgentId, bool)> = old
                        .map_or(&none, |n| &n.sockets)
                        .symmetric_difference(&sockets)
                        .map(|a| (*a, nodes.connected(*a)))
                        .collect();
                    let phones: Vec<(AgentId, bool)> = old
                        .map_or(&none, |n| &n.softphones)
                        .symmetric_difference(&softphones)
                        .map(|a| (*a, nodes.softphone(*a)))
                        .collect();
                    let here = nodes.node(&node);
                    here.sockets = sockets;
                    here.softphones = softphones;
                    (connected, phones)
                };
                self.agents_changed(engine, &connected, &phones).await;
                Ok(Reply::Done)
            }
            Command::RulesChanged => {
                self.reload_rules(engine).await?;
                Ok(Reply::Done)
            }
            Command::Presence { agent } => {
                Ok(Reply::Presence { presence: engine.presence(agent).unwrap_or(Presence::Offline) })
            }
            Command::Presences { agents } => Ok(Reply::Presences {
                presences: agents.iter().map(|a| engine.presence(*a).unwrap_or(Presence::Offline)).collect(),
            }),
            Command::Connected { agent } => Ok(Reply::Connected { connected: self.nodes_lock().connected(agent) }),
            Command::QueueStats => Ok(Reply::QueueStats { queues: engine.queue_stats(now_ms()) }),
            Command::Wall => Ok(Reply::Wall { queues: engine.queue_stats(now_ms()), agents: engine.agent_stats() }),
        }
    }

    /// The engine's decisions on `input` now, timed (`switchboard_routing_engine_seconds`).
    fn decide(&self, engine: &mut Engine, input: Input) -> Result<Vec<Decision>, EngineError> {
        let started = Instant::now();
        let decisions = engine.handle(now_ms(), input);
        self.core.metrics.routing_engine.observe(started.elapsed().as_secs_f64());
        decisions
    }

    /// Sets (at a term's start) or clears (at its end) the store the engine writes through.
    fn set_writes(&self, store: Option<Store>) {
        *self.writes.write().unwrap_or_else(PoisonError::into_inner) = store;
    }

    /// The store the engine writes through in this term ([`Routing::writes`]'s field).
    fn writes(&self) -> Result<Store, Error> {
        self.writes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| Error::Unavailable("the router moved to another node; retry".into()))
    }

    fn nodes_lock(&self) -> std::sync::MutexGuard<'_, Nodes> {
        self.nodes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// After the nodes' agents changed: `sockets` are agents whose sockets changed, with whether
    /// they were connected anywhere before, `phones` likewise for softphones. The first socket
    /// anywhere makes an offline agent available, the last one gone makes them offline; a
    /// softphone gained or lost changes their voice capacity.
    async fn agents_changed(&self, engine: &mut Engine, sockets: &[(AgentId, bool)], phones: &[(AgentId, bool)]) {
        for (agent, before) in sockets {
            let now = self.nodes_lock().connected(*agent);
            let presence = engine.presence(*agent).unwrap_or(Presence::Offline);
            let change = match (before, now) {
                (false, true) if presence == Presence::Offline => Some(Presence::Available),
                (true, false) if presence != Presence::Offline => Some(Presence::Offline),
                _ => None,
            };
            if let Some(change) = change
                && let Err(e) = self.do_set_presence(engine, *agent, change).await
            {
                tracing::warn!(error = %e, agent_id = %agent, "cannot set presence as the agent's sockets changed");
            }
        }
        for (agent, before) in phones {
            if self.nodes_lock().softphone(*agent) == *before || engine.presence(*agent).is_none() {
                // An agent the engine does not know yet gets the gated profile when they connect.
                continue;
            }
            if let Err(e) = self.refresh_profile(engine, *agent).await {
                tracing::warn!(error = %e, agent_id = %agent, "cannot apply a softphone change");
            }
        }
    }

    async fn refresh_profile(&self, engine: &mut Engine, agent: AgentId) -> Result<(), Error> {
        let routing = self.core.store.agent_routing(agent).await?;
        let profile = routing.as_ref().map_or_else(|| default_profile(agent), profile);
        let decisions = self.decide(engine, Input::AgentUpdated(self.gated(profile))).map_err(engine_error)?;
        self.carry_out(decisions).await;
        Ok(())
    }

    /// Sets who is told of every resolution (once, at start).
    pub fn set_resolved_hook(&self, hook: Arc<dyn ResolvedHook>) {
        if self.resolved_hook.set(hook).is_err() {
            tracing::warn!("the routing resolution hook was set twice; the first one stays");
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> Arc<RoutingRules> {
        Arc::clone(&self.rules.read().unwrap_or_else(PoisonError::into_inner).1)
    }

    /// Puts `rules` in force on this node if `version` is newer than what it has: whether it did.
    fn put_rules(&self, version: i64, rules: RoutingRules) -> bool {
        let mut held = self.rules.write().unwrap_or_else(PoisonError::into_inner);
        if version <= held.0 {
            return false;
        }
        *held = (version, Arc::new(rules));
        true
    }

    /// Re-reads the rules in force: the engine takes their targets, this node the rules if newer.
    async fn reload_rules(&self, engine: &mut Engine) -> Result<(), Error> {
        let (version, rules) = load_rules(&self.core).await?;
        engine.set_config(engine_config(&self.config, &rules));
        self.put_rules(version, rules);
        Ok(())
    }

    /// Puts validated rules, saved as `version`, in force: here at once, on the router's node
    /// at once (it reads them from the store), on the other nodes within [`RULES_REFRESH`].
    pub async fn set_rules(&self, version: i64, rules: RoutingRules) {
        self.put_rules(version, rules);
        if let Err(e) = self.send(Command::RulesChanged).await {
            tracing::warn!(error = %e, "the router was not told of the new rules; it reads them within its refresh");
        }
    }

    /// Which rule, queue, skills and priority a conversation gets.
    pub fn classify(&self, sample: &router::rules::Sample) -> Classification {
        self.rules().classify(sample)
    }

    /// Per-queue figures for supervisors.
    ///
    /// # Errors
    /// The router cannot be reached.
    pub async fn queue_stats(&self) -> Result<Vec<router::QueueStats>, Error> {
        match self.send(Command::QueueStats).await? {
            Reply::QueueStats { queues } => Ok(queues),
            other => Err(unexpected(&other)),
        }
    }

    /// What the supervisors' wall shows, read under one lock: per-queue figures, every known
    /// agent, and the rules in force.
    ///
    /// # Errors
    /// The router cannot be reached.
    pub async fn wall_figures(
        &self,
    ) -> Result<(Vec<router::QueueStats>, Vec<router::AgentStats>, Arc<RoutingRules>), Error> {
        match self.send(Command::Wall).await? {
            Reply::Wall { queues, agents } => Ok((queues, agents, self.rules())),
            other => Err(unexpected(&other)),
        }
    }

    /// Whether `agent` has an inbox socket open on any node.
    ///
    /// # Errors
    /// The router cannot be reached.
    pub async fn connected(&self, agent: AgentId) -> Result<bool, Error> {
        match self.send(Command::Connected { agent }).await? {
            Reply::Connected { connected } => Ok(connected),
            other => Err(unexpected(&other)),
        }
    }

    /// The agent accepts (`true`) or rejects the ticket offered to them.
    ///
    /// # Errors
    /// The offer expired or went to someone else (409), the router cannot be reached (503), or
    /// the store fails.
    pub async fn answer_offer(&self, ticket: TicketId, agent: AgentId, accept: bool) -> Result<(), Error> {
        self.send(Command::Answer { ticket, agent, accept }).await.map(|_| ())
    }

    /// Carries out `decisions` (the caller holds the engine lock). A decision that cannot be
    /// stored is logged: the engine moved on, and the store is corrected by the next decision on
    /// that ticket, or by the next restore.
    async fn carry_out(&self, decisions: Vec<Decision>) {
        for decision in decisions {
            if let Err(e) = self.carry_out_one(&decision).await {
                tracing::error!(error = %e, ?decision, "a routing decision could not be stored");
            }
        }
    }

    async fn carry_out_one(&self, decision: &Decision) -> Result<(), Error> {
        let at = OffsetDateTime::now_utc();
        match decision {
            Decision::SetAway { agent } => {
                set_stored_presence(&self.writes()?, *agent, Presence::Away).await?;
                tracing::info!(agent_id = %agent, "agent set away after missed offers");
                self.core.bus.publish(Event::PresenceChanged { agent_id: *agent, presence: Presence::Away });
                return Ok(());
            }
            Decision::Offer { ticket, agent, expires_at } => {
                let mut t = self.core.store.ticket(*ticket).await?;
                t.status = TicketStatus::Offered;
                t.offered_to = Some(*agent);
                t.offer_expires_at = Some(to_time(*expires_at));
                t.updated_at = at;
                let line = event(
                    t.id,
                    Actor::System,
                    "offered",
                    json!({"agent_id": agent, "expires_at": to_time(*expires_at).unix_timestamp()}),
                    at,
                );
                self.writes()?.update_ticket(&t, &[line], None).await?;
                self.core.metrics.routing.with_label_values(&["offer"]).inc();
                // A call's offer also rings the agent's softphone: the node carrying the call
                // sees the offer on the bus.
                self.core.bus.publish(Event::TicketUpdated { ticket: t });
            }
            Decision::Assign { ticket, agent } => {
                let mut t = self.core.store.ticket(*ticket).await?;
                t.status = TicketStatus::Assigned;
                t.assignee_id = Some(*agent);
                t.offered_to = None;
                t.offer_expires_at = None;
                t.updated_at = at;
                let line = event(t.id, Actor::Agent(*agent), "assigned", json!({"agent_id": agent}), at);
                let change = ConversationChange { status: ConversationStatus::Assigned, assignee_id: Some(*agent) };
                self.writes()?.update_ticket(&t, &[line], Some(change)).await?;
                self.core.metrics.routing.with_label_values(&["assign"]).inc();
                publish_ticket_and_conversation(&self.core, t).await;
            }
            Decision::OfferEnded { ticket, agent, reason } => {
                if *reason == OfferEnd::TicketRemoved {
                    return Ok(());
                }
                let mut t = self.core.store.ticket(*ticket).await?;
                if t.offered_to == Some(*agent) {
                    t.status = TicketStatus::Queued;
                    t.offered_to = None;
                    t.offer_expires_at = None;
                }
                t.updated_at = at;
                let kind = match reason {
                    OfferEnd::Rejected => "offer_rejected",
                    OfferEnd::TimedOut => "offer_timed_out",
                    OfferEnd::AgentLeft | OfferEnd::TicketRemoved => "offer_withdrawn",
                };
                let actor = if *reason == OfferEnd::Rejected { Actor::Agent(*agent) } else { Actor::System };
                let line = event(t.id, actor, kind, json!({"agent_id": agent}), at);
                self.writes()?.update_ticket(&t, &[line], None).await?;
                self.core.metrics.routing.with_label_values(&[kind]).inc();
                self.core.bus.publish(Event::TicketUpdated { ticket: t });
            }
            Decision::Escalate { ticket, step, queue, skills } => {
                let mut t = self.core.store.ticket(*ticket).await?;
                t.queue = queue.clone();
                t.skills = skills.clone();
                if let Some(pos) = t.escalation.iter().position(|s| s == step) {
                    t.escalation.remove(pos);
                }
                t.updated_at = at;
                let line = event(
                    t.id,
                    Actor::System,
                    "escalated",
                    json!({"step": step, "queue": queue, "skills": skills}),
                    at,
                );
                self.writes()?.update_ticket(&t, &[line], None).await?;
                self.core.metrics.routing.with_label_values(&["escalate"]).inc();
                self.core.bus.publish(Event::TicketUpdated { ticket: t });
            }
        }
        Ok(())
    }

    /// Opens a ticket for `conversation`, classified by the rules, and queues it.
    ///
    /// # Errors
    /// The conversation already has an open ticket (409), the router cannot be reached (503),
    /// or the store fails.
    pub async fn hand_over(
        &self,
        conversation: &Conversation,
        classification: Classification,
        tags: BTreeSet<String>,
        summary: Option<String>,
        actor: Actor,
    ) -> Result<Ticket, Error> {
        let command =
            Command::HandOver { conversation: Box::new(conversation.clone()), classification, tags, summary, actor };
        ticket_of(self.send(command).await?)
    }

    async fn do_hand_over(
        &self,
        engine: &mut Engine,
        conversation: &Conversation,
        classification: Classification,
        tags: BTreeSet<String>,
        summary: Option<String>,
        actor: Actor,
    ) -> Result<Ticket, Error> {
        let at = OffsetDateTime::now_utc();
        let Classification { rule, target } = classification;
        let sla = self.rules().queue_sla_ms().get(&target.queue).copied();
        let ticket = Ticket {
            id: TicketId::new(),
            conversation_id: conversation.id,
            channel: conversation.channel,
            status: TicketStatus::Queued,
            priority: target.priority,
            queue: target.queue,
            skills: target.skills,
            escalation: target.escalation,
            tags,
            rule,
            summary,
            assignee_id: None,
            offered_to: None,
            offer_expires_at: None,
            queued_at: at,
            first_response_due: sla.map(|ms| at + time::Duration::milliseconds(ms)),
            created_at: at,
            updated_at: at,
        };
        let line = event(ticket.id, actor, "created", json!({"rule": ticket.rule, "queue": ticket.queue}), at);
        let change = ConversationChange { status: ConversationStatus::Queued, assignee_id: None };
        // Stored under the routing lock, so the engine learns of it before any other change.
        self.writes()?.create_ticket(&ticket, &line, change).await?;
        publish_ticket_and_conversation(&self.core, ticket.clone()).await;
        let decisions = self.decide(engine, Input::TicketQueued(request_of(&ticket))).map_err(engine_error)?;
        self.carry_out(decisions).await;
        Ok(ticket)
    }

    /// Takes `ticket` out of routing (resolved, closed, transferred) and stores its new state.
    ///
    /// # Errors
    /// The ticket is no longer open (409), the router cannot be reached (503), or the store
    /// fails.
    pub async fn finish(
        &self,
        ticket: Ticket,
        status: TicketStatus,
        actor: Actor,
        kind: &str,
    ) -> Result<Ticket, Error> {
        ticket_of(self.send(Command::Finish { ticket: ticket.id, status, actor, kind: kind.to_owned() }).await?)
    }

    async fn do_finish(
        &self,
        engine: &mut Engine,
        id: TicketId,
        status: TicketStatus,
        actor: Actor,
        kind: &str,
    ) -> Result<Ticket, Error> {
        let at = OffsetDateTime::now_utc();
        // Read under the lock: routing may have changed it since the caller looked.
        let mut ticket = fresh_open(&self.core, id).await?;
        self.pending_lock().remove(&ticket.conversation_id);
        let decisions = match self.decide(engine, Input::TicketRemoved(ticket.id)) {
            Ok(d) => d,
            Err(EngineError::UnknownTicket(_)) => Vec::new(),
            Err(e) => return Err(engine_error(e)),
        };
        ticket.status = status;
        ticket.offered_to = None;
        ticket.offer_expires_at = None;
        ticket.updated_at = at;
        let conversation_status = match status {
            TicketStatus::Closed => ConversationStatus::Closed,
            _ => ConversationStatus::Resolved,
        };
        let line = event(ticket.id, actor, kind, serde_json::Value::Null, at);
        let change = ConversationChange { status: conversation_status, assignee_id: ticket.assignee_id };
        self.writes()?.update_ticket(&ticket, &[line], Some(change)).await?;
        publish_ticket_and_conversation(&self.core, ticket.clone()).await;
        self.carry_out(decisions).await;
        if status == TicketStatus::Resolved
            && let Some(hook) = self.resolved_hook.get()
        {
            hook.resolved(&ticket);
        }
        Ok(ticket)
    }

    /// Moves `ticket` to another agent (assigned at once) or to another queue (queued anew).
    ///
    /// # Errors
    /// Unknown agent, the ticket is no longer open (409), the router cannot be reached (503),
    /// or the store fails.
    pub async fn transfer(&self, ticket: Ticket, to: Transfer, actor: Actor) -> Result<Ticket, Error> {
        ticket_of(self.send(Command::Transfer { ticket: ticket.id, to, actor }).await?)
    }

    async fn do_transfer(
        &self,
        engine: &mut Engine,
        id: TicketId,
        to: Transfer,
        actor: Actor,
    ) -> Result<Ticket, Error> {
        let at = OffsetDateTime::now_utc();
        let mut ticket = fresh_open(&self.core, id).await?;
        self.pending_lock().remove(&ticket.conversation_id);
        let mut decisions = match self.decide(engine, Input::TicketRemoved(ticket.id)) {
            Ok(d) => d,
            Err(EngineError::UnknownTicket(_)) => Vec::new(),
            Err(e) => return Err(engine_error(e)),
        };
        ticket.offered_to = None;
        ticket.offer_expires_at = None;
        ticket.updated_at = at;
        let (line, change, input) = match &to {
            Transfer::Agent(agent) => {
                if engine.presence(*agent).is_none() {
                    let routing = self.core.store.agent_routing(*agent).await?;
                    let profile = routing.as_ref().map_or_else(|| default_profile(*agent), profile);
                    self.decide(engine, Input::AgentUpdated(self.gated(profile))).map_err(engine_error)?;
                }
                ticket.status = TicketStatus::Assigned;
                ticket.assignee_id = Some(*agent);
                (
                    event(ticket.id, actor, "transferred", json!({"to_agent": agent}), at),
                    ConversationChange { status: ConversationStatus::Assigned, assignee_id: Some(*agent) },
                    Input::TicketAssigned { ticket: ticket.id, agent: *agent, channel: ticket.channel },
                )
            }
            Transfer::Queue(queue) => {
                ticket.status = TicketStatus::Queued;
                ticket.assignee_id = None;
                ticket.queue = queue.clone();
                ticket.queued_at = at;
                (
                    event(ticket.id, actor, "transferred", json!({"to_queue": queue}), at),
                    ConversationChange { status: ConversationStatus::Queued, assignee_id: None },
                    Input::TicketQueued(request_of(&ticket)),
                )
            }
        };
        self.writes()?.update_ticket(&ticket, &[line], Some(change)).await?;
        publish_ticket_and_conversation(&self.core, ticket.clone()).await;
        decisions.extend(self.decide(engine, input).map_err(engine_error)?);
        self.carry_out(decisions).await;
        Ok(ticket)
    }

    /// A resolved ticket's customer wrote again: the ticket reopens and queues anew.
    ///
    /// # Errors
    /// The router cannot be reached (503), or the store fails.
    pub async fn reopen(&self, ticket: TicketId) -> Result<(), Error> {
        self.send(Command::Reopen { ticket }).await.map(|_| ())
    }

    async fn do_reopen(&self, engine: &mut Engine, ticket: TicketId) -> Result<(), Error> {
        let at = OffsetDateTime::now_utc();
        let mut ticket = self.core.store.ticket(ticket).await?;
        if ticket.status != TicketStatus::Resolved {
            return Ok(());
        }
        ticket.status = TicketStatus::Queued;
        ticket.assignee_id = None;
        ticket.queued_at = at;
        ticket.updated_at = at;
        let line = event(ticket.id, Actor::Customer, "reopened", serde_json::Value::Null, at);
        let change = ConversationChange { status: ConversationStatus::Queued, assignee_id: None };
        self.writes()?.update_ticket(&ticket, &[line], Some(change)).await?;
        publish_ticket_and_conversation(&self.core, ticket.clone()).await;
        let decisions = match self.decide(engine, Input::TicketQueued(request_of(&ticket))) {
            Ok(d) => d,
            Err(EngineError::AlreadyKnown(_)) => Vec::new(),
            Err(e) => return Err(engine_error(e)),
        };
        self.carry_out(decisions).await;
        Ok(())
    }

    fn pending_lock(&self) -> std::sync::MutexGuard<'_, HashSet<ConversationId>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The assignee waits for the customer: the ticket stays theirs (and keeps its place in
    /// their capacity) until the customer writes again.
    ///
    /// # Errors
    /// The ticket is not assigned (409), the router cannot be reached (503), or the store fails.
    pub async fn set_pending(&self, ticket: TicketId, actor: Actor) -> Result<Ticket, Error> {
        ticket_of(self.send(Command::SetPending { ticket, actor }).await?)
    }

    async fn do_set_pending(&self, ticket: TicketId, actor: Actor) -> Result<Ticket, Error> {
        let at = OffsetDateTime::now_utc();
        let mut ticket = fresh_open(&self.core, ticket).await?;
        if ticket.status != TicketStatus::Assigned {
            return Err(Error::Conflict(format!(
                "only an assigned ticket can wait for the customer; this one is {}",
                ticket.status
            )));
        }
        ticket.status = TicketStatus::PendingCustomer;
        ticket.updated_at = at;
        let line = event(ticket.id, actor, "pending_customer", serde_json::Value::Null, at);
        self.writes()?.update_ticket(&ticket, &[line], None).await?;
        self.pending_lock().insert(ticket.conversation_id);
        self.core.bus.publish(Event::TicketUpdated { ticket: ticket.clone() });
        Ok(ticket)
    }

    /// Whether the conversation's ticket waits for the customer (as this node last heard).
    pub fn is_pending(&self, conversation: ConversationId) -> bool {
        self.pending_lock().contains(&conversation)
    }

    /// The customer answered a ticket that waited for them: it is the assignee's again.
    ///
    /// # Errors
    /// The router cannot be reached (503), or the store fails.
    pub async fn customer_replied(&self, conversation: ConversationId) -> Result<(), Error> {
        self.pending_lock().remove(&conversation);
        let sent = self.send(Command::CustomerReplied { conversation }).await.map(|_| ());
        if sent.is_err() {
            // Still waiting as far as the store knows: the next message tries again.
            self.pending_lock().insert(conversation);
        }
        sent
    }

    async fn do_customer_replied(&self, conversation: ConversationId) -> Result<(), Error> {
        let at = OffsetDateTime::now_utc();
        self.pending_lock().remove(&conversation);
        let Some(mut ticket) = self.core.store.latest_ticket(conversation).await? else { return Ok(()) };
        if ticket.status != TicketStatus::PendingCustomer {
            return Ok(());
        }
        ticket.status = TicketStatus::Assigned;
        ticket.updated_at = at;
        let line = event(ticket.id, Actor::Customer, "customer_replied", serde_json::Value::Null, at);
        self.writes()?.update_ticket(&ticket, &[line], None).await?;
        self.core.bus.publish(Event::TicketUpdated { ticket });
        Ok(())
    }

    /// Keeps this node's view of the tickets waiting for their customer from the bus (every
    /// node's changes), and from the store after a gap. Ends when the hub shuts down.
    pub async fn follow_pending(self: Arc<Self>) {
        let taken = self.pending_events.lock().unwrap_or_else(PoisonError::into_inner).take();
        let Some(mut events) = taken else { return };
        loop {
            let received = tokio::select! {
                () = self.core.shutdown.cancelled() => return,
                r = events.recv() => r,
            };
            match received {
                Received::Event(envelope) => {
                    if let Event::TicketUpdated { ticket } = &**envelope {
                        let mut pending = self.pending_lock();
                        if ticket.status == TicketStatus::PendingCustomer {
                            pending.insert(ticket.conversation_id);
                        } else {
                            pending.remove(&ticket.conversation_id);
                        }
                    }
                }
                Received::Lagged => match pending_conversations(&self.core).await {
                    Ok(fresh) => *self.pending_lock() = fresh,
                    Err(e) => tracing::warn!(error = %e, "cannot re-read the tickets waiting for their customer"),
                },
                Received::Closed => return,
            }
        }
    }

    /// Stores an agent's skills and capacity and tells the engine.
    ///
    /// # Errors
    /// Unknown agent, the router cannot be reached (503), or the store fails.
    pub async fn set_profile(&self, routing: AgentRouting) -> Result<(), Error> {
        self.send(Command::SetProfile { routing }).await.map(|_| ())
    }

    async fn do_set_profile(&self, engine: &mut Engine, routing: AgentRouting) -> Result<(), Error> {
        let presence = engine.presence(routing.agent_id).unwrap_or(Presence::Offline);
        let routing = AgentRouting { presence, ..routing };
        self.core.store.set_agent_routing(&routing).await?;
        let decisions =
            self.decide(engine, Input::AgentUpdated(self.gated(profile(&routing)))).map_err(engine_error)?;
        self.carry_out(decisions).await;
        Ok(())
    }

    /// `profile` with the voice capacity the agent's softphones allow (on the leader).
    fn gated(&self, profile: AgentProfile) -> AgentProfile {
        gate_voice(self.softphones.is_some(), &self.nodes_lock(), profile)
    }

    /// The agent's softphone registered (`true`) on this node or its last registration here went
    /// away: with SIP on, only agents with a softphone somewhere have voice capacity.
    ///
    /// # Errors
    /// The router cannot be reached (503), or the store fails.
    pub async fn set_softphone(&self, agent: AgentId, registered: bool) -> Result<(), Error> {
        let Some(softphones) = &self.softphones else { return Ok(()) };
        let _order = self.report_order.lock().await;
        let changed = {
            let mut set = softphones.lock().unwrap_or_else(PoisonError::into_inner);
            if registered { set.insert(agent) } else { set.remove(&agent) }
        };
        if !changed {
            return Ok(());
        }
        self.send(Command::Softphone { node: self.node.clone(), agent, registered }).await.map(|_| ())
    }

    /// The agent's presence as the engine knows it (offline if unknown).
    ///
    /// # Errors
    /// The router cannot be reached (503).
    pub async fn presence(&self, agent: AgentId) -> Result<Presence, Error> {
        match self.send(Command::Presence { agent }).await? {
            Reply::Presence { presence } => Ok(presence),
            other => Err(unexpected(&other)),
        }
    }

    /// The presence of each of `agents`, in their order.
    ///
    /// # Errors
    /// The router cannot be reached (503).
    pub async fn presences(&self, agents: Vec<AgentId>) -> Result<Vec<Presence>, Error> {
        match self.send(Command::Presences { agents }).await? {
            Reply::Presences { presences } => Ok(presences),
            other => Err(unexpected(&other)),
        }
    }

    /// Sets an agent's presence (by the agent, or by their sockets connecting or closing).
    ///
    /// # Errors
    /// The router cannot be reached (503), or the store fails.
    pub async fn set_presence(&self, agent: AgentId, presence: Presence) -> Result<(), Error> {
        self.send(Command::SetPresence { agent, presence }).await.map(|_| ())
    }

    async fn do_set_presence(&self, engine: &mut Engine, agent: AgentId, presence: Presence) -> Result<(), Error> {
        if engine.presence(agent).is_none() {
            let routing = self.core.store.agent_routing(agent).await?;
            let profile = routing.as_ref().map_or_else(|| default_profile(agent), profile);
            if routing.is_none() {
                self.core.store.set_agent_routing(&stored(&profile, Presence::Offline)).await?;
            }
            self.decide(engine, Input::AgentUpdated(self.gated(profile))).map_err(engine_error)?;
        }
        set_stored_presence(&self.writes()?, agent, presence).await?;
        let decisions = self.decide(engine, Input::PresenceChanged { agent, presence }).map_err(engine_error)?;
        self.core.bus.publish(Event::PresenceChanged { agent_id: agent, presence });
        self.carry_out(decisions).await;
        Ok(())
    }

    /// An inbox socket of `agent` opened on this node: the first one anywhere makes an offline
    /// agent available.
    pub async fn socket_opened(&self, agent: AgentId) {
        let _order = self.report_order.lock().await;
        let first = {
            let mut sockets = self.sockets.lock().unwrap_or_else(PoisonError::into_inner);
            let n = sockets.entry(agent).or_insert(0);
            *n += 1;
            *n == 1
        };
        if first && let Err(e) = self.send(Command::Sockets { node: self.node.clone(), agent, connected: true }).await {
            tracing::warn!(error = %e, agent_id = %agent, "cannot set presence on connect");
        }
    }

    /// An inbox socket of `agent` closed on this node: after the last one anywhere the agent is
    /// offline.
    pub async fn socket_closed(&self, agent: AgentId) {
        let _order = self.report_order.lock().await;
        let last = {
            let mut sockets = self.sockets.lock().unwrap_or_else(PoisonError::into_inner);
            match sockets.get_mut(&agent) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                _ => {
                    sockets.remove(&agent);
                    true
                }
            }
        };
        // A stopping node leaves presence as it is: the agents reconnect to another node, and
        // the router forgets this node's agents once its reports stop.
        if last
            && !self.core.shutdown.is_cancelled()
            && let Err(e) = self.send(Command::Sockets { node: self.node.clone(), agent, connected: false }).await
        {
            tracing::warn!(error = %e, agent_id = %agent, "cannot set presence on disconnect");
        }
    }

    /// Tells the router which agents this node holds (sockets, softphones).
    async fn report(&self) {
        let _order = self.report_order.lock().await;
        let sockets = self.sockets.lock().unwrap_or_else(PoisonError::into_inner).keys().copied().collect();
        let softphones = self
            .softphones
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).iter().copied().collect())
            .unwrap_or_default();
        if let Err(e) = self.send(Command::NodeReport { node: self.node.clone(), sockets, softphones }).await {
            tracing::warn!(error = %e, "cannot tell the router which agents this node holds");
        }
    }

    /// Every node, until shutdown: reports its agents to the router every [`NODE_REPORT`] and
    /// re-reads the rules every [`RULES_REFRESH`].
    pub async fn run_node(self: Arc<Self>) {
        let mut reports = tokio::time::interval(NODE_REPORT);
        reports.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut rules = tokio::time::interval(RULES_REFRESH);
        rules.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.core.shutdown.cancelled() => return,
                _ = reports.tick() => self.report().await,
                _ = rules.tick() => match load_rules(&self.core).await {
                    Ok((version, rules)) => {
                        let config = engine_config(&self.config, &rules);
                        if self.put_rules(version, rules)
                            && let Some(engine) = self.engine.lock().await.as_mut()
                        {
                            engine.set_config(config);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot re-read the routing rules"),
                },
            }
        }
    }

    /// Vouches in the store for the presence of the agents the engine holds signed in, so
    /// that a restart after a crash ends their intervals at most one heartbeat late.
    async fn presence_heartbeat(&self) {
        let agents: Vec<AgentId> = match self.engine.lock().await.as_ref() {
            Some(engine) => {
                engine.agent_stats().into_iter().filter(|a| a.presence != Presence::Offline).map(|a| a.id).collect()
            }
            None => return,
        };
        if let Err(e) = self.core.store.presence_heartbeat(&agents, now_ms()).await {
            tracing::warn!(error = %e, "presence heartbeat failed");
        }
    }

    /// The leader's clock, for as long as `term` lasts: offers time out, escalations fire, the
    /// presence heartbeat beats, nodes that stopped reporting are forgotten.
    async fn run_clock(&self, term: &CancellationToken) {
        let period = Duration::from_millis(self.config.tick_ms.max(10));
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heartbeat = tokio::time::interval(PRESENCE_HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut expiry = tokio::time::interval(NODE_REPORT);
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = term.cancelled() => return,
                _ = heartbeat.tick() => self.presence_heartbeat().await,
                _ = expiry.tick() => self.expire_nodes().await,
                _ = interval.tick() => {
                    let mut guard = self.engine.lock().await;
                    let Some(engine) = guard.as_mut() else { return };
                    match self.decide(engine, Input::Tick) {
                        Ok(decisions) => self.carry_out(decisions).await,
                        Err(e) => tracing::error!(error = %e, "routing tick failed"),
                    }
                }
            }
        }
    }

    /// Forgets the nodes that stopped reporting: their agents' sockets and softphones.
    async fn expire_nodes(&self) {
        let mut guard = self.engine.lock().await;
        let Some(engine) = guard.as_mut() else { return };
        let agents = self.nodes_lock().expire();
        if agents.is_empty() {
            return;
        }
        tracing::warn!(agents = agents.len(), "a node stopped reporting: its agents' sockets no longer count");
        // Before the expiry each was connected (or had a softphone) there.
        let held: Vec<(AgentId, bool)> = agents.iter().map(|a| (*a, true)).collect();
        self.agents_changed(engine, &held, &held).await;
    }
}

/// Where a transfer goes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "to", content = "id", rename_all = "snake_case")]
pub enum Transfer {
    Agent(AgentId),
    Queue(QueueName),
}

/// The ticket as stored now, if it is still open.
async fn fresh_open(core: &Core, id: TicketId) -> Result<Ticket, Error> {
    let ticket = core.store.ticket(id).await?;
    if matches!(ticket.status, TicketStatus::Resolved | TicketStatus::Closed) {
        return Err(Error::Conflict(format!("the ticket is {}", ticket.status)));
    }
    Ok(ticket)
}

fn engine_error(e: EngineError) -> Error {
    match e {
        EngineError::NoSuchOffer { .. } => Error::Conflict("the offer has expired or went to someone else".into()),
        EngineError::UnknownTicket(_) => Error::Conflict("the ticket is not waiting for an agent".into()),
        EngineError::UnknownAgent(_) => Error::NotFound("agent"),
        EngineError::AlreadyKnown(_) => Error::Conflict("the ticket is already being routed".into()),
    }
}

fn profile(routing: &AgentRouting) -> AgentProfile {
    AgentProfile { id: routing.agent_id, skills: routing.skills.clone(), capacity: routing.capacity.clone() }
}

/// With SIP on, an agent without a softphone registered on any node can hold no call.
fn gate_voice(sip: bool, nodes: &Nodes, mut profile: AgentProfile) -> AgentProfile {
    if sip && !nodes.softphone(profile.id) {
        profile.capacity.limits.insert(Channel::Voice, 0);
    }
    profile
}

fn default_profile(agent: AgentId) -> AgentProfile {
    AgentProfile { id: agent, skills: std::collections::BTreeMap::new(), capacity: Capacity::default() }
}

fn stored(profile: &AgentProfile, presence: Presence) -> AgentRouting {
    AgentRouting { agent_id: profile.id, skills: profile.skills.clone(), capacity: profile.capacity.clone(), presence }
}

/// Stores the agent's presence from now on: the change is recorded and the interval it ends
/// counted for the reports (`Store::set_presence`).
async fn set_stored_presence(store: &Store, agent: AgentId, presence: Presence) -> Result<(), Error> {
    if store.agent_routing(agent).await?.is_none() {
        store.set_agent_routing(&stored(&default_profile(agent), Presence::Offline)).await?;
    }
    store.set_presence(agent, presence, now_ms()).await?;
    Ok(())
}

async fn publish_ticket_and_conversation(core: &Core, ticket: Ticket) {
    let conversation_id = ticket.conversation_id;
    core.bus.publish(Event::TicketUpdated { ticket });
    match core.store.conversation(conversation_id).await {
        Ok(conversation) => core.bus.publish(Event::ConversationUpdated { conversation }),
        Err(e) => tracing::warn!(error = %e, "cannot read the conversation to announce it"),
    }
}

/// The rules in force and their version (the defaults, version 0, until a supervisor saves some).
async fn load_rules(core: &Core) -> Result<(i64, RoutingRules), Error> {
    match core.store.current_rules().await? {
        Some(v) => Ok((
            v.version,
            serde_json::from_value(v.rules)
                .map_err(|e| Error::Internal(format!("stored routing rules are unreadable: {e}")))?,
        )),
        None => Ok((0, default_rules()?)),
    }
}

/// The conversations whose open ticket waits for its customer.
async fn pending_conversations(core: &Core) -> Result<HashSet<ConversationId>, Error> {
    Ok(core
        .store
        .open_tickets()
        .await?
        .into_iter()
        .filter(|t| t.status == TicketStatus::PendingCustomer)
        .map(|t| t.conversation_id)
        .collect())
}

fn ticket_of(reply: Reply) -> Result<Ticket, Error> {
    match reply {
        Reply::Ticket { ticket } => Ok(*ticket),
        other => Err(unexpected(&other)),
    }
}

/// A fault on the router's node: the detail stays in its log, the caller gets the code.
fn internal_answer(e: &Error) -> Answer {
    if let Error::Internal(detail) = e {
        tracing::error!(error = %detail, "a forwarded routing command failed");
    }
    Answer::Err { code: crate::error::ErrorCode::Internal.as_str().to_owned(), message: e.to_string() }
}

/// The error the router's node answered with, as this node's.
fn remote_error(code: &str, message: String) -> Error {
    use crate::error::ErrorCode;
    match code {
        c if c == ErrorCode::Conflict.as_str() => Error::Conflict(message),
        c if c == ErrorCode::Unavailable.as_str() => Error::Unavailable(message),
        c if c == ErrorCode::NotFound.as_str() => Error::NotFound(match message.trim_end_matches(" not found") {
            "agent" => "agent",
            "ticket" => "ticket",
            "conversation" => "conversation",
            _ => "resource",
        }),
        c if c == ErrorCode::Forbidden.as_str() => Error::Forbidden(message),
        _ => Error::Internal(format!("the router's node answered {code}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_replies_cross_the_link_unchanged() {
        let agent = AgentId::new();
        let ticket = TicketId::new();
        let commands = [
            Command::Answer { ticket, agent, accept: true },
            Command::Transfer { ticket, to: Transfer::Agent(agent), actor: Actor::Agent(agent) },
            Command::Transfer { ticket, to: Transfer::Queue("billing".parse().unwrap()), actor: Actor::System },
            Command::NodeReport { node: "n1".into(), sockets: vec![agent], softphones: vec![] },
            Command::Finish { ticket, status: TicketStatus::Resolved, actor: Actor::Customer, kind: "resolved".into() },
        ];
        for command in commands {
            let wire = serde_json::to_value(&command).unwrap();
            let back: Command = serde_json::from_value(wire.clone()).unwrap();
            assert_eq!(serde_json::to_value(&back).unwrap(), wire, "{command:?}");
        }
        let reply = Reply::Presences { presences: vec![Presence::Available, Presence::Offline] };
        let wire = serde_json::to_value(&reply).unwrap();
        assert!(
            matches!(serde_json::from_value(wire).unwrap(), Reply::Presences { presences } if presences.len() == 2)
        );
    }

    #[test]
    fn the_routers_errors_keep_their_code_on_the_asking_node() {
        for e in [
            Error::Conflict("the offer has expired or went to someone else".into()),
            Error::NotFound("agent"),
            Error::Unavailable("no node runs the router".into()),
            Error::Forbidden("no".into()),
        ] {
            let code = e.code();
            let back = remote_error(code.as_str(), e.to_string());
            assert_eq!(back.code(), code, "{e}");
            assert_eq!(back.to_string(), e.to_string());
        }
        // A fault stays a fault, its detail kept out of the answer.
        let Answer::Err { code, message } = internal_answer(&Error::Internal("disk on fire".into())) else {
            panic!("an error answer")
        };
        assert_eq!(remote_error(&code, message.clone()).code(), crate::error::ErrorCode::Internal);
        assert!(!message.contains("disk"), "{message}");
    }

    #[test]
    fn a_node_that_stops_reporting_is_forgotten_with_its_agents() {
        let (a1, a2) = (AgentId::new(), AgentId::new());
        let mut nodes = Nodes::default();
        nodes.node("n1").sockets.insert(a1);
        nodes.node("n2").sockets.insert(a1);
        nodes.node("n2").softphones.insert(a2);
        assert!(nodes.connected(a1) && nodes.softphone(a2));
        assert!(nodes.expire().is_empty(), "both reported just now");
        nodes.nodes.get_mut("n2").unwrap().seen = Instant::now() - NODE_EXPIRY;
        let gone = nodes.expire();
        assert_eq!(gone, HashSet::from([a1, a2]));
        assert!(nodes.connected(a1), "still connected on n1");
        assert!(!nodes.softphone(a2));
    }
}
