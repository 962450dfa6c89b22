//! The routing REST API: hand-over, tickets, agents' routing profiles and presence, supervisor
//! rules (versioned, with a dry run), queue figures.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::{HttpResponse, web};
use router::Input;
use router::rules::{RoutingRules, Sample};
use schema::{
    Actor, AgentId, AgentRouting, AuthorKind, Capacity, Channel, ConversationId, CustomerTier, Language, Presence,
    Priority, QueueName, Role, SkillLevel, SkillName, TicketId, TicketNote, TicketStatus, ValidationError,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::AppState;
use crate::auth::Staff;
use crate::error::ApiError;
use crate::routing::Transfer;

const MAX_TAGS: usize = 20;
const MAX_TAG_CHARS: usize = 50;
const MAX_NOTE_CHARS: usize = 10_000;

fn tags(raw: Vec<String>) -> Result<BTreeSet<String>, ApiError> {
    if raw.len() > MAX_TAGS {
        return Err(ApiError::Validation(ValidationError::Invalid {
            field: "tags",
            reason: format!("at most {MAX_TAGS} tags"),
        }));
    }
    raw.into_iter()
        .map(|t| {
            let t = t.trim().to_lowercase();
            if t.is_empty() || t.chars().count() > MAX_TAG_CHARS || t.chars().any(char::is_control) {
                Err(ApiError::Validation(ValidationError::Invalid {
                    field: "tags",
                    reason: format!("a tag is 1 to {MAX_TAG_CHARS} printable characters"),
                }))
            } else {
                Ok(t)
            }
        })
        .collect()
}

// ---- hand-over --------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandOver {
    #[serde(default)]
    tags: Vec<String>,
}

/// `POST /api/v1/conversations/{id}/handover` (agent; the bot later): the conversation needs a
/// person. The rules pick queue, skills and priority; the router offers it.
pub async fn hand_over(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
    body: Option<web::Json<HandOver>>,
) -> Result<HttpResponse, ApiError> {
    let agent = staff.require(Role::Agent)?;
    let body = body.map(web::Json::into_inner).unwrap_or_default();
    let tags = tags(body.tags)?;
    let conversation = state.store.conversation(*id).await?;
    let customer = state.store.customer(conversation.customer_id).await?;
    let last_customer_text = last_customer_text(&state, conversation.id, conversation.last_seq).await?;
    let sample = Sample {
        channel: conversation.channel,
        language: conversation.language,
        tier: customer.tier,
        tags: tags.iter().cloned().collect(),
        text: last_customer_text,
        at: OffsetDateTime::now_utc().unix_timestamp() * 1000,
    };
    let classification = state.routing.classify(&sample);
    let ticket =
        state.routing.hand_over(&state, &conversation, classification, tags, None, Actor::Agent(agent.id)).await?;
    Ok(HttpResponse::Created().json(ticket))
}

async fn last_customer_text(state: &AppState, id: ConversationId, last_seq: i64) -> Result<String, ApiError> {
    let recent = state.store.messages_after(id, (last_seq - 20).max(0), 20).await?;
    Ok(recent
        .iter()
        .rev()
        .find(|m| m.author == AuthorKind::Customer)
        .map(|m| m.text.as_str().to_owned())
        .unwrap_or_default())
}

