//! The SIP core: one task owns every transaction, registration and call, so the state machines
//! need no locks and every change is ordered. Inputs are parsed messages from the transport,
//! commands from the hub and timers; outputs are datagrams/frames and [`SipEvent`]s.
//!
//! Every piece of state has a timer that ends it: server transactions (Timers G/H/I/J), the
//! agent INVITE (A/B, then the hub's ring timeout, then 64·T1 after a CANCEL, then D), BYE and
//! CANCEL client transactions (E/F), calls in setup (`max_setup_time`), answered calls waiting
//! for the caller's ACK (64·T1), connected calls (`max_call_duration`), bindings (their expiry).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng as _;
use schema::AgentId;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::time::DelayQueue;
use tokio_util::time::delay_queue::Key;

use super::digest::{DigestAuth, DigestOutcome};
use super::message::{BRANCH_COOKIE, Method, NameAddr, Request, Response, SipMessage, SipUri, Via};
use super::transport::{Inbound, Limiter};
use super::{
    Binding, CallId, Caller, Command, EndedBy, Flow, NoAnswerReason, SipConfig, SipCredentials, SipEvent, SourceNet,
};

const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, REGISTER, OPTIONS";
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Server transaction key: branch (or a RFC 2543 fallback) and method, ACK filed under INVITE.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct TxKey {
    branch: String,
    method: String,
}

