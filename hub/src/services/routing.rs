//! Carries out the router's decisions: the only place that feeds the engine, persists what it
//! decides, and announces it on the bus.
//!
//! One lock serialises every routing change on this node, held across the store write, so the
//! engine and the store never disagree about who holds what. (With several nodes, one node holds
//! the routing lease; that comes with the Redis bus.)

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use router::rules::{Classification, RoutingRules, Target};
use router::{AgentProfile, Decision, Engine, EngineConfig, EngineError, Input, Millis, OfferEnd, TicketRequest};
use schema::{
    Actor, AgentId, AgentRouting, Capacity, Channel, Conversation, ConversationChange, ConversationId,
    ConversationStatus, Presence, QueueName, SkillName, Ticket, TicketEvent, TicketId, TicketStatus,
};
use serde_json::json;
use time::OffsetDateTime;

use crate::bus::Event;
use crate::config::RoutingConfig;
use crate::error::Error;
use crate::services::{Core, now_ms};

/// How often a node vouches in the store for the presence of its signed-in agents: after a
/// crash, their intervals end at most this late (docs/reports.md, "Occupancy").
pub const PRESENCE_HEARTBEAT: Duration = Duration::from_secs(30);

/// Told when the router offers a ticket, under the routing lock: it must only queue work. The
/// voice channel rings the agent's softphone this way, without routing depending on voice.
pub trait OfferHook: Send + Sync + std::fmt::Debug {
    /// `ticket` (on `channel`) was offered to `agent` until `expires_at`.
    fn offered(&self, ticket: TicketId, channel: Channel, agent: AgentId, expires_at: OffsetDateTime);
}

/// Told when a ticket is resolved (after the store has it, outside the routing lock): it must
/// only queue work. The satisfaction survey is sent this way, without routing knowing about it.
pub trait ResolvedHook: Send + Sync + std::fmt::Debug {
    /// `ticket` was resolved (not closed: an abandoned call is not surveyed).
    fn resolved(&self, ticket: &Ticket);
}

/// The routing service of a hub node.
#[derive(Debug)]
pub struct Routing {
    core: Core,
    config: RoutingConfig,
    /// Told of every offer (the voice channel), when set.
    offer_hook: std::sync::OnceLock<Arc<dyn OfferHook>>,
    /// Told of every resolution (the satisfaction survey), when set.
    resolved_hook: std::sync::OnceLock<Arc<dyn ResolvedHook>>,
    engine: tokio::sync::Mutex<Engine>,
    rules: RwLock<Arc<RoutingRules>>,
    /// Open inbox sockets per agent: the first connect sets them available, the last
    /// disconnect offline.
    sockets: Mutex<HashMap<AgentId, usize>>,
    /// Conversations whose ticket waits for the customer: their next message puts it back to
    /// the assignee. Kept here so a customer message costs no extra query.
    pending: Mutex<HashSet<ConversationId>>,
    /// With SIP on: the agents with a registered softphone. Everyone else has no voice
    /// capacity, so is never offered a call. `None` with SIP off (capacity as configured).
    softphones: Option<Mutex<HashSet<AgentId>>>,
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

impl Routing {
    /// Rebuilds the routing state from the store: saved rules, agents' profiles (everyone
    /// offline until their inbox connects), and every open ticket. Offers that were live when
    /// the hub stopped are void: those tickets queue again.
    ///
    /// # Errors
    /// The store fails, or holds something the engine refuses.
    pub async fn restore(core: Core, config: &RoutingConfig, sip_enabled: bool) -> Result<Self, Error> {
        let store = &core.store;
        let rules = match store.current_rules().await? {
            Some(v) => serde_json::from_value(v.rules)
                .map_err(|e| Error::Internal(format!("stored routing rules are unreadable: {e}")))?,
            None => default_rules()?,
        };
        let mut engine = Engine::new(engine_config(config, &rules));
        let softphones = sip_enabled.then(|| Mutex::new(HashSet::new()));
        let now = now_ms();
        // Nobody is connected yet: intervals left open by the last run end at its last heartbeat.
        let closed = store.close_open_presence().await?;
        if closed > 0 {
            tracing::info!(agents = closed, "presence left open by the last run closed at its last heartbeat");
        }
        for routing in store.agent_routings().await? {
            engine
                .handle(now, Input::AgentUpdated(gate_voice(softphones.as_ref(), profile(&routing))))
                .map_err(|e| Error::Internal(format!("restoring agent {}: {e}", routing.agent_id)))?;
        }
        let mut restored = 0usize;
        let mut pending = HashSet::new();
        for mut ticket in store.open_tickets().await? {
            if ticket.status == TicketStatus::PendingCustomer {
                pending.insert(ticket.conversation_id);
            }
            match (ticket.status, ticket.assignee_id) {
                (TicketStatus::Assigned | TicketStatus::PendingCustomer, Some(agent)) => {
                    if engine.presence(agent).is_none() {
                        engine
                            .handle(now, Input::AgentUpdated(gate_voice(softphones.as_ref(), default_profile(agent))))
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
                        store.update_ticket(&ticket, &[line], None).await?;
                    }
                    engine
                        .handle(now, Input::TicketQueued(request_of(&ticket)))
                        .map_err(|e| Error::Internal(e.to_string()))?;
                }
            }
            restored += 1;
        }
        tracing::info!(tickets = restored, "routing state restored");
        Ok(Self {
            config: config.clone(),
            offer_hook: std::sync::OnceLock::new(),
            resolved_hook: std::sync::OnceLock::new(),
            core,
            engine: tokio::sync::Mutex::new(engine),
            rules: RwLock::new(Arc::new(rules)),
            sockets: Mutex::new(HashMap::new()),
            pending: Mutex::new(pending),
            softphones,
        })
    }

