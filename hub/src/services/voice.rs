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
//! - When the router offers a voice ticket (the offer comes on the bus, so from whichever node
//!   runs the router), the node carrying the call rings the agent's registered softphone: one
//!   registered with this node, or, on several nodes, one registered with another node and shared
//!   through Redis (`voice_share`), reached over UDP. Answering accepts the offer (as accepting in
//!   the inbox does); not answering declines it, so the router tries the next agent. An agent
//!   without a registered softphone has no voice capacity in the router, so is never offered a
//!   call.
//! - The caller hanging up while waiting closes the ticket (`abandoned`). Nobody answering within
//!   the queue limit: the caller gets `480` with `Retry-After`, and the ticket stays queued,
//!   tagged `callback`, for an agent to call back.
//! - A connected call that ends resolves its ticket (freeing the agent's exclusive voice
//!   capacity); notes and a disposition can be added afterwards.
//!
//! - Calls left open by a node that stopped are closed (a callback for a waiting caller): by the
//!   node itself when it starts again, alone; on several nodes, by the holder of the `jobs` lease
//!   once no node vouches for them any more.
//!
//! One task handles every SIP event and every voice offer in order, so a call's state is never
//! changed from two places at once.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use channels::sip::{
    Binding, CallId, Caller, DigestSecret, EndedBy, NoAnswerReason, RateLimit, SipAccount, SipConfig, SipCredentials,
    SipEvent, SipHandle, SipServer,
};
use schema::{
    Actor, AgentId, Channel, ConversationId, ConversationStatus, DisplayName, NewCustomer, Role, SipIdentity,
    SkillLevel, SkillName, SkillRequirement, TicketId, TicketStatus, VoiceCall,
};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::bus::{Event, Received, Subscription, Topic};
use crate::config::SipSettings;
use crate::error::Error;
use crate::services::Core;
use crate::services::escalate::{Escalate, Escalation};
use crate::services::ingest::Ingest;
use crate::services::leader::Lease;
use crate::services::routing::{Routing, Transfer};
use crate::services::voice_share::{CALLS_RENEW, CALLS_TTL, SharedBinding, VoiceShare};

fn listen_addr(value: &str, field: &str) -> Result<Option<SocketAddr>, Error> {
    let v = value.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .map_err(|_| Error::Internal(format!("sip.{field}: {v:?} is not host:port (an IP address) or \"off\"")))
}

// ---- credentials ------------------------------------------------------------------------------

/// Softphone accounts, in memory: the library asks on every REGISTER and must not wait.
#[derive(Debug)]
struct Accounts {
    realm: String,
    map: RwLock<HashMap<String, SipAccount>>,
    /// Told of every unknown username: with several nodes, the identity may have just been set
    /// through another node, so the accounts are re-read at once (at most once a second).
    missed: tokio::sync::Notify,
}

impl SipCredentials for Accounts {
    fn account(&self, username: &str, realm: &str) -> Option<SipAccount> {
        if realm != self.realm {
            return None;
        }
        let found = self.map.read().unwrap_or_else(PoisonError::into_inner).get(username).cloned();
        if found.is_none() {
            self.missed.notify_one();
        }
        found
    }
}

// ---- the service ------------------------------------------------------------------------------

/// With several nodes, how soon a softphone identity set through one node holds on the others.
const ACCOUNTS_REFRESH: Duration = Duration::from_secs(5);

