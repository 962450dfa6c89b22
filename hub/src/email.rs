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
//! Message-ID nor a token is a secret, and a reply goes to the conversation's last sender;
//! 3. else the sender's open e-mail conversation, or a new one (and a new customer, found next time
//!    by the address).
//!
//! Automatic mail (auto-replies, bounces) never becomes a customer turn: it is stored as a
//! `system` message on the conversation it threads to (or kept raw only), and a permanent
//! bounce marks the reply it reports failed.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use bytes::Bytes;
use channels::email::imap::{self, AfterTaken, ImapMailbox, ImapSink, ImapTls, trust_roots};
use channels::email::smtp::{self, Envelope, MailSink, SinkError, SmtpConfig};
use channels::email::{
    InboundLimits, InboundMail, MailError, MailKind, Mailbox, RelayTls, ReplyParams, SendError, SmtpRelay, build_reply,
    conversation_token, find_token, mask_card_numbers_in_mail, parse_inbound, send_raw, synthetic_message_id,
    thread_keys,
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use schema::{
    AttachmentId, AuthorKind, Channel, Conversation, ConversationStatus, DeliveryStatus, DisplayName, EmailAddress,
    InboundEmail, InboundEmailKind, MediaRef, MessageText, NewAttachment, NewMessage, OutboundEmail, QueuedEmail, Role,
};
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::auth::Staff;
use crate::bus::Event;
use crate::config::{EmailConfig, ImapAfter, ImapConfig, TlsMode};
use crate::error::ApiError;
use crate::{AppState, StartError, ingest};

/// The e-mail channel's state on a hub node.
pub struct Email {
    /// Woken when a reply is queued.
    pub wake: tokio::sync::Notify,
    per_sender: DefaultKeyedRateLimiter<String>,
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    /// Our address; `None` when the channel is disabled.
    from: Option<Mailbox>,
    domain: String,
    limits: InboundLimits,
    /// STARTTLS for the listener, when a certificate is configured.
    tls: Option<Arc<ServerConfig>>,
    /// The IMAP mailboxes to poll, each with its interval.
    imap: Vec<(ImapMailbox, Duration)>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email").field("from", &self.from).field("relay", &self.transport.is_some()).finish()
    }
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl Email {
    /// The channel's state from its configuration.
    ///
    /// # Errors
    /// When enabled: an invalid from address, display name or relay.
    pub fn new(config: &EmailConfig) -> Result<Self, String> {
        let rate = config.sender_rate_per_min;
        let per_sender = RateLimiter::keyed(Quota::per_minute(nonzero(rate)).allow_burst(nonzero((rate / 3).max(5))));
        let limits = InboundLimits {
            max_attachment_bytes: config.max_attachment_bytes,
            max_total_attachment_bytes: config.max_total_attachment_bytes,
            ..InboundLimits::default()
        };
        let mut email = Self {
            wake: tokio::sync::Notify::new(),
            per_sender,
            transport: None,
            from: None,
            domain: String::new(),
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
        email.domain = if config.message_id_domain.trim().is_empty() {
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
                credentials: config.relay.username.clone().zip(config.relay.password.clone()),
                hello_name: config.hostname.clone(),
                timeout: Duration::from_secs(config.relay.timeout_secs.max(1)),
                max_connections: config.relay.max_connections,
            };
            email.transport = Some(relay.transport().map_err(|e| e.to_string())?);
        }
        email.from = Some(Mailbox { address, name });
        Ok(email)
    }

    fn admit(&self, key: &str) -> Result<(), SinkError> {
        self.per_sender.check_key(&key.to_ascii_lowercase()).map_err(|_| SinkError::RateLimited)
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
    let password = match (&m.password, &m.password_file) {
        (Some(p), None) => p.clone(),
        (None, Some(file)) => std::fs::read_to_string(file)
            .map(|p| p.trim_end_matches(['\r', '\n']).to_owned())
            .map_err(|e| format!("password_file {file:?}: {e}"))?,
        _ => return Err("set one of password and password_file".into()),
    };
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
pub(crate) async fn listen(state: &web::Data<AppState>) -> Result<(std::net::SocketAddr, JoinHandle<()>), StartError> {
    let config = &state.config.email;
    let addr = config.smtp_bind;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr, source })?;
    let addresses = config
        .addresses
        .iter()
        .map(|a| a.parse::<EmailAddress>().map_err(|e| StartError::Email(format!("email.addresses {a:?}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    if addresses.is_empty() && config.local_domains.is_empty() {
        return Err(StartError::Email("set email.addresses or email.local_domains".into()));
    }
    let mut smtp = SmtpConfig::new(config.hostname.clone(), config.local_domains.clone(), addresses);
    smtp.max_message_bytes = config.max_message_bytes;
    smtp.max_connections = config.max_connections.max(1);
    smtp.tls.clone_from(&state.email.tls);
    let sink = Arc::new(HubSink { state: state.clone() });
    let task = tokio::spawn(smtp::serve(listener, smtp, sink, state.shutdown.clone()));
    tracing::info!(%addr, "SMTP listening");
    Ok((addr, task))
}

struct HubSink {
    state: web::Data<AppState>,
}

impl MailSink for HubSink {
    async fn deliver(&self, envelope: Envelope, raw: Bytes) -> Result<(), SinkError> {
        let started = Instant::now();
        let result = receive(&self.state, &envelope, &raw).await;
        self.state.metrics.store_write.with_label_values(&["email_inbound"]).observe(started.elapsed().as_secs_f64());
        if let Err(e) = &result {
            tracing::info!(error = %e, peer = %envelope.peer, "mail not taken");
        }
        result
    }
}

impl ImapSink for HubSink {
    /// Kept like an unparseable mail: its header as the raw copy, and why its body is not here.
    async fn too_large(&self, envelope: Envelope, header: Bytes, size: u64) -> Result<(), SinkError> {
        let state = &self.state;
        let parsed = parse_inbound(&header, &state.email.limits).ok();
        let id = parsed.as_ref().map_or_else(|| synthetic_message_id(&header), |mail| mail.message_id.clone());
        let mut record = record(&envelope, &header, id.as_str(), InboundEmailKind::Unparseable);
        if let Some(mail) = parsed {
            record.subject = schema::pci::mask_card_numbers(&mail.subject);
            record.from_address = mail.from.map(|m| m.address.as_str().to_ascii_lowercase());
        }
        record.parse_error = Some(format!(
            "{size} bytes, over email.max_message_bytes ({}): only the header was fetched; the mail is left \
             flagged on the IMAP server",
            state.config.email.max_message_bytes
        ));
        state.store.record_inbound_email(&record).await.map_err(|e| temporary(e.into()))?;
        tracing::warn!(message_id = %id.as_str(), size, "mail too large to fetch; left on the IMAP server");
        Ok(())
    }
}

// ---- the IMAP poll mode ---------------------------------------------------------------------

/// Starts a poller per configured IMAP mailbox.
pub(crate) fn spawn_imap_pollers(state: &web::Data<AppState>) {
    for (mailbox, every) in &state.email.imap {
        tokio::spawn(run_imap(state.clone(), mailbox.clone(), *every));
    }
}

/// Polls one mailbox until the hub shuts down. A failed poll is logged and counted; the next
/// one tries again (after a longer wait while the server keeps failing).
async fn run_imap(state: web::Data<AppState>, mailbox: ImapMailbox, every: Duration) {
    let sink = HubSink { state: state.clone() };
    let mut failures: u32 = 0;
    tracing::info!(mailbox = %mailbox.name, host = %mailbox.host, folder = %mailbox.folder, "polling IMAP");
    loop {
        let started = Instant::now();
        let mut more = false;
        match imap::poll(&mailbox, &sink).await {
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
                        state.metrics.imap_mails.with_label_values(&[&mailbox.name, outcome]).inc_by(n as u64);
                    }
                }
                if report.waiting > 0 {
                    tracing::info!(mailbox = %mailbox.name, waiting = report.waiting, taken = report.taken,
                        deferred = report.deferred, elapsed_ms = started.elapsed().as_millis() as u64, "IMAP poll");
                }
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                state.metrics.imap_mails.with_label_values(&[&mailbox.name, "poll_failed"]).inc();
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
            () = state.shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

fn temporary(e: ApiError) -> SinkError {
    match e {
        ApiError::Internal(detail) => {
            tracing::error!(error = %detail, "cannot store a mail");
            SinkError::Temporary("internal error".into())
        }
        other => SinkError::Temporary(other.to_string()),
    }
}

/// Parses, admits, threads and stores one mail; `Ok` only once it is durable.
async fn receive(state: &AppState, envelope: &Envelope, raw: &[u8]) -> Result<(), SinkError> {
    match parse_inbound(raw, &state.email.limits) {
        Ok(mut mail) => {
            mail.apply_envelope_sender(envelope.mail_from.as_deref());
            receive_mail(state, envelope, raw, mail).await
        }
        Err(MailError::Unparseable { reason, synthetic_id }) => {
            state.email.admit(&sender_key(None, envelope))?;
            let mut record = record(envelope, raw, synthetic_id.as_str(), InboundEmailKind::Unparseable);
            record.parse_error = Some(reason);
            state.store.record_inbound_email(&record).await.map_err(|e| temporary(e.into()))?;
            tracing::warn!(message_id = %synthetic_id.as_str(), "unparseable mail kept raw");
            Ok(())
        }
        Err(other) => Err(SinkError::Rejected(other.to_string())),
    }
}

fn sender_key(sender: Option<&EmailAddress>, envelope: &Envelope) -> String {
    sender.map_or_else(|| format!("peer:{}", envelope.peer.ip()), |s| s.as_str().to_owned())
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

async fn receive_mail(state: &AppState, envelope: &Envelope, raw: &[u8], mail: InboundMail) -> Result<(), SinkError> {
    let sender: Option<EmailAddress> = mail
        .from
        .as_ref()
        .map(|m| m.address.clone())
        .or_else(|| envelope.mail_from.as_deref().and_then(|p| p.parse().ok()));
    state.email.admit(&sender_key(sender.as_ref(), envelope))?;
    let id = mail.message_id.as_str();
    if state.store.email_inbound_seen(id).await.map_err(|e| temporary(e.into()))? {
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
    store_mail(state, envelope, &mail, sender.as_ref(), &mut rec).await.map_err(temporary)?;
    state.store.record_inbound_email(&rec).await.map_err(|e| temporary(e.into()))?;
    Ok(())
}

/// Appends what the mail says to its conversation, filling in `rec`.
async fn store_mail(
    state: &AppState,
    envelope: &Envelope,
    mail: &InboundMail,
    sender: Option<&EmailAddress>,
    rec: &mut InboundEmail,
) -> Result<(), ApiError> {
    let threaded = find_thread(state, mail, envelope, sender).await?;
    let max = state.config.webchat.max_message_chars;
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
                    let status =
                        if state.assistant.is_some() { ConversationStatus::Bot } else { ConversationStatus::Queued };
                    let c = state.store.conversation_for_handle(Channel::Email, &handle, name, status).await?;
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
            let appended = ingest::append(state, new).await?;
            if appended.created && appended.message.seq == 1 {
                state.bus.publish(Event::ConversationCreated { conversation: appended.conversation.clone() });
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
                let message = system_message(state, &conversation, mail, &text, max).await?;
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
                    && let Some(message) = state.store.email_bounced(original, &reason).await?
                {
                    state.metrics.outbound.with_label_values(&["email", "bounced"]).inc();
                    publish_update(state, message).await;
                }
                if let Some(id) = state.store.email_outbound_conversation(original).await? {
                    conversation = Some(state.store.conversation(id).await?);
                }
            }
            if let Some(conversation) = conversation.filter(|c| c.status != ConversationStatus::Closed) {
                let label = if bounce.is_permanent() { "delivery failed" } else { "delivery delayed" };
                let message = system_message(state, &conversation, mail, &format!("[{label}] {reason}"), max).await?;
                rec.conversation_id = Some(conversation.id);
                rec.message_ref = Some(message);
            }
        }
    }
    Ok(())
}

async fn system_message(
    state: &AppState,
    conversation: &Conversation,
    mail: &InboundMail,
    text: &str,
    max: usize,
) -> Result<schema::MessageId, ApiError> {
    let new = NewMessage {
        conversation_id: conversation.id,
        author: AuthorKind::System,
        author_id: None,
        text: MessageText::parse(&cut(text, max), max)?,
        channel_message_id: Some(mail.message_id.clone()),
        media: Vec::new(),
        template: None,
    };
    Ok(ingest::append(state, new).await?.message.id)
}

/// The conversation a mail threads to (rules 1 and 2 of the module docs), if any is open.
async fn find_thread(
    state: &AppState,
    mail: &InboundMail,
    envelope: &Envelope,
    sender: Option<&EmailAddress>,
) -> Result<Option<Conversation>, ApiError> {
    let from_customer = |customer: &str| sender.is_some_and(|s| s.as_str().eq_ignore_ascii_case(customer));
    if let Some(id) = state.store.email_thread_lookup(&thread_keys(mail)).await?
        && state.store.email_customer_address(id).await?.is_some_and(|c| from_customer(&c))
    {
        let conversation = state.store.conversation(id).await?;
        if conversation.status != ConversationStatus::Closed {
            return Ok(Some(conversation));
        }
    }
    let recipients: Vec<&EmailAddress> = mail.recipients().chain(envelope.rcpt_to.iter()).collect();
    if let Some(token) = find_token(&mail.subject, recipients)
        && let Some((id, customer)) = state.store.email_conversation_by_token(token.as_str()).await?
        && from_customer(&customer)
    {
        let conversation = state.store.conversation(id).await?;
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
) -> Result<MessageText, ApiError> {
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

async fn publish_update(state: &AppState, message: schema::Message) {
    match state.store.conversation(message.conversation_id).await {
        Ok(conversation) => state.bus.publish(Event::MessageUpdated { message, conversation }),
        Err(e) => tracing::warn!(error = %e, "cannot read the conversation to announce a delivery"),
    }
}

// ---- replies --------------------------------------------------------------------------------

/// For an agent's or the bot's message on an e-mail conversation: the threaded reply mail to
/// queue with it. `None` for any other message.
///
/// # Errors
/// The channel is disabled on this hub, the conversation has no known address, or the reply
/// cannot be built.
pub(crate) async fn prepare_reply(state: &AppState, new: &NewMessage) -> Result<Option<OutboundEmail>, ApiError> {
    if !matches!(new.author, AuthorKind::Agent | AuthorKind::Bot) {
        return Ok(None);
    }
    let conversation = state.store.conversation(new.conversation_id).await?;
    if conversation.channel != Channel::Email {
        return Ok(None);
    }
    let Some(from) = &state.email.from else {
        return Err(ApiError::Unavailable("the e-mail channel is not enabled on this hub".into()));
    };
    let context = state
        .store
        .email_reply_context(conversation.id)
        .await?
        .ok_or_else(|| ApiError::Conflict("no e-mail address is known for this conversation".into()))?;
    let last = context.last_inbound;
    let to = last
        .as_ref()
        .and_then(|l| l.reply_to.clone().or_else(|| l.from_address.clone()))
        .unwrap_or(context.customer_address);
    let to: EmailAddress = to.parse()?;
    let params = ReplyParams {
        from: from.clone(),
        to: vec![Mailbox::new(to)],
        subject_of_thread: last.as_ref().map(|l| l.subject.clone()).unwrap_or_default(),
        text: new.text.as_str().to_owned(),
        html: None,
        in_reply_to: last.as_ref().map(|l| l.message_id.clone()),
        references: last.map(|l| l.references).unwrap_or_default(),
        token: conversation_token(&conversation.id),
        domain: state.email.domain.clone(),
        automatic: new.author == AuthorKind::Bot,
    };
    let (message, mail_message_id) =
        build_reply(&params).map_err(|e| ApiError::BadRequest { code: e.code(), message: e.to_string() })?;
    let envelope = message.envelope();
    Ok(Some(OutboundEmail {
        mail_message_id,
        envelope_from: envelope.from().map_or_else(|| from.address.as_str().to_owned(), ToString::to_string),
        envelope_to: envelope.to().iter().map(ToString::to_string).collect(),
        raw: message.formatted(),
    }))
}

/// How long a claimed reply is left to one node before another may send it.
const SEND_LEASE: Duration = Duration::from_secs(60);

/// The wait before try `attempt + 2`: `base`, doubled at each try, at most 10 minutes.
fn backoff(base_ms: u64, attempt: i64) -> Duration {
    let exp = u32::try_from(attempt.clamp(0, 20)).unwrap_or(20);
    Duration::from_millis(base_ms.max(1).saturating_mul(1u64 << exp).min(600_000))
}

/// Sends queued e-mail replies until the hub shuts down.
pub async fn run_sender(state: web::Data<AppState>) {
    let tick = Duration::from_millis(state.config.email.retry_backoff_ms.clamp(10, 1000));
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            () = state.email.wake.notified() => {}
            () = tokio::time::sleep(tick) => {}
        }
        let due = match state.store.claim_email_outbound(OffsetDateTime::now_utc(), SEND_LEASE, 50).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the e-mail outbound queue");
                continue;
            }
        };
        for item in due {
            if state.shutdown.is_cancelled() {
                return;
            }
            let id = item.message_id;
            if let Err(e) = send_one(&state, item).await {
                tracing::error!(error = %e, message_id = %id, "cannot record an e-mail delivery");
            }
        }
    }
}

fn envelope_of(mail: &OutboundEmail) -> Result<lettre::address::Envelope, SendError> {
    let bad = |e: &dyn std::fmt::Display| SendError::Permanent { code: None, message: format!("envelope: {e}") };
    let from: lettre::Address = mail.envelope_from.parse().map_err(|e| bad(&e))?;
    let to = mail.envelope_to.iter().map(|t| t.parse::<lettre::Address>()).collect::<Result<Vec<_>, _>>();
    lettre::address::Envelope::new(Some(from), to.map_err(|e| bad(&e))?).map_err(|e| bad(&e))
}

async fn send_one(state: &AppState, item: QueuedEmail) -> Result<(), ApiError> {
    let outcome = match &state.email.transport {
        None => Err(SendError::Permanent {
            code: None,
            message: "no outbound relay is configured (email.relay.host)".into(),
        }),
        Some(transport) => match envelope_of(&item.mail) {
            Ok(envelope) => send_raw(transport, &envelope, &item.mail.raw).await,
            Err(e) => Err(e),
        },
    };
    let id = item.message_id;
    let store = &state.store;
    let message = match outcome {
        Ok(()) => store.record_delivery(id, DeliveryStatus::Sent, None, Some(&item.mail.mail_message_id), None).await?,
        Err(SendError::Transient { message: reason, .. }) => {
            let tries = item.attempts + 1;
            if tries >= i64::from(state.config.email.send_attempts) {
                let error = format!("gave up after {tries} tries: {reason}");
                store.record_delivery(id, DeliveryStatus::Failed, Some(&error), None, None).await?
            } else {
                let at = OffsetDateTime::now_utc() + backoff(state.config.email.retry_backoff_ms, item.attempts);
                tracing::info!(message_id = %id, tries, reason = %reason, "mail not sent; will retry");
                store.record_delivery(id, DeliveryStatus::Queued, Some(&reason), None, Some(at)).await?
            }
        }
        Err(SendError::Permanent { message: reason, .. }) => {
            store.record_delivery(id, DeliveryStatus::Failed, Some(&reason), None, None).await?
        }
    };
    state.metrics.outbound.with_label_values(&["email", message.delivery_status.map_or("none", |s| s.as_str())]).inc();
    publish_update(state, message).await;
    Ok(())
}

// ---- attachments ----------------------------------------------------------------------------

/// A file name safe for a `Content-Disposition` header.
fn safe_file_name(name: Option<&str>) -> String {
    let cleaned: String = name
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' '))
        .take(120)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() { "attachment".to_owned() } else { cleaned }
}

/// `GET /api/v1/attachments/{id}` (agent): an inbound mail's attachment, as a download.
pub async fn download_attachment(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<AttachmentId>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Agent)?;
    let attachment = state.store.email_attachment(*id).await?;
    let Some(content) = attachment.content else {
        return Err(ApiError::NotFound("attachment content (it was over the size limit)"));
    };
    let content_type = attachment
        .content_type
        .parse::<header::HeaderValue>()
        .ok()
        .filter(|v| v.to_str().is_ok_and(|s| s.contains('/') && !s.contains(';')))
        .unwrap_or_else(|| header::HeaderValue::from_static("application/octet-stream"));
    let disposition = format!("attachment; filename=\"{}\"", safe_file_name(attachment.file_name.as_deref()));
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_DISPOSITION, disposition))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(content))
}

// ---- mail that did not become a message -------------------------------------------------------

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

/// `GET /api/v1/email/unprocessed?limit=&cursor=` (admin): received mails kept with a parse
/// error (unparseable, too large to fetch over IMAP, no usable sender), newest first.
pub async fn unprocessed(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let limit = crate::api::page_size(query.limit, "limit")?;
    let page = state.store.unprocessed_emails(limit, query.cursor.as_deref()).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `GET /api/v1/email/inbound/{message_id}/raw` (admin): a received mail as kept (card numbers
/// masked), as a `.eml` download.
pub async fn download_raw(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let mail = state.store.inbound_email(id.as_str()).await?.ok_or(ApiError::NotFound("mail"))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "message/rfc822"))
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"mail.eml\""))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(mail.raw))
}
