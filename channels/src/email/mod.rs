//! E-mail: inbound parsing, threading keys, outbound replies and a receiving SMTP server.
//!
//! * [`parse_inbound`] turns the raw bytes the SMTP server received into an [`InboundMail`]:
//!   ids for threading, sender and recipients, decoded subject, text (HTML converted), the
//!   new part without quoted history, attachments within limits, and whether it is an
//!   auto-reply or a bounce (never answer those automatically).
//! * [`thread_keys`], [`conversation_token`] and [`find_token`] give the keys the hub looks a
//!   conversation up by; the lookup order is documented in the [`thread`] module.
//! * [`sender_verdict`] reads the receiving MTA's `Authentication-Results` (SPF, DKIM, DMARC)
//!   for the hub to decide whether a mail may join an existing conversation.
//! * [`build_reply`] writes a threaded reply; [`SmtpRelay`] and [`send_raw`] send it, with
//!   errors split into permanent and transient ([`SendError`]) for the hub's retry queue.
//! * [`smtp::serve`] is the receiving MTA: it hands each mail to a [`smtp::MailSink`] and only
//!   answers `250` once the sink has stored it.
//!
//! Message-IDs are handled without angle brackets throughout.

mod auth;
mod html;
pub mod imap;
mod inbound;
mod outbound;
mod quote;
mod redact;
pub mod smtp;
pub mod thread;

use schema::{ChannelMessageId, DisplayName, EmailAddress};

pub use auth::{AuthResult, AuthVerdict, AuthenticationResults, parse_authentication_results, sender_verdict};
pub use html::{html_to_text, text_to_html};
pub use inbound::{
    Attachment, AutoReason, BodySource, Bounce, InboundLimits, InboundMail, MailKind, SYNTHETIC_ID_DOMAIN,
    parse_inbound, synthetic_message_id,
};
pub use outbound::{MAX_REFERENCES, RelayTls, ReplyParams, SendError, SmtpRelay, build_reply, reply_subject, send_raw};
pub use quote::strip_quoted;
pub use redact::mask_card_numbers_in_mail;
pub use thread::{ConversationToken, conversation_token, find_token, thread_keys};

/// An address with an optional display name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    pub address: EmailAddress,
    pub name: Option<DisplayName>,
}

impl Mailbox {
    /// A mailbox without a display name.
    #[must_use]
    pub fn new(address: EmailAddress) -> Self {
        Self { address, name: None }
    }
}

/// Why a mail could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The bytes are not a mail at all. The hub still stores them raw, under `synthetic_id`
    /// (stable for identical bytes), for a person to look at; they must not be dropped.
    #[error("the message cannot be parsed: {reason}")]
    Unparseable { reason: String, synthetic_id: ChannelMessageId },
    /// A reply could not be built (an address or header lettre refuses).
    #[error("the reply cannot be built: {0}")]
    Build(String),
    /// The relay configuration is unusable.
    #[error("the SMTP relay configuration is invalid: {0}")]
    Config(String),
}

impl MailError {
    /// A stable, machine-readable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unparseable { .. } => "mail_unparseable",
            Self::Build(_) => "mail_build_failed",
            Self::Config(_) => "mail_relay_config_invalid",
        }
    }
}
