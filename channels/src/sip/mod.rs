//! The SIP voice channel: customers phone the support number and Switchboard distributes the
//! call to an agent's registered softphone.
//!
//! The library owns SIP (wire format, UDP/TCP transport, transactions, the registrar, call legs);
//! the hub owns the store and the router. They talk through [`SipEvent`]s (what happened) and
//! [`SipHandle`] commands (what to do), so nothing here touches the database or decides routing.
//!
//! ## Call model: a back-to-back user agent
//! Switchboard is a B2BUA rather than a stateful proxy: the caller's dialog is always with
//! Switchboard (one To-tag from `100 Trying` to the end), and each attempt to reach an agent is a
//! separate outgoing dialog. That is what a call-distribution point needs: the caller can be
//! queued (`182`), rung at agent after agent in series without forking rules or To-tag changes,
//! redirected or rejected by the hub at any point; the library sees both BYEs and so can report
//! who ended the call and its duration; agents' contact addresses never reach the caller. Media
//! still flows end to end: the caller's SDP offer goes to the agent unchanged and the agent's
//! answer comes back unchanged.
//!
//! ```text
//! caller                    Switchboard                         agent softphone
//!   INVITE ─────────────────▶ 100, IncomingCall ─▶ hub
//!   ◀──────────────── 182 Queued      ◀── queue(call)
//!                                      ◀── ring_agent(call, binding, timeout)
//!                             INVITE (caller's SDP) ──────────────▶
//!   ◀──────────────── 180     ◀─────────────────────────────── 180
//!   ◀──────────────── 200 (agent's SDP) ◀─────────────────────── 200, AgentAnswered
//!   ACK ─────────────────────▶ ACK ──────────────────────────────▶
//!   BYE ─────────────────────▶ BYE ──────────────────────────────▶  CallerHungUp, CallEnded
//! ```
//!
//! ## Wiring (the hub's side)
//! 1. Build a [`SipConfig`] (listen addresses, `public_host`, realm, the support numbers) and a
//!    [`SipCredentials`] answering from memory: username → ([`AgentId`], password or MD5 HA1).
//! 2. [`SipServer::start`] returns the server and the event receiver; drain it in one task.
//! 3. On [`SipEvent::IncomingCall`], open or find the conversation and ticket (keyed by the
//!    [`CallId`]), [`SipHandle::queue`] it, and give the ticket to the router with the voice channel.
//! 4. When the router offers it to an agent, pick one of [`SipHandle::bindings`] and
//!    [`SipHandle::ring_agent`]; on [`SipEvent::AgentNoAnswer`] ask the router for the next agent,
//!    or [`SipHandle::reject`] / [`SipHandle::redirect`] when there is none.
//! 5. [`SipEvent::CallEnded`] frees the agent's voice capacity and closes the call's record.
//!
//! Not supported: re-INVITEs inside a call (answered `488`), late-offer INVITEs without SDP, any
//! `Require`d extension (`420`), outbound TCP connections (a TCP-registered phone is reached over
//! its own connection, otherwise over UDP), DNS resolution of contacts (IP literals or the source
//! address are used), digest nonce-count replay tracking.

mod core;
pub mod digest;
pub mod message;
mod transport;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use schema::AgentId;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use digest::{DigestSecret, SipAccount, SipCredentials};
pub use message::{Method, NameAddr, Request, Response, SipMessage, SipUri, Via};

/// Why SIP input or a server operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipError {
    /// A message larger than the limit.
    #[error("message of {size} bytes exceeds the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    /// Bytes that are not a well-formed SIP message.
    #[error("malformed SIP message: {0}")]
    Malformed(&'static str),
    /// A mandatory header is missing.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// The configuration cannot be used.
    #[error("invalid SIP configuration: {0}")]
    Config(String),
    /// A socket could not be bound or used.
    #[error("SIP transport error: {0}")]
    Io(String),
    /// The server has stopped; the command was not delivered.
    #[error("the SIP server has stopped")]
    Stopped,
}

impl SipError {
    /// A stable, machine-readable code.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::Malformed(_) => "malformed",
            Self::MissingHeader(_) => "missing_header",
            Self::Config(_) => "invalid_config",
            Self::Io(_) => "io",
            Self::Stopped => "stopped",
        }
    }
}

/// Per-source-address limit on inbound messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained messages per second from one IP address.
    pub per_second: u32,
    /// Messages allowed in a burst.
    pub burst: u32,
}

/// RFC 3261 timer base values (§17.1.1.1). Tests shorten them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SipTimers {
    /// Round-trip estimate; 500 ms by default.
    pub t1: Duration,
    /// Cap on retransmission intervals; 4 s by default.
    pub t2: Duration,
    /// Time a message may linger in the network; 5 s by default.
    pub t4: Duration,
}

