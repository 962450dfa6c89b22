//! The web chat channel's sessions: a new customer and conversation, and the signed visitor token
//! that opens its socket; customers leaving (the `leave` frame, or their last socket gone for
//! `webchat.abandon_after_secs`), which closes a ticket nobody answered yet as abandoned.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use channels::webchat::upload::{self, FileKind, UploadError};
use channels::webchat::{VisitorClaims, VisitorTokenKey};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use schema::{
    Actor, AgentId, AttachmentId, AuthorKind, Channel, Conversation, ConversationId, ConversationStatus, Customer,
    DisplayName, EmailAddress, Language, MediaRef, NewCustomer, NewUpload, StoreError, StoredAttachment, TicketId,
    TicketStatus,
};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::bus::Event;
use crate::config::{PictureOcr, WebchatConfig};
use crate::error::Error;
use crate::services::Core;
use crate::services::ingest::Ingest;
use crate::services::leader::Lease;
use crate::services::routing::Routing;

/// What a customer gives when a chat starts; every field is optional.
#[derive(Debug, Default)]
pub struct NewSession<'a> {
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub language: Option<&'a str>,
}

/// A chat session that was opened.
#[derive(Debug)]
pub struct Session {
    pub token: String,
    pub customer: Customer,
    pub conversation: Conversation,
    pub expires_at: OffsetDateTime,
}

/// A file a customer sent, as kept.
#[derive(Debug)]
pub struct Upload {
    pub id: AttachmentId,
    pub file_name: Option<String>,
    pub content_type: &'static str,
    pub size: usize,
}

/// Opens web chat sessions, checks their tokens, and keeps the files customers send.
#[derive(Debug)]
pub struct Webchat {
    core: Core,
    ingest: Arc<Ingest>,
    key: VisitorTokenKey,
    token_ttl_secs: u64,
    max_attachment_bytes: usize,
    max_attachments: u32,
    /// New chats and uploads per client address.
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    /// Uploaded kilobytes per client address.
    bytes_per_address: DefaultKeyedRateLimiter<IpAddr>,
    /// Typing hints per conversation and side (customer or agents), however many sockets send
    /// them.
    typing: DefaultKeyedRateLimiter<(ConversationId, bool)>,
    /// Closes the tickets of customers who leave.
    routing: Arc<Routing>,
    /// Open customer sockets per conversation (a chat open in a few tabs is fine; hundreds
    /// from one token are not), and the chats whose last socket closed.
    sockets: Arc<Mutex<Sockets>>,
    /// How long a chat's last socket may stay closed before a waiting ticket is abandoned.
    abandon_after: Duration,
    /// Several nodes share the store: a socket's opening is noted there, so the node that saw
    /// the customer go does not abandon a chat they came back to on another node.
    several_nodes: bool,
    /// Reading pictures for card numbers.
    ocr: PictureOcr,
    ocr_command: String,
    /// OCR runs at once (each is a process taking a core for a fraction of a second).
    ocr_slots: tokio::sync::Semaphore,
}

/// How long reading one picture may take.
const OCR_TIMEOUT: Duration = Duration::from_secs(20);

/// Most customer sockets open at once on one conversation.
pub const MAX_SOCKETS_PER_CONVERSATION: usize = 8;

/// Most chats this node watches for a customer who left without ending (one entry each, from
/// their last socket closing to the deadline); beyond it a closing socket is not watched.
pub const MAX_AWAY: usize = 100_000;

/// Most departed chats one sweep settles; the rest wait for the next sweep.
const MAX_SETTLED_PER_SWEEP: usize = 500;

/// The customer sockets of this node.
#[derive(Debug, Default)]
struct Sockets {
    /// Open sockets per conversation.
    open: HashMap<ConversationId, usize>,
    /// Conversations whose last socket closed, and when: a socket opening removes its entry,
    /// the sweep settles those past the deadline.
    away: HashMap<ConversationId, Instant>,
}

