//! The customer-care workflows' records: a submission ([`CareRequest`]) of one of the four
//! workflows (new service, modify service, bill adjustment, discontinue service), its state
//! (a bill adjustment over the agent's limit waits for a supervisor), and what the billing system
//! answered. References to the billing system are kept as its own text (the `bss` crate
//! validates them; this crate does not know it).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ValidationError;
use crate::ids::{AgentId, CareRequestId, ConversationId, CustomerId};

name_enum!(
    /// Which workflow.
    CareKind, "kind" {
        NewService => "new_service",
        ModifyService => "modify_service",
        BillAdjustment => "bill_adjustment",
        DiscontinueService => "discontinue_service",
    }
);

name_enum!(
    /// Where a submission is.
    CareState, "state" {
        /// Over the agent's limit: waits for a supervisor.
        Pending => "pending",
        /// Cleared to go to the billing system (within the limit, or approved), not yet answered:
        /// a retry with the same idempotency key sends it again (the billing system deduplicates).
        Approved => "approved",
        /// A supervisor refused it, with a note.
        Rejected => "rejected",
        /// The billing system took it (`result_ref` is its order or adjustment id).
        Applied => "applied",
        /// The billing system refused it (`failure` says why).
        Failed => "failed",
    }
);

/// A submission to store. `id` is the hub's id, the billing system's `external_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCareRequest {
    pub id: CareRequestId,
    pub kind: CareKind,
    /// [`CareState::Pending`] or [`CareState::Approved`].
    pub state: CareState,
    pub agent_id: AgentId,
    pub idempotency_key: String,
    pub conversation_id: ConversationId,
    pub customer_id: CustomerId,
    pub bss_customer_id: String,
    pub account_id: Option<String>,
    pub product_id: Option<String>,
    pub offering_id: Option<String>,
    pub bill_id: Option<String>,
    pub item_id: Option<String>,
    /// Minor units of `currency`.
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub reason: Option<String>,
    pub note: String,
    /// The workflow's other inputs (dates, the retention offer and its result).
    pub detail: serde_json::Value,
    /// Discontinue: the customer's answer to the marketing-consent question.
    pub marketing_consent: Option<bool>,
}

/// A stored submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CareRequest {
    pub id: CareRequestId,
    pub kind: CareKind,
    pub state: CareState,
    pub agent_id: AgentId,
    pub idempotency_key: String,
    pub conversation_id: ConversationId,
    pub customer_id: CustomerId,
    pub bss_customer_id: String,
    pub account_id: Option<String>,
    pub product_id: Option<String>,
    pub offering_id: Option<String>,
    pub bill_id: Option<String>,
    pub item_id: Option<String>,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub reason: Option<String>,
    pub note: String,
    pub detail: serde_json::Value,
    pub marketing_consent: Option<bool>,
    /// The billing system's order or adjustment id, once applied.
    pub result_ref: Option<String>,
    /// Why the billing system refused it.
    pub failure: Option<String>,
    /// The supervisor who approved or rejected it.
    pub decided_by: Option<AgentId>,
    pub decision_note: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A state change of a submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CareTransition {
    /// The states it may leave (anything else: conflict, nothing changes).
    pub from: Vec<CareState>,
    pub to: CareState,
    pub result_ref: Option<String>,
    pub failure: Option<String>,
    /// A supervisor's decision: who, and their note.
    pub decided_by: Option<AgentId>,
    pub decision_note: Option<String>,
}

/// Which submissions to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CareFilter {
    pub kind: Option<CareKind>,
    pub state: Option<CareState>,
    pub agent: Option<AgentId>,
    pub reason: Option<String>,
    pub conversation: Option<ConversationId>,
    /// Created at or after.
    pub from: Option<OffsetDateTime>,
    /// Created before.
    pub to: Option<OffsetDateTime>,
    pub limit: u32,
}

/// An entry of a conversation's timeline for a submission (a ticket event of kind
/// `care.<kind>`), staff only.
#[must_use]
pub fn timeline_detail(request: &CareRequest, summary: &str) -> serde_json::Value {
    serde_json::json!({
        "request_id": request.id,
        "kind": request.kind,
        "state": request.state,
        "summary": summary,
        "result_ref": request.result_ref,
    })
}

impl fmt::Display for CareRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.kind, self.id, self.state)
    }
}

impl CareState {
    /// Whether nothing more will happen to it.
    #[must_use]
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Rejected | Self::Applied | Self::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in CareKind::ALL {
            assert_eq!(CareKind::from_str(k.as_str()).ok(), Some(*k));
        }
        for s in CareState::ALL {
            assert_eq!(CareState::from_str(s.as_str()).ok(), Some(*s));
        }
        assert!(CareState::from_str("done").is_err());
    }
}
