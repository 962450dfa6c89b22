//! Threading: which conversation an inbound mail belongs to.
//!
//! # The hub's lookup order
//! 1. [`thread_keys`] (`In-Reply-To`, then `References` newest first) against the Message-IDs
//!    the store already holds for e-mail messages, ours and the customer's; the first hit wins.
//! 2. The conversation token ([`find_token`]): in a plus-address recipient
//!    (`support+sb-…@domain`, which our `Reply-To` carries) or in the subject (`[#SB-…]`).
//!    Look it up in the token the hub stored with the conversation when it first mailed out
//!    (`conversation_token(id)`, an indexed column). Clients that drop `In-Reply-To` (some
//!    webmails, forwards, a customer re-typing the address) still land in the right place.
//!    A token is not a secret proof: the hub should still check that the sender is the
//!    conversation's customer (or treat others as new conversations).
//! 3. Otherwise a new conversation for the sender.

use std::fmt;
use std::str::FromStr;

use schema::{ConversationId, EmailAddress, ValidationError};
use sha2::{Digest, Sha256};

use super::InboundMail;

/// The prefix of every token.
const PREFIX: &str = "SB-";
/// Characters of the token after the prefix: 10 × 5 bits = 50 bits of hash.
const TOKEN_CHARS: usize = 10;
/// Crockford's base 32: no I, L, O, U.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// At most this many ids from [`thread_keys`].
const MAX_THREAD_KEYS: usize = 30;

/// A conversation's short, stable e-mail token, `SB-` and 10 Crockford base-32 characters
/// (`SB-7K3M9Q2XWD`): 50 bits of SHA-256 of the conversation id, so it does not reveal the id.
/// Case-insensitive on the way in, upper case on the way out.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConversationToken(String);

impl ConversationToken {
    /// The token, `SB-XXXXXXXXXX`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tag put in subjects: `[#SB-XXXXXXXXXX]`.
    #[must_use]
    pub fn subject_tag(&self) -> String {
        format!("[#{}]", self.0)
    }

    /// `mailbox` with the token as a plus tag: `support@telco.example` gives
    /// `support+sb-xxxxxxxxxx@telco.example`, for `Reply-To`.
    #[must_use]
    pub fn plus_address(&self, mailbox: &EmailAddress) -> EmailAddress {
        let (local, domain) = mailbox.as_str().rsplit_once('@').unwrap_or((mailbox.as_str(), ""));
        let local = local.split_once('+').map_or(local, |(base, _)| base);
        format!("{local}+{}@{domain}", self.0.to_ascii_lowercase()).parse().unwrap_or_else(|_| mailbox.clone())
    }
}

impl fmt::Display for ConversationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ConversationToken {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        token_at(s.trim())
            .filter(|(_, len)| *len == s.trim().len())
            .map(|(t, _)| t)
            .ok_or_else(|| ValidationError::Invalid { field: "conversation_token", reason: "not an SB- token".into() })
    }
}

/// The token of a conversation.
#[must_use]
pub fn conversation_token(id: &ConversationId) -> ConversationToken {
    let digest = Sha256::digest(id.as_uuid().as_bytes());
    let mut bits: u64 = 0;
    for b in digest.iter().take(8) {
        bits = (bits << 8) | u64::from(*b);
    }
    let mut token = String::with_capacity(PREFIX.len() + TOKEN_CHARS);
    token.push_str(PREFIX);
    for i in 0..TOKEN_CHARS {
        let index = (bits >> (59 - 5 * i)) & 31;
        token.push(char::from(ALPHABET[index as usize]));
    }
    ConversationToken(token)
}

/// A token at the start of `s` (`SB-` + 10 base-32 characters, any case, not followed by
/// another alphanumeric), and its length in bytes.
fn token_at(s: &str) -> Option<(ConversationToken, usize)> {
    let head = s.get(..PREFIX.len())?;
    if !head.eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let body = s.get(PREFIX.len()..PREFIX.len() + TOKEN_CHARS)?;
    let upper = body.to_ascii_uppercase();
    if !upper.bytes().all(|b| ALPHABET.contains(&b)) {
        return None;
    }
    let len = PREFIX.len() + TOKEN_CHARS;
    if s[len..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((ConversationToken(format!("{PREFIX}{upper}")), len))
}

/// Finds a conversation token: first in a plus-address among `recipients`
/// (`…+sb-xxxxxxxxxx@…`), then in `subject` (`[#SB-XXXXXXXXXX]`, or `#SB-…` with the brackets
/// lost).
#[must_use]
pub fn find_token<'a>(
    subject: &str,
    recipients: impl IntoIterator<Item = &'a EmailAddress>,
) -> Option<ConversationToken> {
    for r in recipients {
        let local = r.as_str().rsplit_once('@').map_or(r.as_str(), |(l, _)| l);
        if let Some((_, tag)) = local.split_once('+')
            && let Some((token, len)) = token_at(tag)
            && len == tag.len()
        {
            return Some(token);
        }
    }
    let mut rest = subject;
    while let Some(pos) = rest.find('#') {
        rest = &rest[pos + 1..];
        if let Some((token, _)) = token_at(rest) {
            return Some(token);
        }
    }
    None
}

/// The Message-IDs to look the thread up by, most specific first: `In-Reply-To`, then
/// `References` newest first; without duplicates or the mail's own id; at most 30.
#[must_use]
pub fn thread_keys(mail: &InboundMail) -> Vec<String> {
    let own = mail.message_id.as_str();
    let mut keys: Vec<String> = Vec::new();
    for id in mail.in_reply_to.iter().chain(mail.references.iter().rev()) {
        if id != own && !keys.contains(id) {
            keys.push(id.clone());
        }
        if keys.len() == MAX_THREAD_KEYS {
            break;
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_distinct_and_found() {
        let id: ConversationId = "0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b".parse().unwrap();
        let t = conversation_token(&id);
        assert_eq!(t, conversation_token(&id));
        assert_eq!(t.as_str().len(), 13);
        assert!(t.as_str().starts_with("SB-"));
        assert_ne!(t, conversation_token(&ConversationId::new()));
        assert_eq!(t.as_str().parse::<ConversationToken>().unwrap(), t);
        assert_eq!(t.as_str().to_lowercase().parse::<ConversationToken>().unwrap(), t);

        let subject = format!("Re: Re: my bill {}", t.subject_tag());
        assert_eq!(find_token(&subject, []), Some(t.clone()));
        assert_eq!(find_token(&format!("fwd #{}!", t.as_str().to_lowercase()), []), Some(t.clone()));

        let support: EmailAddress = "support@telco.example".parse().unwrap();
        let plus = t.plus_address(&support);
        assert_eq!(plus.as_str(), format!("support+{}@telco.example", t.as_str().to_lowercase()));
        let other: EmailAddress = "ana@example.com".parse().unwrap();
        assert_eq!(find_token("no tag here", [&other, &plus]), Some(t.clone()));

        for s in ["", "#", "#SB-", "[#SB-123]", "#SB-0123456789X", "#SB-IIIIIIIIII", "#ß-0123456789", "#SB-012345678é"]
        {
            assert_eq!(find_token(s, []), None, "{s:?}");
        }
        assert!("SB-0123456789 trailing".parse::<ConversationToken>().is_err());
    }
}
