//! The agents' live inbox socket: every new conversation and message, live; replies go back in.

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, Session};
use channels::webchat::{AgentFrame, ServerFrame};
use router::Input;
use schema::{AuthorKind, ChannelMessageId, ConversationId, MessageText, NewMessage, Role, StaffSession};

use crate::bus::{Received, Topic};
use crate::error::ApiError;
use crate::socket::{self, Flow};
use crate::{AppState, auth};

/// `GET /ws/inbox`: staff with the `agent` role; token in `Authorization: Bearer` or `?token=`.
pub async fn socket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let (staff, token) = match socket::staff_session(&state, &req, Role::Agent).await {
        Ok(found) => found,
        Err(reason) => {
            actix_web::rt::spawn(socket::refuse(session, reason));
            return Ok(response);
        }
    };
    let subscription = state.bus.subscribe(Topic::Inbox);
    let agent = staff.agent.id;
    let handler = Inbox { state: state.clone(), staff, token };
    actix_web::rt::spawn(async move {
        // Connecting makes an offline agent available for routing; the last socket closing
        // makes them offline.
        state.routing.socket_opened(&state, agent).await;
        socket::drive(state.clone(), session, stream, subscription, handler, "agent").await;
        state.routing.socket_closed(&state, agent).await;
    });
    Ok(response)
}

struct Inbox {
    state: web::Data<AppState>,
    staff: StaffSession,
    token: String,
}

impl socket::Handler for Inbox {
    async fn on_text(&mut self, session: &mut Session, text: &str) -> Flow {
        let frame = match AgentFrame::parse(text, self.state.config.webchat.max_message_chars) {
            Ok(frame) => frame,
            Err(e) => {
                return socket::send(
                    session,
                    &ServerFrame::Error { code: e.code(), message: e.to_string(), client_id: e.client_id() },
                )
                .await;
            }
        };
        // Any command is activity: it keeps the session alive (and fails if it has ended).
        match auth::authenticate(&self.state, &self.token, auth::Activity::Active).await {
            Ok(s) => self.staff = s,
            Err(e) => return unauthorized(&e),
        }
        let agent = self.staff.agent.id;
        let (command, ticket_id, result) = match frame {
            AgentFrame::Message { conversation_id, client_id, text } => {
                return self.reply(session, conversation_id, client_id, text).await;
            }
            AgentFrame::Accept { ticket_id } => {
                let r = self.state.routing.apply(&self.state, Input::OfferAccepted { ticket: ticket_id, agent }).await;
                ("accept", Some(ticket_id), r)
            }
            AgentFrame::Reject { ticket_id } => {
                let r = self.state.routing.apply(&self.state, Input::OfferRejected { ticket: ticket_id, agent }).await;
                ("reject", Some(ticket_id), r)
            }
            AgentFrame::Presence { presence } => {
                ("presence", None, self.state.routing.set_presence(&self.state, agent, presence).await)
            }
        };
        match result {
            Ok(()) => socket::send(session, &ServerFrame::Done { command, ticket_id }).await,
            Err(e) => {
                socket::send(session, &ServerFrame::Error { code: e.code(), message: e.to_string(), client_id: None })
                    .await
            }
        }
    }

    async fn on_event(&mut self, session: &mut Session, received: Received) -> Flow {
        match received {
            Received::Event(event) => match event.json() {
                Some(json) => socket::send_text(session, json).await,
                None => Flow::Continue,
            },
            // The inbox fell behind: tell the client to re-read through the REST API.
            Received::Lagged => socket::send_text(session, r#"{"type":"resync"}"#.to_owned()).await,
            Received::Closed => socket::close(CloseCode::Away, "the server is restarting; reconnect"),
        }
    }

    async fn on_tick(&mut self, _session: &mut Session) -> Flow {
        // Sign-out, idle expiry or a disabled account end the socket too.
        match auth::authenticate(&self.state, &self.token, auth::Activity::Check).await {
            Ok(s) => {
                self.staff = s;
                Flow::Continue
            }
            Err(ApiError::Unavailable(_)) => Flow::Continue,
            Err(e) => unauthorized(&e),
        }
    }
}

impl Inbox {
    async fn reply(
        &mut self,
        session: &mut Session,
        conversation_id: ConversationId,
        client_id: ChannelMessageId,
        text: MessageText,
    ) -> Flow {
        let new = NewMessage {
            conversation_id,
            author: AuthorKind::Agent,
            author_id: Some(self.staff.agent.id),
            text,
            channel_message_id: Some(client_id),
            media: Vec::new(),
            template: None,
        };
        socket::store_and_ack(&self.state, session, new).await
    }
}

fn unauthorized(e: &ApiError) -> Flow {
    Flow::Close(actix_ws::CloseReason {
        code: CloseCode::Other(socket::CLOSE_UNAUTHORIZED),
        description: Some(e.to_string()),
    })
}
