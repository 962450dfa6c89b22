//! The incident feed's records: a network incident (an outage or a degradation) with the area
//! it affects (postcodes, radio cell ids), the services it hits, its public text (neutral and per
//! language), its status and ETA, and where it came from (staff, or an Alertmanager alert keyed
//! by its fingerprint); and line tests run from a conversation (diagnostics).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{AgentId, ConversationId, DiagnosticId, IncidentId};
use crate::values::{Language, ValidationError};

/// Most postcodes one incident may name.
pub const MAX_POSTCODES: usize = 500;
/// Most cell ids one incident may name.
pub const MAX_CELLS: usize = 500;
/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;
/// Longest Alertmanager fingerprint kept, in characters.
pub const MAX_FINGERPRINT_CHARS: usize = 128;

/// A postal code, normalised: upper case, inner blanks collapsed to one space; 3 to 10 of
/// `A-Z 0-9`, space and `-`, with at least one digit (`28013`, `1000-001`, `SW1A 1AA`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Postcode(String);

impl Postcode {
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Postcode {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const FIELD: &str = "postcode";
        let bad = |reason: &str| ValidationError::Invalid { field: FIELD, reason: reason.into() };
        // Bounded before any work: a postcode is short.
        if s.len() > 64 {
            return Err(bad("at most 10 characters"));
        }
        let normal = s.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_uppercase();
        if normal.is_empty() {
            return Err(ValidationError::Empty { field: FIELD });
        }
        if !(3..=10).contains(&normal.len()) {
            return Err(bad("3 to 10 characters"));
        }
        if !normal.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-') {
            return Err(bad("only letters, digits, spaces and dashes"));
        }
        if !normal.bytes().any(|b| b.is_ascii_digit()) {
            return Err(bad("at least one digit"));
        }
        Ok(Self(normal))
    }
}

impl TryFrom<String> for Postcode {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Postcode> for String {
    fn from(p: Postcode) -> Self {
        p.0
    }
}

impl fmt::Display for Postcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A radio cell's id as the network names it: 1 to 64 ASCII letters, digits and `-_.:`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CellId(String);

impl CellId {
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CellId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const FIELD: &str = "cells";
        if s.is_empty() {
            return Err(ValidationError::Empty { field: FIELD });
        }
        if s.len() > 64 {
            return Err(ValidationError::TooLong { field: FIELD, max: 64, actual: s.chars().count() });
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')) {
            return Err(ValidationError::Invalid {
                field: FIELD,
                reason: "a cell id is letters, digits and -_.: only".into(),
            });
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for CellId {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<CellId> for String {
    fn from(c: CellId) -> Self {
        c.0
    }
}

impl fmt::Display for CellId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

name_enum!(
    /// Where an incident stands (the status page's usual four).
    IncidentStatus, "status" {
        Investigating => "investigating",
        Identified => "identified",
        Monitoring => "monitoring",
        Resolved => "resolved",
    }
);

impl IncidentStatus {
    /// Whether the incident still affects customers (everything but resolved).
    #[must_use]
    pub const fn is_live(self) -> bool {
        !matches!(self, Self::Resolved)
    }
}

name_enum!(
    /// A family of services an incident hits (the BSS's product families).
    ServiceKind, "services" {
        Mobile => "mobile",
        Fibre => "fibre",
        Tv => "tv",
        Landline => "landline",
    }
);

name_enum!(
    /// Who entered an incident.
    IncidentSource, "source" {
        Staff => "staff",
        Alertmanager => "alertmanager",
    }
);

/// An incident's public text in one language (or the neutral one): what customers are told.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentText {
    pub title: String,
    pub description: String,
}

impl IncidentText {
    /// Checks the lengths (title 1 to 200 characters, description up to 2,000) and trims.
    ///
    /// # Errors
    /// An empty or too long title, a too long description.
    pub fn new(title: &str, description: &str) -> Result<Self, ValidationError> {
        let title = title.trim();
        let description = description.trim();
        if title.is_empty() {
            return Err(ValidationError::Empty { field: "title" });
        }
        let n = title.chars().count();
        if n > MAX_TITLE_CHARS {
            return Err(ValidationError::TooLong { field: "title", max: MAX_TITLE_CHARS, actual: n });
        }
        let n = description.chars().count();
        if n > MAX_DESCRIPTION_CHARS {
            return Err(ValidationError::TooLong { field: "description", max: MAX_DESCRIPTION_CHARS, actual: n });
        }
        if title.chars().chain(description.chars()).any(|c| c.is_control() && c != '\n') {
            return Err(ValidationError::Invalid { field: "title", reason: "contains control characters".into() });
        }
        Ok(Self {
            title: crate::pci::mask_card_numbers(title),
            description: crate::pci::mask_card_numbers(description),
        })
    }
}

/// What an incident says and covers: everything staff or an alert sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentContent {
    /// The neutral text (used when there is none in the reader's language).
    pub text: IncidentText,
    /// The text per language, when written.
    pub texts: BTreeMap<Language, IncidentText>,
    pub services: BTreeSet<ServiceKind>,
    pub postcodes: BTreeSet<Postcode>,
    pub cells: BTreeSet<CellId>,
    pub status: IncidentStatus,
    pub started_at: OffsetDateTime,
    /// When service is expected back.
    pub eta: Option<OffsetDateTime>,
}

impl IncidentContent {
    /// Checks the bounds an incident must keep: an area (at least one postcode or cell, at most
    /// [`MAX_POSTCODES`] and [`MAX_CELLS`]) and at least one service.
    ///
    /// # Errors
    /// The first bound broken, naming its field.
    pub fn check(&self) -> Result<(), ValidationError> {
        if self.postcodes.is_empty() && self.cells.is_empty() {
            return Err(ValidationError::Invalid {
                field: "postcodes",
                reason: "an incident needs an area: at least one postcode or cell".into(),
            });
        }
        if self.postcodes.len() > MAX_POSTCODES {
            return Err(ValidationError::Invalid {
                field: "postcodes",
                reason: format!("at most {MAX_POSTCODES} postcodes"),
            });
        }
        if self.cells.len() > MAX_CELLS {
            return Err(ValidationError::Invalid { field: "cells", reason: format!("at most {MAX_CELLS} cells") });
        }
        if self.services.is_empty() {
            return Err(ValidationError::Empty { field: "services" });
        }
        Ok(())
    }

