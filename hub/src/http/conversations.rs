//! Conversations and their messages (staff): the list, one conversation, its messages, a reply.
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use actix_web::web::Query;
use actix_web::{HttpResponse, get, post, web};
use schema::{
    AuthorKind, Channel, ChannelMessageId, Conversation, ConversationId, ConversationStatus, Message, MessageText,
    NewMessage, Role,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::error::Error;
use crate::http::auth::Staff;
use crate::http::views::ErrorBody;
use crate::http::{Page, page_size};

/// Conversation routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(get).service(messages).service(post_message);
}

/// Filters and paging of the conversation list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `bot`, `queued`, `assigned`, `resolved` or `closed`.
    status: Option<String>,
    /// 1 to 200, default 50.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Conversations, most recently active first.
#[utoipa::path(
    params(ListQuery),
    tag = "conversations",
    security(("bearer" = ["agent"])),
    responses(
        (status = 200, body = Page<Conversation>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an agent", body = ErrorBody),
        (status = 422, description = "an unknown status, a bad limit or cursor", body = ErrorBody)
    )
)]
#[get("/conversations")]
pub async fn list(state: web::Data<AppState>, staff: Staff, query: Query<ListQuery>) -> Result<HttpResponse, Error> {
    staff.require(Role::Agent)?;
    let status = query.status.as_deref().map(str::parse::<ConversationStatus>).transpose()?;
    let limit = page_size(query.limit, "limit")?;
    let page = state.core.store.list_conversations(status, limit, query.cursor.as_deref()).await?;
    Ok(HttpResponse::Ok().json(Page::<Conversation>::of(page)))
}

/// One conversation, with what only this view carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationDetail {
    #[serde(flatten)]
    pub conversation: Conversation,
    /// E-mail: the subject of the mail that opened the conversation (card numbers masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// One conversation (for e-mail, with its subject).
#[utoipa::path(
    tag = "conversations",
    security(("bearer" = ["agent"])),
    params(("id" = ConversationId, Path, description = "the conversation")),
    responses(
        (status = 200, body = ConversationDetail),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[get("/conversations/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, Error> {
    staff.require(Role::Agent)?;
    let conversation = state.core.store.conversation(*id).await?;
    let subject = match conversation.channel {
        Channel::Email => state.core.store.conversation_subject(conversation.id).await?,
        _ => None,
    };
    Ok(HttpResponse::Ok().json(ConversationDetail { conversation, subject }))
}

/// Paging of a conversation's messages.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// The `next_cursor` of the previous page (the last sequence number seen).
    cursor: Option<String>,
    /// The same as `cursor`, by its older name: messages after this sequence number.
    after_seq: Option<i64>,
    /// 1 to 200, default 50.
    limit: Option<u32>,
}

/// A conversation's messages, oldest first.
#[utoipa::path(
    tag = "conversations",
    security(("bearer" = ["agent"])),
    params(("id" = ConversationId, Path, description = "the conversation"), MessagesQuery),
    responses(
        (status = 200, body = Page<Message>),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "a bad limit or cursor", body = ErrorBody)
    )
)]
#[get("/conversations/{id}/messages")]
pub async fn messages(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
    query: Query<MessagesQuery>,
) -> Result<HttpResponse, Error> {
    staff.require(Role::Agent)?;
    // 404 for an unknown conversation rather than an empty page.
    let conversation = state.core.store.conversation(*id).await?;
    let limit = page_size(query.limit, "limit")?;
    let after = match (&query.cursor, query.after_seq) {
        (Some(cursor), _) => {
            cursor.parse::<i64>().map_err(|_| Error::invalid("cursor", "not a cursor of this list"))?
        }
        (None, Some(seq)) => seq,
        (None, None) => 0,
    }
    .max(0);
    let items = state.core.store.messages_after(conversation.id, after, limit).await?;
    let next_cursor = (items.len() == limit as usize).then(|| items.last().map(|m| m.seq.to_string())).flatten();
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}

/// An agent's reply.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    text: String,
    /// Optional idempotency key: posting the same one twice stores one message.
    client_id: Option<String>,
}

/// A reply, sent to the customer on the conversation's channel.
#[utoipa::path(
    tag = "conversations",
    security(("bearer" = ["agent"])),
    params(("id" = ConversationId, Path, description = "the conversation")),
    request_body = PostMessage,
    responses(
        (status = 201, description = "stored (and queued for the channel)", body = Message),
        (status = 200, description = "this `client_id` was stored before: nothing new", body = Message),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an agent, or another agent holds the conversation", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the conversation is closed, or has no address to reply to", body = ErrorBody),
        (status = 413, description = "`message_too_long`", body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
#[post("/conversations/{id}/messages")]
pub async fn post_message(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<ConversationId>,
    body: web::Json<PostMessage>,
) -> Result<HttpResponse, Error> {
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
    let appended = state.ingest.append_as(agent, new).await?;
    let mut res = if appended.created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(res.json(appended.message))
}
