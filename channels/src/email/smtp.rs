//! A receiving SMTP server (the RFC 5321 subset an inbound MTA needs), on tokio.
//!
//! No maintained async SMTP *server* crate fits (mailin-embedded is thread-based, samotop and
//! smtpbis are unmaintained), so this is a small, strict state machine:
//!
//! * greeting `220`; `EHLO` advertises `SIZE`, `8BITMIME`, `PIPELINING`,
//!   `ENHANCEDSTATUSCODES` and, when a rustls `ServerConfig` is given, `STARTTLS`;
//! * `MAIL FROM` (`SIZE=` over the limit: `552`), `RCPT TO` (only configured local domains and
//!   addresses, plus-addresses of them, and `postmaster`; others `550`), `DATA` with
//!   dot-unstuffing and a hard size limit (`552`, the mail discarded, the session usable),
//!   `RSET`, `NOOP`, `QUIT`, `VRFY` (`252`), `HELP`; unknown commands `500`, known but not
//!   offered ones `502`; command lines over 1000 octets `500`;
//! * per-command and per-DATA-line timeouts and a deadline for the whole DATA phase (`421`), a
//!   maximum number of errors per session (`421`), a maximum number of connections, in all and
//!   per client IP address (`421` to the extra ones);
//! * replies to pipelined commands are written in one go when the client's input runs dry;
//! * the end of DATA is only `<CRLF>.<CRLF>`: a bare-LF `.` line is data (no SMTP smuggling);
//! * after DATA the server calls [`MailSink::deliver`] and answers `250` **only once the sink
//!   returned `Ok`** (the hub has stored the mail durably); a sink error is `451` (the sender
//!   retries later) or `554` for a permanent refusal.
//!
//! The bytes handed to the sink are exactly the message as sent, dot-unstuffed, without a
//! `Received:` header: the envelope (peer, HELO, TLS, reverse path) is passed alongside for the
//! hub to record. Rate limits per sender or per peer belong in the sink (the hub owns
//! rate-limit state, shared between nodes): return [`SinkError::RateLimited`] to make the sender
//! back off with a `451 4.7.1`.

mod command;

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use schema::EmailAddress;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use command::{Command, CommandError, parse_command};

/// Command lines longer than this (with CRLF) are refused with `500`. RFC 5321 says 512; the
/// slack is for extension parameters.
pub const MAX_COMMAND_LINE: usize = 1000;

/// How the server behaves.
#[derive(Clone)]
pub struct SmtpConfig {
    /// Our host name, in the greeting and the EHLO reply.
    pub hostname: String,
    /// Domains for which every local part is accepted (`telco.example`).
    pub local_domains: Vec<String>,
    /// Single addresses accepted (`support@telco.example`), with any `+tag` too.
    pub local_addresses: Vec<EmailAddress>,
    /// The largest message accepted, in bytes after dot-unstuffing.
    pub max_message_bytes: usize,
    /// Recipients per transaction.
    pub max_recipients: usize,
    /// Concurrent sessions; further connections get `421` and are closed.
    pub max_connections: usize,
    /// Concurrent sessions from one client IP address; further ones get `421 4.7.0` and are
    /// closed.
    pub max_sessions_per_ip: usize,
    /// Failed commands per session before `421` and disconnect.
    pub max_errors: usize,
    /// How long to wait for a command.
    pub command_timeout: Duration,
    /// How long to wait for each line of DATA.
    pub data_timeout: Duration,
    /// How long the whole DATA phase may take (a client trickling one line just inside
    /// `data_timeout` at a time would otherwise hold the session for ever): `421 4.4.2`.
    pub data_deadline: Duration,
    /// How long the sink may take to store a mail before the sender gets `451`.
    pub sink_timeout: Duration,
    /// TLS for STARTTLS; `None` not to offer it.
    pub tls: Option<Arc<ServerConfig>>,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("hostname", &self.hostname)
            .field("local_domains", &self.local_domains)
            .field("local_addresses", &self.local_addresses)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("max_recipients", &self.max_recipients)
            .field("max_connections", &self.max_connections)
            .field("max_sessions_per_ip", &self.max_sessions_per_ip)
            .field("max_errors", &self.max_errors)
            .field("command_timeout", &self.command_timeout)
            .field("data_timeout", &self.data_timeout)
            .field("data_deadline", &self.data_deadline)
            .field("sink_timeout", &self.sink_timeout)
            .field("starttls", &self.tls.is_some())
            .finish()
    }
}

