//! Voice (SIP): customers phone a support number and the call joins the same queues as chats.
//!
//! The SIP library (`channels::sip`) owns the protocol; this module wires it to the store and
//! the router:
//! - Agents' softphone identities live in the store (digest HA1 only); an in-memory map answers
//!   the library's credential look-ups and is reloaded whenever an identity changes.
//! - An incoming call finds or creates the customer by the caller's number (a `voice` contact
//!   handle) and their open voice conversation, records the call, writes a system line in the
//!   conversation, and hands a `voice` ticket to the router (the supervisors' rules classify it;
//!   the `voice` skill and the dialled number's skills are added). The caller hears `182 Queued`.
//! - When the router offers a voice ticket whose call is live, the agent's registered softphone
//!   rings. Answering accepts the offer (as accepting in the inbox does); not answering declines
//!   it, so the router tries the next agent. An agent without a registered softphone has no voice
//!   capacity in the router, so is never offered a call.
//! - The caller hanging up while waiting closes the ticket (`abandoned`). Nobody answering within
//!   the queue limit: the caller gets `480` with `Retry-After`, and the ticket stays queued,
//!   tagged `callback`, for an agent to call back.
//! - A connected call that ends resolves its ticket (freeing the agent's exclusive voice
//!   capacity); notes and a disposition can be added afterwards.
//!
//! One task handles every SIP event and every voice offer in order, so a call's state is never
//! changed from two places at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use channels::sip::{
    CallId, Caller, DigestSecret, EndedBy, NoAnswerReason, RateLimit, SipAccount, SipConfig, SipCredentials, SipEvent,
    SipHandle, SipServer,
};
use router::Input;
use router::rules::Sample;
use schema::{
    Actor, AgentId, AuthorKind, Channel, ChannelMessageId, ConversationId, ConversationStatus, DisplayName,
    MessageText, NewMessage, Role, SipIdentity, SkillLevel, SkillName, SkillRequirement, TicketId, TicketStatus,
    ValidationError, VoiceCall,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::auth::Staff;
use crate::bus::Event;
use crate::error::ApiError;
use crate::routing::Transfer;
use crate::{AppState, ingest};

// ---- configuration ----------------------------------------------------------------------------

/// The `[sip]` section: the voice channel.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipSettings {
    /// Whether the hub answers SIP at all (`serve --demo` turns it on).
    pub enabled: bool,
    /// UDP listening address, `host:port`; empty or `off`: no UDP.
    pub udp: String,
    /// TCP listening address, `host:port`; empty or `off`: no TCP.
    pub tcp: String,
    /// The host written in Via and Contact headers (required when listening on 0.0.0.0).
    pub public_host: Option<String>,
    /// The digest realm; agents' stored HA1s are only valid for this realm.
    pub realm: String,
    /// Support numbers (Request-URI user parts) → extra skills a call to it needs, e.g.
    /// `"+34900100200" = ["spanish"]`.
    pub support_numbers: BTreeMap<String, Vec<String>>,
    /// Seconds an agent's softphone rings before the router tries the next agent. Unset: the
    /// routing offer timeout.
    pub ring_timeout_secs: Option<u64>,
    /// Seconds a caller waits for an agent at most; then `480` with `Retry-After`, and a
    /// callback ticket.
    pub queue_limit_secs: u64,
    /// The `Retry-After` of that `480`, in seconds.
    pub retry_after_secs: u64,
    /// SIP messages per second accepted from one IP address (0: unlimited).
    pub rate_limit_per_sec: u32,
    /// Burst allowance of that limit.
    pub rate_limit_burst: u32,
    /// Source addresses exempt from the rate limit (a session border controller).
    pub trusted_sources: Vec<IpAddr>,
}

impl Default for SipSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            udp: "127.0.0.1:5060".into(),
            tcp: "127.0.0.1:5060".into(),
            public_host: None,
            realm: "switchboard".into(),
            support_numbers: [("support".to_owned(), Vec::new())].into_iter().collect(),
            ring_timeout_secs: None,
            queue_limit_secs: 120,
            retry_after_secs: 300,
            rate_limit_per_sec: 200,
            rate_limit_burst: 400,
            trusted_sources: Vec::new(),
        }
    }
}

fn listen_addr(value: &str, field: &str) -> Result<Option<SocketAddr>, ApiError> {
    let v = value.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .map_err(|_| ApiError::Internal(format!("sip.{field}: {v:?} is not host:port (an IP address) or \"off\"")))
}

// ---- credentials ------------------------------------------------------------------------------

/// Softphone accounts, in memory: the library asks on every REGISTER and must not wait.
#[derive(Debug)]
struct Accounts {
    realm: String,
    map: RwLock<HashMap<String, SipAccount>>,
}

impl SipCredentials for Accounts {
    fn account(&self, username: &str, realm: &str) -> Option<SipAccount> {
        if realm != self.realm {
            return None;
        }
        self.map.read().unwrap_or_else(PoisonError::into_inner).get(username).cloned()
    }
}

