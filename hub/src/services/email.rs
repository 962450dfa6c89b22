//! The e-mail channel: the SMTP listener's sink (parse, rate-limit, thread, store, then `250`),
//! replies built as threaded mails and queued with their message, and the sender task that
//! hands them to the relay.
//!
//! Threading of an inbound mail, first hit wins:
//! 1. `In-Reply-To`, then `References` newest first, against every Message-ID stored (ours and
//!    the customers');
//! 2. the conversation token (`support+sb-…@` recipient, or `[#SB-…]` in the subject);
//!
//! 1 and 2 only if the sender is the address the conversation was opened with: neither a
//! Message-ID nor a token is a secret;
//! 3. else the sender's open e-mail conversation, or a new one (and a new customer, found next time
//!    by the address).
//!
//! `From:` is only a claim. When `email.trusted_authserv_id` is set, the receiving MTA's
//! `Authentication-Results` (SPF, DKIM, DMARC) are read first ([`sender_verdict`]): a mail they
//! fail (or, with `email.require_authentication`, a mail without them) joins no existing
//! conversation, not even by rule 3: it opens a new one, marked for the agents by a system
//! message `[unverified sender] …`. Replies always go to the address the conversation was
//! opened with, never to a mail's `Reply-To:` (a forged mail cannot redirect the next answer).
//!
//! Automatic mail (auto-replies, bounces) never becomes a customer turn: it is stored as a
//! `system` message on the conversation it threads to (or kept raw only), and a permanent
//! bounce marks the reply it reports failed.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use channels::email::imap::{self, AfterTaken, ImapMailbox, ImapSink, ImapTls, trust_roots};
use channels::email::smtp::{self, Envelope, MailSink, SinkError, SmtpConfig};
use channels::email::{
    AuthVerdict, InboundLimits, InboundMail, MailError, MailKind, Mailbox, RelayTls, ReplyParams, SendError, SmtpRelay,
    build_reply, conversation_token, find_token, mask_card_numbers_in_mail, parse_inbound, send_raw, sender_verdict,
    synthetic_message_id, thread_keys,
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use schema::{
    AttachmentId, AuthorKind, Channel, Conversation, ConversationStatus, DisplayName, EmailAddress, InboundEmail,
    InboundEmailKind, MediaRef, MessageText, NewAttachment, NewMessage, OutboundEmail, QueuedEmail, Store, StoreError,
};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

use crate::bus::Event;
use crate::config::{EmailConfig, ImapAfter, ImapConfig, Secret, TlsMode};
use crate::error::{Error, ErrorCode};
use crate::services::ingest::Ingest;
use crate::services::leader::Lease;
use crate::services::{Core, outbox};

/// Why the e-mail channel cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Config(String),
}

