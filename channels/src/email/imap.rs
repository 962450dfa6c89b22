//! The IMAP poll mode: for operators whose support mail lands on a server they already run.
//!
//! One [`poll`] connects (TLS from the first byte, STARTTLS, or plain on a trusted network), logs
//! in, selects the folder and takes the mails not yet taken (`UNSEEN UNDELETED`), oldest first.
//! Each one goes to the same [`MailSink`] as mail received over SMTP, with an [`Envelope`] made
//! from its headers (`Return-Path` for the reverse path, the mailbox's address and any
//! `Delivered-To` for the recipients). Only once the sink has stored it is the mail marked on the
//! server, as configured ([`AfterTaken`]): `\Seen`, deleted, or moved to another folder.
//!
//! * The sink cannot store it now (store down, sender over its rate): it is left unseen for the
//!   next poll. A crash between storing and marking fetches it again; the hub stores a mail once
//!   per Message-ID, so that is harmless.
//! * The sink refuses it for good: it is marked `\Seen \Flagged` and left where it is.
//! * Larger than the limit: only its header is fetched and handed to
//!   [`ImapSink::too_large`]; the mail is marked `\Seen \Flagged` and never deleted or moved.
//!
//! Mail fetched with `BODY.PEEK[]` does not set `\Seen` by itself, so nothing is marked that was
//! not stored.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_imap::types::Fetch;
use bytes::Bytes;
use futures_util::TryStreamExt;
use schema::EmailAddress;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::smtp::{Envelope, MailSink, SinkError};

/// How the connection to the IMAP server is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImapTls {
    /// TLS from the first byte (port 993).
    Implicit,
    /// Plain, then `STARTTLS` (required) before logging in (port 143).
    StartTls,
    /// No TLS: only for a server on a trusted network.
    None,
}

/// What is done on the server with a mail once it is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterTaken {
    /// Set `\Seen`; the mail stays in the folder.
    Seen,
    /// Set `\Deleted` and expunge it.
    Delete,
    /// Move it to this folder (`MOVE`, or copy and delete where the server lacks `MOVE`).
    Move(String),
}

/// One mailbox to poll.
#[derive(Clone)]
pub struct ImapMailbox {
    /// A name for logs and metrics.
    pub name: String,
    pub host: String,
    pub port: u16,
    pub tls: ImapTls,
    /// The certificate authorities trusted for TLS.
    pub roots: Arc<RootCertStore>,
    pub username: String,
    pub password: String,
    /// The folder mail is taken from.
    pub folder: String,
    /// The address this mailbox receives: the recipient on each mail's envelope.
    pub address: EmailAddress,
    pub after: AfterTaken,
    /// A larger mail is not fetched (see the module docs).
    pub max_message_bytes: usize,
    /// Mails taken per poll at most; the rest wait for the next one.
    pub batch: usize,
    /// The longest wait for the server at any step.
    pub timeout: Duration,
}

impl std::fmt::Debug for ImapMailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapMailbox")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("folder", &self.folder)
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}

/// The public web's certificate authorities, plus those in the PEM file `extra` if given.
///
/// # Errors
/// `extra` cannot be read or holds no usable certificate.
pub fn trust_roots(extra: Option<&Path>) -> Result<RootCertStore, String> {
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;

    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = extra {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(format!("{}: no usable certificate", path.display()));
        }
    }
    Ok(roots)
}

/// The sink of the poll mode: the SMTP sink, and what to do with a mail too large to fetch.
pub trait ImapSink: MailSink {
    /// A mail over the size limit: its header (what is known of it) and its size. `Ok` once
    /// recorded; the mail stays on the server, flagged.
    fn too_large(
        &self,
        envelope: Envelope,
        header: Bytes,
        size: u64,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// Why a poll stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {addr}: {message}")]
    Connect { addr: String, message: String },
    #[error("TLS with {host}: {message}")]
    Tls { host: String, message: String },
    #[error("the server refused the login: {0}")]
    Login(String),
    #[error("the server refused {command}: {message}")]
    Command { command: &'static str, message: String },
    #[error("no answer from the server within {0:?} ({1})")]
    Timeout(Duration, &'static str),
}

/// What one poll did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Mails waiting in the folder when the poll looked.
    pub waiting: usize,
    /// Stored and marked.
    pub taken: usize,
    /// Refused by the sink for good (left flagged).
    pub refused: usize,
    /// Over the size limit (left flagged).
    pub too_large: usize,
    /// Left for the next poll (the sink could not store them now).
    pub deferred: usize,
}

/// The connection, whatever secures it.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}
type Stream = Box<dyn Io>;
type Session = async_imap::Session<Stream>;

async fn step<T, E: std::fmt::Display>(
    limit: Duration,
    what: &'static str,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, ImapError> {
    match timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ImapError::Command { command: what, message: e.to_string() }),
        Err(_) => Err(ImapError::Timeout(limit, what)),
    }
}

