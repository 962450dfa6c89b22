//! The domain records the store keeps.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{AgentId, ConversationId, CustomerId, MessageId};
use crate::values::{
    AuthorKind, Channel, ChannelMessageId, ConversationStatus, CustomerTier, DeliveryStatus, DisplayName, EmailAddress,
    Language, MessageText, Role,
};

/// One person, whichever channels they reach us on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Customer {
    pub id: CustomerId,
    pub name: Option<DisplayName>,
    pub email: Option<EmailAddress>,
    pub language: Language,
    pub tier: CustomerTier,
    /// How the customer is reached on each channel (an e-mail address, a phone number, a PSID).
    pub handles: Vec<ContactHandle>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A customer's address on one channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactHandle {
    pub channel: Channel,
    pub handle: String,
}

/// What is needed to create a customer.
#[derive(Clone, Debug, Default)]
pub struct NewCustomer {
    pub name: Option<DisplayName>,
    pub email: Option<EmailAddress>,
    pub language: Language,
    pub tier: CustomerTier,
    pub handles: Vec<ContactHandle>,
}

/// A conversation with one customer on one channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conversation {
    pub id: ConversationId,
    pub customer_id: CustomerId,
    pub channel: Channel,
    pub status: ConversationStatus,
    pub assignee_id: Option<AgentId>,
    pub language: Language,
    /// The sequence number of the newest message (0 when there is none).
    pub last_seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// One message. `seq` numbers a conversation's messages 1, 2, 3, ... with no gaps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub seq: i64,
    pub author: AuthorKind,
    /// The agent who wrote it, for agent messages.
    pub author_id: Option<AgentId>,
    pub text: MessageText,
    /// The channel's own id for the message, when it has one.
    pub channel_message_id: Option<ChannelMessageId>,
    /// Media the message carries, by reference to the platform that holds it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<MediaRef>,
    /// For messages sent out through a platform (social, e-mail): where delivery stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_status: Option<DeliveryStatus>,
    /// Why delivery failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A piece of media a platform holds (a WhatsApp media id, a Telegram file id, a URL).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MediaRef {
    /// `image`, `audio`, `video`, `document`, `sticker`, `location`, `other`.
    pub kind: String,
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
}

/// A pre-approved message template (WhatsApp), sent instead of text outside the customer-care
/// window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Template {
    pub name: String,
    /// The template's language code, e.g. `en_US`, `es`, `pt_BR`.
    pub language: String,
}

/// A message to append to a conversation.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub conversation_id: ConversationId,
    pub author: AuthorKind,
    pub author_id: Option<AgentId>,
    pub text: MessageText,
    pub channel_message_id: Option<ChannelMessageId>,
    pub media: Vec<MediaRef>,
    /// Send this template instead of the text (outbound platforms that have them).
    pub template: Option<Template>,
}

/// What appending a message did.
#[derive(Clone, Debug)]
pub struct Appended {
    pub message: Message,
    /// The conversation after the append (status and assignee may have changed).
    pub conversation: Conversation,
    /// `false` when the channel message id was already stored: nothing was written.
    pub created: bool,
}

/// A staff member who signs in: agent, supervisor, admin, ...
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    pub id: AgentId,
    pub email: EmailAddress,
    pub name: DisplayName,
    pub roles: Vec<Role>,
    pub active: bool,
    pub created_at: OffsetDateTime,
}

impl Agent {
    /// Whether the agent holds `role`. Admins hold every staff role but `auditor`, which is kept
    /// apart so that nobody audits their own actions.
    #[must_use]
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role) || (role != Role::Auditor && self.roles.contains(&Role::Admin))
    }
}

/// What is needed to create a staff member. The password is already hashed.
#[derive(Clone, Debug)]
pub struct NewAgent {
    pub email: EmailAddress,
    pub name: DisplayName,
    pub roles: Vec<Role>,
    pub password_hash: String,
}

/// How a staff session was authenticated. Later methods (TOTP) add variants; step-up
/// re-authentication refreshes `StaffSession::authenticated_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    Password,
    /// Single sign-on: an OpenID Connect provider's ID token.
    Sso,
}

impl AuthMethod {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Sso => "sso",
        }
    }
}

/// A signed-in staff session. The token itself is never stored: only its SHA-256 digest.
#[derive(Clone, Debug)]
pub struct StaffSession {
    /// Hex SHA-256 of the bearer token.
    pub token_digest: String,
    pub agent: Agent,
    pub auth_method: AuthMethod,
    /// Sign-in time: the session's absolute lifetime counts from here.
    pub created_at: OffsetDateTime,
    /// When the staff member last proved who they are (sign-in or step-up).
    pub authenticated_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}
