//! The staff REST API: conversations, messages, staff accounts.

use actix_web::{HttpResponse, web};
use schema::{
    AuthorKind, ChannelMessageId, ConversationId, ConversationStatus, DisplayName, EmailAddress, MessageText, NewAgent,
    NewMessage, Role,
};
use serde::Deserialize;

use crate::auth::{self, Staff};
use crate::error::ApiError;
use crate::{AppState, ingest};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

pub(crate) fn page_size(limit: Option<u32>, field: &'static str) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::Validation(schema::ValidationError::Invalid {
            field,
            reason: format!("must be between 1 and {MAX_PAGE}"),
        })),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// `GET /api/v1/conversations?status=&limit=&cursor=` (agent): most recently active first.
pub async fn list_conversations(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Agent)?;
    let status = query.status.as_deref().map(str::parse::<ConversationStatus>).transpose()?;
    let limit = page_size(query.limit, "limit")?;
    let page = state.store.list_conversations(status, limit, query.cursor.as_deref()).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `GET /api/v1/conversations/{id}` (agent).
pub async fn get_conversation(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Agent)?;
    Ok(HttpResponse::Ok().json(state.store.conversation(*id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesQuery {
    after_seq: Option<i64>,
    limit: Option<u32>,
}

/// `GET /api/v1/conversations/{id}/messages?after_seq=&limit=` (agent): oldest first.
pub async fn list_messages(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
    query: web::Query<MessagesQuery>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Agent)?;
    // 404 for an unknown conversation rather than an empty page.
    let conversation = state.store.conversation(*id).await?;
    let limit = page_size(query.limit, "limit")?;
    let after = query.after_seq.unwrap_or(0).max(0);
    let items = state.store.messages_after(conversation.id, after, limit).await?;
    let next_cursor = (items.len() == limit as usize).then(|| items.last().map(|m| m.seq.to_string())).flatten();
    Ok(HttpResponse::Ok().json(schema::Page { items, next_cursor }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    text: String,
    /// Optional idempotency key: posting the same one twice stores one message.
    client_id: Option<String>,
}

/// `POST /api/v1/conversations/{id}/messages` (agent): a reply, sent to the customer.
pub async fn post_message(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
    body: web::Json<PostMessage>,
) -> Result<HttpResponse, ApiError> {
    let agent = staff.require(Role::Agent)?;
    let body = body.into_inner();
    let new = NewMessage {
        conversation_id: *id,
        author: AuthorKind::Agent,
        author_id: Some(agent.id),
        text: MessageText::parse(&body.text, state.config.webchat.max_message_chars)?,
        channel_message_id: body.client_id.as_deref().map(str::parse::<ChannelMessageId>).transpose()?,
        media: Vec::new(),
        template: None,
    };
    let appended = ingest::append(&state, new).await?;
    let mut res = if appended.created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(res.json(appended.message))
}

/// `GET /api/v1/agents` (admin).
pub async fn list_agents(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    Ok(HttpResponse::Ok().json(state.store.agents().await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    email: String,
    name: String,
    roles: Vec<String>,
    password: String,
}

/// `POST /api/v1/agents` (admin): a new staff member.
pub async fn create_agent(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<CreateAgent>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let body = body.into_inner();
    let new = new_agent(&body.email, &body.name, &body.roles, body.password).await?;
    let agent = state.store.create_agent(new).await?;
    tracing::info!(agent_id = %agent.id, by = %staff.agent().id, "staff member created");
    Ok(HttpResponse::Created().json(agent))
}

/// Validates a new staff member's fields and hashes the password (off the async threads).
///
/// # Errors
/// A field that does not validate (422 naming it).
pub async fn new_agent(email: &str, name: &str, roles: &[String], password: String) -> Result<NewAgent, ApiError> {
    let email: EmailAddress = email.parse()?;
    let name: DisplayName = name.parse()?;
    let mut parsed = roles.iter().map(|r| r.parse::<Role>()).collect::<Result<Vec<_>, _>>()?;
    parsed.sort();
    parsed.dedup();
    if parsed.is_empty() {
        return Err(ApiError::Validation(schema::ValidationError::Empty { field: "roles" }));
    }
    let password_hash = web::block(move || auth::hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(format!("password hashing failed: {e}")))??;
    Ok(NewAgent { email, name, roles: parsed, password_hash })
}