impl TxKey {
    fn of(req: &Request, via: &Via) -> Self {
        let method = match req.method {
            Method::Ack => "INVITE".to_owned(),
            ref m => m.as_str().to_owned(),
        };
        let branch = match via.branch() {
            Some(b) if b.starts_with(BRANCH_COOKIE) => format!("{b}|{}:{:?}", via.host, via.port),
            _ => {
                let tag = req.from().ok().and_then(|f| f.tag).unwrap_or_default();
                let cseq = req.cseq().map(|c| c.0).unwrap_or(0);
                format!("2543|{}|{cseq}|{tag}", req.call_id())
            }
        };
        Self { branch, method }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StState {
    /// No final response yet.
    Proceeding,
    /// A final non-2xx sent; retransmitted (G) until ACK or H.
    Completed,
    /// A 2xx sent by the UAS core; retransmitted until the dialog ACK or 64·T1.
    Accepted,
    /// ACKed (INVITE) or final sent (non-INVITE): absorbs retransmissions until I/J.
    Done,
}

#[derive(Debug)]
struct ServerTx {
    invite: bool,
    state: StState,
    last: Option<Vec<u8>>,
    flow: Flow,
    dest: SocketAddr,
    interval: Duration,
    call: Option<CallId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LegState {
    Calling,
    Proceeding,
    Answered,
    Cancelling,
    Done,
}

/// The INVITE client transaction and dialog towards an agent.
#[derive(Debug)]
struct AgentLeg {
    call: CallId,
    agent: AgentId,
    flow: Flow,
    target: SocketAddr,
    invite: Request,
    bytes: Vec<u8>,
    state: LegState,
    /// Bumped on every state change; stale timers see a different value and do nothing.
    generation: u32,
    interval: Duration,
    cancel_pending: bool,
    ringing_reported: bool,
    remote_to: Option<String>,
    remote_target: Option<String>,
    ack: Option<Vec<u8>>,
    next_cseq: u32,
}

/// A BYE or CANCEL we sent (non-INVITE client transaction).
#[derive(Debug)]
struct ClientTx {
    bytes: Vec<u8>,
    flow: Flow,
    dest: SocketAddr,
    interval: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallState {
    Setup,
    Answered,
    Connected,
}

#[derive(Debug)]
struct Call {
    invite: Request,
    tx: TxKey,
    flow: Flow,
    caller_addr: SocketAddr,
    dialog_key: String,
    local_tag: String,
    state: CallState,
    queued_gen: u32,
    leg: Option<String>,
    agent: Option<AgentId>,
    answered_at: Option<Instant>,
    next_cseq: u32,
    timer: Option<Key>,
}

#[derive(Debug)]
enum Timer {
    TxRetransmit(TxKey),
    TxExpire(TxKey),
    Provisional(CallId, u32),
    CallDeadline(CallId),
    RingTimeout(String),
    LegRetransmit(String, u32),
    LegTimeout(String, u32),
    LegForget(String),
    ClientRetransmit(String),
    ClientExpire(String),
}

pub(crate) struct Core {
    cfg: SipConfig,
    creds: Arc<dyn SipCredentials>,
    auth: DigestAuth,
    events: mpsc::UnboundedSender<SipEvent>,
    udp: Option<Arc<UdpSocket>>,
    host: String,
    udp_port: Option<u16>,
    tcp_port: Option<u16>,
    tcp: HashMap<u64, mpsc::Sender<Vec<u8>>>,
    limiter: Limiter,
    timers: DelayQueue<Timer>,
    server_txs: HashMap<TxKey, ServerTx>,
    client_txs: HashMap<String, ClientTx>,
    calls: HashMap<CallId, Call>,
    by_dialog: HashMap<String, CallId>,
    legs: HashMap<String, AgentLeg>,
    legs_by_call_id: HashMap<String, String>,
    bindings: HashMap<AgentId, Vec<Binding>>,
    auth_failures: HashMap<(String, IpAddr), (u32, Instant)>,
}

fn random_token(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..n).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect()
}

fn dialog_key(call_id: &str, remote_tag: &str) -> String {
    format!("{call_id}\n{remote_tag}")
}

impl Core {
    pub(crate) fn new(
        cfg: SipConfig,
        creds: Arc<dyn SipCredentials>,
        events: mpsc::UnboundedSender<SipEvent>,
        udp: Option<Arc<UdpSocket>>,
        udp_addr: Option<SocketAddr>,
        tcp_addr: Option<SocketAddr>,
        limiter: Limiter,
    ) -> Self {
        let bound = udp_addr.or(tcp_addr).map(|a| a.ip());
        let host = cfg.public_host.clone().unwrap_or_else(|| match bound {
            Some(IpAddr::V6(ip)) => format!("[{ip}]"),
            Some(ip) => ip.to_string(),
            None => "localhost".into(),
        });
        let key: [u8; 32] = rand::thread_rng().r#gen();
        let auth = DigestAuth::new(cfg.realm.clone(), key, cfg.nonce_ttl);
        Self {
            cfg,
            creds,
            auth,
            events,
            udp,
            host,
            udp_port: udp_addr.map(|a| a.port()),
            tcp_port: tcp_addr.map(|a| a.port()),
            tcp: HashMap::new(),
            limiter,
            timers: DelayQueue::new(),
            server_txs: HashMap::new(),
            client_txs: HashMap::new(),
            calls: HashMap::new(),
            by_dialog: HashMap::new(),
            legs: HashMap::new(),
            legs_by_call_id: HashMap::new(),
            bindings: HashMap::new(),
            auth_failures: HashMap::new(),
        }
    }

    pub(crate) async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        let mut sweeps: u64 = 0;
        loop {
            tokio::select! {
                msg = inbound.recv() => match msg {
                    Some(m) => self.on_inbound(m),
                    None => return,
                },
                cmd = commands.recv() => match cmd {
                    Some(c) => self.on_command(c),
                    None => return,
                },
                Some(expired) = std::future::poll_fn(|cx| self.timers.poll_expired(cx)) => {
                    self.on_timer(expired.into_inner());
                }
                _ = sweep.tick() => {
                    sweeps += 1;
                    self.sweep(sweeps.is_multiple_of(60));
                }
            }
        }
    }

    fn emit(&self, e: SipEvent) {
        let _ = self.events.send(e);
    }

    fn t1x64(&self) -> Duration {
        self.cfg.timers.t1.saturating_mul(64)
    }

    // ---------------------------------------------------------------- sending

    fn send(&self, flow: Flow, dest: SocketAddr, bytes: &[u8]) {
        match flow {
            Flow::Tcp(id) if self.tcp.contains_key(&id) => {
                if let Some(w) = self.tcp.get(&id) {
                    let _ = w.try_send(bytes.to_vec());
                }
            }
            // A TCP flow that is gone: fall back to UDP towards the same address.
            Flow::Tcp(_) | Flow::Udp => {
                if let Some(sock) = &self.udp
                    && let Err(e) = sock.try_send_to(bytes, dest)
                {
                    tracing::debug!(%dest, error = %e, "sip udp send");
                }
            }
        }
    }

    fn reliable(&self, flow: Flow) -> bool {
        matches!(flow, Flow::Tcp(id) if self.tcp.contains_key(&id))
    }

    fn our_via(&self, flow: Flow, branch: &str) -> String {
        let (t, port) = if self.reliable(flow) { ("TCP", self.tcp_port) } else { ("UDP", self.udp_port) };
        format!("SIP/2.0/{t} {}:{};branch={branch};rport", self.host, port.unwrap_or(5060))
    }

    fn our_contact(&self, flow: Flow) -> String {
        if self.reliable(flow) {
            format!("<sip:switchboard@{}:{};transport=tcp>", self.host, self.tcp_port.unwrap_or(5060))
        } else {
            format!("<sip:switchboard@{}:{}>", self.host, self.udp_port.unwrap_or(5060))
        }
    }

    fn new_branch() -> String {
        format!("{BRANCH_COOKIE}{}", random_token(16))
    }

    // ---------------------------------------------------------------- server transactions

    /// Sends a response within server transaction `key` and moves it along (§17.2).
    fn respond(&mut self, key: &TxKey, mut resp: Response) {
        resp.headers.push("Server", self.cfg.user_agent.clone());
        let bytes = resp.to_bytes();
        let t1 = self.cfg.timers.t1;
        let t1x64 = self.t1x64();
        let Some(tx) = self.server_txs.get_mut(key) else { return };
        let (flow, dest) = (tx.flow, tx.dest);
        let reliable = matches!(flow, Flow::Tcp(id) if self.tcp.contains_key(&id));
        let mut schedule = Vec::new();
        if resp.status >= 200 {
            if tx.invite {
                tx.state = if resp.status < 300 { StState::Accepted } else { StState::Completed };
                tx.interval = t1;
                if !reliable {
                    schedule.push((Timer::TxRetransmit(key.clone()), t1));
                }
                schedule.push((Timer::TxExpire(key.clone()), t1x64));
            } else {
                tx.state = StState::Done;
                schedule.push((Timer::TxExpire(key.clone()), if reliable { Duration::ZERO } else { t1x64 }));
            }
        }
        tx.last = Some(bytes.clone());
        self.send(flow, dest, &bytes);
        for (t, d) in schedule {
            self.timers.insert(t, d);
        }
    }

    fn on_tx_retransmit(&mut self, key: TxKey) {
        let t2 = self.cfg.timers.t2;
        let Some(tx) = self.server_txs.get_mut(&key) else { return };
        if !matches!(tx.state, StState::Completed | StState::Accepted) {
            return;
        }
        tx.interval = (tx.interval * 2).min(t2);
        let interval = tx.interval;
        let (flow, dest, bytes) = (tx.flow, tx.dest, tx.last.clone());
        if let Some(b) = bytes {
            self.send(flow, dest, &b);
        }
        self.timers.insert(Timer::TxRetransmit(key), interval);
    }

    fn on_tx_expire(&mut self, key: TxKey) {
        let Some(tx) = self.server_txs.get(&key) else { return };
        match tx.state {
            // Timer H for a 2xx: the caller never ACKed. End the call both ways.
            StState::Accepted => {
                let call = tx.call;
                self.server_txs.remove(&key);
                if let Some(call) = call {
                    self.end_connected(call, EndedBy::Timeout, true, true);
                }
            }
            // Timer H for a non-2xx: give up waiting for the ACK; absorb stragglers for T4 more.
            StState::Completed => {
                if let Some(tx) = self.server_txs.get_mut(&key) {
                    tx.state = StState::Done;
                }
                let t4 = self.cfg.timers.t4;
                self.timers.insert(Timer::TxExpire(key), t4);
            }
            StState::Done => {
                self.server_txs.remove(&key);
            }
            StState::Proceeding => {}
        }
    }

    // ---------------------------------------------------------------- inbound

    fn on_inbound(&mut self, inbound: Inbound) {
        match inbound {
            Inbound::TcpOpened { id, writer } => {
                self.tcp.insert(id, writer);
            }
            Inbound::TcpClosed { id } => {
                self.tcp.remove(&id);
            }
            Inbound::Message { msg: SipMessage::Request(req), source, flow } => self.on_request(req, source, flow),
            Inbound::Message { msg: SipMessage::Response(resp), .. } => self.on_response(resp),
        }
    }

    fn on_request(&mut self, mut req: Request, source: SocketAddr, flow: Flow) {
        let Ok(via) = req.top_via() else { return };
        // §18.2.1: note where it really came from in the top Via, so responses copy that.
        if let Some(raw) = req.headers.get("Via").map(str::to_owned) {
            let stamped = Via::stamped(&raw, source);
            let vias: Vec<String> = req.headers.get_all("Via").skip(1).map(str::to_owned).collect();
            req.headers.remove("Via");
            req.headers.push("Via", stamped);
            for v in vias {
                req.headers.push("Via", v);
            }
        }
        let dest = via.response_target(source);
        let key = TxKey::of(&req, &via);

        if req.method == Method::Ack {
            self.on_ack(&key, &req);
            return;
        }
        // A retransmission: repeat the last response (§17.2.1, §17.2.2).
        if let Some(tx) = self.server_txs.get(&key) {
            if let Some(b) = tx.last.clone() {
                let (f, d) = (tx.flow, tx.dest);
                self.send(f, d, &b);
            }
            return;
        }
        let invite = req.method == Method::Invite;
        self.server_txs.insert(
            key.clone(),
            ServerTx {
                invite,
                state: StState::Proceeding,
                last: None,
                flow,
                dest,
                interval: self.cfg.timers.t1,
                call: None,
            },
        );
        if req.max_forwards().ok().flatten() == Some(0) {
            let resp = Response::to_request(&req, 483, Some(&random_token(10)));
            self.respond(&key, resp);
            return;
        }
        match req.method {
            Method::Invite => self.on_invite(key, req, source, flow),
            Method::Register => self.on_register(&key, &req, source, flow),
            Method::Options => {
                let mut resp = Response::to_request(&req, 200, Some(&random_token(10)));
                resp.headers.push("Allow", ALLOW);
                resp.headers.push("Accept", "application/sdp");
                self.respond(&key, resp);
            }
            Method::Cancel => self.on_cancel(&key, &req, &via),
            Method::Bye => self.on_bye(&key, &req),
            Method::Ack => {}
            Method::Other(_) => {
                let mut resp = Response::to_request(&req, 501, Some(&random_token(10)));
                resp.headers.push("Allow", ALLOW);
                self.respond(&key, resp);
            }
        }
    }

    fn on_ack(&mut self, key: &TxKey, req: &Request) {
        // ACK for a non-2xx final: same branch as the INVITE (§17.2.1).
        if let Some(tx) = self.server_txs.get_mut(key)
            && tx.state == StState::Completed
        {
            tx.state = StState::Done;
            let wait = if matches!(tx.flow, Flow::Tcp(_)) { Duration::ZERO } else { self.cfg.timers.t4 };
            self.timers.insert(Timer::TxExpire(key.clone()), wait);
            return;
        }
        // ACK for our 2xx: a new transaction within the dialog.
        let from_tag = req.from().ok().and_then(|f| f.tag).unwrap_or_default();
        let Some(&call_id) = self.by_dialog.get(&dialog_key(req.call_id(), &from_tag)) else { return };
        let Some(call) = self.calls.get_mut(&call_id) else { return };
        if call.state == CallState::Answered {
            call.state = CallState::Connected;
            let tx = call.tx.clone();
            if let Some(t) = self.server_txs.get_mut(&tx) {
                t.state = StState::Done;
            }
            self.timers.insert(Timer::TxExpire(tx), Duration::ZERO);
        }
    }

    fn on_invite(&mut self, key: TxKey, req: Request, source: SocketAddr, flow: Flow) {
        let local_tag = random_token(12);
        let (Ok(from), Ok(to)) = (req.from(), req.to()) else {
            self.respond(&key, Response::to_request(&req, 400, Some(&local_tag)));
            return;
        };
        // No extensions are supported (100rel, timer, …): refuse what the caller requires (§8.2.2.3).
        if let Some(required) = req.headers.get("Require").map(str::to_owned) {
            let mut resp = Response::to_request(&req, 420, Some(&local_tag));
            resp.headers.push("Unsupported", required);
            self.respond(&key, resp);
            return;
        }
        if to.tag.is_some() {
            // Re-INVITEs (hold, session refresh) are not relayed between the legs.
            self.respond(&key, Response::to_request(&req, 488, None));
            return;
        }
        let dialled = SipUri::parse(&req.uri).ok().and_then(|u| u.user).or_else(|| to.sip_uri().ok()?.user);
        let Some(dialled) = dialled.filter(|d| self.cfg.support_numbers.iter().any(|n| n == d)) else {
            self.respond(&key, Response::to_request(&req, 404, Some(&local_tag)));
            return;
        };
        let from_tag = from.tag.clone().unwrap_or_default();
        let dkey = dialog_key(req.call_id(), &from_tag);
        if self.by_dialog.contains_key(&dkey) {
            self.respond(&key, Response::to_request(&req, 482, Some(&local_tag)));
            return;
        }
        if self.calls.len() >= self.cfg.max_calls {
            let mut resp = Response::to_request(&req, 503, Some(&local_tag));
            resp.headers.push("Retry-After", "30");
            self.respond(&key, resp);
            return;
        }
        let id = CallId::new();
        self.respond(&key, Response::to_request(&req, 100, None));
        if let Some(tx) = self.server_txs.get_mut(&key) {
            tx.call = Some(id);
        }
        let caller = caller_of(&req, &from, source, &self.cfg.identity_sources);
        let deadline = self.timers.insert(Timer::CallDeadline(id), self.cfg.max_setup_time);
        self.by_dialog.insert(dkey.clone(), id);
        self.calls.insert(
            id,
            Call {
                invite: req,
                tx: key,
                flow,
                caller_addr: source,
                dialog_key: dkey,
                local_tag,
                state: CallState::Setup,
                queued_gen: 0,
                leg: None,
                agent: None,
                answered_at: None,
                next_cseq: 1,
                timer: Some(deadline),
            },
        );
        self.emit(SipEvent::IncomingCall { call: id, caller, dialled, source });
    }

    fn on_cancel(&mut self, key: &TxKey, req: &Request, via: &Via) {
        let mut invite_key = TxKey::of(req, via);
        invite_key.method = "INVITE".into();
        let call = self.server_txs.get(&invite_key).map(|t| (t.state, t.call));
        let Some((state, call)) = call else {
            self.respond(key, Response::to_request(req, 481, Some(&random_token(10))));
            return;
        };
        let tag = call.and_then(|c| self.calls.get(&c)).map(|c| c.local_tag.clone());
        self.respond(key, Response::to_request(req, 200, tag.as_deref()));
        if state != StState::Proceeding {
            return;
        }
        if let Some(call) = call
            && self.calls.get(&call).is_some_and(|c| c.state == CallState::Setup)
        {
            self.emit(SipEvent::CallerHungUp { call });
            self.fail_call(call, 487, None, None, EndedBy::Caller);
        }
    }

    fn on_bye(&mut self, key: &TxKey, req: &Request) {
        let from_tag = req.from().ok().and_then(|f| f.tag).unwrap_or_default();
        // From the caller?
        if let Some(&call) = self.by_dialog.get(&dialog_key(req.call_id(), &from_tag)) {
            let tag = self.calls.get(&call).map(|c| c.local_tag.clone());
            self.respond(key, Response::to_request(req, 200, tag.as_deref()));
            self.emit(SipEvent::CallerHungUp { call });
            match self.calls.get(&call).map(|c| c.state) {
                Some(CallState::Setup) => self.fail_call(call, 487, None, None, EndedBy::Caller),
                Some(_) => self.end_connected(call, EndedBy::Caller, false, true),
                None => {}
            }
            return;
        }
        // From an agent?
        if let Some(branch) = self.legs_by_call_id.get(req.call_id()).cloned() {
            self.respond(key, Response::to_request(req, 200, None));
            let Some(leg) = self.legs.get_mut(&branch) else { return };
            if leg.state != LegState::Answered {
                return;
            }
            leg.state = LegState::Done;
            let (call, agent) = (leg.call, leg.agent);
            self.forget_leg_later(&branch);
            if self.calls.get(&call).is_some_and(|c| c.leg.as_deref() == Some(branch.as_str())) {
                self.emit(SipEvent::AgentHungUp { call, agent });
                self.end_connected(call, EndedBy::Agent, true, false);
            }
            return;
        }
        self.respond(key, Response::to_request(req, 481, Some(&random_token(10))));
    }

    // ---------------------------------------------------------------- registrar

    fn on_register(&mut self, key: &TxKey, req: &Request, source: SocketAddr, flow: Flow) {
        let tag = random_token(10);
        let now = Instant::now();
        let outcome = self.auth.verify(req.headers.get("Authorization"), "REGISTER", self.creds.as_ref());
        let to_user = req.to().ok().and_then(|t| t.sip_uri().ok()).and_then(|u| u.user);
        let username = match &outcome {
            DigestOutcome::Valid { username, .. } | DigestOutcome::Invalid { username } => Some(username.clone()),
            _ => None,
        };
        let fkey = username.clone().or(to_user.clone()).map(|u| (u, source.ip()));
        let failures = fkey
            .as_ref()
            .and_then(|k| self.auth_failures.get(k))
            .filter(|(_, at)| now.duration_since(*at) < self.cfg.nonce_ttl)
            .map_or(0, |(n, _)| *n);
        if failures >= self.cfg.max_auth_failures {
            self.respond(key, Response::to_request(req, 403, Some(&tag)));
            return;
        }
        let (agent, username) = match outcome {
            DigestOutcome::Valid { agent, username } => (agent, username),
            DigestOutcome::Missing | DigestOutcome::Stale | DigestOutcome::Invalid { .. } => {
                let stale = outcome == DigestOutcome::Stale;
                if let (DigestOutcome::Invalid { .. }, Some(k)) = (&outcome, fkey) {
                    let n = failures + 1;
                    self.auth_failures.insert(k, (n, now));
                    if n >= self.cfg.max_auth_failures {
                        self.respond(key, Response::to_request(req, 403, Some(&tag)));
                        return;
                    }
                }
                let mut resp = Response::to_request(req, 401, Some(&tag));
                resp.headers.push("WWW-Authenticate", self.auth.challenge(stale));
                self.respond(key, resp);
                return;
            }
        };
        if let Some(k) = fkey {
            self.auth_failures.remove(&k);
        }
        // The address-of-record must be the authenticated user's own.
        if to_user.as_deref() != Some(username.as_str()) {
            self.respond(key, Response::to_request(req, 403, Some(&tag)));
            return;
        }
        let contacts = match req.contacts() {
            Ok(c) => c,
            Err(_) => {
                self.respond(key, Response::to_request(req, 400, Some(&tag)));
                return;
            }
        };
        let header_expires = match req.expires() {
            Ok(e) => e,
            Err(_) => {
                self.respond(key, Response::to_request(req, 400, Some(&tag)));
                return;
            }
        };
        let mut removed = Vec::new();
        let mut added = Vec::new();
        let list = self.bindings.entry(agent).or_default();
        if contacts.iter().any(|c| c.uri == "*") {
            if contacts.len() != 1 || header_expires != Some(0) {
                self.respond(key, Response::to_request(req, 400, Some(&tag)));
                return;
            }
            list.retain(|b| {
                let keep = b.username != username;
                if !keep {
                    removed.push(b.contact.clone());
                }
                keep
            });
        } else {
            for c in &contacts {
                let asked = c.params.get("expires").and_then(|e| e.parse::<u32>().ok()).or(header_expires);
                let expires = asked.map_or(self.cfg.default_expires, |s| Duration::from_secs(u64::from(s)));
                if expires.is_zero() {
                    list.retain(|b| {
                        let keep = b.contact != c.uri;
                        if !keep {
                            removed.push(b.contact.clone());
                        }
                        keep
                    });
                    continue;
                }
                if expires < self.cfg.min_expires {
                    let mut resp = Response::to_request(req, 423, Some(&tag));
                    resp.headers.push("Min-Expires", self.cfg.min_expires.as_secs().to_string());
                    self.respond(key, resp);
                    return;
                }
                let expires = expires.min(self.cfg.max_expires);
                let target = match flow {
                    Flow::Tcp(_) => source,
                    Flow::Udp => c.sip_uri().ok().and_then(|u| u.socket_addr()).unwrap_or(source),
                };
                let binding = Binding {
                    agent,
                    username: username.clone(),
                    contact: c.uri.clone(),
                    target,
                    expires_at: now + expires,
                    flow,
                };
                list.retain(|b| b.contact != c.uri);
                list.push(binding);
                added.push((c.uri.clone(), expires));
            }
        }
        let mut resp = Response::to_request(req, 200, Some(&tag));
        for b in list.iter().filter(|b| b.username == username) {
            let left = b.expires_at.saturating_duration_since(now).as_secs();
            resp.headers.push("Contact", format!("<{}>;expires={left}", b.contact));
        }
        if list.is_empty() {
            self.bindings.remove(&agent);
        }
        self.respond(key, resp);
        for contact in removed {
            self.emit(SipEvent::AgentUnregistered { agent, contact });
        }
        for (contact, expires) in added {
            self.emit(SipEvent::AgentRegistered { agent, contact, expires });
        }
    }

    fn sweep(&mut self, full: bool) {
        let now = Instant::now();
        let mut gone = Vec::new();
        self.bindings.retain(|agent, list| {
            list.retain(|b| {
                let keep = b.expires_at > now;
                if !keep {
                    gone.push((*agent, b.contact.clone()));
                }
                keep
            });
            !list.is_empty()
        });
        for (agent, contact) in gone {
            self.emit(SipEvent::AgentUnregistered { agent, contact });
        }
        if full {
            let ttl = self.cfg.nonce_ttl;
            self.auth_failures.retain(|_, (_, at)| now.duration_since(*at) < ttl);
            self.limiter.sweep();
        }
    }

    // ---------------------------------------------------------------- commands

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Bindings { agent, reply } => {
                let now = Instant::now();
                let list = self
                    .bindings
                    .get(&agent)
                    .map(|l| l.iter().filter(|b| b.expires_at > now).cloned().collect())
                    .unwrap_or_default();
                let _ = reply.send(list);
            }
            Command::Queue(call) => self.cmd_queue(call),
            Command::Ring { call, binding, timeout } => self.cmd_ring(call, &binding, timeout),
            Command::Redirect { call, contact } => {
                if !self.in_setup(call, "redirect") {
                    return;
                }
                let status = self.cfg.redirect_status;
                self.fail_call(call, status, Some(contact), None, EndedBy::Hub);
            }
            Command::Reject { call, status, retry_after } => {
                if !(300..=699).contains(&status) {
                    self.emit(SipEvent::CommandRejected { call, command: "reject", reason: "status must be 300..699" });
                    return;
                }
                if self.in_setup(call, "reject") {
                    self.fail_call(call, status, None, retry_after, EndedBy::Hub);
                }
            }
            Command::HangUp(call) => match self.calls.get(&call).map(|c| c.state) {
                None => self.emit(SipEvent::CommandRejected { call, command: "hang_up", reason: "no such call" }),
                Some(CallState::Setup) => self.fail_call(call, 480, None, None, EndedBy::Hub),
                Some(_) => self.end_connected(call, EndedBy::Hub, true, true),
            },
        }
    }