// ---- the service ------------------------------------------------------------------------------

/// Work for the voice task from elsewhere in the hub.
#[derive(Debug)]
enum Work {
    /// The router offered a voice ticket to an agent.
    Offered { ticket: TicketId, agent: AgentId, expires_at: OffsetDateTime },
}

/// The voice channel of a hub node.
pub struct Voice {
    settings: SipSettings,
    handle: SipHandle,
    accounts: Arc<Accounts>,
    /// Number → extra skills.
    number_skills: HashMap<String, Vec<SkillName>>,
    udp_addr: Option<SocketAddr>,
    tcp_addr: Option<SocketAddr>,
    work: mpsc::UnboundedSender<Work>,
    /// Taken by [`spawn`].
    receivers: std::sync::Mutex<Option<(mpsc::UnboundedReceiver<SipEvent>, mpsc::UnboundedReceiver<Work>)>>,
    /// Dropping the server stops it.
    _server: SipServer,
}

impl std::fmt::Debug for Voice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Voice")
            .field("udp_addr", &self.udp_addr)
            .field("tcp_addr", &self.tcp_addr)
            .finish_non_exhaustive()
    }
}

impl Voice {
    /// Loads the softphone accounts and starts the SIP server.
    ///
    /// # Errors
    /// Invalid settings, a socket that cannot be bound, or the store fails.
    pub async fn start(
        store: &schema::Store,
        settings: &SipSettings,
        offer_timeout_secs: u64,
    ) -> Result<Self, ApiError> {
        let mut number_skills = HashMap::new();
        for (number, skills) in &settings.support_numbers {
            let parsed = skills
                .iter()
                .map(|s| s.parse::<SkillName>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ApiError::Internal(format!("sip.support_numbers.{number}: {e}")))?;
            number_skills.insert(number.clone(), parsed);
        }
        let ring = settings.ring_timeout_secs.unwrap_or(offer_timeout_secs).max(1);
        let config = SipConfig {
            udp: listen_addr(&settings.udp, "udp")?,
            tcp: listen_addr(&settings.tcp, "tcp")?,
            public_host: settings.public_host.clone(),
            realm: settings.realm.clone(),
            support_numbers: settings.support_numbers.keys().cloned().collect(),
            rate_limit: (settings.rate_limit_per_sec > 0).then(|| RateLimit {
                per_second: settings.rate_limit_per_sec,
                burst: settings.rate_limit_burst.max(settings.rate_limit_per_sec),
            }),
            trusted_sources: settings.trusted_sources.clone(),
            // The hub gives up first (queue limit); the library's own limit is a backstop.
            max_setup_time: Duration::from_secs(settings.queue_limit_secs.saturating_add(ring).saturating_add(30)),
            ..SipConfig::default()
        };
        let accounts = Arc::new(Accounts { realm: settings.realm.clone(), map: RwLock::new(HashMap::new()) });
        let credentials: Arc<dyn SipCredentials> = accounts.clone();
        let (server, events) =
            SipServer::start(config, credentials).await.map_err(|e| ApiError::Internal(format!("SIP: {e}")))?;
        let (work, work_rx) = mpsc::unbounded_channel();
        let voice = Self {
            settings: settings.clone(),
            handle: server.handle(),
            accounts,
            number_skills,
            udp_addr: server.udp_addr(),
            tcp_addr: server.tcp_addr(),
            work,
            receivers: std::sync::Mutex::new(Some((events, work_rx))),
            _server: server,
        };
        voice.reload(store).await?;
        tracing::info!(udp = ?voice.udp_addr, tcp = ?voice.tcp_addr, realm = %settings.realm, "SIP voice channel ready");
        Ok(voice)
    }

    /// The bound UDP address.
    #[must_use]
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp_addr
    }

    /// The bound TCP address.
    #[must_use]
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// Re-reads the softphone accounts from the store (active agents, identities of this realm).
    ///
    /// # Errors
    /// The store fails.
    pub async fn reload(&self, store: &schema::Store) -> Result<(), ApiError> {
        let active: BTreeSet<AgentId> = store.agents().await?.into_iter().filter(|a| a.active).map(|a| a.id).collect();
        let map: HashMap<String, SipAccount> = store
            .sip_identities()
            .await?
            .into_iter()
            .filter(|i| i.realm == self.settings.realm && active.contains(&i.agent_id))
            .map(|i| (i.username, SipAccount { agent: i.agent_id, secret: DigestSecret::Md5Ha1(i.ha1) }))
            .collect();
        *self.accounts.map.write().unwrap_or_else(PoisonError::into_inner) = map;
        Ok(())
    }

    /// The router offered voice ticket `ticket` to `agent` (called under the routing lock: only
    /// queues the work).
    pub fn offered(&self, ticket: TicketId, agent: AgentId, expires_at: OffsetDateTime) {
        if self.work.send(Work::Offered { ticket, agent, expires_at }).is_err() {
            tracing::warn!(ticket_id = %ticket, "the voice task has stopped; the offer rings no phone");
        }
    }

    fn ring_timeout(&self, config: &crate::Config) -> Duration {
        Duration::from_secs(self.settings.ring_timeout_secs.unwrap_or(config.routing.offer_timeout_secs).max(1))
    }
}