/// The e-mail channel of a hub node, as configured: built first (its [`Replies`] are needed by
/// ingest), then started with [`Email::start`].
pub struct Email {
    replies: Arc<Replies>,
    per_sender: DefaultKeyedRateLimiter<String>,
    per_peer: DefaultKeyedRateLimiter<std::net::IpAddr>,
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    limits: InboundLimits,
    /// STARTTLS for the listener, when a certificate is configured.
    tls: Option<Arc<ServerConfig>>,
    /// The IMAP mailboxes to poll, each with its interval.
    imap: Vec<(ImapMailbox, Duration)>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email").field("from", &self.replies.from).field("relay", &self.transport.is_some()).finish()
    }
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl Email {
    /// The channel from its configuration.
    ///
    /// # Errors
    /// When enabled: an invalid from address, display name or relay.
    pub fn new(config: &EmailConfig) -> Result<Self, StartError> {
        Self::parse(config).map_err(StartError::Config)
    }

    fn parse(config: &EmailConfig) -> Result<Self, String> {
        let rate = config.sender_rate_per_min;
        let per_sender = RateLimiter::keyed(Quota::per_minute(nonzero(rate)).allow_burst(nonzero((rate / 3).max(5))));
        let rate = config.peer_rate_per_min;
        let per_peer = RateLimiter::keyed(Quota::per_minute(nonzero(rate)).allow_burst(nonzero((rate / 3).max(5))));
        let limits = InboundLimits {
            max_attachment_bytes: config.max_attachment_bytes,
            max_total_attachment_bytes: config.max_total_attachment_bytes,
            ..InboundLimits::default()
        };
        let mut email = Self {
            replies: Arc::new(Replies { from: None, domain: String::new() }),
            per_sender,
            per_peer,
            transport: None,
            limits,
            tls: None,
            imap: Vec::new(),
        };
        if !config.enabled {
            return Ok(email);
        }
        email.tls = listener_tls(config)?;
        email.imap = config
            .imap
            .iter()
            .enumerate()
            .map(|(i, m)| imap_mailbox(m, config.max_message_bytes).map_err(|e| format!("email.imap[{i}]: {e}")))
            .collect::<Result<_, _>>()?;
        let address: EmailAddress =
            config.from_address.parse().map_err(|e| format!("email.from_address {:?}: {e}", config.from_address))?;
        let name = match config.from_name.trim() {
            "" => None,
            n => Some(n.parse::<DisplayName>().map_err(|e| format!("email.from_name: {e}"))?),
        };
        let domain = if config.message_id_domain.trim().is_empty() {
            address.as_str().rsplit_once('@').map(|(_, d)| d.to_owned()).unwrap_or_default()
        } else {
            config.message_id_domain.trim().to_owned()
        };
        if !config.relay.host.is_empty() {
            let relay = SmtpRelay {
                host: config.relay.host.clone(),
                port: config.relay.port,
                tls: match config.relay.tls {
                    TlsMode::None => RelayTls::None,
                    TlsMode::Starttls => RelayTls::StartTls,
                    TlsMode::Implicit => RelayTls::Implicit,
                },
                credentials: config.relay.username.clone().zip(
                    Secret::from_value_or_file(
                        config.relay.password.as_ref(),
                        config.relay.password_file.as_deref(),
                        "email.relay.password",
                    )?
                    .map(|p| p.expose().to_owned()),
                ),
                hello_name: config.hostname.clone(),
                timeout: Duration::from_secs(config.relay.timeout_secs.max(1)),
                max_connections: config.relay.max_connections,
            };
            email.transport = Some(relay.transport().map_err(|e| e.to_string())?);
        }
        email.replies = Arc::new(Replies { from: Some(Mailbox { address, name }), domain });
        Ok(email)
    }

    /// Builds the reply mails of e-mail conversations (for ingest).
    #[must_use]
    pub fn replies(&self) -> Arc<Replies> {
        Arc::clone(&self.replies)
    }

    /// Self-service's one-time codes by e-mail, through the same relay as replies and from the
    /// same address; `None` when the channel or its relay is not configured.
    #[must_use]
    pub fn code_sender(&self) -> Option<Arc<dyn crate::services::selfservice::CodeSender>> {
        let from = self.replies.from.as_ref()?;
        let transport = self.transport.clone()?;
        let address: lettre::Address = from.address.as_str().parse().ok()?;
        let mailbox = lettre::message::Mailbox::new(from.name.as_ref().map(|n| n.as_str().to_owned()), address);
        Some(Arc::new(crate::services::selfservice::EmailCodes::new(mailbox, transport)))
    }

    /// Starts the channel: the outbox sender (woken by `wake`), the IMAP pollers, and the SMTP
    /// listener when `smtp_enabled`. Returns the listener's address and task.
    ///
    /// # Errors
    /// The listener's address cannot be bound, or an accepted address is invalid.
    pub async fn start(
        self,
        core: Core,
        ingest: Arc<Ingest>,
        config: &EmailConfig,
        max_chars: usize,
        wake: Arc<Notify>,
        jobs: Lease,
    ) -> Result<Option<(std::net::SocketAddr, JoinHandle<()>)>, StartError> {
        let outbox = Arc::new(EmailOutbox {
            store: core.store.clone(),
            transport: self.transport,
            send_attempts: i64::from(config.send_attempts),
            retry_backoff_ms: config.retry_backoff_ms,
        });
        tokio::spawn(outbox::run(core.clone(), outbox, wake));
        let inbound = Arc::new(Inbound {
            core,
            ingest,
            per_sender: self.per_sender,
            per_peer: self.per_peer,
            trusted_authserv_id: config.trusted_authserv_id.trim().to_owned(),
            require_authentication: config.require_authentication,
            limits: self.limits,
            max_message_bytes: config.max_message_bytes,
            max_chars,
        });
        // The pollers run on the node that holds the `jobs` lease only (each mail is stored once
        // anyway: keyed by its Message-ID; the lease saves fetching it on every node).
        for (mailbox, every) in self.imap {
            let (inbound, mailbox) = (Arc::clone(&inbound), Arc::new(mailbox));
            tokio::spawn(
                jobs.clone().run_while_held(move |term| {
                    run_imap(Arc::clone(&inbound), Arc::clone(&mailbox), every, term.token)
                }),
            );
        }
        if !config.smtp_enabled {
            return Ok(None);
        }
        listen(inbound, config, self.tls).await.map(Some)
    }
}

