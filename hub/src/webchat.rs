//! The web chat channel: a customer opens a session over HTTP, then talks over a websocket.

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, Session};
use channels::webchat::{ClientFrame, ServerFrame, TokenError, VisitorClaims};
use schema::{
    AuthorKind, Channel, ConversationId, ConversationStatus, DisplayName, EmailAddress, Language, NewCustomer,
    NewMessage,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::AppState;
use crate::bus::{Event, Received, Topic};
use crate::error::ApiError;
use crate::socket::{self, Flow};

/// Messages replayed from the store per query when a customer reconnects or lags.
const REPLAY_PAGE: u32 = 200;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSessionRequest {
    name: Option<String>,
    email: Option<String>,
    language: Option<String>,
}

#[derive(Serialize)]
struct NewSessionResponse {
    token: String,
    conversation_id: ConversationId,
    customer_id: schema::CustomerId,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    websocket_path: &'static str,
}

/// `POST /api/v1/webchat/sessions`: a new customer and conversation, and the token for its socket.
pub async fn create_session(
    state: web::Data<AppState>,
    body: Option<web::Json<NewSessionRequest>>,
) -> Result<HttpResponse, ApiError> {
    let req = body.map(web::Json::into_inner).unwrap_or_default();
    let new = NewCustomer {
        name: req.name.as_deref().map(str::parse::<DisplayName>).transpose()?,
        email: req.email.as_deref().map(str::parse::<EmailAddress>).transpose()?,
        language: req.language.as_deref().map(str::parse::<Language>).transpose()?.unwrap_or_default(),
        ..NewCustomer::default()
    };
    // The bot answers first when there is one; otherwise the chat waits for a person.
    let status = if state.assistant.is_some() { ConversationStatus::Bot } else { ConversationStatus::Queued };
    let (customer, conversation) = state.store.create_customer_with_conversation(new, Channel::WebChat, status).await?;
    let ttl = i64::try_from(state.config.webchat.token_ttl_secs).unwrap_or(i64::MAX / 2);
    let expires_at = OffsetDateTime::now_utc() + time::Duration::seconds(ttl);
    let token = state.visitor_key.sign(&VisitorClaims {
        conversation_id: conversation.id,
        customer_id: customer.id,
        expires_at: expires_at.unix_timestamp(),
    });
    tracing::info!(conversation_id = %conversation.id, customer_id = %customer.id, "web chat session opened");
    state.bus.publish(Event::ConversationCreated { conversation: conversation.clone() });
    Ok(HttpResponse::Created().json(NewSessionResponse {
        token,
        conversation_id: conversation.id,
        customer_id: customer.id,
        expires_at,
        websocket_path: "/ws/webchat",
    }))
}

#[derive(Debug, Deserialize)]
pub struct SocketQuery {
    token: Option<String>,
    /// The last sequence number the client has; everything after it is replayed.
    last_seq: Option<i64>,
}

/// `GET /ws/webchat?token=…&last_seq=…`: the customer's socket.
pub async fn socket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<SocketQuery>,
) -> Result<HttpResponse, actix_web::Error> {
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let SocketQuery { token, last_seq } = query.into_inner();
    let claims = match token.as_deref().map(|t| state.visitor_key.verify(t, OffsetDateTime::now_utc())) {
        Some(Ok(claims)) => claims,
        Some(Err(e)) => {
            actix_web::rt::spawn(socket::refuse(session, e.to_string()));
            return Ok(response);
        }
        None => {
            actix_web::rt::spawn(socket::refuse(session, "a visitor token is required".to_owned()));
            return Ok(response);
        }
    };
    // Subscribe before replaying, so nothing stored in between is missed; duplicates are
    // dropped by sequence number.
    let subscription = state.bus.subscribe(Topic::Conversation(claims.conversation_id));
    let handler = Customer { state: state.clone(), claims, delivered: last_seq.unwrap_or(0).max(0) };
    actix_web::rt::spawn(async move {
        let mut handler = handler;
        let mut session = session;
        if let Flow::Close(reason) = handler.replay(&mut session).await {
            let _ = session.close(Some(reason)).await;
            return;
        }
        socket::drive(state, session, stream, subscription, handler, "customer").await;
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
            let page =
                match self.state.store.messages_after(self.claims.conversation_id, self.delivered, REPLAY_PAGE).await {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::warn!(error = %e, "replay failed");
                        return socket::close(CloseCode::Again, "the store is unavailable; reconnect shortly");
                    }
                };
            let done = page.len() < REPLAY_PAGE as usize;
            for message in &page {
                if let Flow::Close(r) = socket::send(session, &ServerFrame::Message { message }).await {
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

impl socket::Handler for Customer {
    async fn on_text(&mut self, session: &mut Session, text: &str) -> Flow {
        let (client_id, text) = match ClientFrame::parse(text, self.state.config.webchat.max_message_chars) {
            Ok(ClientFrame::Message { client_id, text }) => (client_id, text),
            Err(e) => {
                return socket::send(
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
        socket::store_and_ack(&self.state, session, new).await
    }

    async fn on_event(&mut self, session: &mut Session, received: Received) -> Flow {
        match received {
            Received::Event(event) => match &**event {
                Event::MessageCreated { message, .. } if message.seq > self.delivered => {
                    // A gap means an event was missed: fill it from the store.
                    if message.seq > self.delivered + 1 {
                        return self.replay(session).await;
                    }
                    let flow = socket::send(session, &ServerFrame::Message { message }).await;
                    self.delivered = message.seq;
                    flow
                }
                _ => Flow::Continue,
            },
            Received::Lagged => self.replay(session).await,
            Received::Closed => socket::close(CloseCode::Away, "the server is restarting; reconnect"),
        }
    }

    async fn on_tick(&mut self, _session: &mut Session) -> Flow {
        if self.claims.expires_at <= OffsetDateTime::now_utc().unix_timestamp() {
            Flow::Close(actix_ws::CloseReason {
                code: CloseCode::Other(socket::CLOSE_UNAUTHORIZED),
                description: Some(TokenError::Expired.to_string()),
            })
        } else {
            Flow::Continue
        }
    }
}
