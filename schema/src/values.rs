//! Validated values: parse at the edge, trust inside.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::pci::mask_card_numbers;

/// Why an outside value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is too long: {actual} characters, at most {max}")]
    TooLong { field: &'static str, max: usize, actual: usize },
    #[error("{field} is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl ValidationError {
    /// The name of the field at fault.
    #[must_use]
    pub fn field(&self) -> &'static str {
        match self {
            Self::Empty { field } | Self::TooLong { field, .. } | Self::Invalid { field, .. } => field,
        }
    }
}

/// A lower-cased e-mail address (`local@domain`), at most 254 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    /// The address as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EmailAddress {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const FIELD: &str = "email";
        let s = s.trim();
        if s.is_empty() {
            return Err(ValidationError::Empty { field: FIELD });
        }
        let len = s.chars().count();
        if len > 254 {
            return Err(ValidationError::TooLong { field: FIELD, max: 254, actual: len });
        }
        let invalid = |reason: &str| ValidationError::Invalid { field: FIELD, reason: reason.into() };
        let (local, domain) = s.rsplit_once('@').ok_or_else(|| invalid("missing @"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(invalid("the part before @ must have 1 to 64 characters"));
        }
        if domain.is_empty() || domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
            return Err(invalid("the domain is malformed"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>') || local.contains('@') {
            return Err(invalid("contains characters not allowed in an address"));
        }
        Ok(Self(s.to_lowercase()))
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<EmailAddress> for String {
    fn from(e: EmailAddress) -> Self {
        e.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Read back from JSON the hub wrote itself (an event another node published): masked again, so
/// even such text cannot carry a card number in clear. It does not bound the length: whoever reads
/// the JSON bounds its size first (the Redis bus refuses entries over 1 MiB).
impl<'de> Deserialize<'de> for MessageText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw, usize::MAX).map_err(serde::de::Error::custom)
    }
}

/// A person's display name: trimmed, 1 to 100 characters, no control characters, card numbers
/// masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

impl DisplayName {
    /// The name as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DisplayName {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const FIELD: &str = "name";
        let s = s.trim();
        if s.is_empty() {
            return Err(ValidationError::Empty { field: FIELD });
        }
        let len = s.chars().count();
        if len > 100 {
            return Err(ValidationError::TooLong { field: FIELD, max: 100, actual: len });
        }
        if s.chars().any(char::is_control) {
            return Err(ValidationError::Invalid { field: FIELD, reason: "contains control characters".into() });
        }
        // A name is free text the customer types (the chat's form, a mail's From): a card
        // number in it is masked like one in a message (same length, so the limit holds).
        Ok(Self(mask_card_numbers(s)))
    }
}

