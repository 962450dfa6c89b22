//! The API's wire types for records the store keeps: what a client sees is decided here, not by
//! the store's structs, so a column can change without changing the API. (Conversations,
//! messages and tickets are the event bus's payloads too, and go on the wire as `schema`
//! serialises them: one shape for REST and sockets alike.)

use router::QueueStats;
use schema::knowledge::{BotAnswer, Document, DocumentContent, DocumentVersion};
use schema::{
    Actor, Agent, AgentId, ConversationId, DisplayName, DocumentId, DocumentKind, DocumentStatus, EmailAddress,
    Language, MessageId, QueueName, Role, RulesVersion, RulesVersionSummary, TicketEvent, TicketId, TicketNote,
    UnprocessedEmail, Verdict, VoiceCall,
};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// The error body of every failed request; `code` is one of the table in the API docs.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: `not_found`, `invalid_field`, …
    pub code: String,
    /// For people; never contains secrets or internals.
    pub message: String,
    /// The offending field, for `invalid_field`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A staff member.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    pub id: AgentId,
    pub email: EmailAddress,
    pub name: DisplayName,
    pub roles: Vec<Role>,
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&Agent> for AgentView {
    fn from(a: &Agent) -> Self {
        Self {
            id: a.id,
            email: a.email.clone(),
            name: a.name.clone(),
            roles: a.roles.clone(),
            active: a.active,
            created_at: a.created_at,
        }
    }
}

/// Who did something to a ticket: `{"kind":"agent","id":…}`, `{"kind":"system"}` or
/// `{"kind":"customer"}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum ActorView {
    Agent(AgentId),
    System,
    Customer,
}

impl From<Actor> for ActorView {
    fn from(a: Actor) -> Self {
        match a {
            Actor::Agent(id) => Self::Agent(id),
            Actor::System => Self::System,
            Actor::Customer => Self::Customer,
        }
    }
}

/// One line of a ticket's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketEventView {
    pub ticket_id: TicketId,
    pub actor: ActorView,
    /// `created`, `offered`, `assigned`, `escalated`, `transferred`, `resolved`, …
    pub kind: String,
    /// What changed, by kind.
    pub detail: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl From<TicketEvent> for TicketEventView {
    fn from(e: TicketEvent) -> Self {
        Self { ticket_id: e.ticket_id, actor: e.actor.into(), kind: e.kind, detail: e.detail, at: e.at }
    }
}

/// An internal note on a ticket, never shown to the customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketNoteView {
    pub ticket_id: TicketId,
    pub author_id: AgentId,
    pub text: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<TicketNote> for TicketNoteView {
    fn from(n: TicketNote) -> Self {
        Self { ticket_id: n.ticket_id, author_id: n.author_id, text: n.text, created_at: n.created_at }
    }
}

/// A saved version of the routing rules.
#[derive(Debug, Serialize, ToSchema)]
pub struct RulesVersionView {
    pub version: i64,
    /// The rules as saved.
    pub rules: serde_json::Value,
    pub created_by: AgentId,
    /// Who saved it, by name (`null` if the staff member is gone).
    pub created_by_name: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The version this one put back in force, when it was a restore.
    pub restored_from: Option<i64>,
}

impl From<RulesVersion> for RulesVersionView {
    fn from(v: RulesVersion) -> Self {
        Self {
            version: v.version,
            rules: v.rules,
            created_by: v.created_by,
            created_by_name: v.created_by_name,
            created_at: v.created_at,
            restored_from: v.restored_from,
        }
    }
}

/// A saved version of the routing rules, without the rules: one row of the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct RulesVersionSummaryView {
    pub version: i64,
    pub created_by: AgentId,
    /// Who saved it, by name (`null` if the staff member is gone).
    pub created_by_name: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The version this one put back in force, when it was a restore.
    pub restored_from: Option<i64>,
    /// How many rules it holds (the fallback aside).
    pub rule_count: i64,
}

impl From<RulesVersionSummary> for RulesVersionSummaryView {
    fn from(v: RulesVersionSummary) -> Self {
        Self {
            version: v.version,
            created_by: v.created_by,
            created_by_name: v.created_by_name,
            created_at: v.created_at,
            restored_from: v.restored_from,
            rule_count: v.rule_count,
        }
    }
}

/// One queue's figures now.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueStatsView {
    pub queue: QueueName,
    /// Tickets queued or offered.
    pub waiting: usize,
    /// Of those, offered to an agent and not yet accepted.
    pub offered: usize,
    /// How long the oldest waiting ticket has waited, in ms (0 if none).
    pub longest_wait_ms: i64,
    /// Available agents with free capacity who qualify for at least one waiting ticket of the
    /// queue, or, if none wait, available agents with any free capacity.
    pub available_agents: usize,
    /// Waiting tickets past 80% of their queue's first-response target (breached ones included).
    pub sla_at_risk: usize,
    /// Waiting tickets past their queue's first-response target.
    pub sla_breached: usize,
}

impl From<QueueStats> for QueueStatsView {
    fn from(q: QueueStats) -> Self {
        Self {
            queue: q.queue,
            waiting: q.waiting,
            offered: q.offered,
            longest_wait_ms: q.longest_wait_ms,
            available_agents: q.available_agents,
            sla_at_risk: q.sla_at_risk,
            sla_breached: q.sla_breached,
        }
    }
}