/// The voice channel of a hub node.
pub struct Voice {
    core: Core,
    routing: Arc<Routing>,
    ingest: Arc<Ingest>,
    escalate: Arc<Escalate>,
    settings: SipSettings,
    /// The ring time when `sip.ring_timeout_secs` is unset: the routing offer timeout.
    offer_timeout_secs: u64,
    handle: SipHandle,
    accounts: Arc<Accounts>,
    /// Number → extra skills.
    number_skills: HashMap<String, Vec<SkillName>>,
    udp_addr: Option<SocketAddr>,
    tcp_addr: Option<SocketAddr>,
    /// With several nodes: the registrations and live calls shared through Redis.
    share: Option<Arc<VoiceShare>>,
    /// Taken by [`spawn`]: the SIP events and the bus (the router's offers).
    receivers: std::sync::Mutex<Option<(mpsc::UnboundedReceiver<SipEvent>, Subscription)>>,
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
        core: Core,
        routing: Arc<Routing>,
        ingest: Arc<Ingest>,
        escalate: Arc<Escalate>,
        settings: &SipSettings,
        offer_timeout_secs: u64,
        share: Option<Arc<VoiceShare>>,
    ) -> Result<Arc<Self>, Error> {
        let mut number_skills = HashMap::new();
        for (number, skills) in &settings.support_numbers {
            let parsed = skills
                .iter()
                .map(|s| s.parse::<SkillName>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Error::Internal(format!("sip.support_numbers.{number}: {e}")))?;
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
            identity_sources: settings
                .identity_sources
                .iter()
                .map(|n| n.parse().map_err(|e| Error::Internal(format!("sip.identity_sources: {e}"))))
                .collect::<Result<_, _>>()?,
            max_calls: settings.max_calls.max(1),
            max_tcp_connections: settings.max_tcp_connections.max(1),
            // The hub gives up first (queue limit); the library's own limit is a backstop.
            max_setup_time: Duration::from_secs(settings.queue_limit_secs.saturating_add(ring).saturating_add(30)),
            ..SipConfig::default()
        };
        let accounts = Arc::new(Accounts {
            realm: settings.realm.clone(),
            map: RwLock::new(HashMap::new()),
            missed: tokio::sync::Notify::new(),
        });
        let credentials: Arc<dyn SipCredentials> = accounts.clone();
        let (server, events) =
            SipServer::start(config, credentials).await.map_err(|e| Error::Internal(format!("SIP: {e}")))?;
        // Subscribed before anything can be offered: no offer is missed.
        let offers = core.bus.subscribe(Topic::Inbox);
        let voice = Self {
            core,
            routing,
            ingest,
            escalate,
            offer_timeout_secs,
            settings: settings.clone(),
            handle: server.handle(),
            accounts,
            number_skills,
            udp_addr: server.udp_addr(),
            tcp_addr: server.tcp_addr(),
            share,
            receivers: std::sync::Mutex::new(Some((events, offers))),
            _server: server,
        };
        voice.reload().await?;
        tracing::info!(udp = ?voice.udp_addr, tcp = ?voice.tcp_addr, realm = %settings.realm, "SIP voice channel ready");
        Ok(Arc::new(voice))
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

    /// Re-reads the softphone accounts from the store (active members with the agent role,
    /// identities of this realm).
    ///
    /// # Errors
    /// The store fails.
    pub async fn reload(&self) -> Result<(), Error> {
        let store = &self.core.store;
        let active: BTreeSet<AgentId> =
            store.agents().await?.into_iter().filter(|a| a.active && a.has_role(Role::Agent)).map(|a| a.id).collect();
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

    /// The realm of the softphones' digest credentials.
    #[must_use]
    pub fn realm(&self) -> &str {
        &self.settings.realm
    }

    /// The agent's softphone registrations, with every node's: contact and seconds left.
    pub async fn registrations(&self, agent: AgentId) -> Vec<(String, u64)> {
        let now = Instant::now();
        let mut shown: Vec<(String, u64)> = self
            .handle
            .bindings(agent)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|b| (b.contact, b.expires_at.saturating_duration_since(now).as_secs()))
            .collect();
        for b in self.elsewhere(agent).await {
            let left = b.left().as_secs();
            if !shown.iter().any(|(c, _)| *c == b.contact) {
                shown.push((b.contact, left));
            }
        }
        shown
    }

    /// The agent's registrations other nodes took (none on one node, or when Redis fails).
    async fn elsewhere(&self, agent: AgentId) -> Vec<SharedBinding> {
        let Some(share) = &self.share else { return Vec::new() };
        match share.registrations(agent).await {
            Ok(all) => all.into_iter().filter(|b| b.node != share.node()).collect(),
            Err(e) => {
                tracing::warn!(error = %e, agent_id = %agent, "cannot read the softphones other nodes registered");
                Vec::new()
            }
        }
    }

    /// Shares this node's registrations of `agent` with the other nodes (with several nodes).
    async fn share_registrations(&self, agent: AgentId) {
        let Some(share) = &self.share else { return };
        let now = Instant::now();
        let now_ms = super::now_ms();
        let bindings: Vec<SharedBinding> = self
            .handle
            .bindings(agent)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|b| SharedBinding {
                tcp: b.over_tcp(),
                expires_at_ms: now_ms.saturating_add(
                    i64::try_from(b.expires_at.saturating_duration_since(now).as_millis()).unwrap_or(0),
                ),
                username: b.username,
                contact: b.contact,
                target: b.target,
                node: share.node().to_owned(),
            })
            .collect();
        if let Err(e) = share.publish(agent, &bindings).await {
            tracing::warn!(error = %e, agent_id = %agent, "cannot share a softphone registration with the other nodes");
        }
    }

    fn ring_timeout(&self) -> Duration {
        Duration::from_secs(self.settings.ring_timeout_secs.unwrap_or(self.offer_timeout_secs).max(1))
    }

    /// Starts the voice task (once).
    pub fn spawn(self: &Arc<Self>) {
        let Some((events, offers)) = self.receivers.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            return;
        };
        tokio::spawn(run(Arc::clone(self), events, offers));
        if self.share.is_some() {
            tokio::spawn(Arc::clone(self).refresh_accounts());
        }
    }

    /// With several nodes: re-reads the softphone accounts every [`ACCOUNTS_REFRESH`], and at
    /// once (at most once a second) when a softphone names an unknown username, so an identity
    /// set (or an agent disabled) through another node holds here too.
    async fn refresh_accounts(self: Arc<Self>) {
        let mut every = tokio::time::interval(ACCOUNTS_REFRESH);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            tokio::select! {
                () = self.core.shutdown.cancelled() => return,
                _ = every.tick() => {}
                () = self.accounts.missed.notified() => {}
            }
            if let Err(e) = self.reload().await {
                tracing::warn!(error = %e, "cannot re-read the softphone accounts");
            }
            tokio::select! {
                () = self.core.shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// With several nodes, while this node holds the `jobs` lease: closes the calls no node
    /// vouches for any more (their node stopped), as a node alone does with its own at start-up.
    pub async fn close_orphans(self: Arc<Self>, jobs: Lease) {
        if self.share.is_none() {
            return;
        }
        jobs.run_while_held(|term| Arc::clone(&self).close_orphans_while(term.token)).await;
    }

    async fn close_orphans_while(self: Arc<Self>, term: CancellationToken) {
        let Some(share) = &self.share else { return };
        // A call is vouched for within CALLS_RENEW of its start; one younger than this is left
        // alone whether or not its node's word has come yet.
        let grace = time::Duration::try_from(CALLS_TTL + CALLS_RENEW).unwrap_or(time::Duration::MINUTE);
        loop {
            tokio::select! {
                () = term.cancelled() => return,
                () = tokio::time::sleep(CALLS_RENEW) => {}
            }
            let open = match self.core.store.open_calls().await {
                Ok(open) => open,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the open calls");
                    continue;
                }
            };
            let old = OffsetDateTime::now_utc() - grace;
            if !open.iter().any(|c| c.started_at < old) {
                continue;
            }
            // Read after the calls: a call that ended meanwhile is left as it is recorded.
            let vouched = match share.vouched().await {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read which calls the nodes carry");
                    continue;
                }
            };
            for call in open.into_iter().filter(|c| c.started_at < old && !vouched.contains(&c.id)) {
                if term.is_cancelled() {
                    return;
                }
                close_left_open(&self, call, "node_stopped").await;
            }
        }
    }
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