impl Default for SipTimers {
    fn default() -> Self {
        Self { t1: Duration::from_millis(500), t2: Duration::from_secs(4), t4: Duration::from_secs(5) }
    }
}

/// The SIP server's configuration.
#[derive(Clone, Debug)]
pub struct SipConfig {
    /// UDP listening address (`0` port: ephemeral). `None`: no UDP.
    pub udp: Option<SocketAddr>,
    /// TCP listening address. `None`: no TCP.
    pub tcp: Option<SocketAddr>,
    /// The host written in our Via and Contact headers; the bound IP when `None`.
    pub public_host: Option<String>,
    /// Digest realm (usually the SIP domain).
    pub realm: String,
    /// The dialled numbers (Request-URI user parts) that reach the support queues.
    pub support_numbers: Vec<String>,
    pub timers: SipTimers,
    /// Registrations asking for less are refused with `423`; `0` (unregister) is always allowed.
    pub min_expires: Duration,
    /// Registrations asking for more are shortened to this.
    pub max_expires: Duration,
    /// Used when a REGISTER states no expiry.
    pub default_expires: Duration,
    /// How long a digest nonce stays fresh.
    pub nonce_ttl: Duration,
    /// Wrong digest answers from one user and address before `403`.
    pub max_auth_failures: u32,
    /// Inbound limit per source IP; `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
    /// Sources exempt from the rate limit (e.g. the operator's session border controller).
    pub trusted_sources: Vec<IpAddr>,
    /// Sources whose caller identity is trusted (the operator's SBC or carrier trunk): from
    /// them, `P-Asserted-Identity` (RFC 3325), else `From`, names the caller and
    /// [`Caller::verified`] is set. From anywhere else the caller is unverified: `From` is
    /// whatever the caller wrote, and `P-Asserted-Identity` is ignored.
    pub identity_sources: Vec<SourceNet>,
    /// Calls (in setup or connected) at once; a further INVITE gets `503` with `Retry-After`.
    pub max_calls: usize,
    /// SIP-over-TCP connections at once; a further connection's first request gets `503` with
    /// `Retry-After`, and the connection is closed.
    pub max_tcp_connections: usize,
    /// How often `182 Queued` is repeated to a waiting caller.
    pub provisional_interval: Duration,
    /// A call not answered by an agent in this time is ended with `480`.
    pub max_setup_time: Duration,
    /// A connected call is ended (BYE both ways) after this, in case both ends vanished.
    pub max_call_duration: Duration,
    /// The status of [`SipHandle::redirect`]: `302` (default) or `301`.
    pub redirect_status: u16,
    /// Sent as `User-Agent` and `Server`.
    pub user_agent: String,
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            udp: Some(SocketAddr::from(([0, 0, 0, 0], 5060))),
            tcp: Some(SocketAddr::from(([0, 0, 0, 0], 5060))),
            public_host: None,
            realm: "switchboard".into(),
            support_numbers: vec!["support".into()],
            timers: SipTimers::default(),
            min_expires: Duration::from_secs(60),
            max_expires: Duration::from_secs(3600),
            default_expires: Duration::from_secs(600),
            nonce_ttl: Duration::from_secs(300),
            max_auth_failures: 5,
            rate_limit: Some(RateLimit { per_second: 200, burst: 400 }),
            trusted_sources: Vec::new(),
            identity_sources: Vec::new(),
            max_calls: 500,
            max_tcp_connections: 1000,
            provisional_interval: Duration::from_secs(30),
            max_setup_time: Duration::from_secs(600),
            max_call_duration: Duration::from_secs(4 * 3600),
            redirect_status: 302,
            user_agent: "Switchboard".into(),
        }
    }
}

/// One call through Switchboard (a fresh UUIDv7 per incoming INVITE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(uuid::Uuid);

impl CallId {
    fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    /// The underlying UUID.
    #[must_use]
    pub fn as_uuid(&self) -> &uuid::Uuid {
        &self.0
    }
}

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Who is calling: from `P-Asserted-Identity` or `From` when the INVITE came from one of the
/// [`SipConfig::identity_sources`], else from `From`, unverified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The user part of the URI (usually the caller's number), if any.
    pub user: Option<String>,
    pub display_name: Option<String>,
    /// The URI as written.
    pub uri: String,
    /// The identity was asserted by a trusted source. Unverified callers are only who they
    /// say they are: never attach them to someone's history by number.
    pub verified: bool,
}

/// An IP network, `192.0.2.0/24`, `2001:db8::/32`, or one address (`192.0.2.7`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceNet {
    addr: IpAddr,
    prefix: u8,
}