impl SmtpConfig {
    /// A configuration with RFC-minded defaults: 25 MiB messages, 100 recipients, 1000
    /// connections (20 per client address), 10 errors, 5 minute command and 3 minute DATA-line
    /// timeouts, 10 minutes for the whole DATA phase, 60 s for the sink, no TLS.
    #[must_use]
    pub fn new(hostname: impl Into<String>, local_domains: Vec<String>, local_addresses: Vec<EmailAddress>) -> Self {
        Self {
            hostname: hostname.into(),
            local_domains: local_domains.into_iter().map(|d| d.trim().to_ascii_lowercase()).collect(),
            local_addresses,
            max_message_bytes: 25 << 20,
            max_recipients: 100,
            max_connections: 1000,
            max_sessions_per_ip: 20,
            max_errors: 10,
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(180),
            data_deadline: Duration::from_secs(600),
            sink_timeout: Duration::from_secs(60),
            tls: None,
        }
    }

    /// The accepted form of a `RCPT TO` path, if it is one of ours.
    fn local_recipient(&self, path: &str) -> Option<EmailAddress> {
        if path.eq_ignore_ascii_case("postmaster") {
            return format!("postmaster@{}", self.hostname).parse().ok();
        }
        let address: EmailAddress = path.parse().ok()?;
        let (local, domain) = address.as_str().rsplit_once('@')?;
        if self.local_domains.iter().any(|d| d.trim().eq_ignore_ascii_case(domain)) {
            return Some(address);
        }
        let base = local.split_once('+').map_or(local, |(b, _)| b);
        let ours = self.local_addresses.iter().any(|a| {
            a.as_str().rsplit_once('@').is_some_and(|(l, d)| d == domain && (l == base || base == "postmaster"))
        });
        ours.then_some(address)
    }
}

/// The SMTP envelope of one delivered mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse path (`MAIL FROM`), `None` for the null path `<>` (bounces, auto-replies).
    pub mail_from: Option<String>,
    /// The accepted recipients (lower case), plus tags kept: they carry conversation tokens.
    pub rcpt_to: Vec<EmailAddress>,
    /// The client's address.
    pub peer: SocketAddr,
    /// The name the client gave in EHLO/HELO.
    pub helo: String,
    /// Whether the session was under STARTTLS.
    pub tls: bool,
}

/// Why the sink did not take a mail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// Storage is unavailable: `451 4.3.0`, the sender retries later.
    #[error("temporarily unable to store the mail: {0}")]
    Temporary(String),
    /// The sender or peer is over its rate limit: `451 4.7.1`, the sender retries later.
    #[error("rate limited")]
    RateLimited,
    /// The mail is refused for good: `554 5.7.1` with the reason, the sender bounces it.
    #[error("mail refused: {0}")]
    Rejected(String),
}

impl SinkError {
    /// A stable, machine-readable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Temporary(_) => "sink_temporary",
            Self::RateLimited => "sink_rate_limited",
            Self::Rejected(_) => "sink_rejected",
        }
    }
}

/// Where received mail goes: the hub stores it (durably, before returning `Ok`).
pub trait MailSink: Send + Sync + 'static {
    /// Takes one mail. The server answers `250` to the sender only after this returns `Ok`.
    fn deliver(&self, envelope: Envelope, raw: Bytes) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// Accepts connections on `listener` until `shutdown` is cancelled, one task per session.
