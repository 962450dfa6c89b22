//! The engine's vocabulary: what goes in, what comes out.

use std::collections::BTreeMap;

use schema::{AgentId, Channel, Presence, Priority, QueueName, SkillLevel, SkillName, TicketId};
pub use schema::{Capacity, EscalationStep, SkillRequirement};
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, given by the caller: the engine has no clock.
pub type Millis = i64;

/// An agent as the router sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProfile {
    pub id: AgentId,
    pub skills: BTreeMap<SkillName, SkillLevel>,
    pub capacity: Capacity,
}

/// A ticket that needs an agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRequest {
    pub id: TicketId,
    pub queue: QueueName,
    pub channel: Channel,
    pub priority: Priority,
    pub skills: Vec<SkillRequirement>,
    /// When it was first queued: the clock for aging and escalation. A reopened or transferred
    /// ticket is queued anew with a new time.
    pub queued_at: Millis,
    /// Steps still to take, ordered by `after_secs`.
    pub escalation: Vec<EscalationStep>,
}

/// Why an offer ended without an assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferEnd {
    Rejected,
    TimedOut,
    /// The agent went away, offline or busy, or was removed.
    AgentLeft,
    /// The ticket was removed (resolved, closed, transferred) while offered.
    TicketRemoved,
}

/// Something that happened, fed to [`crate::Engine::handle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A new agent, or new skills or capacity for a known one (presence is kept).
    AgentUpdated(AgentProfile),
    AgentRemoved(AgentId),
    PresenceChanged {
        agent: AgentId,
        presence: Presence,
    },
    /// A ticket waits for an agent (new, reopened, or transferred to a queue).
    TicketQueued(TicketRequest),
    /// A ticket given straight to an agent (a transfer to a person, or assignments restored on
    /// restart): it counts against the agent's capacity, whatever the agent's state.
    TicketAssigned {
        ticket: TicketId,
        agent: AgentId,
        channel: Channel,
    },
    /// Resolved, closed or moved away: forget it and free the agent's capacity.
    TicketRemoved(TicketId),
    OfferAccepted {
        ticket: TicketId,
        agent: AgentId,
    },
    OfferRejected {
        ticket: TicketId,
        agent: AgentId,
    },
    /// Time passed: expire offers, take escalation steps, offer what can be offered.
    Tick,
}

/// What the hub must carry out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Decision {
    /// Offer the ticket to the agent until `expires_at`.
    Offer { ticket: TicketId, agent: AgentId, expires_at: Millis },
    /// The agent accepted: the ticket is theirs.
    Assign { ticket: TicketId, agent: AgentId },
    /// An offer ended; the ticket is back in its queue.
    OfferEnded { ticket: TicketId, agent: AgentId, reason: OfferEnd },
    /// The agent missed too many offers in a row: set them away.
    SetAway { agent: AgentId },
    /// An escalation step was taken.
    Escalate { ticket: TicketId, step: EscalationStep, queue: QueueName, skills: Vec<SkillRequirement> },
}

/// Figures for one queue, for supervisors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    pub queue: QueueName,
    /// Tickets queued or offered.
    pub waiting: usize,
    pub offered: usize,
    /// How long the oldest waiting ticket has waited, in ms (0 if none).
    pub longest_wait_ms: Millis,
    /// Available agents with free capacity who qualify for at least one waiting ticket of the
    /// queue, or, if none wait, available agents with any free capacity.
    pub available_agents: usize,
    /// Waiting tickets past `sla_warning` of their queue's first-response target (breached
    /// ones included).
    pub sla_at_risk: usize,
    /// Waiting tickets past their queue's first-response target.
    pub sla_breached: usize,
}

/// One agent as the engine sees them now, for supervisors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStats {
    pub id: AgentId,
    pub presence: Presence,
    pub skills: BTreeMap<SkillName, SkillLevel>,
    /// Offered and assigned tickets per channel (channels with none left out).
    pub load: BTreeMap<Channel, u8>,
    /// Most tickets at once per channel, as the engine applies it (voice 0 without a softphone).
    pub capacity: BTreeMap<Channel, u8>,
    /// Offered then assigned tickets, each by id.
    pub tickets: Vec<AgentTicket>,
}

/// A ticket an agent holds or is offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentTicket {
    pub ticket: TicketId,
    pub channel: Channel,
    /// Offered and not yet accepted (else assigned).
    pub offered: bool,
}

/// Engine settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// How long an agent has to accept an offer.
    pub offer_timeout_ms: Millis,
    /// Offers rejected or missed in a row before the agent is set away.
    pub max_missed_offers: u8,
    /// Waiting time worth one priority level (aging): after this long a priority-2 ticket
    /// ranks with a fresh priority-3 one.
    pub aging_ms_per_level: Millis,
    /// Queue → first-response target in ms, for `sla_at_risk`.
    pub sla_ms: BTreeMap<QueueName, Millis>,
    /// A waiting ticket counts as at risk past this share (in percent) of its target.
    pub sla_warning_percent: u8,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            offer_timeout_ms: 20_000,
            max_missed_offers: 3,
            aging_ms_per_level: 120_000,
            sla_ms: BTreeMap::new(),
            sla_warning_percent: 80,
        }
    }
}
