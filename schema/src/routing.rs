//! Routing and tickets: what the store keeps of them, and the values the router works with.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{AgentId, ConversationId, TicketId};
use crate::values::{
    Channel, CustomerTier, Language, Presence, Priority, QueueName, SkillLevel, SkillName, TicketStatus,
};

/// A skill a ticket needs, at a level or above.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkillRequirement {
    pub skill: SkillName,
    pub level: SkillLevel,
}

/// How much work of each channel an agent can hold at once.
///
/// Work on an `exclusive` channel (voice, by default) blocks every other channel while it lasts,
/// and exclusive work is only offered to an agent who holds no work at all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Capacity {
    /// Channel → most tickets at once. A channel not listed: none.
    pub limits: BTreeMap<Channel, u8>,
    pub exclusive: BTreeSet<Channel>,
}

impl Default for Capacity {
    /// 3 chats (web chat and social), 2 e-mails, 1 call alone.
    fn default() -> Self {
        let limits = [
            (Channel::WebChat, 3),
            (Channel::Messenger, 3),
            (Channel::WhatsApp, 3),
            (Channel::Telegram, 3),
            (Channel::Email, 2),
            (Channel::Voice, 1),
        ]
        .into_iter()
        .collect();
        Self { limits, exclusive: [Channel::Voice].into_iter().collect() }
    }
}

/// One step of an escalation chain, taken when a ticket has waited `after_secs` since it was
/// first queued without being assigned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EscalationStep {
    /// Lower every required level by `by` (never below 1), so more agents qualify.
    WidenSkills { after_secs: u32, by: u8 },
    /// Move the ticket to another queue (it keeps its place by waiting time and priority).
    Overflow { after_secs: u32, queue: QueueName },
}

impl EscalationStep {
    /// Seconds after first queueing when the step is taken.
    #[must_use]
    pub fn after_secs(&self) -> u32 {
        match self {
            Self::WidenSkills { after_secs, .. } | Self::Overflow { after_secs, .. } => *after_secs,
        }
    }
}

/// An agent's routing profile: skills with levels, capacity per channel, presence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRouting {
    pub agent_id: AgentId,
    pub skills: BTreeMap<SkillName, SkillLevel>,
    pub capacity: Capacity,
    pub presence: Presence,
}

/// A conversation's request for a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ticket {
    pub id: TicketId,
    pub conversation_id: ConversationId,
    pub channel: Channel,
    pub status: TicketStatus,
    pub priority: Priority,
    pub queue: QueueName,
    pub skills: Vec<SkillRequirement>,
    /// Escalation steps not yet taken.
    pub escalation: Vec<EscalationStep>,
    pub tags: BTreeSet<String>,
    /// The routing rule that classified it (`None`: the fallback, or set by hand).
    pub rule: Option<String>,
    /// For the agent: why and with what the conversation was handed over (set by the bot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    pub assignee_id: Option<AgentId>,
    pub offered_to: Option<AgentId>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub offer_expires_at: Option<OffsetDateTime>,
    /// When it last entered a queue: the clock for aging and escalation.
    #[serde(with = "time::serde::rfc3339")]
    pub queued_at: OffsetDateTime,
    /// First-response target, from the queue's SLA.
    #[serde(with = "time::serde::rfc3339::option")]
    pub first_response_due: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Who did something to a ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    Agent(AgentId),
    /// The router or the hub itself.
    System,
    Customer,
}

/// One line of a ticket's history.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct TicketEvent {
    pub ticket_id: TicketId,
    pub actor: Actor,
    /// `created`, `offered`, `offer_rejected`, `offer_timed_out`, `assigned`, `escalated`,
    /// `transferred`, `resolved`, `reopened`, `note_added`, `tags_changed`, `requeued`…
    pub kind: String,
    /// Details, as JSON.
    pub detail: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// An internal note on a ticket: staff only, never sent to the customer.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct TicketNote {
    pub ticket_id: TicketId,
    pub author_id: AgentId,
    pub text: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A saved version of the routing rules.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RulesVersion {
    pub version: i64,
    /// The rules as JSON (their shape belongs to the router).
    pub rules: serde_json::Value,
    pub created_by: AgentId,
    /// The name of who saved it (`None` if the staff member is gone).
    #[serde(default)]
    pub created_by_name: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The version this one restored, if it was a restore.
    #[serde(default)]
    pub restored_from: Option<i64>,
}

/// A saved version of the routing rules without the rules themselves: for listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RulesVersionSummary {
    pub version: i64,
    pub created_by: AgentId,
    /// The name of who saved it (`None` if the staff member is gone).
    pub created_by_name: Option<String>,
    pub created_at: OffsetDateTime,
    /// The version this one restored, if it was a restore.
    pub restored_from: Option<i64>,
    /// How many rules it holds (besides the fallback).
    pub rule_count: i64,
}

/// What the routing rules looked at when a ticket was opened, as far as the store can tell
/// afterwards, with when it was first assigned: one row of a dry run over recent history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketHistorySample {
    pub ticket_id: TicketId,
    /// The queue it was opened in.
    pub queue: QueueName,
    pub channel: Channel,
    /// The conversation's language.
    pub language: Language,
    pub tier: CustomerTier,
    pub tags: BTreeSet<String>,
    /// The customer's last message before the ticket was opened (empty if none).
    pub text: String,
    pub created_at: OffsetDateTime,
    /// When an agent first took it, if one did.
    pub first_assigned_at: Option<OffsetDateTime>,
}