    /// The text for a reader of `language`: theirs if written, else the neutral one.
    #[must_use]
    pub fn text_in(&self, language: Language) -> &IncidentText {
        self.texts.get(&language).unwrap_or(&self.text)
    }
}

/// A stored incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incident {
    pub id: IncidentId,
    pub content: IncidentContent,
    pub source: IncidentSource,
    /// The Alertmanager alert's fingerprint (its key: a redelivery updates, never duplicates).
    pub fingerprint: Option<String>,
    pub resolved_at: Option<OffsetDateTime>,
    /// The staff member who entered it (none for an alert).
    pub created_by: Option<AgentId>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Which incidents a list shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncidentFilter {
    /// Not resolved.
    #[default]
    Live,
    /// Everything, newest first.
    All,
}

name_enum!(
    /// A line test's verdict (as the BSS gives it).
    DiagnosticVerdict, "verdict" {
        Pass => "pass",
        Fail => "fail",
        Inconclusive => "inconclusive",
    }
);

/// One measurement of a line test.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiagnosticMeasure {
    pub name: String,
    pub value: String,
    pub ok: bool,
}

/// A line test run by staff from a conversation, with its result, kept on the conversation's
/// timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub id: DiagnosticId,
    pub conversation_id: ConversationId,
    /// The BSS's product id the test ran on.
    pub product: String,
    /// The BSS's test id.
    pub test: String,
    pub verdict: DiagnosticVerdict,
    pub summary: String,
    pub measures: Vec<DiagnosticMeasure>,
    pub run_by: AgentId,
    pub finished_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postcodes_are_normalised_and_bounded() {
        assert_eq!("28013".parse::<Postcode>().unwrap().as_str(), "28013");
        assert_eq!(" sw1a   1aa ".parse::<Postcode>().unwrap().as_str(), "SW1A 1AA");
        assert_eq!("1000-001".parse::<Postcode>().unwrap().as_str(), "1000-001");
        for bad in ["", "12", "ABCDE", "28013<x>", "12345678901", &"9".repeat(100)] {
            assert!(bad.parse::<Postcode>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cells_and_texts_are_checked() {
        assert!("MAD-0042:3".parse::<CellId>().is_ok());
        assert!("cell 1".parse::<CellId>().is_err());
        assert!(IncidentText::new("  ", "x").is_err());
        assert!(IncidentText::new(&"t".repeat(201), "").is_err());
        assert_eq!(IncidentText::new(" Fibre down ", "").unwrap().title, "Fibre down");
    }
}
