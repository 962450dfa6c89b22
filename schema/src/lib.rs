//! Switchboard's domain: ids, validated values, records, and the [`Store`] that keeps them in
//! SQLite or PostgreSQL. All SQL lives in this crate.

#[macro_use]
mod values;

pub mod audit;
pub mod canned;
pub mod care;
pub mod churn;
pub mod csat;
mod domain;
pub mod identity;
mod ids;
pub mod incidents;
pub mod knowledge;
pub mod linear;
#[cfg(feature = "openapi")]
mod openapi;
pub mod pci;
pub mod reports;
mod routing;
mod store;

pub use audit::{
    ActorKind, AuditAction, AuditAnchor, AuditEntry, BrokenLink, ChainBreak, ChainHash, ChainVerifier, NewAuditEntry,
    TargetKind,
};
pub use care::{CareFilter, CareKind, CareRequest, CareState, CareTransition, NewCareRequest};
pub use domain::{
    Agent, Appended, AuthMethod, ContactHandle, Conversation, Customer, MediaRef, Message, NewAgent, NewCustomer,
    NewMessage, StaffSession, Template,
};
pub use identity::{ConsentKind, HandleKind, Identity, PhoneNumber};
pub use ids::{
    AgentId, AttachmentId, CannedResponseId, CareRequestId, ConversationId, CustomerId, DiagnosticId, DocumentId,
    IncidentId, MessageId, SocialAccountId, SurveyId, TicketId, UnansweredId,
};
pub use routing::{
    Actor, AgentRouting, Capacity, EscalationStep, RulesVersion, RulesVersionSummary, SkillRequirement, Ticket,
    TicketEvent, TicketHistorySample, TicketNote,
};
pub use store::MAX_CARE_LIST;
pub use store::MAX_CSAT_COMMENTS;
pub use store::UnansweredTopic;
pub use store::{
    AccountChange, AuditFilter, AuditPosition, ConsoleSetting, MAX_CHALLENGE_FAILURES, MfaEnrolment, SipIdentity,
    VoiceCall,
};
pub use store::{
    Backend, BotAnswerFilter, CachedEmbedding, ConversationChange, CustomerConversation, EmailReplyContext,
    InboundEmail, InboundEmailKind, LastInbound, LinkedConversation, ListError, MessagePreview, NewAttachment,
    NewUpload, Outbound, OutboundEmail, Page, QueuedEmail, SocialAccount, SqliteSynchronous, Store, StoreError,
    StoreOptions, StoredAttachment, StoredInboundEmail, UnprocessedEmail, redact,
};
pub use store::{BssKind, BssRecord, BssTx, MAX_BSS_LIST};
pub use store::{
    Consent, CustomerDetails, CustomerHandle, CustomerSummary, MergeError, Merged, Outcome, ProfileChange,
};
pub use store::{CustomerMatch, EraseError, Erased, ExportKind, ExportRecord, Holdings, RetentionKind, TOMBSTONE};
pub use store::{Fence, LeaseSession};
pub use store::{SlaVersion, TicketSla};
pub use store::{SsoHandoff, SsoLogin, SsoProfile, SsoPurpose};
pub use values::{
    AuthorKind, Channel, ChannelMessageId, ConversationStatus, CustomerTier, DeliveryStatus, DisplayName, DocumentKind,
    DocumentStatus, EmailAddress, IntentName, Language, MessageText, Presence, Priority, QueueName, Role, SkillLevel,
    SkillName, TeamName, TicketStatus, ValidationError, Verdict,
};
