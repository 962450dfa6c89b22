//! Who a customer is across channels: a handle's identity (a kind and a normalised value), so
//! that the same phone number calling and writing on WhatsApp, or the same e-mail address in any
//! case, is one customer. Only a verified handle is matched on arrival (see
//! `Store::conversation_for_handle`); the normalising here never decides trust.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::values::{Channel, EmailAddress, ValidationError};

name_enum!(
    /// What a handle identifies the customer by.
    HandleKind, "kind" {
        /// A phone number in E.164 (voice callers, WhatsApp senders).
        Phone => "phone",
        /// An e-mail address, in lower case.
        Email => "email",
        /// A Messenger page-scoped id, as `page_id:psid`.
        Messenger => "messenger",
        /// A Telegram user id.
        Telegram => "telegram",
        /// A SIP caller that is not a phone number (`alice`, `anonymous`).
        Sip => "sip",
    }
);

name_enum!(
    /// A consent, by the way of contacting the customer (marketing) or what for (surveys).
    ConsentKind, "consent" {
        MarketingEmail => "marketing_email",
        MarketingSms => "marketing_sms",
        MarketingPhone => "marketing_phone",
        /// Satisfaction surveys after a resolution (refused: the customer is never asked).
        Surveys => "surveys",
    }
);

/// A phone number in E.164: `+`, then 7 to 15 digits, the first not 0.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// The number as text (`+34911234567`).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A WhatsApp sender id (`wa_id`: the number's digits, no `+`), as a number.
    #[must_use]
    pub fn from_digits(digits: &str) -> Option<Self> {
        format!("+{digits}").parse().ok()
    }
}

impl FromStr for PhoneNumber {
    type Err = ValidationError;

    /// Accepts the usual separators people type (spaces, dots, dashes, parentheses) between
    /// digits; nothing else.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const FIELD: &str = "phone";
        let s = s.trim();
        if s.is_empty() {
            return Err(ValidationError::Empty { field: FIELD });
        }
        if s.len() > 32 {
            return Err(ValidationError::TooLong { field: FIELD, max: 32, actual: s.chars().count() });
        }
        let invalid = || ValidationError::Invalid {
            field: FIELD,
            reason: "must be in international (E.164) form: + and 7 to 15 digits, e.g. +34911234567".into(),
        };
        let rest = s.strip_prefix('+').ok_or_else(invalid)?;
        let mut digits = String::with_capacity(16);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '.' | '-' | '(' | ')' => {}
                _ => return Err(invalid()),
            }
        }
        if !(7..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(invalid());
        }
        Ok(Self(format!("+{digits}")))
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<PhoneNumber> for String {
    fn from(p: PhoneNumber) -> Self {
        p.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for PhoneNumber {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("E.164: + and 7 to 15 digits"))
            .examples(["+34911234567"])
            .into()
    }
}
#[cfg(feature = "openapi")]
impl utoipa::ToSchema for PhoneNumber {}

/// The longest handle value kept, in characters.
pub const MAX_HANDLE_CHARS: usize = 254;

/// What a handle identifies: a kind and its normalised value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    pub kind: HandleKind,
    pub value: String,
}

impl Identity {
    /// The identity of a handle as a channel delivers it (an arrival): `+34…` or a SIP user on
    /// voice, a lower-case address on e-mail, `account_id:sender_id` on the platforms. Never
    /// fails: what does not normalise keeps its exact text under a kind of its channel (and so
    /// matches only itself).
    #[must_use]
    pub fn of_arrival(channel: Channel, handle: &str) -> Self {
        let sender = handle.split_once(':').map_or(handle, |(_, s)| s);
        let (kind, value) = match channel {
            Channel::Email => (HandleKind::Email, handle.to_lowercase()),
            Channel::Voice => match handle.parse::<PhoneNumber>() {
                // A SIP user with separators is not a dialled number: only the bare form counts.
                Ok(p) if p.as_str() == handle => (HandleKind::Phone, p.0),
                _ => (HandleKind::Sip, handle.to_owned()),
            },
            Channel::WhatsApp => match PhoneNumber::from_digits(sender) {
                Some(p) if sender.bytes().all(|b| b.is_ascii_digit()) => (HandleKind::Phone, p.0),
                _ => (HandleKind::Phone, handle.to_owned()),
            },
            Channel::Telegram => (HandleKind::Telegram, sender.to_owned()),
            Channel::Messenger => (HandleKind::Messenger, handle.to_owned()),
            // Web chat visitors have no handle (each session is a customer of its own).
            Channel::WebChat => (HandleKind::Sip, handle.to_owned()),
        };
        Self { kind, value: value.chars().take(MAX_HANDLE_CHARS).collect() }
    }