/// Starts the voice task (once).
pub fn spawn(state: &web::Data<AppState>) {
    let Some(voice) = &state.voice else { return };
    let Some((events, work)) = voice.receivers.lock().unwrap_or_else(PoisonError::into_inner).take() else { return };
    tokio::spawn(run(state.clone(), events, work));
}

/// A live call, as the voice task tracks it.
#[derive(Debug)]
struct Live {
    record: VoiceCall,
    ticket: TicketId,
    /// The agent whose softphone is ringing now.
    ringing: Option<AgentId>,
    answered: bool,
    /// Gave up waiting (480 sent): the ticket is a callback now.
    given_up: bool,
    /// Abandoned by the caller: the ticket is closed.
    abandoned: bool,
    deadline: Instant,
    /// Numbers the timeline lines of this call.
    lines: u32,
}

#[derive(Debug, Default)]
struct Calls {
    live: HashMap<CallId, Live>,
    by_ticket: HashMap<TicketId, CallId>,
}

async fn run(
    state: web::Data<AppState>,
    mut events: mpsc::UnboundedReceiver<SipEvent>,
    mut work: mpsc::UnboundedReceiver<Work>,
) {
    recover_open_calls(&state).await;
    let mut calls = Calls::default();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            Some(event) = events.recv() => calls.on_event(&state, event).await,
            Some(w) = work.recv() => match w {
                Work::Offered { ticket, agent, expires_at } => calls.offered(&state, ticket, agent, expires_at).await,
            },
            _ = tick.tick() => calls.on_tick(&state).await,
        }
    }
}

fn voice(state: &AppState) -> Option<&Voice> {
    state.voice.as_deref()
}

/// The caller's number (or From URI), as a contact handle: trimmed, no control characters, at
/// most 128 characters.
fn caller_handle(caller: &Caller) -> String {
    let raw = caller.user.as_deref().filter(|u| !u.trim().is_empty()).unwrap_or(&caller.uri);
    let clean: String = raw.trim().chars().filter(|c| !c.is_control()).take(128).collect();
    if clean.is_empty() { "anonymous".to_owned() } else { clean }
}

fn talk_time(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 { format!("{} min {:02} s", secs / 60, secs % 60) } else { format!("{:.1} s", d.as_secs_f64()) }
}

fn ended_by(by: EndedBy) -> &'static str {
    match by {
        EndedBy::Caller => "caller",
        EndedBy::Agent => "agent",
        EndedBy::Hub => "hub",
        EndedBy::Timeout => "timeout",
    }
}

fn no_answer(reason: NoAnswerReason) -> String {
    match reason {
        NoAnswerReason::Timeout => "no answer".into(),
        NoAnswerReason::Busy(s) => format!("busy, {s}"),
        NoAnswerReason::Declined(s) => format!("declined, {s}"),
        NoAnswerReason::Failed(s) => format!("failed, {s}"),
        NoAnswerReason::Unreachable => "unreachable".into(),
    }
}

async fn agent_name(state: &AppState, agent: AgentId) -> String {
    state.store.agent(agent).await.map_or_else(|_| agent.to_string(), |a| a.name.as_str().to_owned())
}

/// Writes one line of the call's timeline into its conversation (a system message, keyed so a
/// repeat is a no-op).
async fn timeline(state: &AppState, conversation: ConversationId, call: impl std::fmt::Display, key: &str, text: &str) {
    let id = match format!("sip:{call}:{key}").parse::<ChannelMessageId>() {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(error = %e, "unusable timeline key");
            return;
        }
    };
    let text = match MessageText::parse(text, 1000) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "unusable timeline text");
            return;
        }
    };
    let new = NewMessage {
        conversation_id: conversation,
        author: AuthorKind::System,
        author_id: None,
        text,
        channel_message_id: Some(id),
        media: Vec::new(),
        template: None,
    };
    if let Err(e) = ingest::append(state, new).await {
        tracing::warn!(error = %e, %call, "cannot write a call's timeline line");
    }
}

