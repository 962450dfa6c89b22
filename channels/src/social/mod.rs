//! Social channels: the Meta platform (Messenger and the WhatsApp Cloud API) and the Telegram
//! Bot API. Webhook bodies in, verified and parsed into [`WebhookEvent`]s; replies out as
//! [`SendRequest`]s for the platform's send API, and the platform's answer classified into a
//! [`SendOutcome`] (sent, retry later, window closed, failed).
//!
//! Nothing here does I/O: the hub stores what comes in, and makes the HTTP calls.

pub mod meta;
pub mod outbound;
pub mod telegram;

use schema::{Channel, DeliveryStatus};

pub use outbound::{SendOutcome, SendRequest};

/// A platform whose webhooks Switchboard receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Platform {
    Messenger,
    WhatsApp,
    Telegram,
}

impl Platform {
    /// The conversation channel of this platform's messages.
    #[must_use]
    pub const fn channel(self) -> Channel {
        match self {
            Self::Messenger => Channel::Messenger,
            Self::WhatsApp => Channel::WhatsApp,
            Self::Telegram => Channel::Telegram,
        }
    }

    /// The platform of a channel, if it is a social one.
    #[must_use]
    pub const fn of(channel: Channel) -> Option<Self> {
        match channel {
            Channel::Messenger => Some(Self::Messenger),
            Channel::WhatsApp => Some(Self::WhatsApp),
            Channel::Telegram => Some(Self::Telegram),
            Channel::WebChat | Channel::Email | Channel::Voice => None,
        }
    }
}

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SocialError {
    /// The signature (Meta) or secret token (Telegram) is missing or wrong.
    #[error("the webhook signature is missing or does not verify")]
    BadSignature,
    /// The body is not JSON of the platform's documented shape.
    #[error("malformed webhook body: {0}")]
    Malformed(String),
    /// The body is a webhook of an object this endpoint does not serve (e.g. Instagram).
    #[error("unsupported webhook object {0:?}")]
    UnsupportedObject(String),
}

impl SocialError {
    /// A stable, machine-readable code.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::BadSignature => "bad_signature",
            Self::Malformed(_) => "malformed_webhook",
            Self::UnsupportedObject(_) => "unsupported_object",
        }
    }
}

/// What kind of media a message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Audio,
    Video,
    Document,
    Sticker,
    Location,
    Other,
}

impl MediaKind {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Document => "document",
            Self::Sticker => "sticker",
            Self::Location => "location",
            Self::Other => "other",
        }
    }
}

/// A piece of media, by the platform's reference to it (a media id, a file id, a URL, or
/// `lat,long` for a location). The bytes stay with the platform until someone fetches them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    pub kind: MediaKind,
    pub reference: String,
    pub mime_type: Option<String>,
    pub file_name: Option<String>,
}

/// A customer's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundMessage {
    pub platform: Platform,
    /// The operator's account it was sent to: page id, phone-number id, or the bot's name.
    pub account_id: String,
    /// The customer on that platform: PSID, WhatsApp id, or Telegram chat id.
    pub sender_id: String,
    /// The customer's display name, when the platform gives it.
    pub sender_name: Option<String>,
    /// The platform's id of the message: a redelivery carries the same one.
    pub message_id: String,
    /// The text, or the caption of media; may be empty for media alone.
    pub text: String,
    pub media: Vec<Media>,
}

/// The platform's report on a message Switchboard sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusUpdate {
    pub platform: Platform,
    /// The platform's id of the message we sent (what its send API returned).
    pub message_id: String,
    pub status: DeliveryStatus,
    /// Why it failed, for `Failed`.
    pub error: Option<String>,
}

/// Messenger's read receipt: everything sent to the customer before the watermark was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadReceipt {
    pub platform: Platform,
    pub account_id: String,
    pub sender_id: String,
    /// Milliseconds since the Unix epoch.
    pub watermark_ms: i64,
}

/// One thing a webhook call reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookEvent {
    Message(InboundMessage),
    Status(StatusUpdate),
    Read(ReadReceipt),
}

/// Compares secrets in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