/// A phone call and how it went.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoiceCallView {
    /// The SIP Call-ID.
    pub id: String,
    pub conversation_id: ConversationId,
    pub ticket_id: Option<TicketId>,
    /// The caller's number (or SIP URI).
    pub caller: String,
    /// The support number called.
    pub dialled: String,
    /// `queued`, `connected`, `ended`, `abandoned`, `callback`.
    pub status: String,
    pub answered_by: Option<AgentId>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub answered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// `caller`, `agent`, `hub` or `timeout`.
    pub ended_by: Option<String>,
    /// Talk time.
    pub duration_ms: Option<i64>,
    /// The wrap-up code.
    pub disposition: Option<String>,
}

impl From<VoiceCall> for VoiceCallView {
    fn from(c: VoiceCall) -> Self {
        Self {
            id: c.id,
            conversation_id: c.conversation_id,
            ticket_id: c.ticket_id,
            caller: c.caller,
            dialled: c.dialled,
            status: c.status,
            answered_by: c.answered_by,
            started_at: c.started_at,
            answered_at: c.answered_at,
            ended_at: c.ended_at,
            ended_by: c.ended_by,
            duration_ms: c.duration_ms,
            disposition: c.disposition,
        }
    }
}

/// A knowledge-base document's content.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentContentView {
    pub kind: DocumentKind,
    pub language: Language,
    pub title: String,
    /// Markdown; for a Q&A pair, the answer.
    pub body: String,
    /// Phrasings of the question (Q&A pairs).
    pub questions: Vec<String>,
    pub tags: Vec<String>,
    pub status: DocumentStatus,
}

impl From<DocumentContent> for DocumentContentView {
    fn from(c: DocumentContent) -> Self {
        Self {
            kind: c.kind,
            language: c.language,
            title: c.title,
            body: c.body,
            questions: c.questions,
            tags: c.tags,
            status: c.status,
        }
    }
}

/// A knowledge-base document, current version.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    pub id: DocumentId,
    #[serde(flatten)]
    pub content: DocumentContentView,
    pub version: i64,
    /// Where it was imported from (`demo:…`, `import:…`), if it was.
    pub source: Option<String>,
    pub updated_by: Option<AgentId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Document> for DocumentView {
    fn from(d: Document) -> Self {
        Self {
            id: d.id,
            content: d.content.into(),
            version: d.version,
            source: d.source,
            updated_by: d.updated_by,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// One version of a document.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentVersionView {
    pub document_id: DocumentId,
    pub version: i64,
    #[serde(flatten)]
    pub content: DocumentContentView,
    pub edited_by: Option<AgentId>,
    #[serde(with = "time::serde::rfc3339")]
    pub edited_at: OffsetDateTime,
}

impl From<DocumentVersion> for DocumentVersionView {
    fn from(v: DocumentVersion) -> Self {
        Self {
            document_id: v.document_id,
            version: v.version,
            content: v.content.into(),
            edited_by: v.edited_by,
            edited_at: v.edited_at,
        }
    }
}

/// An answer the bot gave, for trainers to judge.
#[derive(Debug, Serialize, ToSchema)]
pub struct BotAnswerView {
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    pub question: String,
    pub language: Language,
    pub intent: Option<String>,
    /// The document the answer came from.
    pub document_id: DocumentId,
    pub confidence: f64,
    pub verdict: Option<Verdict>,
    pub judged_by: Option<AgentId>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub judged_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The customer's next message said it did not help.
    pub unhelpful: bool,
}

impl From<BotAnswer> for BotAnswerView {
    fn from(a: BotAnswer) -> Self {
        Self {
            message_id: a.message_id,
            conversation_id: a.conversation_id,
            question: a.question,
            language: a.language,
            intent: a.intent,
            document_id: a.document_id,
            confidence: a.confidence,
            verdict: a.verdict,
            judged_by: a.judged_by,
            judged_at: a.judged_at,
            created_at: a.created_at,
            unhelpful: a.unhelpful,
        }
    }
}

/// A received mail that did not become a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnprocessedEmailView {
    pub message_id: String,
    /// `unparseable`, `personal`, …
    pub kind: String,
    /// Why it did not become a message.
    pub parse_error: String,
    pub mail_from: Option<String>,
    pub rcpt_to: Vec<String>,
    pub subject: String,
    /// Bytes kept.
    pub size: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
}

impl From<UnprocessedEmail> for UnprocessedEmailView {
    fn from(m: UnprocessedEmail) -> Self {
        Self {
            message_id: m.message_id,
            kind: m.kind,
            parse_error: m.parse_error,
            mail_from: m.mail_from,
            rcpt_to: m.rcpt_to,
            subject: m.subject,
            size: m.size,
            received_at: m.received_at,
        }
    }
}

/// A list answered as `{"items": [...]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

impl<T> Items<T> {
    /// The records' views.
    pub fn of<R>(records: Vec<R>) -> Self
    where
        T: From<R>,
    {
        Self { items: all(records) }
    }
}

/// Maps a list of records to their views.
pub fn all<T, V: From<T>>(items: Vec<T>) -> Vec<V> {
    items.into_iter().map(V::from).collect()
}