impl Calls {
    async fn on_event(&mut self, state: &AppState, event: SipEvent) {
        let Some(v) = voice(state) else { return };
        match event {
            SipEvent::IncomingCall { call, caller, dialled, source } => {
                if let Err(e) = v.handle.queue(call) {
                    tracing::error!(error = %e, "the SIP server has stopped");
                    return;
                }
                if let Err(e) = self.incoming(state, call, &caller, &dialled).await {
                    tracing::error!(error = %e, %call, %source, "cannot queue a call; refusing it");
                    let retry = Duration::from_secs(v.settings.retry_after_secs);
                    if let Err(e) = v.handle.reject(call, 503, Some(retry)) {
                        tracing::error!(error = %e, "the SIP server has stopped");
                    }
                }
            }
            SipEvent::AgentRinging { call, agent } => {
                if let Some(live) = self.live.get(&call) {
                    let name = agent_name(state, agent).await;
                    let conversation = live.record.conversation_id;
                    timeline(state, conversation, call, &format!("ringing:{agent}"), &format!("Ringing {name}")).await;
                }
            }
            SipEvent::AgentAnswered { call, agent } => self.answered(state, call, agent).await,
            SipEvent::AgentNoAnswer { call, agent, reason } => self.not_answered(state, call, agent, reason).await,
            SipEvent::CallerHungUp { call } => self.caller_hung_up(state, call).await,
            SipEvent::AgentHungUp { .. } => {}
            SipEvent::CallEnded { call, by, duration } => self.ended(state, call, by, duration).await,
            SipEvent::AgentRegistered { agent, contact, expires } => {
                tracing::info!(agent_id = %agent, %contact, expires_secs = expires.as_secs(), "softphone registered");
                if let Err(e) = state.routing.set_softphone(state, agent, true).await {
                    tracing::error!(error = %e, agent_id = %agent, "cannot give the agent voice capacity");
                }
            }
            SipEvent::AgentUnregistered { agent, contact } => {
                tracing::info!(agent_id = %agent, %contact, "softphone unregistered");
                let left = v.handle.bindings(agent).await.map(|b| b.len()).unwrap_or(0);
                if left == 0
                    && let Err(e) = state.routing.set_softphone(state, agent, false).await
                {
                    tracing::error!(error = %e, agent_id = %agent, "cannot take the agent's voice capacity");
                }
            }
            SipEvent::CommandRejected { call, command, reason } => {
                tracing::warn!(%call, command, reason, "SIP command refused");
                if command == "ring_agent"
                    && let Some(live) = self.live.get_mut(&call)
                    && let Some(agent) = live.ringing.take()
                {
                    let ticket = live.ticket;
                    let _ = state.routing.apply(state, Input::OfferRejected { ticket, agent }).await;
                }
            }
        }
    }

    async fn incoming(
        &mut self,
        state: &AppState,
        call: CallId,
        caller: &Caller,
        dialled: &str,
    ) -> Result<(), ApiError> {
        let Some(v) = voice(state) else { return Ok(()) };
        let number = caller_handle(caller);
        let name = caller.display_name.as_deref().and_then(|n| {
            n.chars().filter(|c| !c.is_control()).take(100).collect::<String>().parse::<DisplayName>().ok()
        });
        let at = OffsetDateTime::now_utc();
        let mut conversation = state
            .store
            .conversation_for_handle(Channel::Voice, &number, name.clone(), ConversationStatus::Queued)
            .await?;
        if let Some(open) = state.store.latest_ticket(conversation.id).await?
            && !matches!(open.status, TicketStatus::Resolved | TicketStatus::Closed)
        {
            if self.by_ticket.contains_key(&open.id) {
                // The same number is already on a call with us.
                v.handle.reject(call, 486, None).map_err(|e| ApiError::Internal(e.to_string()))?;
                return Ok(());
            }
            // An earlier call's ticket (a callback, say): this call takes its place.
            state.routing.finish(state, open, TicketStatus::Resolved, Actor::Customer, "superseded_by_call").await?;
            conversation = state.store.conversation(conversation.id).await?;
        }
        let mut record = VoiceCall {
            id: call.to_string(),
            conversation_id: conversation.id,
            ticket_id: None,
            caller: number.clone(),
            dialled: dialled.to_owned(),
            status: "queued".into(),
            answered_by: None,
            started_at: at,
            answered_at: None,
            ended_at: None,
            ended_by: None,
            duration_ms: None,
            disposition: None,
        };
        state.store.save_call(&record).await?;
        let who = match &name {
            Some(n) => format!("{number} ({})", n.as_str()),
            None => number.clone(),
        };
        timeline(state, conversation.id, call, "incoming", &format!("Call from {who} to {dialled}")).await;

        let customer = state.store.customer(conversation.customer_id).await?;
        let tags: BTreeSet<String> = ["call".to_owned()].into_iter().collect();
        let sample = Sample {
            channel: Channel::Voice,
            language: conversation.language,
            tier: customer.tier,
            tags: tags.iter().cloned().collect(),
            text: String::new(),
            at: at.unix_timestamp() * 1000,
        };
        let mut classification = state.routing.classify(&sample);
        let level = SkillLevel::try_from(1i64)?;
        let voice_skill: SkillName = "voice".parse()?;
        let extra = v.number_skills.get(dialled).cloned().unwrap_or_default();
        for skill in std::iter::once(voice_skill).chain(extra) {
            if !classification.target.skills.iter().any(|r| r.skill == skill) {
                classification.target.skills.push(SkillRequirement { skill, level });
            }
        }
        let summary = format!("Phone call from {who} to {dialled}");
        let ticket =
            state.routing.hand_over(state, &conversation, classification, tags, Some(summary), Actor::Customer).await?;
        record.ticket_id = Some(ticket.id);
        state.store.save_call(&record).await?;
        state.metrics.routing.with_label_values(&["call_queued"]).inc();
        let deadline = Instant::now() + Duration::from_secs(v.settings.queue_limit_secs);
        self.by_ticket.insert(ticket.id, call);
        self.live.insert(
            call,
            Live {
                record,
                ticket: ticket.id,
                ringing: None,
                answered: false,
                given_up: false,
                abandoned: false,
                deadline,
                lines: 0,
            },
        );
        Ok(())
    }