impl SourceNet {
    /// Whether `ip` is in the network (an IPv4-mapped IPv6 address counts as IPv4).
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for SourceNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s.trim().split_once('/').map_or((s.trim(), None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = addr.parse().map_err(|_| format!("{s:?} is not an IP address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("{s:?}: bad prefix length"))?,
        };
        Ok(Self { addr, prefix })
    }
}

impl std::fmt::Display for SourceNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// How a message reached us.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Flow {
    Udp,
    Tcp(u64),
}

/// An agent softphone's registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub agent: AgentId,
    /// The digest username it registered with.
    pub username: String,
    /// The Contact URI it registered.
    pub contact: String,
    /// Where INVITEs go: the Contact's address when it is an IP literal, else the address the
    /// REGISTER came from.
    pub target: SocketAddr,
    pub expires_at: Instant,
    pub(crate) flow: Flow,
}

impl Binding {
    /// A registration another server took (another hub node, which shares it): reached over
    /// UDP at `target`, as a phone registered here over UDP would be.
    #[must_use]
    pub fn elsewhere_over_udp(
        agent: AgentId,
        username: String,
        contact: String,
        target: SocketAddr,
        expires_at: Instant,
    ) -> Self {
        Self { agent, username, contact, target, expires_at, flow: Flow::Udp }
    }

    /// The phone registered over TCP: it is reached over its own connection only, so only by the
    /// server that holds it.
    #[must_use]
    pub fn over_tcp(&self) -> bool {
        matches!(self.flow, Flow::Tcp(_))
    }
}

/// Why an agent did not take a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoAnswerReason {
    /// Nothing final before the ring timeout: the leg was cancelled.
    Timeout,
    /// `486`/`600`: busy.
    Busy(u16),
    /// `603`: declined.
    Declined(u16),
    /// Any other final failure status.
    Failed(u16),
    /// No response at all (Timer B) or the transport failed.
    Unreachable,
}

/// Who ended a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndedBy {
    Caller,
    Agent,
    /// The hub (reject, redirect, hang_up).
    Hub,
    /// A library timer: setup time, call duration, or an unacknowledged answer.
    Timeout,
}

/// What happened, for the hub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SipEvent {
    /// A new call to one of the support numbers. Answer with [`SipHandle::queue`],
    /// [`SipHandle::ring_agent`], [`SipHandle::redirect`] or [`SipHandle::reject`].
    IncomingCall { call: CallId, caller: Caller, dialled: String, source: SocketAddr },
    /// The agent's phone is ringing (180/183).
    AgentRinging { call: CallId, agent: AgentId },
    /// The agent picked up; caller and agent are connected.
    AgentAnswered { call: CallId, agent: AgentId },
    /// The agent did not take the call (the leg is cancelled or over); ring another or reject.
    AgentNoAnswer { call: CallId, agent: AgentId, reason: NoAnswerReason },
    /// The caller hung up (CANCEL before the answer, BYE after).
    CallerHungUp { call: CallId },
    /// The agent hung up a connected call.
    AgentHungUp { call: CallId, agent: AgentId },
    /// The call is over and its state gone. `duration` is the talk time, `None` if never connected.
    CallEnded { call: CallId, by: EndedBy, duration: Option<Duration> },
    /// A softphone registered or refreshed its registration.
    AgentRegistered { agent: AgentId, contact: String, expires: Duration },
    /// A registration was removed (`Expires: 0`) or expired.
    AgentUnregistered { agent: AgentId, contact: String },
    /// A command could not be carried out (unknown call, wrong state, bad status).
    CommandRejected { call: CallId, command: &'static str, reason: &'static str },
}

#[derive(Debug)]
pub(crate) enum Command {
    Queue(CallId),
    Ring { call: CallId, binding: Binding, timeout: Duration },
    Redirect { call: CallId, contact: String },
    Reject { call: CallId, status: u16, retry_after: Option<Duration> },
    HangUp(CallId),
    Bindings { agent: AgentId, reply: oneshot::Sender<Vec<Binding>> },
}

/// Commands to the running server. Cheap to clone; every method returns at once, and a
/// command that cannot be carried out comes back as [`SipEvent::CommandRejected`].
#[derive(Clone, Debug)]
pub struct SipHandle {
    commands: mpsc::UnboundedSender<Command>,
}

impl SipHandle {
    fn send(&self, c: Command) -> Result<(), SipError> {
        self.commands.send(c).map_err(|_| SipError::Stopped)
    }

    /// Tell the caller they are queued: `182 Queued`, repeated every `provisional_interval`.
    ///
    /// # Errors
    /// [`SipError::Stopped`] when the server is gone.
    pub fn queue(&self, call: CallId) -> Result<(), SipError> {
        self.send(Command::Queue(call))
    }

    /// Ring an agent's registered softphone for at most `timeout`.
    ///
    /// # Errors
    /// [`SipError::Stopped`] when the server is gone.
    pub fn ring_agent(&self, call: CallId, binding: &Binding, timeout: Duration) -> Result<(), SipError> {
        self.send(Command::Ring { call, binding: binding.clone(), timeout })
    }