/// On shutdown, sessions waiting for a command get `421` and close; a mail being received or
/// stored is finished first. Returns when every session has ended.
pub async fn serve<S: MailSink>(listener: TcpListener, config: SmtpConfig, sink: Arc<S>, shutdown: CancellationToken) {
    let shared = Arc::new(Shared {
        acceptor: config.tls.clone().map(TlsAcceptor::from),
        slots: Arc::new(Semaphore::new(config.max_connections)),
        per_ip: Arc::new(Mutex::new(HashMap::new())),
        config,
        sink,
        shutdown: shutdown.clone(),
    });
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off a little rather than spin.
                tracing::warn!(error = %e, "smtp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let per_ip = PeerSlot::take(&shared.per_ip, peer.ip(), shared.config.max_sessions_per_ip);
        match (Arc::clone(&shared.slots).try_acquire_owned(), per_ip) {
            (_, None) => {
                tracker.spawn(async move {
                    let mut stream = stream;
                    let reply = format!(
                        "421 4.7.0 {} too many connections from your address, try again later\r\n",
                        shared.config.hostname
                    );
                    let _ = timeout(Duration::from_secs(5), stream.write_all(reply.as_bytes())).await;
                });
            }
            (Ok(permit), Some(per_ip)) => {
                tracker.spawn(async move {
                    let _permit = permit;
                    let _per_ip = per_ip;
                    if let Err(e) = session(stream, peer, &shared).await {
                        tracing::debug!(%peer, error = %e, "smtp session ended with an I/O error");
                    }
                });
            }
            (Err(_), Some(_)) => {
                tracker.spawn(async move {
                    let mut stream = stream;
                    let reply =
                        format!("421 4.3.2 {} too many connections, try again later\r\n", shared.config.hostname);
                    let _ = timeout(Duration::from_secs(5), stream.write_all(reply.as_bytes())).await;
                });
            }
        }
    }
    tracker.close();
    tracker.wait().await;
}

/// Sessions open per client address.
type PeerCounts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One session counted against its client address; uncounted when dropped.
struct PeerSlot {
    counts: PeerCounts,
    ip: IpAddr,
}

impl PeerSlot {
    /// Counts a session from `ip`, unless it already has `max`.
    fn take(counts: &PeerCounts, ip: IpAddr, max: usize) -> Option<Self> {
        let mut map = counts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = map.entry(ip).or_insert(0);
        if *n >= max.max(1) {
            return None;
        }
        *n += 1;
        Some(Self { counts: Arc::clone(counts), ip })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut map = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

struct Shared<S> {
    config: SmtpConfig,
    acceptor: Option<TlsAcceptor>,
    slots: Arc<Semaphore>,
    per_ip: PeerCounts,
    sink: Arc<S>,
    shutdown: CancellationToken,
}

async fn session<S: MailSink>(stream: TcpStream, peer: SocketAddr, shared: &Shared<S>) -> io::Result<()> {
    let mut state = State { peer, helo: None, mail_from: None, rcpt_to: Vec::new(), errors: 0, tls: false };
    let Some(stream) = run(stream, &mut state, shared, true).await? else { return Ok(()) };
    let Some(acceptor) = &shared.acceptor else { return Ok(()) };
    let tls = match timeout(shared.config.command_timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Ok(()),
    };
    // RFC 3207 §4.2: forget everything learnt before TLS.
    state = State { peer, helo: None, mail_from: None, rcpt_to: Vec::new(), errors: state.errors, tls: true };
    run(tls, &mut state, shared, false).await.map(|_| ())
}

/// A session's state.
struct State {
    peer: SocketAddr,
    helo: Option<String>,
    /// `Some` once MAIL FROM was accepted: the reverse path (`None` for `<>`).
    mail_from: Option<Option<String>>,
    rcpt_to: Vec<EmailAddress>,
    errors: usize,
    tls: bool,
}

impl State {
    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }
}

/// How reading a line ended.
#[derive(Debug, PartialEq, Eq)]
enum LineRead {
    /// A whole line (through `\n`) was appended.
    Line,
    /// The line was longer than allowed: consumed through `\n`, nothing appended.
    TooLong,
    /// The peer closed (a partial last line is dropped).
    Eof,
}

/// Appends one line (through `\n`) to `buf`, if it is at most `max` bytes long.
async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R, buf: &mut Vec<u8>, max: usize) -> io::Result<LineRead> {
    let start = buf.len();
    let mut too_long = false;
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            buf.truncate(start);
            return Ok(LineRead::Eof);
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if !too_long {
            if buf.len() - start + take > max {
                too_long = true;
                buf.truncate(start);
            } else {
                buf.extend_from_slice(&available[..take]);
            }
        }
        r.consume(take);
        if done {
            return Ok(if too_long { LineRead::TooLong } else { LineRead::Line });
        }
    }
}