/// An open customer socket, counted until it is dropped.
#[derive(Debug)]
pub struct SocketSlot {
    sockets: Arc<Mutex<Sockets>>,
    conversation_id: ConversationId,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut sockets = self.sockets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = sockets.open.get_mut(&self.conversation_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                sockets.open.remove(&self.conversation_id);
                if sockets.away.len() < MAX_AWAY {
                    sockets.away.insert(self.conversation_id, Instant::now());
                } else {
                    tracing::warn!(conversation_id = %self.conversation_id, "too many departed chats watched; this one is not");
                }
            }
        }
    }
}

/// How a customer left a chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Departure {
    /// They ended it (the widget's "End chat": a `leave` frame).
    Ended,
    /// Their last socket closed this long ago and none came back (on this node).
    Gone { away: Duration },
}

/// What a customer leaving did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Left {
    /// The ticket nobody had answered was closed as `abandoned`.
    Abandoned(TicketId),
    /// The ticket an agent had answered was resolved (by the customer).
    Resolved(TicketId),
    /// No ticket was open: the conversation was closed.
    Closed,
    /// Nothing changed: the chat was over already, or a customer gone from a chat nobody waits
    /// on (the bot's, an answered ticket: the agent decides).
    Unchanged,
}

/// One typing hint per conversation and side is passed on per this period.
const TYPING_PERIOD: Duration = Duration::from_secs(2);

/// Keys (addresses, conversations) a rate limiter remembers before it forgets the idle ones.
const MAX_TRACKED_KEYS: usize = 100_000;

/// Counts `n` against `key`: whether it is within the limiter's rate. Idle keys are forgotten
/// once the limiter tracks too many, so its memory stays bounded.
fn allowed<K: Clone + std::hash::Hash + Eq>(limiter: &DefaultKeyedRateLimiter<K>, key: &K, n: NonZeroU32) -> bool {
    wait_for(limiter, key, n).is_none()
}

/// Counts `n` against `key`; over the rate, how long until it would be within it (`n` more than
/// the burst: an hour, never).
fn wait_for<K: Clone + std::hash::Hash + Eq>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
    n: NonZeroU32,
) -> Option<Duration> {
    use governor::clock::{Clock as _, DefaultClock};
    if limiter.len() > MAX_TRACKED_KEYS {
        limiter.retain_recent();
    }
    match limiter.check_key_n(key, n) {
        Ok(Ok(())) => None,
        Ok(Err(not_until)) => Some(not_until.wait_time_from(DefaultClock::default().now())),
        Err(_) => Some(Duration::from_secs(3600)),
    }
}