    /// The router offered `ticket` to `agent`: ring their softphone, if the ticket is a live,
    /// unanswered call and no other phone rings for it.
    async fn offered(&mut self, state: &AppState, ticket: TicketId, agent: AgentId, expires_at: OffsetDateTime) {
        let Some(v) = voice(state) else { return };
        let Some(&call) = self.by_ticket.get(&ticket) else { return };
        let Some(live) = self.live.get_mut(&call) else { return };
        if live.answered || live.ringing.is_some() {
            // The ringing phone's answer or no-answer decides; then the current offer rings.
            return;
        }
        let bindings = v.handle.bindings(agent).await.unwrap_or_default();
        let Some(binding) = bindings.first() else {
            // No softphone (it just went away): a missed offer, so the router moves on.
            let _ = state.routing.apply(state, Input::OfferRejected { ticket, agent }).await;
            return;
        };
        let left = (expires_at - OffsetDateTime::now_utc()).whole_milliseconds();
        let left = Duration::from_millis(u64::try_from(left).unwrap_or(0));
        let timeout = v.ring_timeout(&state.config).min(left).max(Duration::from_secs(1));
        match v.handle.ring_agent(call, binding, timeout) {
            Ok(()) => live.ringing = Some(agent),
            Err(e) => tracing::error!(error = %e, "the SIP server has stopped"),
        }
    }