/// Runs the command loop on `stream`. Returns the stream when the client asked for STARTTLS
/// (the `220` already sent), `None` when the session is over.
async fn run<T, S>(stream: T, st: &mut State, shared: &Shared<S>, greet: bool) -> io::Result<Option<T>>
where
    T: AsyncRead + AsyncWrite + Unpin,
    S: MailSink,
{
    let cfg = &shared.config;
    let mut io = BufReader::with_capacity(16 * 1024, stream);
    let mut out: Vec<u8> = Vec::with_capacity(512);
    let mut line: Vec<u8> = Vec::with_capacity(256);
    if greet {
        out.extend_from_slice(format!("220 {} ESMTP Switchboard\r\n", cfg.hostname).as_bytes());
    }
    loop {
        // Pipelining: answer everything at once when no further complete command is waiting.
        if !out.is_empty() && !io.buffer().contains(&b'\n') {
            flush(&mut io, &mut out).await?;
        }
        line.clear();
        let read = tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => {
                out.extend_from_slice(format!("421 4.3.2 {} shutting down\r\n", cfg.hostname).as_bytes());
                flush(&mut io, &mut out).await?;
                return Ok(None);
            }
            r = timeout(cfg.command_timeout, read_line(&mut io, &mut line, MAX_COMMAND_LINE)) => r,
        };
        let Ok(read) = read else {
            out.extend_from_slice(b"421 4.4.2 Timeout waiting for a command, closing\r\n");
            flush(&mut io, &mut out).await?;
            return Ok(None);
        };
        match read? {
            LineRead::Eof => {
                let _ = flush(&mut io, &mut out).await;
                return Ok(None);
            }
            LineRead::TooLong => {
                if error(st, cfg, &mut out, "500 5.5.2 Line too long") {
                    flush(&mut io, &mut out).await?;
                    return Ok(None);
                }
                continue;
            }
            LineRead::Line => {}
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let reply: String = match parse_command(text) {
            Err(CommandError::Unrecognized) => {
                if error(st, cfg, &mut out, "500 5.5.2 Command unrecognized") {
                    flush(&mut io, &mut out).await?;
                    return Ok(None);
                }
                continue;
            }
            Err(CommandError::Syntax(why)) => {
                if error(st, cfg, &mut out, &format!("501 5.5.4 {why}")) {
                    flush(&mut io, &mut out).await?;
                    return Ok(None);
                }
                continue;
            }
            Ok(Command::Ehlo(domain)) => {
                st.reset();
                st.helo = Some(domain.clone());
                let mut lines = vec![
                    format!("{} greets {domain}", cfg.hostname),
                    format!("SIZE {}", cfg.max_message_bytes),
                    "8BITMIME".to_owned(),
                    "PIPELINING".to_owned(),
                    "ENHANCEDSTATUSCODES".to_owned(),
                ];
                if shared.acceptor.is_some() && !st.tls {
                    lines.push("STARTTLS".to_owned());
                }
                let last = lines.len() - 1;
                lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("250{}{l}\r\n", if i == last { ' ' } else { '-' }))
                    .collect()
            }
            Ok(Command::Helo(domain)) => {
                st.reset();
                st.helo = Some(domain);
                format!("250 {}\r\n", cfg.hostname)
            }
            Ok(Command::Mail { from, size }) => {
                if st.helo.is_none() {
                    bad(st, "503 5.5.1 Send EHLO first")
                } else if st.mail_from.is_some() {
                    bad(st, "503 5.5.1 Nested MAIL command")
                } else if size.is_some_and(|s| s > cfg.max_message_bytes as u64) {
                    "552 5.3.4 Message size exceeds fixed maximum message size\r\n".to_owned()
                } else {
                    st.mail_from = Some(from);
                    "250 2.1.0 OK\r\n".to_owned()
                }
            }
            Ok(Command::Rcpt { to }) => {
                if st.mail_from.is_none() {
                    bad(st, "503 5.5.1 Send MAIL first")
                } else if st.rcpt_to.len() >= cfg.max_recipients {
                    "452 4.5.3 Too many recipients\r\n".to_owned()
                } else if let Some(address) = cfg.local_recipient(&to) {
                    if !st.rcpt_to.contains(&address) {
                        st.rcpt_to.push(address);
                    }
                    "250 2.1.5 OK\r\n".to_owned()
                } else {
                    bad(st, "550 5.1.1 No such mailbox here")
                }
            }
            Ok(Command::Data) => {
                if st.mail_from.is_none() {
                    bad(st, "503 5.5.1 Send MAIL first")
                } else if st.rcpt_to.is_empty() {
                    bad(st, "554 5.5.1 No valid recipients")
                } else {
                    out.extend_from_slice(b"354 2.0.0 End data with <CR><LF>.<CR><LF>\r\n");
                    flush(&mut io, &mut out).await?;
                    let reply = match receive_data(&mut io, st, shared).await? {
                        Data::Reply(reply) => reply,
                        Data::Deadline => {
                            out.extend_from_slice(b"421 4.4.2 DATA took too long, closing\r\n");
                            let _ = flush(&mut io, &mut out).await;
                            return Ok(None);
                        }
                        Data::Lost => {
                            out.extend_from_slice(b"421 4.4.2 Timeout or connection lost during DATA, closing\r\n");
                            let _ = flush(&mut io, &mut out).await;
                            return Ok(None);
                        }
                    };
                    st.reset();
                    reply
                }
            }
            Ok(Command::Rset) => {
                st.reset();
                "250 2.0.0 OK\r\n".to_owned()
            }
            Ok(Command::Noop) => "250 2.0.0 OK\r\n".to_owned(),
            Ok(Command::Vrfy) => "252 2.5.0 Cannot VRFY user, but will accept message\r\n".to_owned(),
            Ok(Command::Help) => "214 2.0.0 See RFC 5321\r\n".to_owned(),
            Ok(Command::NotImplemented) => bad(st, "502 5.5.1 Command not implemented"),
            Ok(Command::Quit) => {
                out.extend_from_slice(format!("221 2.0.0 {} closing connection\r\n", cfg.hostname).as_bytes());
                flush(&mut io, &mut out).await?;
                let _ = io.get_mut().shutdown().await;
                return Ok(None);
            }
            Ok(Command::StartTls) => {
                if st.tls {
                    bad(st, "503 5.5.1 TLS already active")
                } else if shared.acceptor.is_none() {
                    bad(st, "502 5.5.1 STARTTLS not offered")
                } else {
                    out.extend_from_slice(b"220 2.0.0 Ready to start TLS\r\n");
                    flush(&mut io, &mut out).await?;
                    // Anything the client pipelined after STARTTLS is dropped with the buffer
                    // (RFC 3207 §5; the CVE-2011-0411 command injection).
                    return Ok(Some(io.into_inner()));
                }
            }
        };
        out.extend_from_slice(reply.as_bytes());
        if st.errors > cfg.max_errors {
            out.extend_from_slice(b"421 4.7.0 Too many errors, closing connection\r\n");
            flush(&mut io, &mut out).await?;
            return Ok(None);
        }
    }
}