    fn in_setup(&self, call: CallId, command: &'static str) -> bool {
        match self.calls.get(&call) {
            None => self.emit(SipEvent::CommandRejected { call, command, reason: "no such call" }),
            Some(c) if c.state != CallState::Setup => {
                self.emit(SipEvent::CommandRejected { call, command, reason: "the call is already answered" });
            }
            Some(_) => return true,
        }
        false
    }

    fn caller_response(&self, call: &Call, status: u16) -> Response {
        let mut resp = Response::to_request(&call.invite, status, Some(&call.local_tag));
        if status >= 180 {
            resp.headers.push("Contact", self.our_contact(call.flow));
        }
        resp
    }

    fn cmd_queue(&mut self, id: CallId) {
        if !self.in_setup(id, "queue") {
            return;
        }
        let Some(call) = self.calls.get_mut(&id) else { return };
        call.queued_gen = call.queued_gen.wrapping_add(1);
        let g = call.queued_gen;
        self.send_queued(id);
        self.timers.insert(Timer::Provisional(id, g), self.cfg.provisional_interval);
    }

    fn send_queued(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id) else { return };
        let resp = self.caller_response(call, 182);
        let tx = call.tx.clone();
        self.respond(&tx, resp);
    }

    fn on_provisional(&mut self, id: CallId, g: u32) {
        let Some(call) = self.calls.get(&id) else { return };
        if call.state != CallState::Setup || call.queued_gen != g {
            return;
        }
        // While an agent rings, the caller already hears ringing; keep re-sending that instead.
        if call.leg.is_none() {
            self.send_queued(id);
        } else if let Some(tx) = self.server_txs.get(&call.tx)
            && let Some(b) = tx.last.clone()
        {
            let (f, d) = (tx.flow, tx.dest);
            self.send(f, d, &b);
        }
        self.timers.insert(Timer::Provisional(id, g), self.cfg.provisional_interval);
    }

    fn cmd_ring(&mut self, id: CallId, binding: &Binding, timeout: Duration) {
        if !self.in_setup(id, "ring_agent") {
            return;
        }
        let Some(call) = self.calls.get(&id) else { return };
        if call.leg.is_some() {
            self.emit(SipEvent::CommandRejected {
                call: id,
                command: "ring_agent",
                reason: "an agent is already ringing",
            });
            return;
        }
        let flow = match binding.flow {
            Flow::Tcp(c) if self.tcp.contains_key(&c) => binding.flow,
            _ => Flow::Udp,
        };
        if flow == Flow::Udp && self.udp.is_none() {
            self.emit(SipEvent::CommandRejected {
                call: id,
                command: "ring_agent",
                reason: "no transport to the agent",
            });
            return;
        }
        let branch = Self::new_branch();
        let mut inv = Request::new(Method::Invite, binding.contact.clone());
        inv.headers.push("Via", self.our_via(flow, &branch));
        inv.headers.push("Max-Forwards", "70");
        let caller = call.invite.from().ok();
        let caller_user = caller.as_ref().and_then(|f| f.sip_uri().ok()).and_then(|u| u.user);
        let mut from = String::new();
        if let Some(name) = caller.as_ref().and_then(|f| f.display_name.clone()) {
            let _ = write!(from, "\"{}\" ", name.replace('\\', "\\\\").replace('"', "\\\""));
        }
        let _ = write!(
            from,
            "<sip:{}@{}>;tag={}",
            caller_user.as_deref().unwrap_or("anonymous"),
            self.host,
            random_token(12)
        );
        inv.headers.push("From", from);
        inv.headers.push("To", format!("<{}>", binding.contact));
        let leg_call_id = format!("{}@{}", random_token(20), self.host);
        inv.headers.push("Call-ID", leg_call_id.clone());
        inv.headers.push("CSeq", "1 INVITE");
        inv.headers.push("Contact", self.our_contact(flow));
        inv.headers.push("User-Agent", self.cfg.user_agent.clone());
        inv.headers.push("X-Switchboard-Call", id.to_string());
        if let Some(ct) = call.invite.headers.get("Content-Type") {
            inv.headers.push("Content-Type", ct);
        }
        inv.body = call.invite.body.clone();
        let bytes = inv.to_bytes();
        self.send(flow, binding.target, &bytes);
        let t1 = self.cfg.timers.t1;
        if !self.reliable(flow) {
            self.timers.insert(Timer::LegRetransmit(branch.clone(), 0), t1);
        }
        self.timers.insert(Timer::LegTimeout(branch.clone(), 0), self.t1x64());
        // Never beyond the call's own deadline (and within what the timer wheel can hold).
        self.timers.insert(Timer::RingTimeout(branch.clone()), timeout.min(self.cfg.max_setup_time));
        self.legs_by_call_id.insert(leg_call_id, branch.clone());
        self.legs.insert(
            branch.clone(),
            AgentLeg {
                call: id,
                agent: binding.agent,
                flow,
                target: binding.target,
                invite: inv,
                bytes,
                state: LegState::Calling,
                generation: 0,
                interval: t1,
                cancel_pending: false,
                ringing_reported: false,
                remote_to: None,
                remote_target: None,
                ack: None,
                next_cseq: 2,
            },
        );
        if let Some(call) = self.calls.get_mut(&id) {
            call.leg = Some(branch);
            call.agent = Some(binding.agent);
        }
    }

    // ---------------------------------------------------------------- agent legs

    fn on_response(&mut self, resp: Response) {
        let Ok(via) = resp.top_via() else { return };
        let Some(branch) = via.branch().map(str::to_owned) else { return };
        let Ok((_, method)) = resp.cseq() else { return };
        match method {
            Method::Invite => self.on_leg_response(&branch, resp),
            _ => {
                if resp.status >= 200 {
                    self.client_txs.remove(&branch);
                }
            }
        }
    }

    fn on_leg_response(&mut self, branch: &str, resp: Response) {
        let Some(leg) = self.legs.get_mut(branch) else { return };
        if resp.call_id() != leg.invite.call_id() {
            return;
        }
        let (call, agent) = (leg.call, leg.agent);
        let status = resp.status;
        if status < 200 {
            if leg.state == LegState::Calling {
                leg.state = LegState::Proceeding;
                leg.generation += 1;
            }
            if leg.cancel_pending {
                leg.cancel_pending = false;
                self.send_cancel(branch);
                return;
            }
            if leg.state != LegState::Proceeding || status == 100 {
                return;
            }
            let first = !leg.ringing_reported;
            leg.ringing_reported = true;
            if !self.is_active_leg(call, branch) {
                return;
            }
            if first {
                self.emit(SipEvent::AgentRinging { call, agent });
            }
            // Relay 180/183 (with early-media SDP) to the caller.
            let Some(c) = self.calls.get(&call) else { return };
            let mut out = self.caller_response(c, if status == 183 { 183 } else { 180 });
            if !resp.body.is_empty() {
                if let Some(ct) = resp.headers.get("Content-Type") {
                    out.headers.push("Content-Type", ct);
                }
                out.body = resp.body.clone();
            }
            let tx = c.tx.clone();
            self.respond(&tx, out);
            return;
        }
        if status < 300 {
            self.on_leg_answer(branch, &resp);
            return;
        }
        // A final failure: ACK it (same branch, §17.1.1.3); retransmissions get the same ACK.
        if let Some(ack) = leg.ack.clone() {
            let (f, t) = (leg.flow, leg.target);
            self.send(f, t, &ack);
            return;
        }
        let prior = leg.state;
        let mut ack = Request::new(Method::Ack, leg.invite.uri.clone());
        for h in ["Via", "Max-Forwards", "From", "Call-ID"] {
            if let Some(v) = leg.invite.headers.get(h) {
                ack.headers.push(h, v);
            }
        }
        ack.headers.push("To", resp.headers.get("To").unwrap_or(""));
        ack.headers.push("CSeq", "1 ACK");
        let bytes = ack.to_bytes();
        leg.ack = Some(bytes.clone());
        leg.state = LegState::Done;
        leg.generation += 1;
        let (f, t) = (leg.flow, leg.target);
        self.send(f, t, &bytes);
        self.forget_leg_later(branch);
        if matches!(prior, LegState::Calling | LegState::Proceeding) && self.is_active_leg(call, branch) {
            if let Some(c) = self.calls.get_mut(&call) {
                c.leg = None;
            }
            let reason = match status {
                486 | 600 => NoAnswerReason::Busy(status),
                603 => NoAnswerReason::Declined(status),
                408 => NoAnswerReason::Timeout,
                s => NoAnswerReason::Failed(s),
            };
            self.emit(SipEvent::AgentNoAnswer { call, agent, reason });
        }
    }

    fn on_leg_answer(&mut self, branch: &str, resp: &Response) {
        let Some(flow) = self.legs.get(branch).map(|l| l.flow) else { return };
        let ack_via = self.our_via(flow, &Self::new_branch());
        let Some(leg) = self.legs.get_mut(branch) else { return };
        if let Some(ack) = leg.ack.clone() {
            // A retransmitted 2xx: our ACK was lost.
            let (f, t) = (leg.flow, leg.target);
            self.send(f, t, &ack);
            return;
        }
        let remote_target = resp.contact().ok().flatten().map(|c| c.uri).unwrap_or_else(|| leg.invite.uri.clone());
        let to = resp.headers.get("To").unwrap_or("").to_owned();
        let mut ack = Request::new(Method::Ack, remote_target.clone());
        ack.headers.push("Via", ack_via);
        ack.headers.push("Max-Forwards", "70");
        if let Some(v) = leg.invite.headers.get("From") {
            ack.headers.push("From", v);
        }
        ack.headers.push("To", to.clone());
        ack.headers.push("Call-ID", leg.invite.call_id());
        ack.headers.push("CSeq", "1 ACK");
        let bytes = ack.to_bytes();
        let prior = leg.state;
        leg.ack = Some(bytes.clone());
        leg.remote_to = Some(to);
        leg.remote_target = Some(remote_target);
        leg.state = LegState::Answered;
        leg.generation += 1;
        let (call, agent, f, t) = (leg.call, leg.agent, leg.flow, leg.target);
        self.send(f, t, &bytes);
        let still_wanted = matches!(prior, LegState::Calling | LegState::Proceeding)
            && self.is_active_leg(call, branch)
            && self.calls.get(&call).is_some_and(|c| c.state == CallState::Setup);
        if !still_wanted {
            // Answered after we gave up on it (CANCEL crossed the 200): hang it up.
            self.send_leg_bye(branch);
            return;
        }
        let Some(c) = self.calls.get_mut(&call) else { return };
        c.state = CallState::Answered;
        c.answered_at = Some(Instant::now());
        if let Some(k) = c.timer.take() {
            self.timers.try_remove(&k);
        }
        let c = &self.calls[&call];
        let mut out = self.caller_response(c, 200);
        if let Some(ct) = resp.headers.get("Content-Type") {
            out.headers.push("Content-Type", ct);
        }
        out.body = resp.body.clone();
        let tx = c.tx.clone();
        self.respond(&tx, out);
        let deadline = self.timers.insert(Timer::CallDeadline(call), self.cfg.max_call_duration);
        if let Some(c) = self.calls.get_mut(&call) {
            c.timer = Some(deadline);
        }
        self.emit(SipEvent::AgentAnswered { call, agent });
    }

    fn is_active_leg(&self, call: CallId, branch: &str) -> bool {
        self.calls.get(&call).is_some_and(|c| c.leg.as_deref() == Some(branch))
    }

    fn on_leg_retransmit(&mut self, branch: &str, generation: u32) {
        let t2 = self.cfg.timers.t2;
        let Some(leg) = self.legs.get_mut(branch) else { return };
        if leg.generation != generation || leg.state != LegState::Calling {
            return;
        }
        leg.interval = (leg.interval * 2).min(t2.max(leg.interval));
        let (f, t, b, i) = (leg.flow, leg.target, leg.bytes.clone(), leg.interval);
        self.send(f, t, &b);
        self.timers.insert(Timer::LegRetransmit(branch.to_owned(), generation), i);
    }

    /// Timer B (no response at all) or the wait after a CANCEL ran out.
    fn on_leg_timeout(&mut self, branch: &str, generation: u32) {
        let Some(leg) = self.legs.get_mut(branch) else { return };
        if leg.generation != generation || !matches!(leg.state, LegState::Calling | LegState::Cancelling) {
            return;
        }
        let prior = leg.state;
        leg.state = LegState::Done;
        leg.generation += 1;
        let (call, agent) = (leg.call, leg.agent);
        self.forget_leg_now(branch);
        if prior == LegState::Calling && self.is_active_leg(call, branch) {
            if let Some(c) = self.calls.get_mut(&call) {
                c.leg = None;
            }
            self.emit(SipEvent::AgentNoAnswer { call, agent, reason: NoAnswerReason::Unreachable });
        }
    }

    fn on_ring_timeout(&mut self, branch: &str) {
        let Some(leg) = self.legs.get(branch) else { return };
        if !matches!(leg.state, LegState::Calling | LegState::Proceeding) {
            return;
        }
        let (call, agent) = (leg.call, leg.agent);
        self.cancel_leg(branch);
        if self.is_active_leg(call, branch) {
            if let Some(c) = self.calls.get_mut(&call) {
                c.leg = None;
            }
            self.emit(SipEvent::AgentNoAnswer { call, agent, reason: NoAnswerReason::Timeout });
        }
    }

    /// Stops ringing an agent: CANCEL once a provisional came (§9.1), else as soon as one does.
    fn cancel_leg(&mut self, branch: &str) {
        let t1x64 = self.t1x64();
        let Some(leg) = self.legs.get_mut(branch) else { return };
        let prior = leg.state;
        if !matches!(prior, LegState::Calling | LegState::Proceeding) {
            return;
        }
        leg.state = LegState::Cancelling;
        leg.generation += 1;
        let generation = leg.generation;
        if prior == LegState::Proceeding {
            self.send_cancel(branch);
        } else {
            leg.cancel_pending = true;
        }
        self.timers.insert(Timer::LegTimeout(branch.to_owned(), generation), t1x64);
    }

    fn send_cancel(&mut self, branch: &str) {
        let Some(leg) = self.legs.get(branch) else { return };
        let mut cancel = Request::new(Method::Cancel, leg.invite.uri.clone());
        for h in ["Via", "Max-Forwards", "From", "To", "Call-ID"] {
            if let Some(v) = leg.invite.headers.get(h) {
                cancel.headers.push(h, v);
            }
        }
        cancel.headers.push("CSeq", "1 CANCEL");
        // The CANCEL's own transaction shares the INVITE's branch; file it under a distinct key.
        let (f, t) = (leg.flow, leg.target);
        self.start_client_tx(format!("{branch}|CANCEL"), cancel.to_bytes(), f, t);
    }

    fn send_leg_bye(&mut self, branch: &str) {
        let bye_branch = Self::new_branch();
        let Some(flow) = self.legs.get(branch).map(|l| l.flow) else { return };
        let via = self.our_via(flow, &bye_branch);
        let Some(leg) = self.legs.get_mut(branch) else { return };
        let Some(target_uri) = leg.remote_target.clone() else { return };
        let cseq = leg.next_cseq;
        leg.next_cseq += 1;
        leg.state = LegState::Done;
        leg.generation += 1;
        let mut bye = Request::new(Method::Bye, target_uri);
        bye.headers.push("Via", via);
        bye.headers.push("Max-Forwards", "70");
        if let Some(v) = leg.invite.headers.get("From") {
            bye.headers.push("From", v);
        }
        bye.headers.push("To", leg.remote_to.clone().unwrap_or_default());
        bye.headers.push("Call-ID", leg.invite.call_id());
        bye.headers.push("CSeq", format!("{cseq} BYE"));
        let (f, t) = (leg.flow, leg.target);
        self.start_client_tx(bye_branch, bye.to_bytes(), f, t);
        self.forget_leg_later(branch);
    }

    fn forget_leg_later(&mut self, branch: &str) {
        let wait = match self.legs.get(branch) {
            Some(l) if self.reliable(l.flow) => Duration::ZERO,
            _ => self.t1x64(),
        };
        self.timers.insert(Timer::LegForget(branch.to_owned()), wait);
    }

    fn forget_leg_now(&mut self, branch: &str) {
        if let Some(leg) = self.legs.remove(branch) {
            self.legs_by_call_id.remove(leg.invite.call_id());
        }
    }

    // ---------------------------------------------------------------- client non-INVITE transactions

    fn start_client_tx(&mut self, key: String, bytes: Vec<u8>, flow: Flow, dest: SocketAddr) {
        self.send(flow, dest, &bytes);
        let t1 = self.cfg.timers.t1;
        if !self.reliable(flow) {
            self.timers.insert(Timer::ClientRetransmit(key.clone()), t1);
        }
        self.timers.insert(Timer::ClientExpire(key.clone()), self.t1x64());
        self.client_txs.insert(key, ClientTx { bytes, flow, dest, interval: t1 });
    }

    fn on_client_retransmit(&mut self, key: String) {
        let t2 = self.cfg.timers.t2;
        let Some(tx) = self.client_txs.get_mut(&key) else { return };
        tx.interval = (tx.interval * 2).min(t2);
        let (f, d, b, i) = (tx.flow, tx.dest, tx.bytes.clone(), tx.interval);
        self.send(f, d, &b);
        self.timers.insert(Timer::ClientRetransmit(key), i);
    }

    // ---------------------------------------------------------------- ending calls

    /// Ends a call still in setup with a final response to the caller.
    fn fail_call(
        &mut self,
        id: CallId,
        status: u16,
        contact: Option<String>,
        retry_after: Option<Duration>,
        by: EndedBy,
    ) {
        let Some(call) = self.calls.get(&id) else { return };
        let mut resp = Response::to_request(&call.invite, status, Some(&call.local_tag));
        if let Some(c) = contact {
            resp.headers.push("Contact", format!("<{c}>"));
        }
        if let Some(r) = retry_after {
            resp.headers.push("Retry-After", r.as_secs().max(1).to_string());
        }
        let tx = call.tx.clone();
        if let Some(branch) = call.leg.clone() {
            self.cancel_leg(&branch);
        }
        self.respond(&tx, resp);
        self.remove_call(id, by);
    }

    /// Ends an answered call: BYE towards the caller and/or the agent.
    fn end_connected(&mut self, id: CallId, by: EndedBy, bye_caller: bool, bye_agent: bool) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        if bye_caller {
            let cseq = call.next_cseq;
            call.next_cseq += 1;
            let call = &self.calls[&id];
            let target = call.invite.contact().ok().flatten().map_or_else(|| call.invite.uri.clone(), |c| c.uri);
            let branch = Self::new_branch();
            let mut bye = Request::new(Method::Bye, target);
            bye.headers.push("Via", self.our_via(call.flow, &branch));
            bye.headers.push("Max-Forwards", "70");
            let to = call.invite.headers.get("To").unwrap_or("");
            bye.headers.push("From", format!("{to};tag={}", call.local_tag));
            bye.headers.push("To", call.invite.headers.get("From").unwrap_or(""));
            bye.headers.push("Call-ID", call.invite.call_id());
            bye.headers.push("CSeq", format!("{cseq} BYE"));
            let (f, d) = (call.flow, call.caller_addr);
            self.start_client_tx(branch, bye.to_bytes(), f, d);
        }
        if bye_agent
            && let Some(branch) = self.calls.get(&id).and_then(|c| c.leg.clone())
            && self.legs.get(&branch).is_some_and(|l| l.state == LegState::Answered)
        {
            self.send_leg_bye(&branch);
        }
        self.remove_call(id, by);
    }

    fn remove_call(&mut self, id: CallId, by: EndedBy) {
        let Some(call) = self.calls.remove(&id) else { return };
        self.by_dialog.remove(&call.dialog_key);
        if let Some(k) = call.timer {
            self.timers.try_remove(&k);
        }
        if let Some(tx) = self.server_txs.get_mut(&call.tx) {
            tx.call = None;
        }
        let duration = call.answered_at.map(|a| a.elapsed());
        self.emit(SipEvent::CallEnded { call: id, by, duration });
    }

    fn on_call_deadline(&mut self, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        call.timer = None;
        match call.state {
            CallState::Setup => self.fail_call(id, 480, None, None, EndedBy::Timeout),
            CallState::Answered | CallState::Connected => self.end_connected(id, EndedBy::Timeout, true, true),
        }
    }

    fn on_timer(&mut self, t: Timer) {
        match t {
            Timer::TxRetransmit(k) => self.on_tx_retransmit(k),
            Timer::TxExpire(k) => self.on_tx_expire(k),
            Timer::Provisional(c, g) => self.on_provisional(c, g),
            Timer::CallDeadline(c) => self.on_call_deadline(c),
            Timer::RingTimeout(b) => self.on_ring_timeout(&b),
            Timer::LegRetransmit(b, g) => self.on_leg_retransmit(&b, g),
            Timer::LegTimeout(b, g) => self.on_leg_timeout(&b, g),
            Timer::LegForget(b) => {
                if self.legs.get(&b).is_some_and(|l| l.state == LegState::Done) {
                    self.forget_leg_now(&b);
                }
            }
            Timer::ClientRetransmit(k) => self.on_client_retransmit(k),
            Timer::ClientExpire(k) => {
                self.client_txs.remove(&k);
            }
        }
    }
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("calls", &self.calls.len())
            .field("server_txs", &self.server_txs.len())
            .field("legs", &self.legs.len())
            .finish_non_exhaustive()
    }
}

