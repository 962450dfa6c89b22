//! The web chat channel: a customer opens a session over HTTP, then talks over a websocket.
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use actix_web::http::header;
use actix_web::web::Query;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use actix_ws::{CloseCode, Session};
use std::time::Duration;

use channels::webchat::{AgentName, ClientFrame, ServerFrame, TokenError, VisitorClaims};
use futures_util::StreamExt as _;
use schema::{AgentId, AuthorKind, Conversation, ConversationId, ConversationStatus, DisplayName, NewMessage};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::bus::{Event, Received, Topic};
use crate::error::Error;
use crate::http::client_address;
use crate::http::views::ErrorBody;
use crate::http::ws::{self, Flow};
use crate::services::webchat::{Departure, NewSession};

/// The session route, under `/api/v1`.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create_session).service(upload_attachment).service(download_attachment);
}

/// The customer's socket, at the root.
pub fn socket_routes(cfg: &mut ServiceConfig) {
    cfg.service(socket);
}

/// Messages replayed from the store per query when a customer reconnects or lags.
const REPLAY_PAGE: u32 = 200;

/// What the customer says of themselves; every field is optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSessionRequest {
    name: Option<String>,
    email: Option<String>,
    language: Option<String>,
}

/// A new chat: the visitor token opens its socket.
#[derive(Serialize, ToSchema)]
pub struct NewSessionResponse {
    token: String,
    conversation_id: ConversationId,
    customer_id: schema::CustomerId,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    websocket_path: &'static str,
}

impl std::fmt::Debug for NewSessionResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSessionResponse").field("conversation_id", &self.conversation_id).finish_non_exhaustive()
    }
}

/// A new customer and conversation, and the visitor token for its socket (no sign-in).
#[utoipa::path(
    tag = "web chat",
    request_body(content = Option<NewSessionRequest>),
    responses(
        (status = 201, body = NewSessionResponse),
        (status = 400, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "too many new chats from this address (`webchat.opens_per_minute_per_address`)", body = ErrorBody)
    )
)]
#[post("/webchat/sessions")]
pub async fn create_session(
    state: web::Data<AppState>,
    http: HttpRequest,
    body: Option<web::Json<NewSessionRequest>>,
) -> Result<HttpResponse, Error> {
    state.webchat.admit(client_address(&state.config, &http))?;
    let req = body.map(web::Json::into_inner).unwrap_or_default();
    let session = state
        .webchat
        .open(NewSession { name: req.name.as_deref(), email: req.email.as_deref(), language: req.language.as_deref() })
        .await?;
    Ok(HttpResponse::Created().json(NewSessionResponse {
        token: session.token,
        conversation_id: session.conversation.id,
        customer_id: session.customer.id,
        expires_at: session.expires_at,
        websocket_path: "/ws/webchat",
    }))
}

/// The visitor token of a request: `Authorization: Bearer <token>`.
fn visitor(state: &AppState, req: &HttpRequest) -> Result<VisitorClaims, Error> {
    let token = crate::http::auth::header_bearer(req)
        .ok_or_else(|| Error::Unauthorized("a visitor token is required (Authorization: Bearer)".to_owned()))?;
    state.webchat.verify(token).map_err(|e| Error::Unauthorized(e.to_string()))
}