    /// Rings whoever the call's ticket is offered or assigned to now, if no phone rings.
    async fn ring_current(&mut self, state: &AppState, call: CallId) {
        let Some(live) = self.live.get(&call) else { return };
        if live.answered || live.given_up || live.ringing.is_some() {
            return;
        }
        let ticket = match state.store.ticket(live.ticket).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a call's ticket");
                return;
            }
        };
        let expires = ticket.offer_expires_at.unwrap_or_else(|| OffsetDateTime::now_utc() + time::Duration::hours(1));
        match (ticket.status, ticket.offered_to, ticket.assignee_id) {
            (TicketStatus::Offered, Some(agent), _) | (TicketStatus::Assigned, _, Some(agent)) => {
                self.offered(state, ticket.id, agent, expires).await;
            }
            _ => {}
        }
    }

    async fn answered(&mut self, state: &AppState, call: CallId, agent: AgentId) {
        let Some(live) = self.live.get_mut(&call) else { return };
        live.answered = true;
        live.ringing = None;
        let ticket = live.ticket;
        live.record.status = "connected".into();
        live.record.answered_by = Some(agent);
        live.record.answered_at = Some(OffsetDateTime::now_utc());
        let record = live.record.clone();
        if let Err(e) = state.store.save_call(&record).await {
            tracing::error!(error = %e, %call, "cannot record the answer");
        }
        let name = agent_name(state, agent).await;
        timeline(state, record.conversation_id, call, "answered", &format!("Answered by {name}")).await;
        if state.routing.apply(state, Input::OfferAccepted { ticket, agent }).await.is_err() {
            // The offer had expired or moved on, or the ticket was accepted in the inbox: the
            // call is with this agent all the same, so the ticket is too.
            match state.store.ticket(ticket).await {
                Ok(t) if t.assignee_id == Some(agent) && t.status == TicketStatus::Assigned => {}
                Ok(t) if !matches!(t.status, TicketStatus::Resolved | TicketStatus::Closed) => {
                    if let Err(e) = state.routing.transfer(state, t, Transfer::Agent(agent), Actor::System).await {
                        tracing::error!(error = %e, %call, "cannot give the answered call's ticket to the agent");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, %call, "cannot read the answered call's ticket"),
            }
        }
    }

    async fn not_answered(&mut self, state: &AppState, call: CallId, agent: AgentId, reason: NoAnswerReason) {
        let Some(live) = self.live.get_mut(&call) else { return };
        if live.ringing == Some(agent) {
            live.ringing = None;
        }
        if live.given_up || live.answered {
            return;
        }
        live.lines += 1;
        let (ticket, conversation, n) = (live.ticket, live.record.conversation_id, live.lines);
        let name = agent_name(state, agent).await;
        let text = format!("Not answered by {name} ({})", no_answer(reason));
        timeline(state, conversation, call, &format!("no-answer:{n}"), &text).await;
        // A declined offer: the router tries the next agent (an error means the offer had
        // already timed out or moved on).
        let _ = state.routing.apply(state, Input::OfferRejected { ticket, agent }).await;
        self.ring_current(state, call).await;
    }

    async fn caller_hung_up(&mut self, state: &AppState, call: CallId) {
        let Some(live) = self.live.get_mut(&call) else { return };
        if live.answered || live.given_up || live.abandoned {
            return;
        }
        live.abandoned = true;
        live.record.status = "abandoned".into();
        let (ticket, conversation) = (live.ticket, live.record.conversation_id);
        let waited = OffsetDateTime::now_utc() - live.record.started_at;
        self.by_ticket.remove(&ticket);
        let text = format!("The caller hung up after waiting {:.1} s", waited.as_seconds_f64());
        timeline(state, conversation, call, "abandoned", &text).await;
        match state.store.ticket(ticket).await {
            Ok(t) if !matches!(t.status, TicketStatus::Resolved | TicketStatus::Closed) => {
                if let Err(e) = state.routing.finish(state, t, TicketStatus::Closed, Actor::Customer, "abandoned").await
                {
                    tracing::error!(error = %e, %call, "cannot close the abandoned call's ticket");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, %call, "cannot read the abandoned call's ticket"),
        }
        state.metrics.routing.with_label_values(&["call_abandoned"]).inc();
    }

    async fn ended(&mut self, state: &AppState, call: CallId, by: EndedBy, duration: Option<Duration>) {
        if self.live.get(&call).is_some_and(|l| !l.answered && !l.given_up && !l.abandoned) {
            // Ended before anyone answered, not by the caller and not by our queue limit (the
            // library's set-up timer, say): the caller did not get through, so call them back.
            self.give_up(state, call, false).await;
        }
        let Some(mut live) = self.live.remove(&call) else { return };
        self.by_ticket.remove(&live.ticket);
        live.record.ended_at = Some(OffsetDateTime::now_utc());
        live.record.ended_by = Some(ended_by(by).to_owned());
        live.record.duration_ms = duration.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        if live.answered {
            live.record.status = "ended".into();
        }
        if let Err(e) = state.store.save_call(&live.record).await {
            tracing::error!(error = %e, %call, "cannot record the end of a call");
        }
        if !live.answered {
            return;
        }
        let who = match by {
            EndedBy::Caller => "the caller".to_owned(),
            EndedBy::Agent => match live.record.answered_by {
                Some(a) => agent_name(state, a).await,
                None => "the agent".to_owned(),
            },
            EndedBy::Hub => "the hub".to_owned(),
            EndedBy::Timeout => "a timeout".to_owned(),
        };
        let text = match duration {
            Some(d) => format!("Call ended by {who} after {}", talk_time(d)),
            None => format!("Call ended by {who}"),
        };
        let conversation = live.record.conversation_id;
        timeline(state, conversation, call, "ended", &text).await;
        // The call is over: resolving the ticket frees the agent's exclusive voice capacity.
        let actor = match (by, live.record.answered_by) {
            (EndedBy::Agent, Some(a)) => Actor::Agent(a),
            (EndedBy::Caller, _) => Actor::Customer,
            _ => Actor::System,
        };
        match state.store.ticket(live.ticket).await {
            Ok(t) if !matches!(t.status, TicketStatus::Resolved | TicketStatus::Closed) => {
                if let Err(e) = state.routing.finish(state, t, TicketStatus::Resolved, actor, "call_ended").await {
                    tracing::error!(error = %e, %call, "cannot resolve the ended call's ticket");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, %call, "cannot read the ended call's ticket"),
        }
        state.metrics.routing.with_label_values(&["call_ended"]).inc();
    }

    async fn on_tick(&mut self, state: &AppState) {
        let now = Instant::now();
        let due: Vec<CallId> = self
            .live
            .iter()
            .filter(|(_, l)| !l.answered && !l.given_up && !l.abandoned && l.deadline <= now)
            .map(|(c, _)| *c)
            .collect();
        for call in due {
            self.give_up(state, call, true).await;
        }
    }

    /// Nobody answered in time: `480` with `Retry-After` (when `reject`), and the ticket stays
    /// queued, tagged `callback`, for an agent to call the customer back.
    async fn give_up(&mut self, state: &AppState, call: CallId, reject: bool) {
        let Some(v) = voice(state) else { return };
        let Some(live) = self.live.get_mut(&call) else { return };
        live.given_up = true;
        live.record.status = "callback".into();
        let (ticket, conversation) = (live.ticket, live.record.conversation_id);
        let record = live.record.clone();
        self.by_ticket.remove(&ticket);
        let retry = v.settings.retry_after_secs;
        if reject && let Err(e) = v.handle.reject(call, 480, Some(Duration::from_secs(retry))) {
            tracing::error!(error = %e, "the SIP server has stopped");
        }
        if let Err(e) = state.store.save_call(&record).await {
            tracing::error!(error = %e, %call, "cannot record a callback");
        }
        let text = format!(
            "No agent answered within {} s: the caller was asked to call again later (480, Retry-After {retry} s); \
             a callback is queued",
            v.settings.queue_limit_secs
        );
        timeline(state, conversation, call, "callback", &text).await;
        queue_callback(state, ticket, &record.id, serde_json::json!({ "retry_after_secs": retry })).await;
    }
}

/// Tags the call's ticket `callback` (it stays queued, for an agent to call the customer back).
async fn queue_callback(state: &AppState, ticket: TicketId, call: &str, mut detail: serde_json::Value) {
    match state.store.ticket(ticket).await {
        Ok(t) if !matches!(t.status, TicketStatus::Resolved | TicketStatus::Closed) => {
            let mut tags = t.tags.clone();
            tags.insert("callback".into());
            detail["call_id"] = serde_json::Value::from(call);
            let line = schema::TicketEvent {
                ticket_id: ticket,
                actor: Actor::System,
                kind: "callback_queued".into(),
                detail,
                at: OffsetDateTime::now_utc(),
            };
            match state.store.set_ticket_tags(ticket, &tags, &line).await {
                Ok(t) => state.bus.publish(Event::TicketUpdated { ticket: t }),
                Err(e) => tracing::error!(error = %e, %call, "cannot tag the callback ticket"),
            }
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, %call, "cannot read the callback ticket"),
    }
    state.metrics.routing.with_label_values(&["call_callback"]).inc();
}

/// Calls the store still shows open (`queued` or `connected`) when the voice task starts were
/// live when the hub stopped, and their SIP dialogs went with it: a waiting caller becomes a
/// callback on the same ticket; a connected call is recorded as ended by the hub (its talk time
/// is unknown, its ticket stays with the agent).
async fn recover_open_calls(state: &AppState) {
    let open = match state.store.open_calls().await {
        Ok(open) => open,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the calls left open by the last run");
            return;
        }
    };
    for mut call in open {
        // The call is saved before its ticket exists and again after: a stop in between leaves
        // no ticket on the record, so the conversation's open voice ticket stands in.
        if call.ticket_id.is_none() {
            match state.store.latest_ticket(call.conversation_id).await {
                Ok(t) => {
                    call.ticket_id = t
                        .filter(|t| {
                            t.channel == Channel::Voice
                                && !matches!(t.status, TicketStatus::Resolved | TicketStatus::Closed)
                        })
                        .map(|t| t.id);
                }
                Err(e) => tracing::error!(error = %e, call = %call.id, "cannot read the ticket of a call left open"),
            }
        }
        let now = OffsetDateTime::now_utc();
        let queued = call.status == "queued";
        call.status = if queued { "callback" } else { "ended" }.into();
        call.ended_at = Some(now);
        call.ended_by = Some("hub".into());
        if let Err(e) = state.store.save_call(&call).await {
            tracing::error!(error = %e, call = %call.id, "cannot close a call left open");
            continue;
        }
        let (key, text) = if queued {
            ("restart-callback", "The hub restarted while the caller waited: the call was lost; a callback is queued")
        } else {
            ("restart-ended", "The hub restarted during the call: its end was not seen, and its talk time is unknown")
        };
        timeline(state, call.conversation_id, &call.id, key, text).await;
        if queued && let Some(ticket) = call.ticket_id {
            queue_callback(state, ticket, &call.id, serde_json::json!({ "reason": "hub_restart" })).await;
        }
        tracing::warn!(call = %call.id, status = %call.status, "call left open by the last run closed");
    }
}

// ---- demo -------------------------------------------------------------------------------------

/// Demo softphone identities: (staff e-mail, SIP username). Their password is the demo password.
pub const DEMO_SIP: &[(&str, &str)] =
    &[("ana@demo.switchboard.local", "ana"), ("bruno@demo.switchboard.local", "bruno")];

/// Gives the demo agents SIP identities (and the `voice` skill), unless they have one for `realm`.
///
/// # Errors
/// The store fails.
pub async fn seed_demo(store: &schema::Store, realm: &str) -> Result<(), ApiError> {
    for (email, username) in DEMO_SIP {
        let Some((agent, _)) = store.agent_credentials(&email.parse()?).await? else { continue };
        if store.sip_identity(agent.id).await?.is_some_and(|i| i.realm == realm) {
            continue;
        }
        let identity = SipIdentity {
            agent_id: agent.id,
            username: (*username).to_owned(),
            realm: realm.to_owned(),
            ha1: channels::sip::digest::md5_ha1(username, realm, crate::DEMO_PASSWORD),
            updated_at: OffsetDateTime::now_utc(),
        };
        store.set_sip_identity(&identity).await?;
        if let Some(mut routing) = store.agent_routing(agent.id).await? {
            routing.skills.entry("voice".parse()?).or_insert(SkillLevel::try_from(5i64)?);
            store.set_agent_routing(&routing).await?;
        }
    }
    Ok(())
}

// ---- HTTP API ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityBody {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct IdentityView {
    agent_id: AgentId,
    username: String,
    realm: String,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    /// The softphone's live registrations (empty when SIP is off).
    registrations: Vec<RegistrationView>,
}