async fn run(v: Arc<Voice>, mut events: mpsc::UnboundedReceiver<SipEvent>, mut offers: Subscription) {
    let state = &*v;
    if v.share.is_none() {
        // Alone, every open call was this node's. With several nodes, another may be carrying
        // them: the `jobs` lease holder closes those whose node stopped (`close_orphans`).
        recover_open_calls(state).await;
    }
    let mut calls = Calls::default();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut vouch = tokio::time::interval(CALLS_RENEW);
    vouch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = state.core.shutdown.cancelled() => return,
            Some(event) = events.recv() => calls.on_event(state, event).await,
            received = offers.recv() => match received {
                Received::Event(envelope) => {
                    if let Event::TicketUpdated { ticket } = &**envelope
                        && ticket.channel == Channel::Voice
                        && ticket.status == TicketStatus::Offered
                        && let (Some(agent), Some(expires_at)) = (ticket.offered_to, ticket.offer_expires_at)
                    {
                        calls.offered(state, ticket.id, agent, expires_at).await;
                    }
                }
                // Offers may have been missed: ring whoever each waiting call is offered to now.
                Received::Lagged => {
                    let waiting: Vec<CallId> = calls.live.keys().copied().collect();
                    for call in waiting {
                        calls.ring_current(state, call).await;
                    }
                }
                Received::Closed => return,
            },
            _ = tick.tick() => calls.on_tick(state).await,
            _ = vouch.tick(), if v.share.is_some() => {
                if let Some(share) = &v.share {
                    let live: Vec<String> = calls.live.keys().map(ToString::to_string).collect();
                    let share = Arc::clone(share);
                    // Not awaited here: a slow Redis must not hold up the calls.
                    tokio::spawn(async move {
                        if let Err(e) = share.vouch(&live).await {
                            tracing::warn!(error = %e, "cannot vouch for this node's calls");
                        }
                    });
                }
            }
        }
    }
}