    /// A handle an agent links to a customer, strictly validated: an E.164 number for `voice`
    /// and `whatsapp` (`phone` too), an e-mail address, `page_id:psid` for Messenger, a numeric
    /// user id for Telegram.
    ///
    /// # Errors
    /// [`ValidationError`] on field `handle` (or `channel` for web chat, whose sessions cannot
    /// be linked).
    pub fn parse_link(channel: &str, handle: &str) -> Result<Self, ValidationError> {
        let handle = handle.trim();
        let invalid = |reason: &str| ValidationError::Invalid { field: "handle", reason: reason.into() };
        if handle.chars().count() > MAX_HANDLE_CHARS {
            return Err(ValidationError::TooLong {
                field: "handle",
                max: MAX_HANDLE_CHARS,
                actual: handle.chars().count(),
            });
        }
        let (kind, value) = match channel {
            "phone" | "voice" | "whatsapp" => (
                HandleKind::Phone,
                handle
                    .parse::<PhoneNumber>()
                    .map_err(|_| invalid("a phone number must be in E.164 form, e.g. +34911234567"))?
                    .0,
            ),
            "email" => (
                HandleKind::Email,
                handle.parse::<EmailAddress>().map_err(|e| invalid(&e.to_string()))?.as_str().to_owned(),
            ),
            "messenger" => {
                let ok = handle.split_once(':').is_some_and(|(page, psid)| {
                    !page.is_empty()
                        && !psid.is_empty()
                        && page.bytes().all(|b| b.is_ascii_digit())
                        && psid.bytes().all(|b| b.is_ascii_digit())
                });
                if !ok {
                    return Err(invalid("a Messenger handle is page_id:psid (digits)"));
                }
                (HandleKind::Messenger, handle.to_owned())
            }
            "telegram" => {
                if handle.is_empty() || handle.len() > 20 || !handle.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid("a Telegram handle is the numeric user id"));
                }
                (HandleKind::Telegram, handle.to_owned())
            }
            _ => {
                return Err(ValidationError::Invalid {
                    field: "channel",
                    reason: "one of: phone, voice, whatsapp, email, messenger, telegram".into(),
                });
            }
        };
        Ok(Self { kind, value })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn phone_numbers_are_e164() {
        assert_eq!("+34 911-23.45 67".parse::<PhoneNumber>().unwrap().as_str(), "+34911234567");
        for bad in ["34911234567", "+0911234567", "+12345", "+1234567890123456", "+34 91a", "", "++34911234567"] {
            assert!(bad.parse::<PhoneNumber>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_number_calling_and_writing_on_whatsapp_is_one_identity() {
        let call = Identity::of_arrival(Channel::Voice, "+34600111222");
        let chat = Identity::of_arrival(Channel::WhatsApp, "1099:34600111222");
        assert_eq!(call, chat);
        assert_eq!(call.kind, HandleKind::Phone);
        assert_eq!(Identity::of_arrival(Channel::Voice, "alice").kind, HandleKind::Sip);
        assert_eq!(Identity::of_arrival(Channel::Voice, "+34 600").kind, HandleKind::Sip);
        assert_eq!(Identity::of_arrival(Channel::Email, "Ana@Example.COM").value, "ana@example.com");
        assert_eq!(Identity::of_arrival(Channel::Telegram, "bot:4242").value, "4242");
        assert_eq!(Identity::parse_link("whatsapp", "+34 600 111 222").unwrap(), call);
    }

    #[test]
    fn links_are_validated() {
        assert_eq!(Identity::parse_link("voice", "600111222").unwrap_err().field(), "handle");
        assert_eq!(Identity::parse_link("email", "not-an-address").unwrap_err().field(), "handle");
        assert_eq!(Identity::parse_link("webchat", "x").unwrap_err().field(), "channel");
        assert!(Identity::parse_link("messenger", "1:2").is_ok());
        assert!(Identity::parse_link("messenger", "12").is_err());
        assert!(Identity::parse_link("telegram", "4242").is_ok());
    }
}