/// Takes mail in, from the SMTP listener and the IMAP pollers alike.
struct Inbound {
    core: Core,
    ingest: Arc<Ingest>,
    /// Keyed on the client's IP address and the sender address.
    per_sender: DefaultKeyedRateLimiter<String>,
    /// Keyed on the client's IP address.
    per_peer: DefaultKeyedRateLimiter<std::net::IpAddr>,
    /// `email.trusted_authserv_id`: whose `Authentication-Results` count.
    trusted_authserv_id: String,
    /// `email.require_authentication`.
    require_authentication: bool,
    limits: InboundLimits,
    max_message_bytes: usize,
    /// The longest message text (longer mail is cut).
    max_chars: usize,
}

impl Inbound {
    /// Spends one mail of the client's budget and one of the sender's from that client. Both
    /// are keyed on the peer address (what the sender cannot forge); the sender part only
    /// splits a shared MTA's budget between its senders.
    fn admit(&self, envelope: &Envelope, sender: Option<&EmailAddress>) -> Result<(), SinkError> {
        let ip = envelope.peer.ip();
        self.per_peer.check_key(&ip).map_err(|_| SinkError::RateLimited)?;
        let sender = sender.map_or_else(String::new, |s| s.as_str().to_ascii_lowercase());
        self.per_sender.check_key(&format!("{ip} {sender}")).map_err(|_| SinkError::RateLimited)
    }

    /// Why the mail's sender is not verified, if it is not: the trusted results fail, or (when
    /// required) there are none.
    fn unverified(&self, mail: &InboundMail, sender: Option<&EmailAddress>) -> Option<String> {
        let Some(sender) = sender else { return Some("no sender address".into()) };
        let results = mail.authentication_results.iter().map(String::as_str);
        match sender_verdict(results, &self.trusted_authserv_id, sender.as_str()) {
            AuthVerdict::Pass => None,
            AuthVerdict::Fail(why) => Some(format!("Authentication-Results: {why}")),
            AuthVerdict::Missing if self.require_authentication => Some(if self.trusted_authserv_id.is_empty() {
                "no trusted Authentication-Results (email.trusted_authserv_id is not set)".to_owned()
            } else {
                format!("no Authentication-Results from {}", self.trusted_authserv_id)
            }),
            AuthVerdict::Missing => None,
        }
    }
}

/// The listener's TLS from `tls_cert_file` and `tls_key_file`; `None` when neither is set.
fn listener_tls(config: &EmailConfig) -> Result<Option<Arc<ServerConfig>>, String> {
    let (cert, key) = match (&config.tls_cert_file, &config.tls_key_file) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        _ => return Err("set both email.tls_cert_file and email.tls_key_file, or neither".into()),
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("email.tls_cert_file {cert:?}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("email.tls_cert_file {cert:?}: no certificate"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("email.tls_key_file {key:?}: {e}"))?;
    let tls = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("email.tls_cert_file and tls_key_file: {e}"))?;
    Ok(Some(Arc::new(tls)))
}

/// One `[[email.imap]]` entry, checked.
fn imap_mailbox(m: &ImapConfig, max_message_bytes: usize) -> Result<(ImapMailbox, Duration), String> {
    if m.host.trim().is_empty() || m.username.is_empty() {
        return Err("host and username are required".into());
    }
    let password = Secret::from_value_or_file(m.password.as_ref(), m.password_file.as_deref(), "password")?
        .ok_or("set one of password and password_file")?
        .expose()
        .to_owned();
    let address = m.address.parse().map_err(|e| format!("address {:?}: {e}", m.address))?;
    let after = match m.after {
        ImapAfter::Seen => AfterTaken::Seen,
        ImapAfter::Delete => AfterTaken::Delete,
        ImapAfter::Move if m.move_to.trim().is_empty() => return Err("after = \"move\" needs move_to".into()),
        ImapAfter::Move => AfterTaken::Move(m.move_to.trim().to_owned()),
    };
    let roots = trust_roots(m.ca_file.as_deref().map(std::path::Path::new))?;
    let mailbox = ImapMailbox {
        name: if m.name.is_empty() { m.username.clone() } else { m.name.clone() },
        host: m.host.trim().to_owned(),
        port: m.port,
        tls: match m.tls {
            TlsMode::None => ImapTls::None,
            TlsMode::Starttls => ImapTls::StartTls,
            TlsMode::Implicit => ImapTls::Implicit,
        },
        roots: Arc::new(roots),
        username: m.username.clone(),
        password,
        folder: m.folder.clone(),
        address,
        after,
        max_message_bytes,
        batch: m.batch.max(1),
        timeout: Duration::from_secs(m.timeout_secs.max(1)),
    };
    Ok((mailbox, Duration::from_secs(m.poll_secs.max(1))))
}

// ---- the SMTP listener ----------------------------------------------------------------------

