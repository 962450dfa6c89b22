//! Outbound mail: threaded replies built with lettre, and sending them through a relay.

use std::fmt;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::html::text_to_html;
use super::thread::ConversationToken;
use super::{MailError, Mailbox};

/// At most this many ids in a reply's `References` (the thread's first id and the newest ones).
pub const MAX_REFERENCES: usize = 20;

/// Everything a reply needs.
#[derive(Clone, Debug)]
pub struct ReplyParams {
    /// Our address (`support@telco.example`); the `Reply-To` is its plus-address with the token.
    pub from: Mailbox,
    /// The customer (and anyone else in the thread).
    pub to: Vec<Mailbox>,
    /// The subject of the thread, as the customer last wrote it (any `Re:`/token is normalised).
    pub subject_of_thread: String,
    /// The reply's text.
    pub text: String,
    /// The reply as HTML; `None` to escape [`Self::text`] into HTML.
    pub html: Option<String>,
    /// The Message-ID being answered (without brackets), normally the customer's last mail.
    pub in_reply_to: Option<String>,
    /// The `References` of the mail being answered, oldest first (without brackets).
    pub references: Vec<String>,
    /// The conversation's token.
    pub token: ConversationToken,
    /// Our domain, for the Message-ID (`<uuid@domain>`).
    pub domain: String,
    /// Written by the bot: adds `Auto-Submitted: auto-replied` and
    /// `X-Auto-Response-Suppress: All` so other robots do not answer it.
    pub automatic: bool,
}

/// `Auto-Submitted` (RFC 3834).
#[derive(Clone, Debug)]
struct AutoSubmitted(String);

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.trim().to_owned()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `X-Auto-Response-Suppress` (Exchange: do not send out-of-office or other auto-replies).
#[derive(Clone, Debug)]
struct AutoResponseSuppress(String);

impl Header for AutoResponseSuppress {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Auto-Response-Suppress")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.trim().to_owned()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// The subject of a reply: one `Re: `, the thread's subject without reply prefixes or an old
/// token, then the token's tag.
#[must_use]
pub fn reply_subject(subject_of_thread: &str, token: &ConversationToken) -> String {
    let tag = token.subject_tag();
    // Remove every token tag, in any case.
    let mut base = subject_of_thread.replace(|c: char| c.is_control(), " ");
    while let Some(pos) = base.to_ascii_uppercase().find("[#SB-") {
        let end = base[pos..].find(']').map_or(base.len(), |e| pos + e + 1);
        base.replace_range(pos..end, "");
    }
    let mut base = base.trim();
    // Strip reply prefixes: Re:, RE:, Re[2]:, Aw:, Res:, Sv:, Antw: (repeated).
    while let Some((head, rest)) = base.split_once(':') {
        let word = head.trim().split('[').next().unwrap_or("").trim().to_ascii_lowercase();
        if head.len() <= 8 && matches!(word.as_str(), "re" | "aw" | "res" | "sv" | "antw" | "ref") {
            base = rest.trim_start();
        } else {
            break;
        }
    }
    let base = base.split_whitespace().collect::<Vec<_>>().join(" ");
    if base.is_empty() { format!("Re: {tag}") } else { format!("Re: {base} {tag}") }
}

fn lettre_mailbox(m: &Mailbox) -> Result<lettre::message::Mailbox, MailError> {
    let address: lettre::Address =
        m.address.as_str().parse().map_err(|e| MailError::Build(format!("address {}: {e}", m.address)))?;
    Ok(lettre::message::Mailbox::new(m.name.as_ref().map(|n| n.as_str().to_owned()), address))
}

fn bracket(id: &str) -> String {
    format!("<{}>", id.trim().trim_start_matches('<').trim_end_matches('>'))
}

/// The `References` of a reply: the parent's references plus the parent, without duplicates,
/// capped at [`MAX_REFERENCES`] keeping the first (thread root) and the newest.
fn reply_references(references: &[String], in_reply_to: Option<&str>) -> Vec<String> {
    let mut refs: Vec<String> = Vec::new();
    for id in references.iter().map(String::as_str).chain(in_reply_to) {
        let id = id.trim().trim_start_matches('<').trim_end_matches('>');
        let usable = !id.is_empty()
            && id.len() <= 250
            && !id.contains(|c: char| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
        if usable && !refs.iter().any(|r| r == id) {
            refs.push(id.to_owned());
        }
    }
    if refs.len() > MAX_REFERENCES {
        let newest = refs.split_off(refs.len() - (MAX_REFERENCES - 1));
        refs.truncate(1);
        refs.extend(newest);
    }
    refs
}

/// Builds a threaded reply. Returns the message and its Message-ID (without brackets), which
/// the hub stores so the customer's answer threads back.
///
/// # Errors
/// [`MailError::Build`] when there is no recipient or lettre refuses an address or header.
pub fn build_reply(p: &ReplyParams) -> Result<(lettre::Message, String), MailError> {
    if p.to.is_empty() {
        return Err(MailError::Build("a reply needs at least one recipient".into()));
    }
    let domain = p.domain.trim();
    if domain.is_empty() || domain.contains(|c: char| c.is_whitespace() || c == '@' || c == '<' || c == '>') {
        return Err(MailError::Build(format!("{domain:?} is not a domain")));
    }
    let message_id = format!("{}@{}", uuid::Uuid::new_v4().simple(), domain);
    let reply_to = Mailbox { address: p.token.plus_address(&p.from.address), name: p.from.name.clone() };

    let mut builder = lettre::Message::builder()
        .from(lettre_mailbox(&p.from)?)
        .reply_to(lettre_mailbox(&reply_to)?)
        .subject(reply_subject(&p.subject_of_thread, &p.token))
        .message_id(Some(bracket(&message_id)))
        .date_now();
    for to in &p.to {
        builder = builder.to(lettre_mailbox(to)?);
    }
    let parent = p.in_reply_to.as_deref().map(str::trim).filter(|id| !id.is_empty());
    if let Some(parent) = parent {
        builder = builder.in_reply_to(bracket(parent));
    }
    let refs = reply_references(&p.references, parent);
    if !refs.is_empty() {
        let joined = refs.iter().map(|r| bracket(r)).collect::<Vec<_>>().join(" ");
        builder = builder.references(joined);
    }
    if p.automatic {
        builder = builder.header(AutoSubmitted("auto-replied".into())).header(AutoResponseSuppress("All".into()));
    }
    let html = p.html.clone().unwrap_or_else(|| text_to_html(&p.text));
    let body = MultiPart::alternative()
        .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(p.text.clone()))
        .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(html));
    let message = builder.multipart(body).map_err(|e| MailError::Build(e.to_string()))?;
    Ok((message, message_id))
}