    /// Send the caller elsewhere: `302` (or the configured `redirect_status`) with `contact`.
    ///
    /// # Errors
    /// [`SipError::Stopped`] when the server is gone.
    pub fn redirect(&self, call: CallId, contact: &SipUri) -> Result<(), SipError> {
        self.send(Command::Redirect { call, contact: contact.to_string() })
    }

    /// Refuse the call with `status` (300..=699), optionally with `Retry-After`.
    ///
    /// # Errors
    /// [`SipError::Stopped`] when the server is gone.
    pub fn reject(&self, call: CallId, status: u16, retry_after: Option<Duration>) -> Result<(), SipError> {
        self.send(Command::Reject { call, status, retry_after })
    }

    /// End the call whatever its state (BYE both legs when connected, `480` before).
    ///
    /// # Errors
    /// [`SipError::Stopped`] when the server is gone.
    pub fn hang_up(&self, call: CallId) -> Result<(), SipError> {
        self.send(Command::HangUp(call))
    }

    /// The agent's live registrations.
    ///
    /// # Errors
    /// [`SipError::Stopped`] when the server is gone.
    pub async fn bindings(&self, agent: AgentId) -> Result<Vec<Binding>, SipError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Bindings { agent, reply })?;
        rx.await.map_err(|_| SipError::Stopped)
    }
}

/// A running SIP server. Dropping it stops every task.
#[derive(Debug)]
pub struct SipServer {
    handle: SipHandle,
    udp_addr: Option<SocketAddr>,
    tcp_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

impl SipServer {
    /// Binds the configured listeners and starts the server on the current tokio runtime.
    ///
    /// # Errors
    /// [`SipError::Config`] for an unusable configuration, [`SipError::Io`] when a socket cannot be bound.
    pub async fn start(
        config: SipConfig,
        credentials: Arc<dyn SipCredentials>,
    ) -> Result<(Self, mpsc::UnboundedReceiver<SipEvent>), SipError> {
        if config.udp.is_none() && config.tcp.is_none() {
            return Err(SipError::Config("neither UDP nor TCP is configured".into()));
        }
        if config.support_numbers.is_empty() {
            return Err(SipError::Config("no support numbers".into()));
        }
        if !matches!(config.redirect_status, 301 | 302) {
            return Err(SipError::Config("redirect_status must be 301 or 302".into()));
        }
        if config.timers.t1.is_zero() || config.timers.t2 < config.timers.t1 {
            return Err(SipError::Config("timers need 0 < T1 <= T2".into()));
        }
        let unspecified = config.udp.iter().chain(config.tcp.iter()).any(|a| a.ip().is_unspecified());
        if unspecified && config.public_host.is_none() {
            return Err(SipError::Config("public_host is required when listening on an unspecified address".into()));
        }
        let year = Duration::from_secs(365 * 24 * 3600);
        let durations = [
            config.timers.t1.saturating_mul(64),
            config.timers.t2,
            config.timers.t4,
            config.max_expires,
            config.provisional_interval,
            config.max_setup_time,
            config.max_call_duration,
            config.nonce_ttl,
        ];
        if durations.iter().any(|d| *d > year) || config.provisional_interval.is_zero() {
            return Err(SipError::Config("timers must be under a year and the provisional interval non-zero".into()));
        }
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (inbound_tx, inbound_rx) = mpsc::channel(transport::INBOUND_QUEUE);
        let limiter = transport::Limiter::new(config.rate_limit.as_ref(), config.trusted_sources.clone());
        let mut tasks = Vec::new();
        let mut udp_addr = None;
        let mut udp_socket = None;
        if let Some(addr) = config.udp {
            let (socket, task) = transport::bind_udp(addr, inbound_tx.clone(), limiter.clone()).await?;
            udp_addr = socket.local_addr().ok();
            udp_socket = Some(socket);
            tasks.push(task);
        }
        let mut tcp_addr = None;
        if let Some(addr) = config.tcp {
            let (local, task) =
                transport::bind_tcp(addr, inbound_tx.clone(), limiter.clone(), config.max_tcp_connections).await?;
            tcp_addr = Some(local);
            tasks.push(task);
        }
        drop(inbound_tx);
        let core = core::Core::new(config, credentials, event_tx, udp_socket, udp_addr, tcp_addr, limiter);
        tasks.push(tokio::spawn(core.run(inbound_rx, cmd_rx)));
        Ok((Self { handle: SipHandle { commands: cmd_tx }, udp_addr, tcp_addr, tasks }, event_rx))
    }

    /// A handle for commands.
    #[must_use]
    pub fn handle(&self) -> SipHandle {
        self.handle.clone()
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
}

impl Drop for SipServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Compares secrets in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
