//! The web chat channel: a customer opens a session over HTTP, then talks over a websocket.
// utoipa's path macro writes `params(T)` as a qualified path.
#![allow(unused_qualifications)]

use actix_web::web::Query;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use actix_ws::{CloseCode, Session};
use channels::webchat::{ClientFrame, ServerFrame, TokenError, VisitorClaims};
use schema::{AuthorKind, ConversationId, NewMessage};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::AppState;
use crate::bus::{Event, Received, Topic};
use crate::error::Error;
use crate::http::views::ErrorBody;
use crate::http::ws::{self, Flow};
use crate::services::webchat::NewSession;

/// The session route, under `/api/v1`.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create_session);
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
        (status = 422, body = ErrorBody)
    )
)]
#[post("/webchat/sessions")]
pub async fn create_session(
    state: web::Data<AppState>,
    body: Option<web::Json<NewSessionRequest>>,
) -> Result<HttpResponse, Error> {
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
    // Subscribe before replaying, so nothing stored in between is missed; duplicates are
    // dropped by sequence number.
    let subscription = state.core.bus.subscribe(Topic::Conversation(claims.conversation_id));
    let handler = Customer { state: state.clone(), claims, delivered: last_seq.unwrap_or(0).max(0) };
    actix_web::rt::spawn(async move {
        let mut handler = handler;
        let mut session = session;
        if let Flow::Close(reason) = handler.replay(&mut session).await {
            let _ = session.close(Some(reason)).await;
            return;
        }
        ws::drive(state, session, stream, subscription, handler, "customer").await;
    });
    Ok(response)
}

struct Customer {
    state: web::Data<AppState>,
    claims: VisitorClaims,
    /// The highest sequence number sent to this socket.
    delivered: i64,
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

impl ws::Handler for Customer {
    async fn on_text(&mut self, session: &mut Session, text: &str) -> Flow {
        let (client_id, text) = match ClientFrame::parse(text, self.state.config.webchat.max_message_chars) {
            Ok(ClientFrame::Message { client_id, text }) => (client_id, text),
            Err(e) => {
                return ws::send(
                    session,
                    &ServerFrame::Error { code: e.code(), message: e.to_string(), client_id: e.client_id() },
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
            media: Vec::new(),
            template: None,
        };
        ws::store_and_ack(&self.state, session, new).await
    }

    async fn on_event(&mut self, session: &mut Session, received: Received) -> Flow {
        match received {
            Received::Event(event) => match &**event {
                Event::MessageCreated { message, .. } if message.seq > self.delivered => {
                    // A gap means an event was missed: fill it from the store.
                    if message.seq > self.delivered + 1 {
                        return self.replay(session).await;
                    }
                    let flow = ws::send(session, &ServerFrame::Message { message }).await;
                    self.delivered = message.seq;
                    flow
                }
                _ => Flow::Continue,
            },
            Received::Lagged => self.replay(session).await,
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