/// How to reach the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayTls {
    /// No TLS: only for a relay on localhost or in tests.
    None,
    /// STARTTLS, required (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
}

/// The outbound relay (smart host) the hub sends replies through.
#[derive(Clone)]
pub struct SmtpRelay {
    pub host: String,
    pub port: u16,
    pub tls: RelayTls,
    /// User name and password, if the relay wants them.
    pub credentials: Option<(String, String)>,
    /// The name we give in EHLO (our domain).
    pub hello_name: String,
    /// Per-command timeout.
    pub timeout: Duration,
    /// Pooled connections kept open to the relay.
    pub max_connections: u32,
}

impl fmt::Debug for SmtpRelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpRelay")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("hello_name", &self.hello_name)
            .field("timeout", &self.timeout)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl SmtpRelay {
    /// A transport for this relay (connections are opened lazily and pooled). Build it once and
    /// share it.
    ///
    /// # Errors
    /// [`MailError::Config`] for an unusable host name for TLS.
    pub fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
        let config = |e: lettre::transport::smtp::Error| MailError::Config(e.to_string());
        let tls = match self.tls {
            RelayTls::None => Tls::None,
            RelayTls::StartTls => Tls::Required(TlsParameters::new(self.host.clone()).map_err(config)?),
            RelayTls::Implicit => Tls::Wrapper(TlsParameters::new(self.host.clone()).map_err(config)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.clone())
            .port(self.port)
            .tls(tls)
            .hello_name(ClientId::Domain(self.hello_name.clone()))
            .timeout(Some(self.timeout))
            .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(self.max_connections.max(1)));
        if let Some((user, password)) = &self.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(builder.build())
    }
}

/// Why sending failed, split by what the hub should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A 5xx answer, or a mail the client itself refuses: retrying will not help; mark the
    /// message failed.
    #[error("permanent delivery failure ({code:?}): {message}")]
    Permanent { code: Option<u16>, message: String },
    /// A 4xx answer, a timeout, a network or TLS failure: retry later with backoff.
    #[error("temporary delivery failure ({code:?}): {message}")]
    Transient { code: Option<u16>, message: String },
}

impl SendError {
    /// A stable, machine-readable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Permanent { .. } => "mail_send_permanent",
            Self::Transient { .. } => "mail_send_transient",
        }
    }

    /// Whether retrying is pointless.
    #[must_use]
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent { .. })
    }

    /// Classifies a lettre SMTP error.
    #[must_use]
    pub fn classify(e: &lettre::transport::smtp::Error) -> Self {
        let code = e.status().and_then(|c| c.to_string().parse::<u16>().ok());
        let message = e.to_string();
        if e.is_permanent() || (e.is_client() && !e.is_timeout()) {
            Self::Permanent { code, message }
        } else {
            Self::Transient { code, message }
        }
    }
}

/// Sends raw message bytes (as [`lettre::Message::formatted`] gave them, kept in the hub's
/// outbound queue so a retry sends the very same Message-ID) to `envelope`'s recipients.
///
/// # Errors
/// A [`SendError`] saying whether to retry.
pub async fn send_raw(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    envelope: &Envelope,
    raw: &[u8],
) -> Result<(), SendError> {
    transport.send_raw(envelope, raw).await.map(|_| ()).map_err(|e| SendError::classify(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> ConversationToken {
        "SB-0123456789".parse().unwrap()
    }

    #[test]
    fn subjects_get_one_re_and_one_tag() {
        let t = token();
        assert_eq!(reply_subject("Re: RE: Aw: Res: my bill", &t), "Re: my bill [#SB-0123456789]");
        assert_eq!(reply_subject("Re: my bill [#sb-0123456789]", &t), "Re: my bill [#SB-0123456789]");
        assert_eq!(reply_subject("", &t), "Re: [#SB-0123456789]");
        assert_eq!(reply_subject("Re[2]: Fwd: x", &t), "Re: Fwd: x [#SB-0123456789]");
        assert_eq!(reply_subject("Subject: ratio 3:4", &t), "Re: Subject: ratio 3:4 [#SB-0123456789]");
    }

    #[test]
    fn references_are_capped_keeping_root_and_newest() {
        let refs: Vec<String> = (0..30).map(|i| format!("m{i}@x")).collect();
        let out = reply_references(&refs, Some("parent@x"));
        assert_eq!(out.len(), MAX_REFERENCES);
        assert_eq!(out[0], "m0@x");
        assert_eq!(out.last().map(String::as_str), Some("parent@x"));
        assert_eq!(out[1], "m12@x");
        assert_eq!(reply_references(&["a@x".into(), "<a@x>".into(), "bad id".into()], Some("a@x")), vec!["a@x"]);
    }
}