/// A file upload must arrive within this time (a trickling client holds no buffer for long).
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads a request body of at most `limit` bytes within [`UPLOAD_TIMEOUT`]; a longer one is
/// refused as soon as it is seen. The buffer grows with what arrives, not with what is declared.
async fn body_within(mut payload: web::Payload, req: &HttpRequest, limit: usize) -> Result<Vec<u8>, Error> {
    let too_large = || Error::PayloadTooLarge(format!("a file may have at most {limit} bytes"));
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let read = async {
        let mut body = Vec::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| Error::invalid("file", format!("the upload broke off: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(UPLOAD_TIMEOUT, read)
        .await
        .map_err(|_| Error::invalid("file", "the upload took too long; try again on a better connection"))?
}

/// The file's name, given in the query (the body is the file itself).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file's name as the customer had it (card numbers in it are masked).
    name: Option<String>,
}

/// A file kept for the chat: send its `id` in a message's `attachments`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadView {
    id: schema::AttachmentId,
    file_name: Option<String>,
    content_type: &'static str,
    size: usize,
}

/// A file the customer sends (PNG, JPEG, GIF, WebP or PDF; the body is the file), kept for the
/// chat of the visitor token; a message then names it in `attachments`.
#[utoipa::path(
    tag = "web chat",
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the file's bytes; Content-Type is checked against them"),
    responses(
        (status = 201, body = UploadView),
        (status = 401, description = "no valid visitor token", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 422, description = "an empty file, or a PDF holding a card number (`field`: `file`)", body = ErrorBody),
        (status = 429, description = "the chat holds the most files it may, or too many uploads from this address", body = ErrorBody)
    )
)]
#[post("/webchat/attachments")]
pub async fn upload_attachment(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: Query<UploadQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let claims = visitor(&state, &req)?;
    state.webchat.admit(client_address(&state.config, &req))?;
    let content = body_within(payload, &req, state.webchat.max_attachment_bytes()).await?;
    state.webchat.admit_bytes(client_address(&state.config, &req), content.len())?;
    let claimed = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let kept = state.webchat.upload(&claims, query.name.as_deref(), claimed, content).await?;
    Ok(HttpResponse::Created().json(UploadView {
        id: kept.id,
        file_name: kept.file_name,
        content_type: kept.content_type,
        size: kept.size,
    }))
}

/// A file of the customer's own chat (visitor token in `Authorization: Bearer`).
#[utoipa::path(
    tag = "web chat",
    params(("id" = schema::AttachmentId, Path, description = "the file")),
    responses(
        (status = 200, description = "the file", content_type = "application/octet-stream"),
        (status = 401, body = ErrorBody),
        (status = 404, description = "unknown, or of another chat", body = ErrorBody)
    )
)]
#[get("/webchat/attachments/{id}")]
pub async fn download_attachment(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<schema::AttachmentId>,
) -> Result<HttpResponse, Error> {
    let claims = visitor(&state, &req)?;
    let file = state.webchat.download(&claims, *id).await?;
    crate::http::email::file_response(file)
}

/// The customer socket's credentials and resume point.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SocketQuery {
    /// The visitor token of the session.
    token: Option<String>,
    /// The last sequence number the client has; everything after it is replayed.
    last_seq: Option<i64>,
}

/// The customer's websocket (frames: docs/api.md). Everything after `last_seq` is replayed.
#[utoipa::path(
    params(SocketQuery),
    tag = "web chat",
    responses((status = 101, description = "switching to the websocket protocol; a bad token closes it with 4401"))
)]
#[get("/ws/webchat")]
pub async fn socket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    query: Query<SocketQuery>,
) -> Result<HttpResponse, actix_web::Error> {
    let address = ws::admit_socket(&state, &req)?;
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let SocketQuery { token, last_seq } = query.into_inner();
    let claims = match token.as_deref().map(|t| state.webchat.verify(t)) {
        Some(Ok(claims)) => claims,
        Some(Err(e)) => {
            actix_web::rt::spawn(ws::refuse(session, e.to_string()));
            return Ok(response);
        }
        None => {
            actix_web::rt::spawn(ws::refuse(session, "a visitor token is required".to_owned()));
            return Ok(response);
        }
    };
    let Some(slot) = state.webchat.open_socket(claims.conversation_id) else {
        actix_web::rt::spawn(ws::refuse(
            session,
            format!("this chat has {} sockets open already", crate::services::webchat::MAX_SOCKETS_PER_CONVERSATION),
        ));
        return Ok(response);
    };
    state.webchat.customer_arrived(claims.conversation_id).await;
    // Subscribe before replaying, so nothing stored in between is missed; duplicates are
    // dropped by sequence number.
    let subscription = state.core.bus.subscribe(Topic::Conversation(claims.conversation_id));
    let handler = Customer {
        state: state.clone(),
        claims,
        delivered: last_seq.unwrap_or(0).max(0),
        shown: None,
        agent_name: None,
        shown_at: None,
    };
    actix_web::rt::spawn(async move {
        let mut handler = handler;
        let mut session = session;
        if let Flow::Close(reason) = handler.replay(&mut session).await {
            let _ = session.close(Some(reason)).await;
            return;
        }
        if let Flow::Close(reason) = handler.send_current_state(&mut session).await {
            let _ = session.close(Some(reason)).await;
            return;
        }
        if let Flow::Close(reason) = handler.offer_survey(&mut session).await {
            let _ = session.close(Some(reason)).await;
            return;
        }
        ws::drive(state, session, stream, subscription, handler, "customer", address).await;
        drop(slot);
    });
    Ok(response)
}

