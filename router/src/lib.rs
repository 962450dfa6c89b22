//! Switchboard's skills-based router: a pure, deterministic engine.
//!
//! The hub feeds it [`Input`]s with the current time and carries out the [`Decision`]s it
//! returns (persist them, tell the agent). No I/O, no clock, no randomness inside: the same
//! inputs at the same times give the same decisions, which is what makes restart (replay the
//! store into a fresh engine) and simulation tests possible.
//!
//! - [`rules`]: supervisor rules as data, validated, and the classifier that picks a queue,
//!   required skills, priority and escalation chain for a conversation.
//! - [`history`]: draft rules tried on recent tickets (queue moves, expected waits).
//! - [`sla`]: business calendars and SLA clocks (deadlines in business time, DST, holidays).
//! - [`Engine`]: agents (skills, presence, capacity per channel), queues ordered by priority
//!   with aging, offers with timeouts, escalation.

mod engine;
pub mod history;
mod model;
pub mod rules;
pub mod sla;

pub use engine::{Engine, EngineError};
pub use model::*;