async fn tls(mailbox: &ImapMailbox, stream: TcpStream) -> Result<Stream, ImapError> {
    let bad = |message: String| ImapError::Tls { host: mailbox.host.clone(), message };
    let config = ClientConfig::builder().with_root_certificates(Arc::clone(&mailbox.roots)).with_no_client_auth();
    let name = ServerName::try_from(mailbox.host.clone()).map_err(|e| bad(e.to_string()))?;
    let connector = TlsConnector::from(Arc::new(config));
    match timeout(mailbox.timeout, connector.connect(name, stream)).await {
        Ok(Ok(s)) => Ok(Box::new(s)),
        Ok(Err(e)) => Err(bad(e.to_string())),
        Err(_) => Err(ImapError::Timeout(mailbox.timeout, "TLS handshake")),
    }
}

/// Connects and logs in; also gives the server's address.
async fn connect(mailbox: &ImapMailbox) -> Result<(Session, SocketAddr), ImapError> {
    let addr = format!("{}:{}", mailbox.host, mailbox.port);
    let tcp = match timeout(mailbox.timeout, TcpStream::connect(&addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(ImapError::Connect { addr, message: e.to_string() }),
        Err(_) => return Err(ImapError::Timeout(mailbox.timeout, "connect")),
    };
    let peer = tcp.peer_addr().map_err(|e| ImapError::Connect { addr: addr.clone(), message: e.to_string() })?;
    let greeted = |r: std::io::Result<Option<_>>| match r {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err("the connection closed before the greeting".to_owned()),
        Err(e) => Err(e.to_string()),
    };
    let mut client = match mailbox.tls {
        ImapTls::Implicit => async_imap::Client::new(tls(mailbox, tcp).await?),
        ImapTls::None => async_imap::Client::new(Box::new(tcp) as Stream),
        ImapTls::StartTls => {
            let mut plain = async_imap::Client::new(tcp);
            step(mailbox.timeout, "the greeting", async { greeted(plain.read_response().await) }).await?;
            step(mailbox.timeout, "STARTTLS", plain.run_command_and_check_ok("STARTTLS", None)).await?;
            // No greeting after STARTTLS (RFC 3501 §6.2.1).
            async_imap::Client::new(tls(mailbox, plain.into_inner()).await?)
        }
    };
    if mailbox.tls != ImapTls::StartTls {
        step(mailbox.timeout, "the greeting", async { greeted(client.read_response().await) }).await?;
    }
    match timeout(mailbox.timeout, client.login(&mailbox.username, &mailbox.password)).await {
        Ok(Ok(session)) => Ok((session, peer)),
        Ok(Err((e, _))) => Err(ImapError::Login(e.to_string())),
        Err(_) => Err(ImapError::Timeout(mailbox.timeout, "LOGIN")),
    }
}

/// Polls `mailbox` once, handing each new mail to `sink` (see the module docs).
///
/// # Errors
/// The server cannot be reached, refuses the login or the folder, or stops answering. Mails
/// already taken in this poll stay taken.
pub async fn poll(mailbox: &ImapMailbox, sink: &impl ImapSink) -> Result<PollReport, ImapError> {
    let (mut session, peer) = connect(mailbox).await?;
    let result = take_new(&mut session, mailbox, peer, sink).await;
    // A polite goodbye; the poll's outcome does not depend on it.
    let _ = timeout(mailbox.timeout, session.logout()).await;
    result
}

async fn take_new(
    session: &mut Session,
    mailbox: &ImapMailbox,
    peer: SocketAddr,
    sink: &impl ImapSink,
) -> Result<PollReport, ImapError> {
    let limit = mailbox.timeout;
    step(limit, "SELECT", session.select(&mailbox.folder)).await?;
    let mut uids: Vec<u32> =
        step(limit, "UID SEARCH", session.uid_search("UNSEEN UNDELETED")).await?.into_iter().collect();
    uids.sort_unstable();
    let mut report = PollReport { waiting: uids.len(), ..PollReport::default() };
    if uids.is_empty() {
        return Ok(report);
    }
    uids.truncate(mailbox.batch.max(1));
    let capabilities = step(limit, "CAPABILITY", session.capabilities()).await?;
    let can_move = capabilities.has_str("MOVE");
    let uidplus = capabilities.has_str("UIDPLUS");
    let set = uid_set(&uids);
    let sizes: Vec<(u32, u64)> = step(limit, "UID FETCH (RFC822.SIZE)", async {
        session.uid_fetch(&set, "(UID RFC822.SIZE)").await?.try_collect::<Vec<Fetch>>().await
    })
    .await?
    .iter()
    .filter_map(|f| Some((f.uid?, u64::from(f.size?))))
    .collect();

    for (uid, size) in sizes {
        let large = usize::try_from(size).map_or(true, |s| s > mailbox.max_message_bytes);
        let query = if large { "BODY.PEEK[HEADER]" } else { "BODY.PEEK[]" };
        let fetched = step(limit, "UID FETCH", async {
            session.uid_fetch(uid.to_string(), query).await?.try_collect::<Vec<Fetch>>().await
        })
        .await?;
        let Some(fetch) = fetched.iter().find(|f| f.uid == Some(uid)) else {
            // Expunged by somebody else meanwhile.
            continue;
        };
        let raw = Bytes::copy_from_slice(if large { fetch.header() } else { fetch.body() }.unwrap_or_default());
        let envelope = envelope(mailbox, peer, &raw);
        let outcome = if large { sink.too_large(envelope, raw, size).await } else { sink.deliver(envelope, raw).await };
        match outcome {
            Ok(()) if large => {
                report.too_large += 1;
                flag(session, limit, uid, "\\Seen \\Flagged").await?;
            }
            Ok(()) => {
                report.taken += 1;
                after_taken(session, mailbox, uid, can_move, uidplus).await?;
            }
            Err(SinkError::Rejected(reason)) => {
                tracing::warn!(mailbox = %mailbox.name, uid, reason = %reason, "mail refused; left flagged on the server");
                report.refused += 1;
                flag(session, limit, uid, "\\Seen \\Flagged").await?;
            }
            Err(SinkError::RateLimited) => report.deferred += 1,
            Err(SinkError::Temporary(reason)) => {
                tracing::warn!(mailbox = %mailbox.name, uid, reason = %reason, "cannot store mail now; next poll");
                report.deferred += 1;
                break;
            }
        }
    }
    Ok(report)
}

async fn flag(session: &mut Session, limit: Duration, uid: u32, flags: &str) -> Result<(), ImapError> {
    step(limit, "UID STORE", async {
        session.uid_store(uid.to_string(), format!("+FLAGS.SILENT ({flags})")).await?.try_collect::<Vec<_>>().await
    })
    .await
    .map(drop)
}

async fn after_taken(
    session: &mut Session,
    mailbox: &ImapMailbox,
    uid: u32,
    can_move: bool,
    uidplus: bool,
) -> Result<(), ImapError> {
    let limit = mailbox.timeout;
    match &mailbox.after {
        AfterTaken::Seen => flag(session, limit, uid, "\\Seen").await,
        AfterTaken::Move(folder) if can_move => {
            flag(session, limit, uid, "\\Seen").await?;
            step(limit, "UID MOVE", session.uid_mv(uid.to_string(), folder)).await
        }
        AfterTaken::Move(folder) => {
            flag(session, limit, uid, "\\Seen").await?;
            step(limit, "UID COPY", session.uid_copy(uid.to_string(), folder)).await?;
            expunge(session, limit, uid, uidplus).await
        }
        AfterTaken::Delete => expunge(session, limit, uid, uidplus).await,
    }
}

async fn expunge(session: &mut Session, limit: Duration, uid: u32, uidplus: bool) -> Result<(), ImapError> {
    flag(session, limit, uid, "\\Seen \\Deleted").await?;
    if uidplus {
        step(limit, "UID EXPUNGE", async { session.uid_expunge(uid.to_string()).await?.try_collect::<Vec<_>>().await })
            .await
            .map(drop)
    } else {
        step(limit, "EXPUNGE", async { session.expunge().await?.try_collect::<Vec<_>>().await }).await.map(drop)
    }
}

/// `1,3,7`: the UIDs as an IMAP set.
fn uid_set(uids: &[u32]) -> String {
    uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// The envelope a mail arrived with, as far as its headers keep it: `Return-Path` (the last
/// hop's `MAIL FROM`; `<>` for bounces) or else `From`, and the mailbox's address plus any
/// `Delivered-To` / `X-Original-To` (they keep `+tag`s, and so conversation tokens).
fn envelope(mailbox: &ImapMailbox, peer: SocketAddr, raw: &[u8]) -> Envelope {
    let headers = mail_parser::MessageParser::default().parse_headers(raw);
    let mail_from = headers.as_ref().and_then(|m| match m.header_raw("Return-Path") {
        Some(path) => Some(path.trim().trim_start_matches('<').trim_end_matches('>').trim().to_owned()),
        None => m.from().and_then(|a| a.first()).and_then(|a| a.address()).map(str::to_owned),
    });
    let mut rcpt_to = vec![mailbox.address.clone()];
    if let Some(m) = &headers {
        for name in ["Delivered-To", "X-Original-To"] {
            for value in m.header_values(name) {
                if let Some(address) = value.as_text().and_then(|t| t.trim().parse::<EmailAddress>().ok())
                    && !rcpt_to.iter().any(|r| r.as_str().eq_ignore_ascii_case(address.as_str()))
                {
                    rcpt_to.push(address);
                }
            }
        }
    }
    Envelope {
        // An empty reverse path is the null path.
        mail_from: mail_from.filter(|p| !p.is_empty()),
        rcpt_to,
        peer,
        helo: format!("imap:{}", mailbox.host),
        tls: mailbox.tls != ImapTls::None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 993);

    fn mailbox() -> ImapMailbox {
        ImapMailbox {
            name: "support".into(),
            host: "imap.telco.example".into(),
            port: 993,
            tls: ImapTls::Implicit,
            roots: Arc::new(RootCertStore::empty()),
            username: "u".into(),
            password: "p".into(),
            folder: "INBOX".into(),
            address: "support@telco.example".parse().unwrap(),
            after: AfterTaken::Seen,
            max_message_bytes: 1024,
            batch: 10,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_envelope_comes_from_the_headers() {
        let m = mailbox();
        let e = envelope(
            &m,
            PEER,
            b"Return-Path: <carla@example.com>\r\nDelivered-To: support+sb-ab12@telco.example\r\nFrom: x@y.z\r\n\r\nhi",
        );
        assert_eq!(e.mail_from.as_deref(), Some("carla@example.com"));
        let rcpt: Vec<&str> = e.rcpt_to.iter().map(EmailAddress::as_str).collect();
        assert_eq!(rcpt, ["support@telco.example", "support+sb-ab12@telco.example"]);
        assert!(e.tls);

        // A bounce keeps its null reverse path; without Return-Path, From stands in.
        assert_eq!(envelope(&m, PEER, b"Return-Path: <>\r\nFrom: MAILER-DAEMON@x.example\r\n\r\n").mail_from, None);
        assert_eq!(
            envelope(&m, PEER, b"From: Carla <carla@example.com>\r\n\r\n").mail_from.as_deref(),
            Some("carla@example.com")
        );
        // Garbage: no reverse path known, nothing panics.
        assert_eq!(envelope(&m, PEER, b"\xff\xfe\x00").mail_from, None);
    }

    #[test]
    fn uid_sets() {
        assert_eq!(uid_set(&[1, 3, 7]), "1,3,7");
        assert_eq!(uid_set(&[42]), "42");
    }
}