struct Customer {
    state: web::Data<AppState>,
    claims: VisitorClaims,
    /// The highest sequence number sent to this socket.
    delivered: i64,
    /// The conversation's status and agent as last sent in a `state` frame.
    shown: Option<(ConversationStatus, Option<AgentId>)>,
    /// The name of the agent in `shown`.
    agent_name: Option<DisplayName>,
    /// When the conversation last changed, as of the snapshot in `shown`.
    shown_at: Option<OffsetDateTime>,
}

impl Customer {
    /// Sends every stored message after `delivered`.
    async fn replay(&mut self, session: &mut Session) -> Flow {
        loop {
            let page = match self
                .state
                .core
                .store
                .messages_after(self.claims.conversation_id, self.delivered, REPLAY_PAGE)
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "replay failed");
                    return ws::close(CloseCode::Again, "the store is unavailable; reconnect shortly");
                }
            };
            let done = page.len() < REPLAY_PAGE as usize;
            for message in &page {
                if let Flow::Close(r) = ws::send(session, &ServerFrame::Message { message }).await {
                    return Flow::Close(r);
                }
                self.delivered = message.seq;
            }
            if done {
                return Flow::Continue;
            }
        }
    }
}

impl Customer {
    /// The conversation's state as it is now, read from the store.
    async fn send_current_state(&mut self, session: &mut Session) -> Flow {
        match self.state.core.store.conversation(self.claims.conversation_id).await {
            Ok(conversation) => self.observe(session, &conversation).await,
            Err(e) => {
                tracing::warn!(error = %e, "reading the conversation's state failed");
                ws::close(CloseCode::Again, "the store is unavailable; reconnect shortly")
            }
        }
    }

    /// Sends a `survey` frame when the conversation's satisfaction survey waits for an answer
    /// (after a resolution, and again on reconnect until it is answered or expires).
    async fn offer_survey(&mut self, session: &mut Session) -> Flow {
        // Only while the conversation stays resolved: a new message has reopened it otherwise.
        if !matches!(self.shown, Some((ConversationStatus::Resolved, _))) {
            return Flow::Continue;
        }
        match self.state.csat.open_chat_survey(self.claims.conversation_id).await {
            Ok(Some(survey)) => {
                let question = crate::services::csat::question(survey.language);
                ws::send(session, &ServerFrame::Survey { survey_id: survey.id, question }).await
            }
            Ok(None) => Flow::Continue,
            Err(e) => {
                tracing::warn!(error = %e, "reading the conversation's survey failed");
                Flow::Continue
            }
        }
    }

    /// Sends a `state` frame when the conversation's status or agent differs from what the
    /// customer was last shown.
    async fn observe(&mut self, session: &mut Session, conversation: &Conversation) -> Flow {
        // Events queued before the state read on connect carry older snapshots: never go back.
        if self.shown_at.is_some_and(|at| conversation.updated_at < at) {
            return Flow::Continue;
        }
        self.shown_at = Some(conversation.updated_at);
        let now = (conversation.status, conversation.assignee_id);
        if self.shown == Some(now) {
            return Flow::Continue;
        }
        if self.shown.map(|(_, agent)| agent) != Some(now.1) {
            self.agent_name = match now.1 {
                Some(agent) => match self.state.core.store.agent(agent).await {
                    Ok(agent) => Some(agent.name),
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the conversation's agent failed");
                        None
                    }
                },
                None => None,
            };
        }
        self.shown = Some(now);
        let agent = self.agent_name.as_ref().map(|n| AgentName { name: n.as_str() });
        ws::send(session, &ServerFrame::State { status: now.0, agent }).await
    }
}

