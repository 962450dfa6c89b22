//! Identifier newtypes. Every id is a UUIDv7 (time-ordered, so indexes stay append-mostly),
//! stored as text so the same SQL serves SQLite and PostgreSQL.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ValidationError;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
                crate::openapi::uuid()
            }
        }
        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl $name {
            /// A fresh, time-ordered id.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The underlying UUID.
            #[must_use]
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| ValidationError::Invalid { field: stringify!($name), reason: "not a UUID".into() })
            }
        }
    };
}

id_type!(
    /// A customer (one person, whatever channels they use).
    CustomerId
);
id_type!(
    /// A conversation on one channel.
    ConversationId
);
id_type!(
    /// One message in a conversation.
    MessageId
);
id_type!(
    /// A staff member: agent, supervisor, admin, ...
    AgentId
);
id_type!(
    /// A ticket: a conversation's request for a person, routed to an agent.
    TicketId
);
id_type!(
    /// A platform account the operator receives messages on (page, phone number, bot).
    SocialAccountId
);
id_type!(
    /// A knowledge-base document (article or Q&A pair).
    DocumentId
);
id_type!(
    /// A question the bot could not answer, waiting for a trainer.
    UnansweredId
);
id_type!(
    /// A file attached to an inbound e-mail.
    AttachmentId
);
id_type!(
    /// A canned response: a reply snippet agents insert with its shortcut.
    CannedResponseId
);
id_type!(
    /// A network incident (an outage or degradation) in the incident feed.
    IncidentId
);
id_type!(
    /// A line test run from a conversation, kept on its timeline.
    DiagnosticId
);
id_type!(
    /// A care workflow's submission (also the billing system's `external_id` for it).
    CareRequestId
);
id_type!(
    /// A customer satisfaction survey (one per resolved ticket).
    SurveyId
);