// ---- tickets ----------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketQuery {
    status: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/tickets?status=&limit=` (agent): newest first.
pub async fn list(
    state: web::Data<AppState>,
    staff: Staff,
    q: web::Query<TicketQuery>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Agent)?;
    let status = q.status.as_deref().map(str::parse::<TicketStatus>).transpose()?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::Validation(ValidationError::Invalid {
            field: "limit",
            reason: "must be between 1 and 200".into(),
        }));
    }
    Ok(HttpResponse::Ok().json(state.store.list_tickets(status, limit).await?))
}

#[derive(Serialize)]
struct TicketDetail {
    ticket: schema::Ticket,
    events: Vec<schema::TicketEvent>,
    notes: Vec<TicketNote>,
}

/// `GET /api/v1/tickets/{id}` (agent): the ticket, its full history and its internal notes.
pub async fn get(state: web::Data<AppState>, staff: Staff, id: web::Path<TicketId>) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Agent)?;
    let ticket = state.store.ticket(*id).await?;
    let events = state.store.ticket_events(ticket.id).await?;
    let notes = state.store.ticket_notes(ticket.id).await?;
    Ok(HttpResponse::Ok().json(TicketDetail { ticket, events, notes }))
}

/// `POST /api/v1/tickets/{id}/accept` (agent): take the ticket offered to the caller.
pub async fn accept(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<TicketId>,
) -> Result<HttpResponse, ApiError> {
    let agent = staff.require(Role::Agent)?;
    state.routing.apply(&state, Input::OfferAccepted { ticket: *id, agent: agent.id }).await?;
    Ok(HttpResponse::Ok().json(state.store.ticket(*id).await?))
}

/// `POST /api/v1/tickets/{id}/reject` (agent): decline the ticket offered to the caller.
pub async fn reject(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<TicketId>,
) -> Result<HttpResponse, ApiError> {
    let agent = staff.require(Role::Agent)?;
    state.routing.apply(&state, Input::OfferRejected { ticket: *id, agent: agent.id }).await?;
    Ok(HttpResponse::Ok().json(state.store.ticket(*id).await?))
}

/// The assignee, or a supervisor, may work on an assigned ticket.
fn may_work_on(agent: &schema::Agent, ticket: &schema::Ticket) -> Result<(), ApiError> {
    if ticket.assignee_id == Some(agent.id) || agent.has_role(Role::Supervisor) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only the assignee or a supervisor can do this".into()))
    }
}

fn open(ticket: &schema::Ticket) -> Result<(), ApiError> {
    if matches!(ticket.status, TicketStatus::Resolved | TicketStatus::Closed) {
        Err(ApiError::Conflict(format!("the ticket is {}", ticket.status)))
    } else {
        Ok(())
    }
}

/// `POST /api/v1/tickets/{id}/resolve` (assignee or supervisor).
pub async fn resolve(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<TicketId>,
) -> Result<HttpResponse, ApiError> {
    let agent = staff.require(Role::Agent)?;
    let ticket = state.store.ticket(*id).await?;
    may_work_on(agent, &ticket)?;
    open(&ticket)?;
    let ticket =
        state.routing.finish(&state, ticket, TicketStatus::Resolved, Actor::Agent(agent.id), "resolved").await?;
    Ok(HttpResponse::Ok().json(ticket))
}

/// `POST /api/v1/tickets/{id}/pending` (assignee or supervisor): wait for the customer. Their
/// next message puts the ticket back to the assignee.
pub async fn pending(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<TicketId>,
) -> Result<HttpResponse, ApiError> {
    let agent = staff.require(Role::Agent)?;
    let ticket = state.store.ticket(*id).await?;
    may_work_on(agent, &ticket)?;
    let ticket = state.routing.set_pending(&state, ticket.id, Actor::Agent(agent.id)).await?;
    Ok(HttpResponse::Ok().json(ticket))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    agent_id: Option<AgentId>,
    queue: Option<String>,
}

/// `POST /api/v1/tickets/{id}/transfer` (assignee or supervisor): `{"agent_id"}` or `{"queue"}`.
pub async fn transfer(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<TicketId>,
    body: web::Json<TransferBody>,
) -> Result<HttpResponse, ApiError> {
    let agent = staff.require(Role::Agent)?;
    let ticket = state.store.ticket(*id).await?;
    may_work_on(agent, &ticket)?;
    open(&ticket)?;
    let to = match (body.agent_id, body.queue.as_deref()) {
        (Some(target), None) => {
            let target = state.store.agent(target).await?;
            if !target.active || !target.has_role(Role::Agent) {
                return Err(ApiError::Validation(ValidationError::Invalid {
                    field: "agent_id",
                    reason: "not an active agent".into(),
                }));
            }
            Transfer::Agent(target.id)
        }
        (None, Some(queue)) => {
            let queue: QueueName = queue.parse()?;
            if !state.routing.rules().queues.iter().any(|q| q.name == queue) {
                return Err(ApiError::Validation(ValidationError::Invalid {
                    field: "queue",
                    reason: format!("no queue {queue}"),
                }));
            }
            Transfer::Queue(queue)
        }
        _ => {
            return Err(ApiError::Validation(ValidationError::Invalid {
                field: "agent_id",
                reason: "give exactly one of agent_id and queue".into(),
            }));
        }
    };
    let ticket = state.routing.transfer(&state, ticket, to, Actor::Agent(agent.id)).await?;
    Ok(HttpResponse::Ok().json(ticket))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    text: String,
}

/// `POST /api/v1/tickets/{id}/notes` (agent): an internal note, never shown to the customer.
pub async fn add_note(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<TicketId>,
    body: web::Json<NoteBody>,
) -> Result<HttpResponse, ApiError> {
    let agent = staff.require(Role::Agent)?;
    let text = schema::MessageText::parse(&body.text, MAX_NOTE_CHARS)?;
    let note = TicketNote {
        ticket_id: *id,
        author_id: agent.id,
        text: text.as_str().to_owned(),
        created_at: OffsetDateTime::now_utc(),
    };
    state.store.add_ticket_note(&note).await?;
    Ok(HttpResponse::Created().json(note))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsBody {
    tags: Vec<String>,
}

/// `PUT /api/v1/tickets/{id}/tags` (agent): replaces the ticket's tags.
pub async fn set_tags(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<TicketId>,
    body: web::Json<TagsBody>,
) -> Result<HttpResponse, ApiError> {
    let agent = staff.require(Role::Agent)?;
    let new_tags = tags(body.into_inner().tags)?;
    let line = schema::TicketEvent {
        ticket_id: *id,
        actor: Actor::Agent(agent.id),
        kind: "tags_changed".into(),
        detail: serde_json::json!({ "to": new_tags }),
        at: OffsetDateTime::now_utc(),
    };
    let ticket = state.store.set_ticket_tags(*id, &new_tags, &line).await?;
    state.bus.publish(crate::bus::Event::TicketUpdated { ticket: ticket.clone() });
    Ok(HttpResponse::Ok().json(ticket))
}

// ---- agents' routing profiles and presence ----------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    /// Skill → level, 1 to 10.
    skills: BTreeMap<String, i64>,
    /// Channel → most tickets at once (0 to 20). Omitted: the default capacity.
    capacity: Option<BTreeMap<String, i64>>,
    /// Channels whose work blocks every other (default: voice).
    exclusive: Option<Vec<String>>,
}

#[derive(Serialize)]
struct ProfileView {
    agent_id: AgentId,
    skills: BTreeMap<SkillName, SkillLevel>,
    capacity: Capacity,
    presence: Presence,
}

/// `GET /api/v1/agents/{id}/routing` (supervisor, or the agent themselves).
pub async fn get_profile(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<AgentId>,
) -> Result<HttpResponse, ApiError> {
    let caller = staff.require(Role::Agent)?;
    if caller.id != *id {
        staff.require(Role::Supervisor)?;
    }
    state.store.agent(*id).await?;
    let stored = state.store.agent_routing(*id).await?;
    let (skills, capacity) = stored.map_or_else(|| (BTreeMap::new(), Capacity::default()), |r| (r.skills, r.capacity));
    let presence = state.routing.presence(*id).await;
    Ok(HttpResponse::Ok().json(ProfileView { agent_id: *id, skills, capacity, presence }))
}

/// `PUT /api/v1/agents/{id}/routing` (supervisor): skills with levels, capacity per channel.
pub async fn set_profile(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<AgentId>,
    body: web::Json<ProfileBody>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Supervisor)?;
    state.store.agent(*id).await?;
    let body = body.into_inner();
    let catalog = state.routing.rules().skills.clone();
    let mut skills = BTreeMap::new();
    for (name, level) in body.skills {
        let skill: SkillName = name.parse()?;
        if !catalog.contains(&skill) {
            return Err(ApiError::Validation(ValidationError::Invalid {
                field: "skills",
                reason: format!("unknown skill {skill}: add it to the routing rules' skills first"),
            }));
        }
        skills.insert(skill, SkillLevel::try_from(level)?);
    }
    let mut capacity = Capacity::default();
    if let Some(limits) = body.capacity {
        capacity.limits.clear();
        for (channel, n) in limits {
            let channel: Channel = channel.parse()?;
            let n = u8::try_from(n).ok().filter(|n| *n <= 20).ok_or_else(|| {
                ApiError::Validation(ValidationError::Invalid {
                    field: "capacity",
                    reason: format!("capacity for {channel} must be between 0 and 20, not {n}"),
                })
            })?;
            capacity.limits.insert(channel, n);
        }
    }
    if let Some(exclusive) = body.exclusive {
        capacity.exclusive = exclusive.iter().map(|c| c.parse::<Channel>()).collect::<Result<_, _>>()?;
    }
    let routing = AgentRouting { agent_id: *id, skills, capacity, presence: Presence::Offline };
    state.routing.set_profile(&state, routing.clone()).await?;
    let presence = state.routing.presence(*id).await;
    Ok(HttpResponse::Ok().json(ProfileView {
        agent_id: *id,
        skills: routing.skills,
        capacity: routing.capacity,
        presence,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceBody {
    presence: String,
}

/// `PUT /api/v1/me/presence` (agent): available, busy, away or offline.
pub async fn set_presence(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<PresenceBody>,
) -> Result<HttpResponse, ApiError> {
    let agent = staff.require(Role::Agent)?;
    let presence: Presence = body.presence.parse()?;
    state.routing.set_presence(&state, agent.id, presence).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "agent_id": agent.id, "presence": presence })))
}

// ---- rules ------------------------------------------------------------------------------------

#[derive(Serialize)]
struct RulesView {
    /// 0 until a supervisor saves rules (the built-in defaults are in force).
    version: i64,
    rules: RoutingRules,
}

/// `GET /api/v1/routing/rules` (supervisor): the rules in force and their version.
pub async fn get_rules(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Supervisor)?;
    let version = state.store.current_rules().await?.map_or(0, |v| v.version);
    Ok(HttpResponse::Ok().json(RulesView { version, rules: (*state.routing.rules()).clone() }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveRules {
    rules: serde_json::Value,
    /// The version the editor started from: the save is refused (409) if another was saved since.
    expected_version: Option<i64>,
}

/// The rules as sent, parsed and validated; problems are 422 naming the field.
fn parse_rules(value: serde_json::Value) -> Result<RoutingRules, ApiError> {
    let rules: RoutingRules = serde_json::from_value(value)
        .map_err(|e| ApiError::InvalidRules { field: "rules".into(), message: e.to_string() })?;
    if let Err(errors) = rules.validate() {
        let first = errors.first().map(|e| (e.field.clone(), e.message.clone())).unwrap_or_default();
        let all: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
        return Err(ApiError::InvalidRules { field: first.0, message: all.join("; ") });
    }
    Ok(rules)
}

/// `PUT /api/v1/routing/rules` (supervisor): validates, saves as a new version, puts in force.
pub async fn save_rules(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<SaveRules>,
) -> Result<HttpResponse, ApiError> {
    let supervisor = staff.require(Role::Supervisor)?;
    let SaveRules { rules, expected_version } = body.into_inner();
    let parsed = parse_rules(rules)?;
    let canonical = serde_json::to_value(&parsed).map_err(|e| ApiError::Internal(e.to_string()))?;
    let saved = state.store.save_rules(&canonical, supervisor.id, expected_version).await?;
    state.routing.set_rules(&state, parsed.clone()).await;
    tracing::info!(version = saved.version, by = %supervisor.id, "routing rules saved");
    Ok(HttpResponse::Ok().json(RulesView { version: saved.version, rules: parsed }))
}

/// `GET /api/v1/routing/rules/versions` (supervisor): every saved version, newest first, with
/// who saved it.
pub async fn rules_versions(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Supervisor)?;
    Ok(HttpResponse::Ok().json(state.store.rules_versions(200).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRun {
    channel: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    tier: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    text: String,
    /// RFC 3339; default now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    at: Option<OffsetDateTime>,
    /// Rules to try instead of those in force (validated the same way).
    #[serde(default)]
    rules: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct DryRunResult {
    rule: Option<String>,
    queue: QueueName,
    skills: Vec<schema::SkillRequirement>,
    priority: Priority,
    escalation: Vec<schema::EscalationStep>,
}

/// `POST /api/v1/routing/dry-run` (supervisor): which rule and queue a sample conversation would
/// hit, with the rules in force or with draft rules.
pub async fn dry_run(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<DryRun>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Supervisor)?;
    let body = body.into_inner();
    let sample = Sample {
        channel: body.channel.parse()?,
        language: body.language.as_deref().map(str::parse::<Language>).transpose()?.unwrap_or_default(),
        tier: body.tier.as_deref().map(str::parse::<CustomerTier>).transpose()?.unwrap_or_default(),
        tags: tags(body.tags)?.into_iter().collect(),
        text: body.text,
        at: body.at.unwrap_or_else(OffsetDateTime::now_utc).unix_timestamp() * 1000,
    };
    let classification = match body.rules {
        Some(draft) => parse_rules(draft)?.classify(&sample),
        None => state.routing.classify(&sample),
    };
    let t = classification.target;
    Ok(HttpResponse::Ok().json(DryRunResult {
        rule: classification.rule,
        queue: t.queue,
        skills: t.skills,
        priority: t.priority,
        escalation: t.escalation,
    }))
}

/// `GET /api/v1/queues` (supervisor): per queue, waiting, offered, longest wait, available
/// agents, SLA at risk.
pub async fn queues(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Supervisor)?;
    Ok(HttpResponse::Ok().json(state.routing.queue_stats().await))
}
