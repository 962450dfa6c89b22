//! Inbound mail: raw RFC 5322 bytes into an [`InboundMail`].

use mail_parser::{Address, Message, MessageParser, MimeHeaders, PartType};
use schema::{ChannelMessageId, DisplayName, EmailAddress, MessageText, ValidationError};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::html::html_to_text;
use super::quote::strip_quoted;
use super::{MailError, Mailbox};

/// The domain of synthetic Message-IDs, given to mail that arrives without one.
pub const SYNTHETIC_ID_DOMAIN: &str = "synthetic.switchboard.invalid";

/// Size limits applied while parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboundLimits {
    /// An attachment larger than this (decoded) is listed but its bytes are dropped.
    pub max_attachment_bytes: usize,
    /// Once the kept attachments add up to this, further ones are listed but their bytes dropped.
    pub max_total_attachment_bytes: usize,
    /// The body text is cut to this many characters (and [`InboundMail::text_truncated`] set).
    pub max_text_chars: usize,
}

impl Default for InboundLimits {
    fn default() -> Self {
        Self { max_attachment_bytes: 10 << 20, max_total_attachment_bytes: 25 << 20, max_text_chars: 100_000 }
    }
}

/// Where [`InboundMail::text`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodySource {
    /// A `text/plain` part.
    Plain,
    /// An HTML part converted to text (the mail had no plain-text alternative).
    Html,
    /// The mail has no text at all (attachments only, or an empty body).
    None,
}

/// One attachment (or inline part that is not the body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// The file name the sender gave, decoded, if any.
    pub filename: Option<String>,
    /// `type/subtype`, lower case.
    pub content_type: String,
    /// The decoded size in bytes, also when the bytes were dropped.
    pub size: usize,
    /// The decoded bytes; empty when [`Self::oversize`].
    pub content: Vec<u8>,
    /// The bytes were dropped because the attachment, or the total, was over the limit.
    pub oversize: bool,
}

/// Why a mail was classified as automatic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AutoReason {
    /// `Auto-Submitted:` with a value other than `no` (the value, lower case).
    AutoSubmitted(String),
    /// `Precedence: bulk`, `junk` or `list` (the value, lower case).
    Precedence(String),
    /// An `X-Autoreply` or `X-Autorespond` header.
    XAutoreply,
    /// An `X-Auto-Response-Suppress` header (Exchange sets it on its own automatic mail).
    XAutoResponseSuppress,
    /// The envelope or `Return-Path` reverse path is null (`<>`).
    NullReturnPath,
    /// The sender is `MAILER-DAEMON` or `postmaster`.
    DaemonSender,
}

/// What a bounce (a delivery status notification) reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bounce {
    /// The Message-ID (without angle brackets) of the mail that could not be delivered: from the
    /// returned message or headers, else from the bounce's own `In-Reply-To`/`References`.
    pub original_message_id: Option<String>,
    /// `Action:` of the first recipient (`failed`, `delayed`, `delivered`, …), lower case.
    pub action: Option<String>,
    /// `Status:` of the first recipient, e.g. `5.1.1`.
    pub status: Option<String>,
    /// `Diagnostic-Code:`, e.g. `smtp; 550 5.1.1 user unknown`.
    pub diagnostic: Option<String>,
    /// `Final-Recipient:` (or `Original-Recipient:`) address, without the `rfc822;` type.
    pub recipient: Option<String>,
}

impl Bounce {
    /// Whether the delivery failed for good (as opposed to a "delayed" warning): the action is
    /// `failed`, or there is no action and the status is 5.x.x, or nothing at all is known.
    #[must_use]
    pub fn is_permanent(&self) -> bool {
        match (self.action.as_deref(), self.status.as_deref()) {
            (Some(action), _) => action == "failed",
            (None, Some(status)) => status.starts_with('5'),
            (None, None) => true,
        }
    }
}

/// What kind of sender wrote the mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailKind {
    /// A person (as far as the headers tell).
    Personal,
    /// An automatic message: out-of-office, list traffic, daemon chatter.
    AutoReply(AutoReason),
    /// A delivery status notification about a mail we sent.
    Bounce(Bounce),
}