    /// Sets who is told of every offer (once, at start).
    pub fn set_offer_hook(&self, hook: Arc<dyn OfferHook>) {
        if self.offer_hook.set(hook).is_err() {
            tracing::warn!("the routing offer hook was set twice; the first one stays");
        }
    }

    /// Sets who is told of every resolution (once, at start).
    pub fn set_resolved_hook(&self, hook: Arc<dyn ResolvedHook>) {
        if self.resolved_hook.set(hook).is_err() {
            tracing::warn!("the routing resolution hook was set twice; the first one stays");
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> Arc<RoutingRules> {
        Arc::clone(&self.rules.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts validated rules in force (the caller saved them).
    pub async fn set_rules(&self, rules: RoutingRules) {
        let config = engine_config(&self.config, &rules);
        *self.rules.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(rules);
        self.engine.lock().await.set_config(config);
    }

    /// Which rule, queue, skills and priority a conversation gets.
    pub fn classify(&self, sample: &router::rules::Sample) -> Classification {
        self.rules().classify(sample)
    }

    /// Per-queue figures for supervisors.
    pub async fn queue_stats(&self) -> Vec<router::QueueStats> {
        self.engine.lock().await.queue_stats(now_ms())
    }

    /// What the supervisors' wall shows, read under one lock: per-queue figures, every known
    /// agent, and the rules in force.
    pub async fn wall_figures(&self) -> (Vec<router::QueueStats>, Vec<router::AgentStats>, Arc<RoutingRules>) {
        let engine = self.engine.lock().await;
        let queues = engine.queue_stats(now_ms());
        let agents = engine.agent_stats();
        drop(engine);
        (queues, agents, self.rules())
    }

    /// Whether `agent` has an inbox socket open on this node.
    pub fn connected(&self, agent: AgentId) -> bool {
        self.sockets.lock().unwrap_or_else(PoisonError::into_inner).get(&agent).is_some_and(|n| *n > 0)
    }

    /// Feeds `input` to the engine and carries out what it decides.
    ///
    /// # Errors
    /// The engine refuses the input (unknown ticket or agent, expired offer), or the store fails.
    pub async fn apply(&self, input: Input) -> Result<(), Error> {
        let mut engine = self.engine.lock().await;
        let decisions = engine.handle(now_ms(), input).map_err(engine_error)?;
        self.carry_out(decisions).await
    }

    /// Carries out `decisions`; the caller holds the engine lock.
    async fn carry_out(&self, decisions: Vec<Decision>) -> Result<(), Error> {
        for decision in decisions {
            if let Err(e) = self.carry_out_one(&decision).await {
                // The engine moved on; the store will be corrected by the next decision on this
                // ticket, or by the rebuild on restart.
                tracing::error!(error = %e, ?decision, "a routing decision could not be stored");
            }
        }
        Ok(())
    }

    async fn carry_out_one(&self, decision: &Decision) -> Result<(), Error> {
        let at = OffsetDateTime::now_utc();
        match decision {
            Decision::SetAway { agent } => {
                set_stored_presence(&self.core, *agent, Presence::Away).await?;
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
                self.core.store.update_ticket(&t, &[line], None).await?;
                self.core.metrics.routing.with_label_values(&["offer"]).inc();
                // A call's offer also rings the agent's softphone.
                if let Some(hook) = self.offer_hook.get() {
                    hook.offered(t.id, t.channel, *agent, to_time(*expires_at));
                }
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
                self.core.store.update_ticket(&t, &[line], Some(change)).await?;
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
                self.core.store.update_ticket(&t, &[line], None).await?;
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
                self.core.store.update_ticket(&t, &[line], None).await?;
                self.core.metrics.routing.with_label_values(&["escalate"]).inc();
                self.core.bus.publish(Event::TicketUpdated { ticket: t });
            }
        }
        Ok(())
    }

    /// Opens a ticket for `conversation`, classified by the rules, and queues it.
    ///
    /// # Errors
    /// The conversation already has an open ticket (409), or the store fails.
    pub async fn hand_over(
        &self,
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
        let mut engine = self.engine.lock().await;
        self.core.store.create_ticket(&ticket, &line, change).await?;
        publish_ticket_and_conversation(&self.core, ticket.clone()).await;
        let decisions = engine.handle(now_ms(), Input::TicketQueued(request_of(&ticket))).map_err(engine_error)?;
        self.carry_out(decisions).await?;
        Ok(ticket)
    }

    /// Takes `ticket` out of routing (resolved, closed, transferred) and stores its new state.
    ///
    /// # Errors
    /// The store fails.
    pub async fn finish(
        &self,
        mut ticket: Ticket,
        status: TicketStatus,
        actor: Actor,
        kind: &str,
    ) -> Result<Ticket, Error> {
        let at = OffsetDateTime::now_utc();
        let mut engine = self.engine.lock().await;
        // Re-read under the lock: routing may have changed it since the caller looked.
        ticket = fresh_open(&self.core, ticket.id).await?;
        self.pending_lock().remove(&ticket.conversation_id);
        let decisions = match engine.handle(now_ms(), Input::TicketRemoved(ticket.id)) {
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
        self.core.store.update_ticket(&ticket, &[line], Some(change)).await?;
        publish_ticket_and_conversation(&self.core, ticket.clone()).await;
        self.carry_out(decisions).await?;
        drop(engine);
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
    /// Unknown agent, or the store fails.
    pub async fn transfer(&self, mut ticket: Ticket, to: Transfer, actor: Actor) -> Result<Ticket, Error> {
        let at = OffsetDateTime::now_utc();
        let mut engine = self.engine.lock().await;
        ticket = fresh_open(&self.core, ticket.id).await?;
        self.pending_lock().remove(&ticket.conversation_id);
        let mut decisions = match engine.handle(now_ms(), Input::TicketRemoved(ticket.id)) {
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
                    engine.handle(now_ms(), Input::AgentUpdated(self.gated(profile))).map_err(engine_error)?;
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
        self.core.store.update_ticket(&ticket, &[line], Some(change)).await?;
        publish_ticket_and_conversation(&self.core, ticket.clone()).await;
        decisions.extend(engine.handle(now_ms(), input).map_err(engine_error)?);
        self.carry_out(decisions).await?;
        Ok(ticket)
    }

    /// A resolved ticket's customer wrote again: the ticket reopens and queues anew.
    ///
    /// # Errors
    /// The store fails.
    pub async fn reopen(&self, ticket: TicketId) -> Result<(), Error> {
        let at = OffsetDateTime::now_utc();
        let mut engine = self.engine.lock().await;
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
        self.core.store.update_ticket(&ticket, &[line], Some(change)).await?;
        publish_ticket_and_conversation(&self.core, ticket.clone()).await;
        let decisions = match engine.handle(now_ms(), Input::TicketQueued(request_of(&ticket))) {
            Ok(d) => d,
            Err(EngineError::AlreadyKnown(_)) => Vec::new(),
            Err(e) => return Err(engine_error(e)),
        };
        self.carry_out(decisions).await
    }

    fn pending_lock(&self) -> std::sync::MutexGuard<'_, HashSet<ConversationId>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The assignee waits for the customer: the ticket stays theirs (and keeps its place in
    /// their capacity) until the customer writes again.
    ///
    /// # Errors
    /// The ticket is not assigned (409), or the store fails.
    pub async fn set_pending(&self, ticket: TicketId, actor: Actor) -> Result<Ticket, Error> {
        let at = OffsetDateTime::now_utc();
        let _engine = self.engine.lock().await;
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
        self.core.store.update_ticket(&ticket, &[line], None).await?;
        self.pending_lock().insert(ticket.conversation_id);
        self.core.bus.publish(Event::TicketUpdated { ticket: ticket.clone() });
        Ok(ticket)
    }

    /// Whether the conversation's ticket waits for the customer.
    pub fn is_pending(&self, conversation: ConversationId) -> bool {
        self.pending_lock().contains(&conversation)
    }

    /// The customer answered a ticket that waited for them: it is the assignee's again.
    ///
    /// # Errors
    /// The store fails.
    pub async fn customer_replied(&self, conversation: ConversationId) -> Result<(), Error> {
        let at = OffsetDateTime::now_utc();
        let _engine = self.engine.lock().await;
        self.pending_lock().remove(&conversation);
        let Some(mut ticket) = self.core.store.latest_ticket(conversation).await? else { return Ok(()) };
        if ticket.status != TicketStatus::PendingCustomer {
            return Ok(());
        }
        ticket.status = TicketStatus::Assigned;
        ticket.updated_at = at;
        let line = event(ticket.id, Actor::Customer, "customer_replied", serde_json::Value::Null, at);
        self.core.store.update_ticket(&ticket, &[line], None).await?;
        self.core.bus.publish(Event::TicketUpdated { ticket });
        Ok(())
    }

    /// Stores an agent's skills and capacity and tells the engine.
    ///
    /// # Errors
    /// Unknown agent, or the store fails.
    pub async fn set_profile(&self, routing: AgentRouting) -> Result<(), Error> {
        let mut engine = self.engine.lock().await;
        let presence = engine.presence(routing.agent_id).unwrap_or(Presence::Offline);
        let routing = AgentRouting { presence, ..routing };
        self.core.store.set_agent_routing(&routing).await?;
        let decisions =
            engine.handle(now_ms(), Input::AgentUpdated(self.gated(profile(&routing)))).map_err(engine_error)?;
        self.carry_out(decisions).await
    }

    fn gated(&self, profile: AgentProfile) -> AgentProfile {
        gate_voice(self.softphones.as_ref(), profile)
    }

    /// The agent's softphone registered (`true`) or its last registration went away: with SIP
    /// on, only agents with a softphone have voice capacity.
    ///
    /// # Errors
    /// The store fails.
    pub async fn set_softphone(&self, agent: AgentId, registered: bool) -> Result<(), Error> {
        let Some(softphones) = &self.softphones else { return Ok(()) };
        let mut engine = self.engine.lock().await;
        let changed = {
            let mut set = softphones.lock().unwrap_or_else(PoisonError::into_inner);
            if registered { set.insert(agent) } else { set.remove(&agent) }
        };
        if !changed || engine.presence(agent).is_none() {
            // An agent the engine does not know yet gets the gated profile when they connect.
            return Ok(());
        }
        let routing = self.core.store.agent_routing(agent).await?;
        let profile = routing.as_ref().map_or_else(|| default_profile(agent), profile);
        let decisions = engine.handle(now_ms(), Input::AgentUpdated(self.gated(profile))).map_err(engine_error)?;
        self.carry_out(decisions).await
    }

    /// The agent's presence as the engine knows it (offline if unknown).
    pub async fn presence(&self, agent: AgentId) -> Presence {
        self.engine.lock().await.presence(agent).unwrap_or(Presence::Offline)
    }

    /// Sets an agent's presence (by the agent, or by their socket connecting or closing).
    ///
    /// # Errors
    /// The store fails.
    pub async fn set_presence(&self, agent: AgentId, presence: Presence) -> Result<(), Error> {
        let mut engine = self.engine.lock().await;
        if engine.presence(agent).is_none() {
            let routing = self.core.store.agent_routing(agent).await?;
            let profile = routing.as_ref().map_or_else(|| default_profile(agent), profile);
            if routing.is_none() {
                self.core.store.set_agent_routing(&stored(&profile, Presence::Offline)).await?;
            }
            engine.handle(now_ms(), Input::AgentUpdated(self.gated(profile))).map_err(engine_error)?;
        }
        set_stored_presence(&self.core, agent, presence).await?;
        let decisions = engine.handle(now_ms(), Input::PresenceChanged { agent, presence }).map_err(engine_error)?;
        self.core.bus.publish(Event::PresenceChanged { agent_id: agent, presence });
        self.carry_out(decisions).await
    }

    /// An inbox socket of `agent` opened: the first one makes an offline agent available.
    pub async fn socket_opened(&self, agent: AgentId) {
        let first = {
            let mut sockets = self.sockets.lock().unwrap_or_else(PoisonError::into_inner);
            let n = sockets.entry(agent).or_insert(0);
            *n += 1;
            *n == 1
        };
        if first
            && self.presence(agent).await == Presence::Offline
            && let Err(e) = self.set_presence(agent, Presence::Available).await
        {
            tracing::warn!(error = %e, agent_id = %agent, "cannot set presence on connect");
        }
    }

    /// An inbox socket of `agent` closed: after the last one the agent is offline.
    pub async fn socket_closed(&self, agent: AgentId) {
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
        if last
            && !self.core.shutdown.is_cancelled()
            && let Err(e) = self.set_presence(agent, Presence::Offline).await
        {
            tracing::warn!(error = %e, agent_id = %agent, "cannot set presence on disconnect");
        }
    }

    /// Vouches in the store for the presence of the agents this node's engine holds signed in,
    /// so that a restart after a crash ends their intervals at most one heartbeat late.
    async fn presence_heartbeat(&self) {
        let agents: Vec<AgentId> = self
            .engine
            .lock()
            .await
            .agent_stats()
            .into_iter()
            .filter(|a| a.presence != Presence::Offline)
            .map(|a| a.id)
            .collect();
        if let Err(e) = self.core.store.presence_heartbeat(&agents, now_ms()).await {
            tracing::warn!(error = %e, "presence heartbeat failed");
        }
    }

    /// Runs the clock: offers time out, escalations fire, the presence heartbeat beats. Ends
    /// when the hub shuts down.
    pub async fn run_clock(self: Arc<Self>) {
        let period = Duration::from_millis(self.config.tick_ms.max(10));
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heartbeat = tokio::time::interval(PRESENCE_HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.core.shutdown.cancelled() => return,
                _ = heartbeat.tick() => self.presence_heartbeat().await,
                _ = interval.tick() => {
                    if let Err(e) = self.apply(Input::Tick).await {
                        tracing::error!(error = %e, "routing tick failed");
                    }
                }
            }
        }
    }
}

/// Where a transfer goes.
#[derive(Clone, Debug)]
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

/// With SIP on (`softphones` set), an agent without a registered softphone can hold no call.
fn gate_voice(softphones: Option<&Mutex<HashSet<AgentId>>>, mut profile: AgentProfile) -> AgentProfile {
    if let Some(set) = softphones
        && !set.lock().unwrap_or_else(PoisonError::into_inner).contains(&profile.id)
    {
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
async fn set_stored_presence(core: &Core, agent: AgentId, presence: Presence) -> Result<(), Error> {
    if core.store.agent_routing(agent).await?.is_none() {
        core.store.set_agent_routing(&stored(&default_profile(agent), Presence::Offline)).await?;
    }
    core.store.set_presence(agent, presence, now_ms()).await?;
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