/// Who calls (see [`Caller`]): a trusted source's `P-Asserted-Identity` (its first value), or
/// `From`.
fn caller_of(req: &Request, from: &NameAddr, source: SocketAddr, trusted: &[SourceNet]) -> Caller {
    let verified = trusted.iter().any(|net| net.contains(source.ip()));
    let asserted = verified
        .then(|| req.headers.get("P-Asserted-Identity"))
        .flatten()
        .and_then(|v| NameAddr::parse(first_value(v)).ok());
    let identity = asserted.as_ref().unwrap_or(from);
    let user = identity.sip_uri().ok().and_then(|u| u.user).or_else(|| {
        // `tel:+34600111222;phone-context=…`
        let tel = identity.uri.get(..4).filter(|s| s.eq_ignore_ascii_case("tel:")).map(|_| &identity.uri[4..])?;
        Some(tel.split(';').next().unwrap_or(tel).to_owned()).filter(|t| !t.is_empty())
    });
    Caller { user, display_name: identity.display_name.clone(), uri: identity.uri.clone(), verified }
}

/// The first of a comma-separated header's values (commas inside `<…>` or quotes kept).
fn first_value(v: &str) -> &str {
    let (mut angle, mut quoted) = (false, false);
    for (i, c) in v.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => return &v[..i],
            _ => {}
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(extra: &str) -> Request {
        let raw = format!(
            "INVITE sip:support@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: \"Eve\" <sip:+34600999888@h>;tag=1\r\n\
             To: <sip:support@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        match SipMessage::parse(raw.as_bytes()).unwrap() {
            SipMessage::Request(r) => r,
            SipMessage::Response(_) => unreachable!(),
        }
    }

    #[test]
    fn the_asserted_identity_counts_only_from_trusted_sources() {
        let trusted: Vec<SourceNet> = ["10.1.0.0/16", "192.0.2.7"].iter().map(|n| n.parse().unwrap()).collect();
        let pai = "P-Asserted-Identity: \"Ana, Cliente\" <sip:+34600111222@sbc>, <tel:+34600111222>\r\n";
        let req = invite(pai);
        let from = req.from().unwrap();
        let sbc: SocketAddr = "10.1.200.3:5060".parse().unwrap();
        let caller = caller_of(&req, &from, sbc, &trusted);
        assert_eq!(caller.user.as_deref(), Some("+34600111222"));
        assert_eq!(caller.display_name.as_deref(), Some("Ana, Cliente"));
        assert!(caller.verified);
        // A tel: URI first.
        let req = invite("P-Asserted-Identity: <tel:+34600111333;phone-context=+34>\r\n");
        let caller = caller_of(&req, &req.from().unwrap(), "192.0.2.7:5060".parse().unwrap(), &trusted);
        assert_eq!((caller.user.as_deref(), caller.verified), (Some("+34600111333"), true));
        // A trusted source without the header: its From.
        let req = invite("");
        let caller = caller_of(&req, &req.from().unwrap(), sbc, &trusted);
        assert_eq!((caller.user.as_deref(), caller.verified), (Some("+34600999888"), true));
        // Anyone else: From as written, unverified, the header ignored.
        let req = invite(pai);
        for source in ["10.2.0.1:5060", "192.0.2.8:5060", "[::ffff:10.9.0.1]:5060", "[2001:db8::1]:5060"] {
            let caller = caller_of(&req, &req.from().unwrap(), source.parse().unwrap(), &trusted);
            assert_eq!((caller.user.as_deref(), caller.verified), (Some("+34600999888"), false), "{source}");
        }
        let mapped = caller_of(&req, &req.from().unwrap(), "[::ffff:10.1.0.1]:5060".parse().unwrap(), &trusted);
        assert!(mapped.verified);
    }

    #[test]
    fn source_networks_parse_and_match() {
        let net: SourceNet = "2001:db8::/32".parse().unwrap();
        assert!(net.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!net.contains("2001:db9::5".parse().unwrap()));
        let all: SourceNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "nope", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<SourceNet>().is_err(), "{bad}");
        }
    }
}