/// A parsed inbound mail.
///
/// Message-IDs (here and everywhere in `channels::email`) are given without angle brackets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundMail {
    /// The `Message-ID`, or a synthetic one (see [`Self::message_id_is_synthetic`]).
    pub message_id: ChannelMessageId,
    /// The mail had no usable `Message-ID`; [`Self::message_id`] is `<sha256-of-raw>@synthetic…`,
    /// stable for identical bytes so a redelivery stays a no-op.
    pub message_id_is_synthetic: bool,
    /// `In-Reply-To` (the first id, if several).
    pub in_reply_to: Option<String>,
    /// `References`, oldest first as written.
    pub references: Vec<String>,
    /// The author (`From`), `None` when missing or not a valid address; use the envelope sender then.
    pub from: Option<Mailbox>,
    /// `Reply-To`, when given and valid.
    pub reply_to: Option<Mailbox>,
    /// `To` recipients with valid addresses.
    pub to: Vec<Mailbox>,
    /// `Cc` recipients with valid addresses.
    pub cc: Vec<Mailbox>,
    /// The decoded subject (empty when absent), line breaks replaced by spaces.
    pub subject: String,
    /// The `Date` header, when present and valid.
    pub date: Option<OffsetDateTime>,
    /// The whole body text: the plain-text part, else the HTML part as text.
    pub text: String,
    /// [`Self::text`] without quoted history and signature: what the customer just wrote.
    /// Empty when the body was nothing but quotes.
    pub new_text: String,
    /// Where the text came from.
    pub body_source: BodySource,
    /// The text was cut to [`InboundLimits::max_text_chars`].
    pub text_truncated: bool,
    /// Attachments, in order.
    pub attachments: Vec<Attachment>,
    /// Person, auto-reply or bounce. Never answer anything but [`MailKind::Personal`]
    /// automatically: that is how mail loops start.
    pub kind: MailKind,
    /// The raw values of the `Authentication-Results` headers, top first (at most 20), for
    /// [`super::sender_verdict`].
    pub authentication_results: Vec<String>,
}

impl InboundMail {
    /// The text to store as the customer's message: [`Self::new_text`], or the whole text when
    /// nothing new is left after trimming, or the subject when there is no body at all.
    ///
    /// # Errors
    /// The text is blank or longer than `max_chars` (the caller may store the raw mail instead).
    pub fn message_text(&self, max_chars: usize) -> Result<MessageText, ValidationError> {
        let text = [&self.new_text, &self.text, &self.subject]
            .into_iter()
            .find(|t| !t.trim().is_empty())
            .map_or("", |t| t.as_str());
        MessageText::parse(text, max_chars)
    }

    /// `To` and `Cc` addresses.
    pub fn recipients(&self) -> impl Iterator<Item = &EmailAddress> {
        self.to.iter().chain(&self.cc).map(|m| &m.address)
    }

    /// Whether the mail is automatic (auto-reply or bounce): do not answer it automatically.
    #[must_use]
    pub fn is_automatic(&self) -> bool {
        !matches!(self.kind, MailKind::Personal)
    }

    /// Takes the SMTP envelope's reverse path into account (the `Return-Path` header is only
    /// written at final delivery, so the envelope is the authority): a null reverse path
    /// (`None`) or a daemon sender makes a personal mail an automatic one.
    pub fn apply_envelope_sender(&mut self, reverse_path: Option<&str>) {
        if self.kind != MailKind::Personal {
            return;
        }
        match reverse_path.map(str::trim) {
            None | Some("" | "<>") => self.kind = MailKind::AutoReply(AutoReason::NullReturnPath),
            Some(path) if is_daemon(path.trim_matches(['<', '>'])) => {
                self.kind = MailKind::AutoReply(AutoReason::DaemonSender);
            }
            Some(_) => {}
        }
    }
}

/// A synthetic Message-ID for `raw`: stable for identical bytes.
#[must_use]
pub fn synthetic_message_id(raw: &[u8]) -> ChannelMessageId {
    let digest = Sha256::digest(raw);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let id = format!("{hex}@{SYNTHETIC_ID_DOMAIN}");
    // 32 hex digits, '@' and a fixed domain: always a valid id.
    id.parse().unwrap_or_else(|_| unreachable!("a synthetic id is always valid"))
}