/// Binds the SMTP listener and serves it until the hub shuts down.
///
/// # Errors
/// The address cannot be bound, or an accepted address is invalid.
async fn listen(
    inbound: Arc<Inbound>,
    config: &EmailConfig,
    tls: Option<Arc<ServerConfig>>,
) -> Result<(std::net::SocketAddr, JoinHandle<()>), StartError> {
    let addr = config.smtp_bind;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr, source })?;
    let addresses = config
        .addresses
        .iter()
        .map(|a| a.parse::<EmailAddress>().map_err(|e| StartError::Config(format!("email.addresses {a:?}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    if addresses.is_empty() && config.local_domains.is_empty() {
        return Err(StartError::Config("set email.addresses or email.local_domains".into()));
    }
    let mut smtp = SmtpConfig::new(config.hostname.clone(), config.local_domains.clone(), addresses);
    smtp.max_message_bytes = config.max_message_bytes;
    smtp.max_connections = config.max_connections.max(1);
    smtp.max_sessions_per_ip = config.max_sessions_per_ip.max(1);
    smtp.data_deadline = Duration::from_secs(config.data_deadline_secs.max(1));
    smtp.tls = tls;
    let shutdown = inbound.core.shutdown.clone();
    let task = tokio::spawn(smtp::serve(listener, smtp, inbound, shutdown));
    tracing::info!(%addr, "SMTP listening");
    Ok((addr, task))
}

impl MailSink for Inbound {
    async fn deliver(&self, envelope: Envelope, raw: Bytes) -> Result<(), SinkError> {
        let started = Instant::now();
        let result = receive(self, &envelope, &raw).await;
        self.core.metrics.store_write.with_label_values(&["email_inbound"]).observe(started.elapsed().as_secs_f64());
        if let Err(e) = &result {
            tracing::info!(error = %e, peer = %envelope.peer, "mail not taken");
        }
        result
    }
}

impl ImapSink for Inbound {
    /// Kept like an unparseable mail: its header as the raw copy, and why its body is not here.
    async fn too_large(&self, envelope: Envelope, header: Bytes, size: u64) -> Result<(), SinkError> {
        let parsed = parse_inbound(&header, &self.limits).ok();
        let id = parsed.as_ref().map_or_else(|| synthetic_message_id(&header), |mail| mail.message_id.clone());
        let mut record = record(&envelope, &header, id.as_str(), InboundEmailKind::Unparseable);
        if let Some(mail) = parsed {
            record.subject = schema::pci::mask_card_numbers(&mail.subject);
            record.from_address = mail.from.map(|m| m.address.as_str().to_ascii_lowercase());
        }
        record.parse_error = Some(format!(
            "{size} bytes, over email.max_message_bytes ({}): only the header was fetched; the mail is left \
             flagged on the IMAP server",
            self.max_message_bytes
        ));
        self.core.store.record_inbound_email(&record).await.map_err(|e| temporary(e.into()))?;
        tracing::warn!(message_id = %id.as_str(), size, "mail too large to fetch; left on the IMAP server");
        Ok(())
    }
}

// ---- the IMAP poll mode ---------------------------------------------------------------------

/// Polls one mailbox until `term` ends (the node loses the `jobs` lease or shuts down). A failed
/// poll is logged and counted; the next one tries again (after a longer wait while the server
/// keeps failing).
async fn run_imap(sink: Arc<Inbound>, mailbox: Arc<ImapMailbox>, every: Duration, term: CancellationToken) {
    let mut failures: u32 = 0;
    tracing::info!(mailbox = %mailbox.name, host = %mailbox.host, folder = %mailbox.folder, "polling IMAP");
    loop {
        let started = Instant::now();
        let mut more = false;
        match imap::poll(&mailbox, &*sink).await {
            Ok(report) => {
                failures = 0;
                more = report.waiting > mailbox.batch && report.deferred == 0;
                for (outcome, n) in [
                    ("taken", report.taken),
                    ("refused", report.refused),
                    ("too_large", report.too_large),
                    ("deferred", report.deferred),
                ] {
                    if n > 0 {
                        sink.core.metrics.imap_mails.with_label_values(&[&mailbox.name, outcome]).inc_by(n as u64);
                    }
                }
                if report.waiting > 0 {
                    tracing::info!(mailbox = %mailbox.name, waiting = report.waiting, taken = report.taken,
                        deferred = report.deferred, elapsed_ms = started.elapsed().as_millis() as u64, "IMAP poll");
                }
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                sink.core.metrics.imap_mails.with_label_values(&[&mailbox.name, "poll_failed"]).inc();
                tracing::warn!(mailbox = %mailbox.name, error = %e, failures, "IMAP poll failed");
            }
        }
        // More mail waiting than one batch takes: go on at once.
        let wait = match (failures, more) {
            (0, true) => Duration::ZERO,
            (0, false) => every,
            (n, _) => every.saturating_mul(n.min(10)),
        };
        tokio::select! {
            () = term.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

fn temporary(e: Error) -> SinkError {
    match e {
        Error::Internal(detail) => {
            tracing::error!(error = %detail, "cannot store a mail");
            SinkError::Temporary("internal error".into())
        }
        other => SinkError::Temporary(other.to_string()),
    }
}

/// Parses, admits, threads and stores one mail; `Ok` only once it is durable.
async fn receive(inbound: &Inbound, envelope: &Envelope, raw: &[u8]) -> Result<(), SinkError> {
    match parse_inbound(raw, &inbound.limits) {
        Ok(mut mail) => {
            mail.apply_envelope_sender(envelope.mail_from.as_deref());
            receive_mail(inbound, envelope, raw, mail).await
        }
        Err(MailError::Unparseable { reason, synthetic_id }) => {
            inbound.admit(envelope, None)?;
            let mut record = record(envelope, raw, synthetic_id.as_str(), InboundEmailKind::Unparseable);
            record.parse_error = Some(reason);
            inbound.core.store.record_inbound_email(&record).await.map_err(|e| temporary(e.into()))?;
            tracing::warn!(message_id = %synthetic_id.as_str(), "unparseable mail kept raw");
            Ok(())
        }
        Err(other) => Err(SinkError::Rejected(other.to_string())),
    }
}

/// The raw mail as kept: card numbers masked wherever they are readable (PCI; see
/// [`mask_card_numbers_in_mail`]).
fn mask_raw(raw: &[u8]) -> Vec<u8> {
    mask_card_numbers_in_mail(raw)
}

/// An attachment's bytes as kept: card numbers masked in text files (CSV, plain text, HTML...).
/// Binary files are kept as received.
fn mask_attachment(content_type: &str, content: &[u8]) -> Vec<u8> {
    let textual = content_type.starts_with("text/")
        || ["json", "xml", "csv"].iter().any(|t| content_type.split(['/', '+', ';']).any(|p| p.trim() == *t));
    if textual { schema::pci::mask_card_numbers_in_bytes(content) } else { content.to_vec() }
}

fn record(envelope: &Envelope, raw: &[u8], message_id: &str, kind: InboundEmailKind) -> InboundEmail {
    InboundEmail {
        message_id: message_id.to_owned(),
        conversation_id: None,
        message_ref: None,
        kind,
        parse_error: None,
        mail_from: envelope.mail_from.clone().filter(|m| !m.is_empty()),
        rcpt_to: envelope.rcpt_to.iter().map(|r| r.as_str().to_owned()).collect(),
        peer: envelope.peer.to_string(),
        helo: envelope.helo.clone(),
        tls: envelope.tls,
        from_address: None,
        reply_to: None,
        subject: String::new(),
        in_reply_to: None,
        references: Vec::new(),
        raw: mask_raw(raw),
        conversation_token: None,
        attachments: Vec::new(),
    }
}

async fn receive_mail(inbound: &Inbound, envelope: &Envelope, raw: &[u8], mail: InboundMail) -> Result<(), SinkError> {
    let sender: Option<EmailAddress> = mail
        .from
        .as_ref()
        .map(|m| m.address.clone())
        .or_else(|| envelope.mail_from.as_deref().and_then(|p| p.parse().ok()));
    inbound.admit(envelope, sender.as_ref())?;
    let id = mail.message_id.as_str();
    if inbound.core.store.email_inbound_seen(id).await.map_err(|e| temporary(e.into()))? {
        tracing::debug!(message_id = %id, "mail redelivered; already stored");
        return Ok(());
    }
    let kind = match &mail.kind {
        MailKind::Personal => InboundEmailKind::Personal,
        MailKind::AutoReply(_) => InboundEmailKind::AutoReply,
        MailKind::Bounce(_) => InboundEmailKind::Bounce,
    };
    let mut rec = record(envelope, raw, id, kind);
    rec.from_address = sender.as_ref().map(|s| s.as_str().to_ascii_lowercase());
    rec.reply_to = mail.reply_to.as_ref().map(|m| m.address.as_str().to_owned());
    rec.subject = schema::pci::mask_card_numbers(&mail.subject);
    rec.in_reply_to = mail.in_reply_to.clone();
    // A reply without References (only In-Reply-To) threads on its parent (RFC 5322 §3.6.4),
    // so our answer to it carries the parent too.
    rec.references =
        if mail.references.is_empty() { mail.in_reply_to.iter().cloned().collect() } else { mail.references.clone() };
    let unverified = inbound.unverified(&mail, sender.as_ref());
    store_mail(inbound, envelope, &mail, sender.as_ref(), unverified.as_deref(), &mut rec).await.map_err(temporary)?;
    inbound.core.store.record_inbound_email(&rec).await.map_err(|e| temporary(e.into()))?;
    Ok(())
}

/// Appends what the mail says to its conversation, filling in `rec`.
async fn store_mail(
    inbound: &Inbound,
    envelope: &Envelope,
    mail: &InboundMail,
    sender: Option<&EmailAddress>,
    unverified: Option<&str>,
    rec: &mut InboundEmail,
) -> Result<(), Error> {
    // An unverified sender joins no existing conversation (see the module docs).
    let threaded = match unverified {
        Some(_) => None,
        None => find_thread(inbound, mail, envelope, sender).await?,
    };
    let max = inbound.max_chars;
    match &mail.kind {
        MailKind::Personal => {
            let Some(sender) = sender else {
                rec.parse_error = Some("no usable sender address (From or envelope)".into());
                return Ok(());
            };
            let (conversation, is_thread) = match threaded {
                Some(c) => (c, true),
                None => {
                    let name = mail.from.as_ref().and_then(|m| m.name.clone());
                    let handle = sender.as_str().to_ascii_lowercase();
                    // The bot answers first, as on every channel; robots' mail never reaches it.
                    let status = inbound.ingest.first_status();
                    let store = &inbound.core.store;
                    let c = if unverified.is_some() {
                        store.new_conversation_for_handle(Channel::Email, &handle, name, status).await?
                    } else {
                        store.conversation_for_handle(Channel::Email, &handle, name, status).await?
                    };
                    (c, false)
                }
            };
            let mut attachments: Vec<NewAttachment> = mail
                .attachments
                .iter()
                .map(|a| NewAttachment {
                    id: AttachmentId::new(),
                    file_name: a.filename.clone(),
                    content_type: a.content_type.clone(),
                    size: i64::try_from(a.size).unwrap_or(i64::MAX),
                    content: (!a.oversize).then(|| mask_attachment(&a.content_type, &a.content)),
                })
                .collect();
            let media = attachments.iter().map(media_ref).collect();
            let new = NewMessage {
                conversation_id: conversation.id,
                author: AuthorKind::Customer,
                author_id: None,
                text: customer_text(mail, !is_thread, &attachments, max)?,
                channel_message_id: Some(mail.message_id.clone()),
                media,
                template: None,
            };
            let appended = inbound.ingest.append(new).await?;
            if appended.created && appended.message.seq == 1 {
                inbound.core.bus.publish(Event::ConversationCreated { conversation: appended.conversation.clone() });
            }
            if let Some(why) = unverified.filter(|_| appended.created) {
                let text = format!(
                    "[unverified sender] The sender of this mail could not be verified ({why}). It was not \
                     added to an existing conversation; do not share account details before checking who wrote it."
                );
                let flag = NewMessage {
                    conversation_id: conversation.id,
                    author: AuthorKind::System,
                    author_id: None,
                    text: MessageText::parse(&cut(&text, max), max)?,
                    channel_message_id: None,
                    media: Vec::new(),
                    template: None,
                };
                inbound.ingest.append(flag).await?;
                tracing::warn!(conversation = %conversation.id, reason = %why, "mail from an unverified sender");
            }
            if !appended.created {
                // Stored before, but its mail record was not (a crash in between): keep the
                // attachment ids the stored message already names.
                for (a, m) in attachments.iter_mut().zip(&appended.message.media) {
                    if let Some(id) = m.reference.rsplit('/').next().and_then(|s| s.parse().ok()) {
                        a.id = id;
                    }
                }
            }
            rec.conversation_id = Some(conversation.id);
            rec.message_ref = Some(appended.message.id);
            rec.conversation_token = Some(conversation_token(&conversation.id).as_str().to_owned());
            rec.attachments = attachments;
        }
        MailKind::AutoReply(_) => {
            if let Some(conversation) = threaded {
                let body = [&mail.new_text, &mail.text].into_iter().find(|t| !t.trim().is_empty());
                let text = format!(
                    "[automatic reply] {}{}",
                    mail.subject.trim(),
                    body.map(|b| format!("\n\n{}", b.trim())).unwrap_or_default()
                );
                let message = system_message(inbound, &conversation, mail, &text, max).await?;
                rec.conversation_id = Some(conversation.id);
                rec.message_ref = Some(message);
            }
        }
        MailKind::Bounce(bounce) => {
            let reason = {
                let mut parts = vec![bounce.action.clone().unwrap_or_else(|| "failed".into())];
                parts.extend(bounce.recipient.clone());
                parts.extend(bounce.status.clone());
                parts.extend(bounce.diagnostic.clone());
                format!("bounced: {}", parts.join(" "))
            };
            let mut conversation = threaded;
            if let Some(original) = &bounce.original_message_id {
                if bounce.is_permanent()
                    && let Some(message) = inbound.core.store.email_bounced(original, &reason).await?
                {
                    inbound.core.metrics.outbound.with_label_values(&["email", "bounced"]).inc();
                    outbox::publish_update(&inbound.core, message).await;
                }
                if let Some(id) = inbound.core.store.email_outbound_conversation(original).await? {
                    conversation = Some(inbound.core.store.conversation(id).await?);
                }
            }
            if let Some(conversation) = conversation.filter(|c| c.status != ConversationStatus::Closed) {
                let label = if bounce.is_permanent() { "delivery failed" } else { "delivery delayed" };
                let message = system_message(inbound, &conversation, mail, &format!("[{label}] {reason}"), max).await?;
                rec.conversation_id = Some(conversation.id);
                rec.message_ref = Some(message);
            }
        }
    }
    Ok(())
}

async fn system_message(
    inbound: &Inbound,
    conversation: &Conversation,
    mail: &InboundMail,
    text: &str,
    max: usize,
) -> Result<schema::MessageId, Error> {
    let new = NewMessage {
        conversation_id: conversation.id,
        author: AuthorKind::System,
        author_id: None,
        text: MessageText::parse(&cut(text, max), max)?,
        channel_message_id: Some(mail.message_id.clone()),
        media: Vec::new(),
        template: None,
    };
    Ok(inbound.ingest.append(new).await?.message.id)
}

/// The conversation a mail threads to (rules 1 and 2 of the module docs), if any is open.
async fn find_thread(
    inbound: &Inbound,
    mail: &InboundMail,
    envelope: &Envelope,
    sender: Option<&EmailAddress>,
) -> Result<Option<Conversation>, Error> {
    let from_customer = |customer: &str| sender.is_some_and(|s| s.as_str().eq_ignore_ascii_case(customer));
    if let Some(id) = inbound.core.store.email_thread_lookup(&thread_keys(mail)).await?
        && inbound.core.store.email_customer_address(id).await?.is_some_and(|c| from_customer(&c))
    {
        let conversation = inbound.core.store.conversation(id).await?;
        if conversation.status != ConversationStatus::Closed {
            return Ok(Some(conversation));
        }
    }
    let recipients: Vec<&EmailAddress> = mail.recipients().chain(envelope.rcpt_to.iter()).collect();
    if let Some(token) = find_token(&mail.subject, recipients)
        && let Some((id, customer)) = inbound.core.store.email_conversation_by_token(token.as_str()).await?
        && from_customer(&customer)
    {
        let conversation = inbound.core.store.conversation(id).await?;
        if conversation.status != ConversationStatus::Closed {
            return Ok(Some(conversation));
        }
    }
    Ok(None)
}

/// At most `max` characters, with an ellipsis when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// What the customer wrote: the new part of the body (quotes and signature trimmed), after the
/// subject when the mail starts a thread.
fn customer_text(
    mail: &InboundMail,
    with_subject: bool,
    attachments: &[NewAttachment],
    max: usize,
) -> Result<MessageText, Error> {
    let body = [&mail.new_text, &mail.text].into_iter().find(|t| !t.trim().is_empty()).map_or("", |t| t.trim());
    let mut text = String::new();
    if with_subject && !mail.subject.trim().is_empty() {
        text.push_str(mail.subject.trim());
        if !body.is_empty() {
            text.push_str("\n\n");
        }
    }
    text.push_str(body);
    if text.trim().is_empty() {
        text = if attachments.is_empty() {
            "(empty e-mail)".to_owned()
        } else {
            let names: Vec<&str> = attachments.iter().map(|a| a.file_name.as_deref().unwrap_or("unnamed")).collect();
            format!("[attachments: {}]", names.join(", "))
        };
    }
    Ok(MessageText::parse(&cut(&text, max), max)?)
}

fn media_ref(a: &NewAttachment) -> MediaRef {
    let kind = match a.content_type.split('/').next() {
        Some("image") => "image",
        Some("audio") => "audio",
        Some("video") => "video",
        _ => "document",
    };
    MediaRef {
        kind: kind.to_owned(),
        reference: format!("/api/v1/attachments/{}", a.id),
        mime_type: Some(a.content_type.clone()),
        file_name: a.file_name.clone(),
    }
}

// ---- replies --------------------------------------------------------------------------------

/// Builds the mail that goes with a reply on an e-mail conversation, threaded to the customer's
/// last mail.
#[derive(Debug)]
pub struct Replies {
    /// Our address; `None` when the channel is disabled.
    from: Option<Mailbox>,
    /// The domain of the Message-IDs we write.
    domain: String,
}

impl Replies {
    /// For an agent's or the bot's message on an e-mail conversation: the threaded reply mail to
    /// queue with it. `None` for any other message.
    ///
    /// # Errors
    /// The channel is disabled on this hub, the conversation has no known address, or the reply
    /// cannot be built.
    pub async fn prepare(&self, store: &Store, new: &NewMessage) -> Result<Option<OutboundEmail>, Error> {
        if !matches!(new.author, AuthorKind::Agent | AuthorKind::Bot) {
            return Ok(None);
        }
        let conversation = store.conversation(new.conversation_id).await?;
        if conversation.channel != Channel::Email {
            return Ok(None);
        }
        let Some(from) = &self.from else {
            return Err(Error::Unavailable("the e-mail channel is not enabled on this hub".into()));
        };
        let context = store
            .email_reply_context(conversation.id)
            .await?
            .ok_or_else(|| Error::Conflict("no e-mail address is known for this conversation".into()))?;
        let last = context.last_inbound;
        // Only ever the address the conversation was opened with: a later mail's `Reply-To:`
        // (or `From:`) is the sender's claim, and must not redirect the agent's answer.
        let to: EmailAddress = context.customer_address.parse()?;
        let params = ReplyParams {
            from: from.clone(),
            to: vec![Mailbox::new(to)],
            subject_of_thread: last.as_ref().map(|l| l.subject.clone()).unwrap_or_default(),
            text: new.text.as_str().to_owned(),
            html: None,
            in_reply_to: last.as_ref().map(|l| l.message_id.clone()),
            references: last.map(|l| l.references).unwrap_or_default(),
            token: conversation_token(&conversation.id),
            domain: self.domain.clone(),
            automatic: new.author == AuthorKind::Bot,
        };
        let (message, mail_message_id) = build_reply(&params)
            .map_err(|e| Error::BadRequest { code: ErrorCode::MailBuildFailed, message: e.to_string() })?;
        let envelope = message.envelope();
        Ok(Some(OutboundEmail {
            mail_message_id,
            envelope_from: envelope.from().map_or_else(|| from.address.as_str().to_owned(), ToString::to_string),
            envelope_to: envelope.to().iter().map(ToString::to_string).collect(),
            raw: message.formatted(),
        }))
    }
}

/// Hands queued replies to the relay.
struct EmailOutbox {
    store: Store,
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    send_attempts: i64,
    retry_backoff_ms: u64,
}

impl outbox::Outbox for EmailOutbox {
    type Item = QueuedEmail;

    fn name(&self) -> &'static str {
        "email"
    }

    fn poll_every(&self) -> Duration {
        Duration::from_millis(self.retry_backoff_ms.clamp(10, 1000))
    }

    fn batch(&self) -> u32 {
        50
    }

    fn max_attempts(&self) -> i64 {
        self.send_attempts
    }

    async fn claim(&self, now: OffsetDateTime, lease: Duration, limit: u32) -> Result<Vec<QueuedEmail>, StoreError> {
        self.store.claim_email_outbound(now, lease, limit).await
    }

    fn info<'a>(&self, item: &'a QueuedEmail) -> outbox::ItemInfo<'a> {
        outbox::ItemInfo { message_id: item.message_id, attempts: item.attempts, channel: "email" }
    }

    async fn send(&self, item: &QueuedEmail) -> outbox::Attempt {
        let outcome = match &self.transport {
            None => Err(SendError::Permanent {
                code: None,
                message: "no outbound relay is configured (email.relay.host)".into(),
            }),
            Some(transport) => match envelope_of(&item.mail) {
                Ok(envelope) => send_raw(transport, &envelope, &item.mail.raw).await,
                Err(e) => Err(e),
            },
        };
        match outcome {
            Ok(()) => outbox::Attempt::Sent { external_id: Some(item.mail.mail_message_id.clone()) },
            Err(SendError::Transient { message: reason, .. }) => outbox::Attempt::Retry {
                after: outbox::backoff(
                    Duration::from_millis(self.retry_backoff_ms),
                    item.attempts,
                    Duration::from_secs(600),
                ),
                reason,
            },
            Err(SendError::Permanent { message: reason, .. }) => outbox::Attempt::Failed { reason },
        }
    }
}

fn envelope_of(mail: &OutboundEmail) -> Result<lettre::address::Envelope, SendError> {
    let bad = |e: &dyn std::fmt::Display| SendError::Permanent { code: None, message: format!("envelope: {e}") };
    let from: lettre::Address = mail.envelope_from.parse().map_err(|e| bad(&e))?;
    let to = mail.envelope_to.iter().map(|t| t.parse::<lettre::Address>()).collect::<Result<Vec<_>, _>>();
    lettre::address::Envelope::new(Some(from), to.map_err(|e| bad(&e))?).map_err(|e| bad(&e))
}