#[derive(Serialize)]
struct RegistrationView {
    contact: String,
    expires_in_secs: u64,
}

fn invalid(field: &'static str, reason: &str) -> ApiError {
    ApiError::Validation(ValidationError::Invalid { field, reason: reason.to_owned() })
}

async fn identity_view(state: &AppState, identity: SipIdentity) -> IdentityView {
    let mut registrations = Vec::new();
    if let Some(v) = voice(state) {
        let now = Instant::now();
        for b in v.handle.bindings(identity.agent_id).await.unwrap_or_default() {
            registrations.push(RegistrationView {
                contact: b.contact,
                expires_in_secs: b.expires_at.saturating_duration_since(now).as_secs(),
            });
        }
    }
    IdentityView {
        agent_id: identity.agent_id,
        username: identity.username,
        realm: identity.realm,
        updated_at: identity.updated_at,
        registrations,
    }
}

/// `PUT /api/v1/agents/{id}/sip` (admin): sets the agent's softphone username and password.
/// Only `MD5(username:realm:password)` is stored.
pub async fn set_identity(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<AgentId>,
    body: web::Json<IdentityBody>,
) -> Result<HttpResponse, ApiError> {
    let admin = staff.require(Role::Admin)?;
    let IdentityBody { username, password } = body.into_inner();
    if username.is_empty()
        || username.len() > 64
        || !username.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
    {
        return Err(invalid("username", "1 to 64 letters, digits, '.', '_', '-' or '+'"));
    }
    let chars = password.chars().count();
    if !(8..=128).contains(&chars) || password.chars().any(char::is_control) {
        return Err(invalid("password", "8 to 128 printable characters"));
    }
    let agent = state.store.agent(*id).await?;
    if !agent.has_role(Role::Agent) {
        return Err(invalid("id", "not an agent"));
    }
    let realm = state.config.sip.realm.clone();
    let identity = SipIdentity {
        agent_id: agent.id,
        ha1: channels::sip::digest::md5_ha1(&username, &realm, &password),
        username,
        realm,
        updated_at: OffsetDateTime::now_utc(),
    };
    state.store.set_sip_identity(&identity).await?;
    if let Some(v) = voice(&state) {
        v.reload(&state.store).await?;
    }
    tracing::info!(agent_id = %agent.id, username = %identity.username, by = %admin.id, "SIP identity set");
    Ok(HttpResponse::Ok().json(identity_view(&state, identity).await))
}