/// Parses a raw mail (as received in SMTP DATA, dot-unstuffed).
///
/// Lenient where `mail-parser` is lenient: broken MIME structure, bad transfer encodings,
/// unknown charsets and missing headers still give a result; only input with no recognisable
/// header at all fails.
///
/// # Errors
/// [`MailError::Unparseable`], carrying the synthetic id under which the hub stores the raw
/// bytes for a person to look at.
pub fn parse_inbound(raw: &[u8], limits: &InboundLimits) -> Result<InboundMail, MailError> {
    let unparseable =
        |reason: &str| MailError::Unparseable { reason: reason.to_owned(), synthetic_id: synthetic_message_id(raw) };
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(unparseable("the message is empty"));
    }
    let message = MessageParser::default().parse(raw).ok_or_else(|| unparseable("no header section found"))?;
    // mail-parser reads almost anything as headers; a mail has at least one standard field.
    if !message.headers().iter().any(|h| !h.name.is_other()) {
        return Err(unparseable("no mail header found"));
    }

    let (message_id, message_id_is_synthetic) = match message.message_id().and_then(|id| clean_id(id).parse().ok()) {
        Some(id) => (id, false),
        None => (synthetic_message_id(raw), true),
    };
    let in_reply_to = id_list(message.in_reply_to()).into_iter().next();
    let references = id_list(message.references());
    let from = message.from().and_then(first_mailbox);
    let reply_to = message.reply_to().and_then(first_mailbox);
    let to = message.to().map(mailboxes).unwrap_or_default();
    let cc = message.cc().map(mailboxes).unwrap_or_default();
    let subject = message.subject().map(one_line).unwrap_or_default();
    let date = message.date().and_then(|d| OffsetDateTime::from_unix_timestamp(d.to_timestamp()).ok());

    let (mut text, body_source) = body_text(&message);
    let mut text_truncated = false;
    if let Some((cut, _)) = text.char_indices().nth(limits.max_text_chars) {
        text.truncate(cut);
        text_truncated = true;
    }
    let new_text = strip_quoted(&text);
    let attachments = attachments(&message, limits);
    let kind = classify(&message, from.as_ref(), in_reply_to.as_deref(), &references, &text);
    let authentication_results = message
        .headers_raw()
        .filter(|(name, _)| name.eq_ignore_ascii_case("Authentication-Results"))
        .map(|(_, value)| value.trim().to_owned())
        .take(20)
        .collect();

    Ok(InboundMail {
        message_id,
        message_id_is_synthetic,
        in_reply_to,
        references,
        from,
        reply_to,
        to,
        cc,
        subject,
        date,
        text,
        new_text,
        body_source,
        text_truncated,
        attachments,
        kind,
        authentication_results,
    })
}

/// A message id without brackets or whitespace.
fn clean_id(id: &str) -> String {
    id.trim().trim_start_matches('<').trim_end_matches('>').trim().to_owned()
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 256 && !id.chars().any(|c| c.is_control() || c.is_whitespace())
}

fn id_list(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    let ids: Vec<String> = match value {
        mail_parser::HeaderValue::Text(t) => vec![clean_id(t)],
        mail_parser::HeaderValue::TextList(list) => list.iter().map(|t| clean_id(t)).collect(),
        _ => Vec::new(),
    };
    ids.into_iter().filter(|id| valid_id(id)).collect()
}

fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned()
}

fn to_mailbox(addr: &mail_parser::Addr<'_>) -> Option<Mailbox> {
    let address: EmailAddress = addr.address()?.parse().ok()?;
    let name = addr.name().map(one_line).and_then(|n| {
        let n: String = n.trim_matches(['"', '\'', ' ']).chars().take(100).collect();
        n.parse::<DisplayName>().ok()
    });
    Some(Mailbox { address, name })
}

fn first_mailbox(a: &Address<'_>) -> Option<Mailbox> {
    a.iter().find_map(to_mailbox)
}

fn mailboxes(a: &Address<'_>) -> Vec<Mailbox> {
    a.iter().filter_map(to_mailbox).take(100).collect()
}

fn body_text(message: &Message<'_>) -> (String, BodySource) {
    let mut text = String::new();
    let mut source = BodySource::None;
    for part in message.text_bodies() {
        let piece = match &part.body {
            PartType::Text(t) => {
                source = BodySource::Plain;
                t.replace("\r\n", "\n")
            }
            PartType::Html(h) => {
                if source == BodySource::None {
                    source = BodySource::Html;
                }
                html_to_text(h)
            }
            _ => continue,
        };
        if piece.trim().is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(piece.trim_end());
    }
    if text.is_empty() {
        source = BodySource::None;
    }
    (text, source)
}

fn content_type_of<'x>(part: &impl MimeHeaders<'x>) -> String {
    part.content_type().map_or_else(
        || "application/octet-stream".to_owned(),
        |ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
    )
}

fn attachments(message: &Message<'_>, limits: &InboundLimits) -> Vec<Attachment> {
    let mut kept_total = 0usize;
    let mut out = Vec::new();
    for part in message.attachments() {
        let content_type = content_type_of(part);
        let bytes = part.contents();
        let size = bytes.len();
        let oversize =
            size > limits.max_attachment_bytes || kept_total.saturating_add(size) > limits.max_total_attachment_bytes;
        if !oversize {
            kept_total += size;
        }
        let filename = part
            .attachment_name()
            .map(one_line)
            .filter(|n| !n.is_empty())
            .or_else(|| part.message().and_then(|m| m.subject()).map(|s| format!("{}.eml", one_line(s))));
        out.push(Attachment {
            filename,
            content_type,
            size,
            content: if oversize { Vec::new() } else { bytes.to_vec() },
            oversize,
        });
    }
    out
}

