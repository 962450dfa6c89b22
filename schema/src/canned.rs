//! Canned responses: reply snippets agents insert by shortcut (`/roaming-on`), global or for the
//! agents of one queue, in one language. The body is masked like a message text before it is
//! stored.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{AgentId, CannedResponseId};
use crate::pci::mask_card_numbers;
use crate::values::{Language, QueueName, ValidationError};

/// Longest shortcut, in characters.
pub const MAX_SHORTCUT_CHARS: usize = 40;
/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 100;
/// Longest body, in characters.
pub const MAX_BODY_CHARS: usize = 4_000;

/// A canned response's shortcut: a short slug of lower-case letters, digits and single dashes,
/// starting with a letter (`roaming-on`, `sim-swap2`), 2 to [`MAX_SHORTCUT_CHARS`] characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Shortcut(String);

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Shortcut {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        crate::openapi::text("a slug: lower-case letters, digits and single dashes, starting with a letter", 40)
    }
}
#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Shortcut {}

impl Shortcut {
    /// The shortcut as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Shortcut {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const FIELD: &str = "shortcut";
        // Typed after a `/` in the reply box; the slash is not part of it.
        let s = s.trim().trim_start_matches('/');
        if s.is_empty() {
            return Err(ValidationError::Empty { field: FIELD });
        }
        let len = s.chars().count();
        if len > MAX_SHORTCUT_CHARS {
            return Err(ValidationError::TooLong { field: FIELD, max: MAX_SHORTCUT_CHARS, actual: len });
        }
        let chars_ok = s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if len < 2
            || !chars_ok
            || !s.starts_with(|c: char| c.is_ascii_lowercase())
            || s.ends_with('-')
            || s.contains("--")
        {
            return Err(ValidationError::Invalid {
                field: FIELD,
                reason: format!(
                    "{s:?} must be 2 to {MAX_SHORTCUT_CHARS} lower-case letters, digits and single dashes, \
                     starting with a letter"
                ),
            });
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for Shortcut {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Shortcut> for String {
    fn from(s: Shortcut) -> Self {
        s.0
    }
}

impl fmt::Display for Shortcut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a supervisor writes: validated by [`CannedContent::new`], so a body with a card number
/// in clear cannot exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CannedContent {
    /// `None`: every agent sees it; else only the agents of this queue (and supervisors).
    pub queue: Option<QueueName>,
    pub shortcut: Shortcut,
    pub title: String,
    /// Card numbers masked.
    pub body: String,
    pub language: Language,
}

impl CannedContent {
    /// Trims title and body, checks their lengths, and masks card numbers in both.
    ///
    /// # Errors
    /// An empty or overlong title or body, or a title with control characters.
    pub fn new(
        queue: Option<QueueName>,
        shortcut: Shortcut,
        title: &str,
        body: &str,
        language: Language,
    ) -> Result<Self, ValidationError> {
        let title = title.trim();
        let body = body.trim();
        check_len("title", title, MAX_TITLE_CHARS)?;
        if title.chars().any(char::is_control) {
            return Err(ValidationError::Invalid { field: "title", reason: "contains control characters".into() });
        }
        check_len("body", body, MAX_BODY_CHARS)?;
        Ok(Self { queue, shortcut, title: mask_card_numbers(title), body: mask_card_numbers(body), language })
    }

    /// What a search looks in: shortcut, title and body, [`fold`]ed.
    #[must_use]
    pub fn search_text(&self) -> String {
        fold(&format!("{}\n{}\n{}", self.shortcut, self.title, self.body))
    }

    /// Content already in the store.
    pub(crate) fn trusted(
        queue: Option<QueueName>,
        shortcut: Shortcut,
        title: String,
        body: String,
        language: Language,
    ) -> Self {
        Self { queue, shortcut, title, body, language }
    }
}

fn check_len(field: &'static str, s: &str, max: usize) -> Result<(), ValidationError> {
    if s.is_empty() {
        return Err(ValidationError::Empty { field });
    }
    let actual = s.chars().count();
    if actual > max {
        return Err(ValidationError::TooLong { field, max, actual });
    }
    Ok(())
}

/// A canned response as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CannedResponse {
    pub id: CannedResponseId,
    pub content: CannedContent,
    pub created_by: AgentId,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Which canned responses a list returns.
#[derive(Clone, Debug, Default)]
pub struct CannedFilter {
    /// `None`: every scope. `Some(queues)`: the global ones and those of these queues.
    pub queues: Option<Vec<QueueName>>,
    pub language: Option<Language>,
    /// Words that must all appear in the shortcut, title or body (any case, with or without
    /// accents).
    pub query: Option<String>,
}

/// Text as searches compare it: lower case, and the accents of Spanish and Portuguese letters
/// dropped (`Conexión` → `conexion`), so `conexion` finds `Conexión` on either store.
#[must_use]
pub fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_are_short_slugs() {
        assert_eq!("roaming-on".parse::<Shortcut>().map(|s| s.0), Ok("roaming-on".to_owned()));
        assert_eq!("/sim2".parse::<Shortcut>().map(|s| s.0), Ok("sim2".to_owned()));
        for bad in ["", "/", "a", "Roaming", "2fa", "a b", "a_b", "a--b", "a-", "ñu", &"x".repeat(41)] {
            let err = bad.parse::<Shortcut>().err();
            assert_eq!(err.as_ref().map(ValidationError::field), Some("shortcut"), "{bad:?}");
        }
    }

    #[test]
    fn content_is_trimmed_bounded_and_masked() {
        let sc: Shortcut = "pay".parse().unwrap();
        let c =
            CannedContent::new(None, sc.clone(), " Pay ", " Card 4111 1111 1111 1111 noted. ", Language::En).unwrap();
        assert_eq!((c.title.as_str(), c.body.as_str()), ("Pay", "Card **** **** **** 1111 noted."));
        let long = "x".repeat(MAX_BODY_CHARS + 1);
        let err = CannedContent::new(None, sc.clone(), "t", &long, Language::En).err();
        assert_eq!(err.as_ref().map(ValidationError::field), Some("body"));
        let err = CannedContent::new(None, sc.clone(), "  ", "b", Language::En).err();
        assert_eq!(err.as_ref().map(ValidationError::field), Some("title"));
        let err = CannedContent::new(None, sc, "a\u{7}b", "b", Language::En).err();
        assert_eq!(err.as_ref().map(ValidationError::field), Some("title"));
    }

    #[test]
    fn folding_drops_case_and_accents() {
        assert_eq!(fold("Conexión ÁGIL, Ação"), "conexion agil, acao");
    }
}