/// Counts an error reply; returns the reply line.
fn bad(st: &mut State, reply: &str) -> String {
    st.errors += 1;
    format!("{reply}\r\n")
}

/// Queues an error reply; `true` when the session must end (the 421 is queued too).
fn error(st: &mut State, cfg: &SmtpConfig, out: &mut Vec<u8>, reply: &str) -> bool {
    out.extend_from_slice(bad(st, reply).as_bytes());
    if st.errors > cfg.max_errors {
        out.extend_from_slice(b"421 4.7.0 Too many errors, closing connection\r\n");
        return true;
    }
    false
}

async fn flush<T: AsyncRead + AsyncWrite + Unpin>(io: &mut BufReader<T>, out: &mut Vec<u8>) -> io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let w = io.get_mut();
    w.write_all(out).await?;
    w.flush().await?;
    out.clear();
    Ok(())
}

/// How a DATA phase ended.
enum Data {
    /// The mail was read (and handed to the sink, or refused): the reply.
    Reply(String),
    /// The whole phase took longer than `data_deadline`.
    Deadline,
    /// A line took longer than `data_timeout`, or the client went away.
    Lost,
}

/// Reads DATA through `<CRLF>.<CRLF>` within `data_deadline`, then hands it to the sink.
async fn receive_data<T, S>(io: &mut BufReader<T>, st: &State, shared: &Shared<S>) -> io::Result<Data>
where
    T: AsyncRead + AsyncWrite + Unpin,
    S: MailSink,
{
    let cfg = &shared.config;
    let deadline = Instant::now() + cfg.data_deadline;
    let max = cfg.max_message_bytes;
    let mut msg: Vec<u8> = Vec::with_capacity(max.min(64 * 1024));
    let mut scratch: Vec<u8> = Vec::new();
    let mut overflow = false;
    // The terminator only counts after a CRLF (or right after the 354).
    let mut after_crlf = true;
    loop {
        let (buf, limit) = if overflow {
            scratch.clear();
            (&mut scratch, 3)
        } else {
            // Room for the rest of the message, plus the terminator line itself.
            let room = max - msg.len().min(max) + 3;
            (&mut msg, room)
        };
        let start = buf.len();
        let line_deadline = (Instant::now() + cfg.data_timeout).min(deadline);
        let read = match timeout_at(line_deadline, read_line(io, buf, limit)).await {
            Ok(r) => r?,
            Err(_) if line_deadline == deadline => return Ok(Data::Deadline),
            Err(_) => return Ok(Data::Lost),
        };
        match read {
            LineRead::Eof => return Ok(Data::Lost),
            LineRead::TooLong => {
                overflow = true;
                after_crlf = true;
                continue;
            }
            LineRead::Line => {}
        }
        let this = &buf[start..];
        if after_crlf && this == b".\r\n" {
            buf.truncate(start);
            break;
        }
        after_crlf = this.ends_with(b"\r\n");
        if this.first() == Some(&b'.') {
            buf.remove(start);
        }
        if !overflow && msg.len() > max {
            overflow = true;
        }
    }
    if overflow {
        return Ok(Data::Reply("552 5.3.4 Message size exceeds fixed maximum message size\r\n".to_owned()));
    }
    let envelope = Envelope {
        mail_from: st.mail_from.clone().flatten(),
        rcpt_to: st.rcpt_to.clone(),
        peer: st.peer,
        helo: st.helo.clone().unwrap_or_default(),
        tls: st.tls,
    };
    let reply = match timeout(cfg.sink_timeout, shared.sink.deliver(envelope, Bytes::from(msg))).await {
        Ok(Ok(())) => "250 2.0.0 OK: message accepted\r\n".to_owned(),
        Ok(Err(SinkError::Temporary(why))) => {
            tracing::warn!(peer = %st.peer, reason = %why, "mail sink failed; sender told to retry");
            "451 4.3.0 Temporary failure storing the message, try again later\r\n".to_owned()
        }
        Ok(Err(SinkError::RateLimited)) => "451 4.7.1 Rate limit exceeded, try again later\r\n".to_owned(),
        Ok(Err(SinkError::Rejected(why))) => format!("554 5.7.1 {}\r\n", one_line(&why)),
        Err(_) => "451 4.3.0 Timed out storing the message, try again later\r\n".to_owned(),
    };
    Ok(Data::Reply(reply))
}

fn one_line(s: &str) -> String {
    let s: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).take(200).collect();
    if s.trim().is_empty() { "Message refused".to_owned() } else { s }
}