impl ws::Handler for Customer {
    async fn on_text(&mut self, session: &mut Session, text: &str) -> Flow {
        let (client_id, text, attachments) = match ClientFrame::parse(text, self.state.config.webchat.max_message_chars)
        {
            Ok(ClientFrame::Message { client_id, text, attachments }) => (client_id, text, attachments),
            Ok(ClientFrame::Typing) => {
                self.state.webchat.typing(self.claims.conversation_id, None);
                return Flow::Continue;
            }
            Ok(ClientFrame::Leave) => {
                return match self.state.webchat.leave(self.claims.conversation_id, Departure::Ended).await {
                    Ok(_) => ws::send(session, &ServerFrame::Done { command: "leave", ticket_id: None }).await,
                    Err(e) => {
                        ws::send(
                            session,
                            &ServerFrame::Error { code: e.code().as_str(), message: e.to_string(), client_id: None },
                        )
                        .await
                    }
                };
            }
            Ok(ClientFrame::Rating { survey_id, score, comment }) => {
                let answered =
                    self.state.csat.answer_chat(self.claims.conversation_id, survey_id, score, comment.as_ref()).await;
                return match answered {
                    Ok(_) => ws::send(session, &ServerFrame::Rated { survey_id }).await,
                    Err(e) => {
                        ws::send(
                            session,
                            &ServerFrame::Error { code: e.code().as_str(), message: e.to_string(), client_id: None },
                        )
                        .await
                    }
                };
            }
            Err(e) => {
                return ws::send(
                    session,
                    &ServerFrame::Error { code: e.code(), message: e.to_string(), client_id: e.client_id() },
                )
                .await;
            }
        };
        let media = match self.state.webchat.media(self.claims.conversation_id, &attachments).await {
            Ok(media) => media,
            Err(e) => {
                return ws::send(
                    session,
                    &ServerFrame::Error {
                        code: e.code().as_str(),
                        message: e.to_string(),
                        client_id: Some(client_id.as_str()),
                    },
                )
                .await;
            }
        };
        let new = NewMessage {
            conversation_id: self.claims.conversation_id,
            author: AuthorKind::Customer,
            author_id: None,
            text,
            channel_message_id: Some(client_id),
            media,
            template: None,
        };
        ws::store_and_ack(&self.state, session, new, None).await
    }

    async fn on_event(&mut self, session: &mut Session, received: Received) -> Flow {
        match received {
            Received::Event(event) => match &**event {
                Event::MessageCreated { message, conversation } => {
                    if message.seq > self.delivered {
                        // A gap means an event was missed: fill it from the store.
                        let flow = if message.seq > self.delivered + 1 {
                            self.replay(session).await
                        } else {
                            let flow = ws::send(session, &ServerFrame::Message { message }).await;
                            self.delivered = message.seq;
                            flow
                        };
                        if let Flow::Close(reason) = flow {
                            return Flow::Close(reason);
                        }
                    }
                    if let Flow::Close(reason) = self.observe(session, conversation).await {
                        return Flow::Close(reason);
                    }
                    // The survey's question is in the transcript: the buttons come with it.
                    if message.author == AuthorKind::Bot
                        && message
                            .channel_message_id
                            .as_ref()
                            .is_some_and(|k| k.as_str().starts_with("csat:") && k.as_str().ends_with(":ask"))
                    {
                        return self.offer_survey(session).await;
                    }
                    Flow::Continue
                }
                Event::ConversationUpdated { conversation } | Event::MessageUpdated { conversation, .. } => {
                    self.observe(session, conversation).await
                }
                Event::Typing { author: AuthorKind::Agent, name, .. } => {
                    ws::send(
                        session,
                        &ServerFrame::Typing {
                            author: AuthorKind::Agent,
                            name: name.as_ref().map(DisplayName::as_str),
                        },
                    )
                    .await
                }
                _ => Flow::Continue,
            },
            // Events were dropped: the messages and the state come again from the store.
            Received::Lagged => match self.replay(session).await {
                Flow::Continue => self.send_current_state(session).await,
                close => close,
            },
            Received::Closed => ws::close(CloseCode::Away, "the server is restarting; reconnect"),
        }
    }

    async fn on_tick(&mut self, _session: &mut Session) -> Flow {
        if self.claims.expires_at <= OffsetDateTime::now_utc().unix_timestamp() {
            Flow::Close(actix_ws::CloseReason {
                code: CloseCode::Other(ws::CLOSE_UNAUTHORIZED),
                description: Some(TokenError::Expired.to_string()),
            })
        } else {
            Flow::Continue
        }
    }
}