/// The caller's number (or From URI), as a contact handle: trimmed, no control characters, at
/// most 128 characters.
fn caller_handle(caller: &Caller) -> String {
    let raw = caller.user.as_deref().filter(|u| !u.trim().is_empty()).unwrap_or(&caller.uri);
    let clean: String = raw.trim().chars().filter(|c| !c.is_control()).take(128).collect();
    if clean.is_empty() { "anonymous".to_owned() } else { clean }
}

/// The name shown for a caller whose number is not asserted by a trusted source.
fn unverified_name(number: &str) -> Option<DisplayName> {
    format!("unverified caller {number}").chars().take(100).collect::<String>().parse().ok()
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

async fn agent_name(state: &Voice, agent: AgentId) -> String {
    state.core.store.agent(agent).await.map_or_else(|_| agent.to_string(), |a| a.name.as_str().to_owned())
}

/// Writes one line of the call's timeline into its conversation (a system message, keyed so a
/// repeat is a no-op).
async fn timeline(state: &Voice, conversation: ConversationId, call: impl std::fmt::Display, key: &str, text: &str) {
    state.ingest.timeline(conversation, &format!("sip:{call}:{key}"), text).await;
}

impl Calls {
    async fn on_event(&mut self, state: &Voice, event: SipEvent) {
        let v = state;
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
                state.share_registrations(agent).await;
                if let Err(e) = state.routing.set_softphone(agent, true).await {
                    tracing::error!(error = %e, agent_id = %agent, "cannot give the agent voice capacity");
                }
            }
            SipEvent::AgentUnregistered { agent, contact } => {
                tracing::info!(agent_id = %agent, %contact, "softphone unregistered");
                state.share_registrations(agent).await;
                let left = v.handle.bindings(agent).await.map(|b| b.len()).unwrap_or(0);
                if left == 0
                    && let Err(e) = state.routing.set_softphone(agent, false).await
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
                    let _ = state.routing.answer_offer(ticket, agent, false).await;
                }
            }
        }
    }

    async fn incoming(&mut self, state: &Voice, call: CallId, caller: &Caller, dialled: &str) -> Result<(), Error> {
        let v = state;
        let number = caller_handle(caller);
        let name = caller.display_name.as_deref().and_then(|n| {
            n.chars().filter(|c| !c.is_control()).take(100).collect::<String>().parse::<DisplayName>().ok()
        });
        let at = OffsetDateTime::now_utc();
        let mut conversation = if caller.verified {
            state
                .core
                .store
                .conversation_for_handle(Channel::Voice, &number, name.clone(), ConversationStatus::Queued)
                .await?
        } else {
            // Anyone can write any number in From: an unverified caller gets a customer of their
            // own, not the history of whoever owns that number.
            let new = NewCustomer { name: unverified_name(&number), ..NewCustomer::default() };
            state.core.store.create_customer_with_conversation(new, Channel::Voice, ConversationStatus::Queued).await?.1
        };
        if let Some(open) = state.core.store.latest_ticket(conversation.id).await?
            && !matches!(open.status, TicketStatus::Resolved | TicketStatus::Closed)
        {
            if self.by_ticket.contains_key(&open.id) {
                // The same number is already on a call with us.
                v.handle.reject(call, 486, None).map_err(|e| Error::Internal(e.to_string()))?;
                return Ok(());
            }
            // An earlier call's ticket (a callback, say): this call takes its place.
            state.routing.finish(open, TicketStatus::Resolved, Actor::Customer, "superseded_by_call").await?;
            conversation = state.core.store.conversation(conversation.id).await?;
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
        state.core.store.save_call(&record).await?;
        let who = match &name {
            _ if !caller.verified => format!("{number} (unverified caller)"),
            Some(n) => format!("{number} ({})", n.as_str()),
            None => number.clone(),
        };
        timeline(state, conversation.id, call, "incoming", &format!("Call from {who} to {dialled}")).await;

        let level = SkillLevel::try_from(1i64)?;
        let voice_skill: SkillName = "voice".parse()?;
        let extra = v.number_skills.get(dialled).cloned().unwrap_or_default();
        let mut escalation = Escalation::new(&conversation, Actor::Customer);
        escalation.tags = ["call".to_owned()].into_iter().collect();
        escalation.text = Some(String::new());
        escalation.skills =
            std::iter::once(voice_skill).chain(extra).map(|skill| SkillRequirement { skill, level }).collect();
        escalation.summary = Some(format!("Phone call from {who} to {dialled}"));
        let ticket = state.escalate.escalate(escalation).await?;
        record.ticket_id = Some(ticket.id);
        state.core.store.save_call(&record).await?;
        state.core.metrics.routing.with_label_values(&["call_queued"]).inc();
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
    async fn offered(&mut self, state: &Voice, ticket: TicketId, agent: AgentId, expires_at: OffsetDateTime) {
        let v = state;
        let Some(&call) = self.by_ticket.get(&ticket) else { return };
        let Some(live) = self.live.get_mut(&call) else { return };
        if live.answered || live.ringing.is_some() {
            // The ringing phone's answer or no-answer decides; then the current offer rings.
            return;
        }
        let mut bindings = v.handle.bindings(agent).await.unwrap_or_default();
        if bindings.is_empty() {
            // Registered with another node: rung from here over UDP. A phone registered over TCP
            // is reached over its own connection, which the other node holds.
            let now = Instant::now();
            bindings = v
                .elsewhere(agent)
                .await
                .into_iter()
                .filter(|b| !b.tcp)
                .map(|b| {
                    let expires_at = now + b.left();
                    Binding::elsewhere_over_udp(agent, b.username, b.contact, b.target, expires_at)
                })
                .collect();
        }
        let Some(binding) = bindings.first() else {
            // No softphone this node can reach (it just went away, or it is on another node over
            // TCP): a missed offer, so the router moves on.
            let _ = state.routing.answer_offer(ticket, agent, false).await;
            return;
        };
        let left = (expires_at - OffsetDateTime::now_utc()).whole_milliseconds();
        let left = Duration::from_millis(u64::try_from(left).unwrap_or(0));
        let timeout = v.ring_timeout().min(left).max(Duration::from_secs(1));
        match v.handle.ring_agent(call, binding, timeout) {
            Ok(()) => live.ringing = Some(agent),
            Err(e) => tracing::error!(error = %e, "the SIP server has stopped"),
        }
    }

    /// Rings whoever the call's ticket is offered or assigned to now, if no phone rings.
    async fn ring_current(&mut self, state: &Voice, call: CallId) {
        let Some(live) = self.live.get(&call) else { return };
        if live.answered || live.given_up || live.ringing.is_some() {
            return;
        }
        let ticket = match state.core.store.ticket(live.ticket).await {
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

    async fn answered(&mut self, state: &Voice, call: CallId, agent: AgentId) {
        let Some(live) = self.live.get_mut(&call) else { return };
        live.answered = true;
        live.ringing = None;
        let ticket = live.ticket;
        live.record.status = "connected".into();
        live.record.answered_by = Some(agent);
        live.record.answered_at = Some(OffsetDateTime::now_utc());
        let record = live.record.clone();
        if let Err(e) = state.core.store.save_call(&record).await {
            tracing::error!(error = %e, %call, "cannot record the answer");
        }
        let name = agent_name(state, agent).await;
        timeline(state, record.conversation_id, call, "answered", &format!("Answered by {name}")).await;
        if state.routing.answer_offer(ticket, agent, true).await.is_err() {
            // The offer had expired or moved on, or the ticket was accepted in the inbox: the
            // call is with this agent all the same, so the ticket is too.
            match state.core.store.ticket(ticket).await {
                Ok(t) if t.assignee_id == Some(agent) && t.status == TicketStatus::Assigned => {}
                Ok(t) if !matches!(t.status, TicketStatus::Resolved | TicketStatus::Closed) => {
                    if let Err(e) = state.routing.transfer(t, Transfer::Agent(agent), Actor::System).await {
                        tracing::error!(error = %e, %call, "cannot give the answered call's ticket to the agent");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, %call, "cannot read the answered call's ticket"),
            }
        }
    }

    async fn not_answered(&mut self, state: &Voice, call: CallId, agent: AgentId, reason: NoAnswerReason) {
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
        let _ = state.routing.answer_offer(ticket, agent, false).await;
        self.ring_current(state, call).await;
    }

    async fn caller_hung_up(&mut self, state: &Voice, call: CallId) {
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
        match state.core.store.ticket(ticket).await {
            Ok(t) if !matches!(t.status, TicketStatus::Resolved | TicketStatus::Closed) => {
                if let Err(e) = state.routing.finish(t, TicketStatus::Closed, Actor::Customer, "abandoned").await {
                    tracing::error!(error = %e, %call, "cannot close the abandoned call's ticket");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, %call, "cannot read the abandoned call's ticket"),
        }
        state.core.metrics.routing.with_label_values(&["call_abandoned"]).inc();
    }

    async fn ended(&mut self, state: &Voice, call: CallId, by: EndedBy, duration: Option<Duration>) {
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
        if let Err(e) = state.core.store.save_call(&live.record).await {
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
        match state.core.store.ticket(live.ticket).await {
            Ok(t) if !matches!(t.status, TicketStatus::Resolved | TicketStatus::Closed) => {
                if let Err(e) = state.routing.finish(t, TicketStatus::Resolved, actor, "call_ended").await {
                    tracing::error!(error = %e, %call, "cannot resolve the ended call's ticket");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, %call, "cannot read the ended call's ticket"),
        }
        state.core.metrics.routing.with_label_values(&["call_ended"]).inc();
    }

    async fn on_tick(&mut self, state: &Voice) {
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
    async fn give_up(&mut self, state: &Voice, call: CallId, reject: bool) {
        let v = state;
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
        if let Err(e) = state.core.store.save_call(&record).await {
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
async fn queue_callback(state: &Voice, ticket: TicketId, call: &str, mut detail: serde_json::Value) {
    match state.core.store.ticket(ticket).await {
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
            match state.core.store.set_ticket_tags(ticket, &tags, &line).await {
                Ok(t) => state.core.bus.publish(Event::TicketUpdated { ticket: t }),
                Err(e) => tracing::error!(error = %e, %call, "cannot tag the callback ticket"),
            }
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, %call, "cannot read the callback ticket"),
    }
    state.core.metrics.routing.with_label_values(&["call_callback"]).inc();
}

/// Calls the store still shows open (`queued` or `connected`) when the voice task starts were
/// live when the hub stopped, and their SIP dialogs went with it: a waiting caller becomes a
/// callback on the same ticket; a connected call is recorded as ended by the hub (its talk time
/// is unknown, its ticket stays with the agent).
async fn recover_open_calls(state: &Voice) {
    let open = match state.core.store.open_calls().await {
        Ok(open) => open,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the calls left open by the last run");
            return;
        }
    };
    for call in open {
        close_left_open(state, call, "hub_restart").await;
    }
}

/// Closes a call whose SIP dialogs went with the node that carried it (`reason`: `hub_restart`
/// when that node is this one starting again, `node_stopped` when another node found it).
async fn close_left_open(state: &Voice, mut call: VoiceCall, reason: &str) {
    // The call is saved before its ticket exists and again after: a stop in between leaves
    // no ticket on the record, so the conversation's open voice ticket stands in.
    if call.ticket_id.is_none() {
        match state.core.store.latest_ticket(call.conversation_id).await {
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
    if let Err(e) = state.core.store.save_call(&call).await {
        tracing::error!(error = %e, call = %call.id, "cannot close a call left open");
        return;
    }
    let here = reason == "hub_restart";
    let (key, text) = match (queued, here) {
        (true, true) => {
            ("restart-callback", "The hub restarted while the caller waited: the call was lost; a callback is queued")
        }
        (false, true) => {
            ("restart-ended", "The hub restarted during the call: its end was not seen, and its talk time is unknown")
        }
        (true, false) => (
            "node-stopped-callback",
            "The hub node carrying the call stopped while the caller waited: the call was lost; a callback is queued",
        ),
        (false, false) => (
            "node-stopped-ended",
            "The hub node carrying the call stopped during the call: its end was not seen, and its talk time is unknown",
        ),
    };
    timeline(state, call.conversation_id, &call.id, key, text).await;
    if queued && let Some(ticket) = call.ticket_id {
        queue_callback(state, ticket, &call.id, serde_json::json!({ "reason": reason })).await;
    }
    tracing::warn!(call = %call.id, status = %call.status, reason, "call left open by a stopped node closed");
}

// ---- softphone identities and call wrap-up ------------------------------------------------------

/// Sets an agent's softphone username and password; only `MD5(username:realm:password)` is
/// stored. A running voice channel reloads its accounts.
///
/// # Errors
/// A malformed username or password, or not an agent (422); unknown agent (404).
pub async fn set_identity(
    store: &schema::Store,
    realm: &str,
    voice: Option<&Voice>,
    agent: AgentId,
    username: String,
    password: &str,
) -> Result<SipIdentity, Error> {
    if username.is_empty()
        || username.len() > 64
        || !username.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
    {
        return Err(Error::invalid("username", "1 to 64 letters, digits, '.', '_', '-' or '+'"));
    }
    let chars = password.chars().count();
    if !(8..=128).contains(&chars) || password.chars().any(char::is_control) {
        return Err(Error::invalid("password", "8 to 128 printable characters"));
    }
    let agent = store.agent(agent).await?;
    if !agent.has_role(Role::Agent) {
        return Err(Error::invalid("id", "not an agent"));
    }
    let identity = SipIdentity {
        agent_id: agent.id,
        ha1: channels::sip::digest::md5_ha1(&username, realm, password),
        username,
        realm: realm.to_owned(),
        updated_at: OffsetDateTime::now_utc(),
    };
    store.set_sip_identity(&identity).await?;
    if let Some(v) = voice {
        v.reload().await?;
    }
    Ok(identity)
}

/// Records a call's wrap-up code (by the agent who answered it, or a supervisor), also in its
/// ticket's history.
///
/// # Errors
/// A malformed code (422), not allowed (403), unknown call (404).
pub async fn set_disposition(
    store: &schema::Store,
    agent: &schema::Agent,
    call_id: &str,
    disposition: &str,
) -> Result<VoiceCall, Error> {
    let code = disposition.trim().to_lowercase();
    if code.is_empty()
        || code.len() > 50
        || !code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
    {
        return Err(Error::invalid("disposition", "1 to 50 lower-case letters, digits, '_' or '-'"));
    }
    let mut call = store.call(call_id).await?;
    if call.answered_by != Some(agent.id) && !agent.has_role(Role::Supervisor) {
        return Err(Error::Forbidden("only the agent who took the call or a supervisor can do this".into()));
    }
    call.disposition = Some(code.clone());
    store.save_call(&call).await?;
    if let Some(ticket) = call.ticket_id {
        let t = store.ticket(ticket).await?;
        let line = schema::TicketEvent {
            ticket_id: ticket,
            actor: Actor::Agent(agent.id),
            kind: "disposition".into(),
            detail: serde_json::json!({ "call_id": call.id, "disposition": code }),
            at: OffsetDateTime::now_utc(),
        };
        store.set_ticket_tags(ticket, &t.tags, &line).await?;
    }
    Ok(call)
}
