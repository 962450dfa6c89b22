//! Customer satisfaction surveys: the score a customer gives (1 to 5), the survey record kept
//! per resolved ticket, and the filter reports read them with. Stored by `Store` (`csat_surveys`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{AgentId, ConversationId, CustomerId, SurveyId, TicketId};
use crate::values::{Channel, CustomerTier, Language, QueueName, ValidationError};

/// A satisfaction score: 1 (very unsatisfied) to 5 (very satisfied).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Score(u8);

impl Score {
    /// The lowest score.
    pub const MIN: u8 = 1;
    /// The highest score.
    pub const MAX: u8 = 5;

    /// The score as a number.
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Score {
    type Error = ValidationError;

    fn try_from(v: u8) -> Result<Self, Self::Error> {
        if (Self::MIN..=Self::MAX).contains(&v) {
            Ok(Self(v))
        } else {
            Err(ValidationError::Invalid {
                field: "score",
                reason: format!("a score is {} to {}", Self::MIN, Self::MAX),
            })
        }
    }
}

impl TryFrom<i64> for Score {
    type Error = ValidationError;

    fn try_from(v: i64) -> Result<Self, Self::Error> {
        u8::try_from(v)
            .map_err(|_| ValidationError::Invalid { field: "score", reason: "a score is 1 to 5".into() })
            .and_then(Self::try_from)
    }
}

impl From<Score> for u8 {
    fn from(s: Score) -> Self {
        s.0
    }
}

impl FromStr for Score {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<u8>()
            .map_err(|_| ValidationError::Invalid { field: "score", reason: "a score is 1 to 5".into() })
            .and_then(Self::try_from)
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The most characters a survey comment keeps.
pub const MAX_COMMENT_CHARS: usize = 1_000;

/// A customer's comment on a survey: trimmed, 1 to [`MAX_COMMENT_CHARS`] characters, no control
/// characters but line breaks and tabs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Comment(String);

impl Comment {
    /// A comment from what the customer typed; `None` when it is blank.
    ///
    /// # Errors
    /// Too long, or with control characters.
    pub fn parse(raw: &str) -> Result<Option<Self>, ValidationError> {
        let text = raw.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let chars = text.chars().count();
        if chars > MAX_COMMENT_CHARS {
            return Err(ValidationError::TooLong { field: "comment", max: MAX_COMMENT_CHARS, actual: chars });
        }
        if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')) {
            return Err(ValidationError::Invalid { field: "comment", reason: "control characters".into() });
        }
        Ok(Some(Self(crate::pci::mask_card_numbers(text))))
    }

    /// The comment's text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A survey to record as sent.
#[derive(Clone, Debug)]
pub struct NewSurvey {
    pub id: SurveyId,
    pub ticket_id: TicketId,
    pub conversation_id: ConversationId,
    pub customer_id: CustomerId,
    /// The conversation's channel.
    pub channel: Channel,
    /// Where the question went (the conversation's channel, or e-mail for a call).
    pub via: Channel,
    pub agent_id: Option<AgentId>,
    pub queue: QueueName,
    pub language: Language,
    pub tier: CustomerTier,
    pub sent_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A survey as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Survey {
    pub id: SurveyId,
    pub ticket_id: TicketId,
    pub conversation_id: ConversationId,
    pub customer_id: CustomerId,
    pub channel: Channel,
    pub via: Channel,
    pub agent_id: Option<AgentId>,
    pub queue: QueueName,
    pub language: Language,
    pub tier: CustomerTier,
    pub sent_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub answered_at: Option<OffsetDateTime>,
    pub score: Option<Score>,
    pub comment: Option<String>,
}

/// What recording an answer did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answered {
    /// This answer is the survey's.
    Recorded(Survey),
    /// The survey was answered before: the first answer stays, this one is dropped.
    AlreadyAnswered(Survey),
    /// Past its `expires_at`: nothing is written.
    Expired(Survey),
}

/// Which surveys a report looks at: sent in `[from, to)`, and each filter that is set.
#[derive(Clone, Debug)]
pub struct CsatFilter {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub channel: Option<Channel>,
    pub queue: Option<QueueName>,
    pub agent: Option<AgentId>,
    pub language: Option<Language>,
    pub tier: Option<CustomerTier>,
    /// A team's membership stretches: only surveys sent while their agent was in the team
    /// (none: the team has no members, nothing matches).
    pub team: Option<Vec<crate::reports::TeamStretch>>,
}

/// Surveys counted by a 15-minute slot of their sending (UTC) and score (`None`: unanswered).
/// Every IANA time zone's offset is a whole number of 15 minutes, so the hub turns slots into
/// the operator's hours, days and weeks exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsatSlot {
    /// The slot's start, Unix milliseconds (a multiple of 15 minutes).
    pub slot_start_ms: i64,
    pub score: Option<Score>,
    pub count: i64,
}

/// Surveys counted by agent and score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsatAgentCount {
    pub agent_id: Option<AgentId>,
    pub score: Option<Score>,
    pub count: i64,
}

/// Length of a report slot, in milliseconds (15 minutes).
pub const SLOT_MS: i64 = 15 * 60 * 1000;