/// `GET /api/v1/agents/{id}/sip` (admin, or the agent themselves): the identity without its
/// secret, and the softphone's live registrations.
pub async fn get_identity(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<AgentId>,
) -> Result<HttpResponse, ApiError> {
    let me = staff.require(Role::Agent)?;
    if me.id != *id && !me.has_role(Role::Admin) {
        return Err(ApiError::Forbidden("only an admin or the agent themselves can see this".into()));
    }
    let identity = state.store.sip_identity(*id).await?.ok_or(ApiError::NotFound("SIP identity"))?;
    Ok(HttpResponse::Ok().json(identity_view(&state, identity).await))
}

/// `GET /api/v1/conversations/{id}/calls` (agent): the conversation's calls, oldest first.
pub async fn conversation_calls(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Agent)?;
    state.store.conversation(*id).await?;
    Ok(HttpResponse::Ok().json(state.store.conversation_calls(*id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispositionBody {
    disposition: String,
}

/// `PUT /api/v1/calls/{id}/disposition` (the agent who answered, or a supervisor): the call's
/// wrap-up code, also written in its ticket's history.
pub async fn set_disposition(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<String>,
    body: web::Json<DispositionBody>,
) -> Result<HttpResponse, ApiError> {
    let agent = staff.require(Role::Agent)?;
    let code = body.into_inner().disposition.trim().to_lowercase();
    if code.is_empty()
        || code.len() > 50
        || !code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
    {
        return Err(invalid("disposition", "1 to 50 lower-case letters, digits, '_' or '-'"));
    }
    let mut call = state.store.call(&id).await?;
    if call.answered_by != Some(agent.id) && !agent.has_role(Role::Supervisor) {
        return Err(ApiError::Forbidden("only the agent who took the call or a supervisor can do this".into()));
    }
    call.disposition = Some(code.clone());
    state.store.save_call(&call).await?;
    if let Some(ticket) = call.ticket_id {
        let t = state.store.ticket(ticket).await?;
        let line = schema::TicketEvent {
            ticket_id: ticket,
            actor: Actor::Agent(agent.id),
            kind: "disposition".into(),
            detail: serde_json::json!({ "call_id": call.id, "disposition": code }),
            at: OffsetDateTime::now_utc(),
        };
        state.store.set_ticket_tags(ticket, &t.tags, &line).await?;
    }
    Ok(HttpResponse::Ok().json(call))
}