impl Webchat {
    #[must_use]
    pub fn new(
        core: Core,
        ingest: Arc<Ingest>,
        routing: Arc<Routing>,
        key: VisitorTokenKey,
        config: &WebchatConfig,
        several_nodes: bool,
    ) -> Self {
        Self {
            core,
            ingest,
            routing,
            abandon_after: Duration::from_secs(config.abandon_after_secs),
            several_nodes,
            key,
            token_ttl_secs: config.token_ttl_secs,
            max_attachment_bytes: config.max_attachment_bytes,
            max_attachments: config.max_attachments_per_conversation,
            per_address: RateLimiter::keyed(
                Quota::per_minute(NonZeroU32::new(config.opens_per_minute_per_address).unwrap_or(NonZeroU32::MIN))
                    .allow_burst(
                        NonZeroU32::new((config.opens_per_minute_per_address / 4).max(5)).unwrap_or(NonZeroU32::MIN),
                    ),
            ),
            bytes_per_address: {
                let kb = config.upload_megabytes_per_hour_per_address.saturating_mul(1024).max(1);
                let kb = NonZeroU32::new(kb).unwrap_or(NonZeroU32::MIN);
                RateLimiter::keyed(Quota::per_hour(kb).allow_burst(kb))
            },
            sockets: Arc::default(),
            ocr: config.picture_ocr,
            ocr_command: config.ocr_command.clone(),
            ocr_slots: tokio::sync::Semaphore::new(2),
            typing: RateLimiter::keyed(
                Quota::with_period(TYPING_PERIOD).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN)),
            ),
        }
    }

    /// Passes a typing hint on (to the agents' inboxes, and for an agent to the customer), at
    /// most one per [`TYPING_PERIOD`] per conversation and side. Hints are not stored.
    pub fn typing(&self, conversation_id: ConversationId, agent: Option<(AgentId, DisplayName)>) {
        if !allowed(&self.typing, &(conversation_id, agent.is_some()), NonZeroU32::MIN) {
            return;
        }
        let (author, agent_id, name) = match agent {
            Some((id, name)) => (AuthorKind::Agent, Some(id), Some(name)),
            None => (AuthorKind::Customer, None, None),
        };
        self.core.bus.publish(Event::Typing { conversation_id, author, agent_id, name });
    }

    /// Counts one new chat or upload against the client's address.
    ///
    /// # Errors
    /// The address is over its rate (429).
    pub fn admit(&self, address: Option<IpAddr>) -> Result<(), Error> {
        match address.and_then(|a| wait_for(&self.per_address, &a, NonZeroU32::MIN)) {
            Some(after) => Err(Error::RetryLater {
                message: "too many new chats or files from this address; try again later".to_owned(),
                after,
            }),
            None => Ok(()),
        }
    }

    /// Largest file a customer may send, in bytes.
    #[must_use]
    pub fn max_attachment_bytes(&self) -> usize {
        self.max_attachment_bytes
    }

    /// A slot for one more customer socket on the conversation, or `None` when it has
    /// [`MAX_SOCKETS_PER_CONVERSATION`] open already.
    #[must_use]
    pub fn open_socket(&self, conversation_id: ConversationId) -> Option<SocketSlot> {
        let mut sockets = self.sockets.lock().unwrap_or_else(PoisonError::into_inner);
        let n = sockets.open.entry(conversation_id).or_insert(0);
        if *n >= MAX_SOCKETS_PER_CONVERSATION {
            return None;
        }
        *n += 1;
        // Back before the deadline: not abandoned.
        sockets.away.remove(&conversation_id);
        Some(SocketSlot { sockets: Arc::clone(&self.sockets), conversation_id })
    }

    /// A customer's socket on the conversation opened (after [`Webchat::open_socket`]): with
    /// several nodes, noted in the store for the other nodes' departure watch. A failure is
    /// logged: the chat goes on.
    pub async fn customer_arrived(&self, conversation_id: ConversationId) {
        if !self.several_nodes {
            return;
        }
        if let Err(e) = self.core.store.note_customer_socket(conversation_id, super::now_ms()).await {
            tracing::warn!(error = %e, %conversation_id, "cannot note the customer's socket for the other nodes");
        }
    }

    /// Whether, with several nodes, a socket of the customer opened on any node after this
    /// node's last one closed `away` ago: then they came back elsewhere and are not gone.
    async fn back_elsewhere(&self, conversation_id: ConversationId, away: Duration) -> Result<bool, Error> {
        if !self.several_nodes {
            return Ok(false);
        }
        let away_ms = i64::try_from(away.as_millis()).unwrap_or(i64::MAX);
        let closed_at = super::now_ms().saturating_sub(away_ms);
        Ok(self.core.store.customer_socket_at(conversation_id).await?.is_some_and(|at| at > closed_at))
    }

    /// The customer leaves the chat. Its open ticket, when no agent has answered it yet
    /// (queued, offered, or assigned without a reply), is closed as `abandoned` by the customer
    /// (any offer is withdrawn; the reports count it); one an agent answered is resolved by the
    /// customer when they ended the chat, and left to the agent when they
    /// merely went away. A chat with no open ticket is closed when ended. Each change leaves a
    /// line on the conversation's timeline first, so the agent sees that the customer left.
    ///
    /// # Errors
    /// Unknown conversation (404), or the store fails.
    pub async fn leave(&self, conversation_id: ConversationId, departure: Departure) -> Result<Left, Error> {
        let store = &self.core.store;
        let conversation = store.conversation(conversation_id).await?;
        if matches!(conversation.status, ConversationStatus::Resolved | ConversationStatus::Closed) {
            return Ok(Left::Unchanged);
        }
        let ticket = store
            .latest_ticket(conversation_id)
            .await?
            .filter(|t| !matches!(t.status, TicketStatus::Resolved | TicketStatus::Closed));
        let waiting = match &ticket {
            Some(t) if matches!(t.status, TicketStatus::Queued | TicketStatus::Offered | TicketStatus::Assigned) => {
                store.ticket_first_response_at(t.id).await?.is_none()
            }
            _ => false,
        };
        if matches!(departure, Departure::Gone { .. }) && !waiting {
            return Ok(Left::Unchanged);
        }
        if let Departure::Gone { away } = departure
            && self.back_elsewhere(conversation_id, away).await?
        {
            tracing::info!(%conversation_id, "web chat customer came back on another node: not abandoned");
            return Ok(Left::Unchanged);
        }
        let (key, text) = match departure {
            Departure::Ended => ("ended", "The customer ended the chat".to_owned()),
            Departure::Gone { away } => {
                ("gone", format!("The customer left the chat without ending it (away for {} s)", away.as_secs()))
            }
        };
        // Keyed by the ticket, so two nodes settling the same departure write one line.
        let mark = ticket
            .as_ref()
            .map_or_else(|| OffsetDateTime::now_utc().unix_timestamp().to_string(), |t| t.id.to_string());
        self.ingest.timeline(conversation_id, &format!("webchat:{key}:{mark}"), &text).await;
        let finished = match ticket {
            Some(t) if waiting => {
                let id = t.id;
                self.routing
                    .finish(t, TicketStatus::Closed, Actor::Customer, "abandoned")
                    .await
                    .map(|_| Left::Abandoned(id))
            }
            Some(t) => {
                let id = t.id;
                self.routing
                    .finish(t, TicketStatus::Resolved, Actor::Customer, "resolved")
                    .await
                    .map(|_| Left::Resolved(id))
            }
            None => match store.close_conversation(conversation_id).await? {
                Some(conversation) => {
                    self.core.bus.publish(Event::ConversationUpdated { conversation });
                    Ok(Left::Closed)
                }
                None => Ok(Left::Unchanged),
            },
        };
        let left = match finished {
            // Resolved or closed by someone else meanwhile: the chat is over either way.
            Err(Error::Conflict(_)) => Left::Unchanged,
            other => other?,
        };
        if matches!(left, Left::Abandoned(_)) {
            self.core.metrics.routing.with_label_values(&["chat_abandoned"]).inc();
        }
        tracing::info!(%conversation_id, ?departure, ?left, "web chat customer left");
        Ok(left)
    }

    /// The chats whose last socket on this node closed at least `abandon_after` ago (at most
    /// [`MAX_SETTLED_PER_SWEEP`]), taken off the watch list, with how long they have been away.
    fn departed(&self, now: Instant) -> Vec<(ConversationId, Duration)> {
        let mut sockets = self.sockets.lock().unwrap_or_else(PoisonError::into_inner);
        let due: Vec<(ConversationId, Duration)> = sockets
            .away
            .iter()
            .map(|(&id, &since)| (id, now.saturating_duration_since(since)))
            .filter(|&(_, away)| away >= self.abandon_after)
            .take(MAX_SETTLED_PER_SWEEP)
            .collect();
        for (id, _) in &due {
            sockets.away.remove(id);
        }
        due
    }

    /// Settles, a few times per `abandon_after`, the chats whose customer went away without
    /// ending them ([`Departure::Gone`]), until shutdown. One task per node, whatever the number
    /// of sockets.
    pub async fn watch_departures(self: Arc<Self>) {
        let period = (self.abandon_after / 4).clamp(Duration::from_millis(250), Duration::from_secs(5));
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.core.shutdown.cancelled() => return,
                _ = interval.tick() => {}
            }
            for (conversation_id, away) in self.departed(Instant::now()) {
                if let Err(e) = self.leave(conversation_id, Departure::Gone { away }).await {
                    tracing::warn!(error = %e, %conversation_id, "cannot settle a departed web chat");
                }
            }
        }
    }

    /// Counts an upload's bytes against the client's address.
    ///
    /// # Errors
    /// The address has uploaded its hourly share (429).
    pub fn admit_bytes(&self, address: Option<IpAddr>, bytes: usize) -> Result<(), Error> {
        let kb = NonZeroU32::new(u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
        match address.and_then(|a| wait_for(&self.bytes_per_address, &a, kb)) {
            Some(after) => Err(Error::RetryLater {
                message: "too many file bytes from this address; try again later".to_owned(),
                after,
            }),
            None => Ok(()),
        }
    }

    /// Checks and keeps a file a customer sends in their chat; a message names it afterwards.
    ///
    /// # Errors
    /// Too large (413), a kind not taken or not what it claims (415), a PDF holding a card
    /// number or that cannot be checked (422 on `file`), the chat's file limit reached (429), or
    /// the store fails.
    pub async fn upload(
        &self,
        claims: &VisitorClaims,
        name: Option<&str>,
        claimed_type: Option<&str>,
        content: Vec<u8>,
    ) -> Result<Upload, Error> {
        if content.len() > self.max_attachment_bytes {
            return Err(Error::PayloadTooLarge(format!("a file may have at most {} bytes", self.max_attachment_bytes)));
        }
        // Reading a PDF's streams is CPU work (linear, bounded): off the async workers.
        let (claimed, name) = (claimed_type.map(str::to_owned), name.map(str::to_owned));
        let (content, checked) = tokio::task::spawn_blocking(move || {
            let checked = upload::check(&content, claimed.as_deref(), name.as_deref());
            (content, checked)
        })
        .await
        .map_err(Error::internal)?;
        let checked = checked.map_err(|e| match e {
            UploadError::CardNumber | UploadError::Uncheckable | UploadError::Empty => {
                Error::invalid("file", e.to_string())
            }
            UploadError::UnsupportedType | UploadError::TypeMismatch { .. } => {
                Error::UnsupportedMediaType(e.to_string())
            }
        })?;
        if checked.kind != FileKind::Pdf {
            self.check_picture(&content).await?;
        }
        let size = content.len();
        let new = NewUpload {
            id: AttachmentId::new(),
            conversation_id: claims.conversation_id,
            file_name: checked.file_name,
            content_type: checked.kind.mime_type().to_owned(),
            content,
        };
        if !self.core.store.create_upload(&new, i64::from(self.max_attachments)).await? {
            return Err(Error::TooManyRequests(format!("a chat holds at most {} files", self.max_attachments)));
        }
        tracing::info!(conversation_id = %claims.conversation_id, attachment_id = %new.id, size, "web chat file kept");
        Ok(Upload { id: new.id, file_name: new.file_name, content_type: checked.kind.mime_type(), size })
    }

    /// Reads a picture with OCR and refuses it when it shows a card number (or, with OCR
    /// `required`, when it cannot be read).
    async fn check_picture(&self, content: &[u8]) -> Result<(), Error> {
        if self.ocr == PictureOcr::Off {
            return Ok(());
        }
        let unreadable = |why: String| {
            if self.ocr == PictureOcr::Required {
                tracing::warn!(reason = %why, "a picture could not be read for card numbers; refused");
                Err(Error::invalid("file", UploadError::Uncheckable.to_string()))
            } else {
                tracing::warn!(reason = %why, "a picture could not be read for card numbers; kept unread (picture_ocr = auto)");
                Ok(())
            }
        };
        let _slot = self.ocr_slots.acquire().await.map_err(Error::internal)?;
        let path = std::env::temp_dir().join(format!("switchboard-ocr-{}", AttachmentId::new()));
        if let Err(e) = tokio::fs::write(&path, content).await {
            return unreadable(format!("writing the picture for OCR: {e}"));
        }
        let run = tokio::process::Command::new(&self.ocr_command)
            .arg(&path)
            .arg("stdout")
            .args(["--psm", "11"])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(OCR_TIMEOUT, run).await;
        let _ = tokio::fs::remove_file(&path).await;
        let output = match output {
            Err(_) => return unreadable("OCR took too long".to_owned()),
            Ok(Err(e)) => return unreadable(format!("running {}: {e}", self.ocr_command)),
            Ok(Ok(o)) if !o.status.success() => return unreadable(format!("OCR failed: {}", o.status)),
            Ok(Ok(o)) => o,
        };
        let mut scanner = schema::pci::CardScanner::new();
        scanner.feed(&output.stdout);
        if scanner.found() {
            return Err(Error::invalid("file", "the picture shows a card number; please send it without".to_owned()));
        }
        Ok(())
    }

    /// The media of a customer's message: files uploaded to this same conversation.
    ///
    /// # Errors
    /// A file that is unknown or belongs to another chat (422 on `attachments`), or the store
    /// fails.
    pub async fn media(&self, conversation_id: ConversationId, ids: &[AttachmentId]) -> Result<Vec<MediaRef>, Error> {
        let mut media = Vec::with_capacity(ids.len());
        let mut claimed = Vec::with_capacity(ids.len());
        for &id in ids {
            let file = match self.core.store.upload(id).await {
                Ok(file) if file.conversation_id == conversation_id => file,
                Ok(_) | Err(StoreError::NotFound { .. }) => {
                    return Err(Error::invalid("attachments", format!("no file {id} in this chat")));
                }
                Err(e) => return Err(e.into()),
            };
            let kind = FileKind::ALL.into_iter().find(|k| k.mime_type() == file.content_type);
            claimed.push(id);
            media.push(MediaRef {
                kind: kind.map_or("document", FileKind::media_kind).to_owned(),
                reference: format!("/api/v1/attachments/{id}"),
                mime_type: Some(file.content_type),
                file_name: file.file_name,
            });
        }
        // Claimed before the message is stored: a message that then fails leaves a file kept
        // for nothing (harmless), never a message naming a deleted file.
        self.core.store.claim_uploads(&claimed).await?;
        Ok(media)
    }

    /// A file of the customer's own chat.
    ///
    /// # Errors
    /// Unknown, or of another chat (both 404), or the store fails.
    pub async fn download(&self, claims: &VisitorClaims, id: AttachmentId) -> Result<StoredAttachment, Error> {
        match self.core.store.upload(id).await {
            Ok(file) if file.conversation_id == claims.conversation_id => Ok(file),
            Ok(_) | Err(StoreError::NotFound { .. }) => Err(Error::NotFound("attachment")),
            Err(e) => Err(e.into()),
        }
    }

    /// A new customer and conversation, and the token for its socket.
    ///
    /// # Errors
    /// A field that does not validate (422), or the store fails.
    pub async fn open(&self, req: NewSession<'_>) -> Result<Session, Error> {
        let new = NewCustomer {
            name: req.name.map(str::parse::<DisplayName>).transpose()?,
            email: req.email.map(str::parse::<EmailAddress>).transpose()?,
            language: req.language.map(str::parse::<Language>).transpose()?.unwrap_or_default(),
            ..NewCustomer::default()
        };
        let (customer, conversation) = self
            .core
            .store
            .create_customer_with_conversation(new, Channel::WebChat, self.ingest.first_status())
            .await?;
        let ttl = i64::try_from(self.token_ttl_secs).unwrap_or(i64::MAX / 2);
        let expires_at = OffsetDateTime::now_utc() + time::Duration::seconds(ttl);
        let token = self.key.sign(&VisitorClaims {
            conversation_id: conversation.id,
            customer_id: customer.id,
            expires_at: expires_at.unix_timestamp(),
        });
        tracing::info!(conversation_id = %conversation.id, customer_id = %customer.id, "web chat session opened");
        self.core.bus.publish(Event::ConversationCreated { conversation: conversation.clone() });
        Ok(Session { token, customer, conversation, expires_at })
    }

    /// The claims of a visitor token that is valid now.
    ///
    /// # Errors
    /// The token is malformed, forged or expired.
    pub fn verify(&self, token: &str) -> Result<VisitorClaims, channels::webchat::TokenError> {
        self.key.verify(token, OffsetDateTime::now_utc())
    }
}

/// Deletes, every hour, the files uploaded more than a day ago that no message named (the
/// customer picked a file and left), on the node that holds the `jobs` lease, until shutdown
/// (one delete statement: two at once delete each file once).
pub async fn sweep_unclaimed_uploads(core: Core, jobs: Lease) {
    jobs.run_while_held(|term| sweep_in_term(core.clone(), term.token)).await;
}

async fn sweep_in_term(core: Core, term: CancellationToken) {
    let mut interval = tokio::time::interval(Duration::from_secs(3600));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = term.cancelled() => return,
            _ = interval.tick() => {
                let before = OffsetDateTime::now_utc() - time::Duration::days(1);
                match core.store.delete_unclaimed_uploads(before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "unclaimed web chat files deleted"),
                    Err(e) => tracing::warn!(error = %e, "deleting unclaimed web chat files failed"),
                }
            }
        }
    }
}