fn header_text<'a>(message: &'a Message<'_>, name: &'static str) -> Option<&'a str> {
    message.header_raw(name).map(str::trim)
}

fn is_daemon(address: &str) -> bool {
    let local = address.rsplit_once('@').map_or(address, |(l, _)| l).to_ascii_lowercase();
    matches!(local.as_str(), "mailer-daemon" | "postmaster" | "mailer_daemon" | "mail-daemon")
}

fn classify(
    message: &Message<'_>,
    from: Option<&Mailbox>,
    in_reply_to: Option<&str>,
    references: &[String],
    text: &str,
) -> MailKind {
    let daemon = from.is_some_and(|f| is_daemon(f.address.as_str()))
        || message.from().and_then(|a| a.first()).and_then(|a| a.address()).is_some_and(is_daemon);
    let null_return_path =
        header_text(message, "Return-Path").is_some_and(|p| p.trim_matches(['<', '>', ' ']).is_empty());
    let is_report = message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct.attributes().unwrap_or(&[]).iter().any(|a| {
                a.name.eq_ignore_ascii_case("report-type") && a.value.to_ascii_lowercase().contains("delivery-status")
            })
    });

    let mut bounce = Bounce::default();
    let mut has_dsn_parts = false;
    for part in &message.parts {
        let ct = content_type_of(part);
        match ct.as_str() {
            "message/delivery-status" | "message/global-delivery-status" => {
                has_dsn_parts = true;
                read_delivery_status(&String::from_utf8_lossy(part.contents()), &mut bounce);
            }
            "message/rfc822" | "message/global" | "text/rfc822-headers" | "message/rfc822-headers" => {
                has_dsn_parts = true;
                if bounce.original_message_id.is_none() {
                    let id = match &part.body {
                        PartType::Message(m) => m.message_id().map(clean_id),
                        _ => MessageParser::default()
                            .parse_headers(part.contents())
                            .and_then(|m| m.message_id().map(clean_id)),
                    };
                    bounce.original_message_id = id.filter(|i| valid_id(i));
                }
            }
            _ => {}
        }
    }
    if is_report || daemon || (null_return_path && has_dsn_parts) {
        if bounce.original_message_id.is_none() {
            bounce.original_message_id = message_id_in_text(text)
                .or_else(|| in_reply_to.map(str::to_owned))
                .or_else(|| references.last().cloned());
        }
        return MailKind::Bounce(bounce);
    }

    if let Some(v) = header_text(message, "Auto-Submitted") {
        let v = v.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if !v.is_empty() && v != "no" {
            return MailKind::AutoReply(AutoReason::AutoSubmitted(v));
        }
    }
    if let Some(v) = header_text(message, "Precedence") {
        let v = v.to_ascii_lowercase();
        if matches!(v.as_str(), "bulk" | "junk" | "list" | "auto_reply") {
            return MailKind::AutoReply(AutoReason::Precedence(v));
        }
    }
    if header_text(message, "X-Autoreply").is_some() || header_text(message, "X-Autorespond").is_some() {
        return MailKind::AutoReply(AutoReason::XAutoreply);
    }
    if header_text(message, "X-Auto-Response-Suppress").is_some() {
        return MailKind::AutoReply(AutoReason::XAutoResponseSuppress);
    }
    if null_return_path {
        return MailKind::AutoReply(AutoReason::NullReturnPath);
    }
    MailKind::Personal
}

/// Reads the first recipient block of a `message/delivery-status` body.
fn read_delivery_status(body: &str, bounce: &mut Bounce) {
    // Unfold continuation lines, then read `Name: value` fields; the per-message block comes
    // first, the first per-recipient block after it. Take the first of each field.
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in body.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = fields.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let first = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let without_type = |v: String| v.split_once(';').map_or(v.clone(), |(_, a)| a.trim().to_owned());
    bounce.action = bounce.action.take().or_else(|| first("action").map(|a| a.to_ascii_lowercase()));
    bounce.status =
        bounce.status.take().or_else(|| first("status").map(|s| s.split_whitespace().next().unwrap_or("").to_owned()));
    bounce.diagnostic = bounce.diagnostic.take().or_else(|| first("diagnostic-code"));
    bounce.recipient = bounce
        .recipient
        .take()
        .or_else(|| first("final-recipient").or_else(|| first("original-recipient")).map(without_type));
}

/// A `Message-ID:` line quoted in a plain-text bounce.
fn message_id_in_text(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.trim_start_matches(['>', ' ']);
        let (name, value) = line.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("message-id") {
            return None;
        }
        Some(clean_id(value)).filter(|id| valid_id(id) && id.contains('@'))
    })
}