impl TryFrom<String> for DisplayName {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<DisplayName> for String {
    fn from(n: DisplayName) -> Self {
        n.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The text of a message: not blank, at most a configured number of characters, and with card
/// numbers already masked. The only way to build one is [`MessageText::parse`], so no unmasked
/// text can reach the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct MessageText(String);

impl MessageText {
    /// Validates `raw` (at most `max_chars` characters) and masks card numbers in it.
    ///
    /// # Errors
    /// Blank text, or text longer than `max_chars`.
    pub fn parse(raw: &str, max_chars: usize) -> Result<Self, ValidationError> {
        const FIELD: &str = "text";
        if raw.trim().is_empty() {
            return Err(ValidationError::Empty { field: FIELD });
        }
        let len = raw.chars().count();
        if len > max_chars {
            return Err(ValidationError::TooLong { field: FIELD, max: max_chars, actual: len });
        }
        Ok(Self(mask_card_numbers(raw)))
    }

    /// Text already in the store, or written by the system itself.
    pub(crate) fn trusted(text: String) -> Self {
        Self(text)
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The id a channel gives a message (a web chat client id, an e-mail Message-ID, a WhatsApp
/// `wamid`): 1 to 256 printable characters. Unique per conversation, so a redelivery is a no-op.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChannelMessageId(String);

impl ChannelMessageId {
    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ChannelMessageId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const FIELD: &str = "client_id";
        if s.is_empty() {
            return Err(ValidationError::Empty { field: FIELD });
        }
        let len = s.chars().count();
        if len > 256 {
            return Err(ValidationError::TooLong { field: FIELD, max: 256, actual: len });
        }
        if s.chars().any(char::is_control) {
            return Err(ValidationError::Invalid { field: FIELD, reason: "contains control characters".into() });
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for ChannelMessageId {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ChannelMessageId> for String {
    fn from(c: ChannelMessageId) -> Self {
        c.0
    }
}

/// Declares a closed set of lower-case names, with `as_str`, `FromStr`, `Display` and serde.
macro_rules! name_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($(#[$vattr:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name { $($(#[$vattr])* #[serde(rename = $text)] $variant),+ }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
                crate::openapi::one_of(Self::ALL.iter().map(|v| v.as_str()))
            }
        }
        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored and wire name.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(ValidationError::Invalid {
                        field: $field,
                        reason: format!("{s:?} is not one of: {}", [$($text),+].join(", ")),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

name_enum!(
    /// Where a conversation takes place.
    Channel, "channel" {
        WebChat => "webchat",
        Email => "email",
        Voice => "voice",
        Messenger => "messenger",
        WhatsApp => "whatsapp",
        Telegram => "telegram",
    }
);

impl Channel {
    /// Whether replies on this channel leave through a platform's API or an SMTP relay, queued
    /// in the store and retried until delivered (rather than pushed on a live socket).
    #[must_use]
    pub const fn sends_through_outbox(self) -> bool {
        matches!(self, Self::Messenger | Self::WhatsApp | Self::Telegram | Self::Email)
    }

    /// Whether this is one of the social platforms (Messenger, WhatsApp, Telegram).
    #[must_use]
    pub const fn is_social(self) -> bool {
        matches!(self, Self::Messenger | Self::WhatsApp | Self::Telegram)
    }
}

name_enum!(
    /// Where delivery of an outgoing message stands.
    DeliveryStatus, "delivery_status" {
        Queued => "queued",
        Sent => "sent",
        Delivered => "delivered",
        Read => "read",
        Failed => "failed",
    }
);

name_enum!(
    /// Where a conversation stands.
    ConversationStatus, "status" {
        Bot => "bot",
        Queued => "queued",
        Assigned => "assigned",
        Resolved => "resolved",
        Closed => "closed",
    }
);

name_enum!(
    /// Who wrote a message.
    AuthorKind, "author" {
        Customer => "customer",
        Bot => "bot",
        Agent => "agent",
        System => "system",
    }
);

name_enum!(
    /// A staff role. Each endpoint names the role it needs.
    Role, "role" {
        Agent => "agent",
        Supervisor => "supervisor",
        BotTrainer => "bot_trainer",
        Admin => "admin",
        Auditor => "auditor",
    }
);

name_enum!(
    /// The languages Switchboard serves.
    #[derive(Default)]
    Language, "language" {
        #[default]
        En => "en",
        Es => "es",
        Pt => "pt",
    }
);

name_enum!(
    /// The customer's service tier, which routing may weigh.
    #[derive(Default)]
    CustomerTier, "tier" {
        #[default]
        Standard => "standard",
        Premium => "premium",
        Vip => "vip",
    }
);

/// A lower-case routing name (a skill or a queue): `a-z`, `0-9`, `_`, `-`, 1 to 64 characters,
/// starting with a letter. `billing`, `spanish`, `tier2_voice`.
fn routing_name(s: &str, field: &'static str) -> Result<String, ValidationError> {
    if s.is_empty() {
        return Err(ValidationError::Empty { field });
    }
    let len = s.chars().count();
    if len > 64 {
        return Err(ValidationError::TooLong { field, max: 64, actual: len });
    }
    let ok_chars = s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !ok_chars || !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(ValidationError::Invalid {
            field,
            reason: format!("{s:?} must be lower-case letters, digits, '_' or '-', starting with a letter"),
        });
    }
    Ok(s.to_owned())
}

macro_rules! routing_name_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
                crate::openapi::text(concat!("a ", $field, " name: lower-case letters, digits, '-' and '_'"), 50)
            }
        }
        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl $name {
            /// The name as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                routing_name(s, $field).map(Self)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> Self {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

routing_name_type!(
    /// A skill agents have and tickets need: `billing`, `spanish`, `voice`.
    SkillName, "skill"
);
routing_name_type!(
    /// A queue tickets wait in: `general`, `billing_es`.
    QueueName, "queue"
);
routing_name_type!(
    /// A bot intent: `billing_question`, `talk_to_human`.
    IntentName, "intent"
);
routing_name_type!(
    /// A team of agents (at most one per agent): `billing-north`, `care_es`.
    TeamName, "team"
);

macro_rules! bounded_number {
    ($(#[$doc:meta])* $name:ident, $field:literal, $min:literal ..= $max:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "i64", into = "u8")]
        pub struct $name(u8);

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
                crate::openapi::integer($min, $max)
            }
        }
        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl $name {
            /// The smallest value.
            pub const MIN: Self = Self($min);
            /// The largest value.
            pub const MAX: Self = Self($max);

            /// The value as a number.
            #[must_use]
            pub const fn get(self) -> u8 {
                self.0
            }
        }

        impl TryFrom<i64> for $name {
            type Error = ValidationError;
            fn try_from(n: i64) -> Result<Self, Self::Error> {
                if (i64::from($min)..=i64::from($max)).contains(&n) {
                    // In range, so it fits a u8.
                    Ok(Self(u8::try_from(n).unwrap_or($max)))
                } else {
                    Err(ValidationError::Invalid {
                        field: $field,
                        reason: format!("{n} is not between {} and {}", $min, $max),
                    })
                }
            }
        }

        impl From<$name> for u8 {
            fn from(v: $name) -> Self {
                v.0
            }
        }

        impl From<$name> for i64 {
            fn from(v: $name) -> Self {
                i64::from(v.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

bounded_number!(
    /// How well an agent masters a skill, or how well a ticket needs it: 1 (a little) to 10.
    SkillLevel, "level", 1..=10
);
bounded_number!(
    /// A ticket's urgency: 1 (low) to 5 (urgent).
    Priority, "priority", 1..=5
);

impl Default for Priority {
    fn default() -> Self {
        Self(3)
    }
}

name_enum!(
    /// Whether an agent can take work.
    #[derive(Default)]
    Presence, "presence" {
        Available => "available",
        Busy => "busy",
        Away => "away",
        #[default]
        Offline => "offline",
    }
);

name_enum!(
    /// Where a ticket stands.
    TicketStatus, "status" {
        Queued => "queued",
        Offered => "offered",
        Assigned => "assigned",
        PendingCustomer => "pending_customer",
        Resolved => "resolved",
        Closed => "closed",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_in_names_are_masked() {
        let name: DisplayName = "Carla 4111 1111 1111 1111".parse().unwrap();
        assert_eq!(name.as_str(), "Carla **** **** **** 1111");
        assert_eq!("Carla Cliente".parse::<DisplayName>().unwrap().as_str(), "Carla Cliente");
    }

    #[test]
    fn routing_names_and_levels_are_checked() {
        assert_eq!("billing_es".parse::<SkillName>().unwrap().as_str(), "billing_es");
        for bad in ["", "Billing", "1st", "a b", "ñ", &"x".repeat(65)] {
            assert!(bad.parse::<QueueName>().is_err(), "{bad:?} should be refused");
        }
        assert_eq!(SkillLevel::try_from(10).unwrap().get(), 10);
        assert!(SkillLevel::try_from(0).is_err() && SkillLevel::try_from(11).is_err());
        assert!(serde_json::from_str::<Priority>("6").is_err());
        assert_eq!(serde_json::from_str::<Priority>("5").unwrap().get(), 5);
    }

    #[test]
    fn email_is_normalised_and_checked() {
        let e: EmailAddress = "  Ana@Example.COM ".parse().unwrap();
        assert_eq!(e.as_str(), "ana@example.com");
        for bad in ["", "no-at", "@x.com", "a@", "a@.com", "a@b..c", "a b@c.d", "a@b@c.d", "<a@b.c>"] {
            assert!(bad.parse::<EmailAddress>().is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn message_text_limits_and_masks() {
        assert!(matches!(MessageText::parse("  \n", 10), Err(ValidationError::Empty { .. })));
        assert!(matches!(MessageText::parse("ñññññ", 4), Err(ValidationError::TooLong { max: 4, actual: 5, .. })));
        let t = MessageText::parse("pay with 4111 1111 1111 1111", 100).unwrap();
        assert_eq!(t.as_str(), "pay with **** **** **** 1111");
    }

    #[test]
    fn wire_names_are_the_stored_names() {
        for c in Channel::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
            assert_eq!(serde_json::from_value::<Channel>(c.as_str().into()).unwrap(), *c);
        }
        assert_eq!(serde_json::to_value(Role::BotTrainer).unwrap(), "bot_trainer");
    }

    #[test]
    fn enums_round_trip_and_name_the_allowed_values() {
        for s in ConversationStatus::ALL {
            assert_eq!(s.as_str().parse::<ConversationStatus>(), Ok(*s));
        }
        let err = "open".parse::<ConversationStatus>().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("bot, queued, assigned, resolved, closed"), "{err}");
    }
}

name_enum!(
    /// What a knowledge-base document is.
    DocumentKind, "kind" {
        /// An article: a title and a Markdown body.
        Article => "article",
        /// A Q&A pair: several phrasings of one question, and one answer.
        Qa => "qa",
    }
);

name_enum!(
    /// Where a knowledge-base document stands. Only published ones are searched by the bot.
    DocumentStatus, "status" {
        Draft => "draft",
        Published => "published",
        Archived => "archived",
    }
);

name_enum!(
    /// A trainer's judgement of one bot answer.
    Verdict, "verdict" {
        Right => "right",
        Wrong => "wrong",
    }
);
