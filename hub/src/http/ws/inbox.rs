//! The agents' live inbox socket: every new conversation and message, live; replies go back in.

use actix_web::{HttpRequest, HttpResponse, get, web};
use actix_ws::{CloseCode, Session};
use channels::webchat::{AgentFrame, ServerFrame};
use schema::{AuthorKind, ChannelMessageId, ConversationId, MessageText, NewMessage, Role, StaffSession};

use crate::AppState;
use crate::bus::{Received, Topic};
use crate::error::Error;
use crate::http::ws::{self, Flow};
use crate::services::staff::Activity;

/// The agents' live inbox (frames: docs/api.md): every new conversation and message, offers;
/// replies, accepts and presence go back in. Token in `Authorization: Bearer` or `?token=`.
#[utoipa::path(
    tag = "staff sockets",
    params(("token" = Option<String>, Query, description = "the staff session token, when no header can be sent")),
    responses((status = 101, description = "switching to the websocket protocol; no agent session closes it with 4401"))
)]
#[get("/ws/inbox")]
pub async fn socket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let address = ws::admit_socket(&state, &req)?;
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let (staff, token) = match ws::staff_session(&state, &req, Role::Agent).await {
        Ok(found) => found,
        Err(reason) => {
            actix_web::rt::spawn(ws::refuse(session, reason));
            return Ok(response);
        }
    };
    let subscription = state.core.bus.subscribe(Topic::Inbox);
    let agent = staff.agent.id;
    let handler = Inbox { state: state.clone(), staff, token };
    actix_web::rt::spawn(async move {
        // Connecting makes an offline agent available for routing; the last socket closing
        // makes them offline.
        state.routing.socket_opened(agent).await;
        ws::drive(state.clone(), session, stream, subscription, handler, "agent", address).await;
        state.routing.socket_closed(agent).await;
    });
    Ok(response)
}

struct Inbox {
    state: web::Data<AppState>,
    staff: StaffSession,
    token: String,
}

impl ws::Handler for Inbox {
    async fn on_text(&mut self, session: &mut Session, text: &str) -> Flow {
        let frame = match AgentFrame::parse(text, self.state.config.webchat.max_message_chars) {
            Ok(frame) => frame,
            Err(e) => {
                return ws::send(
                    session,
                    &ServerFrame::Error { code: e.code(), message: e.to_string(), client_id: e.client_id() },
                )
                .await;
            }
        };
        // Any command is activity: it keeps the session alive (and fails if it has ended).
        match self.state.sessions.authenticate(&self.token, Activity::Active).await {
            Ok(s) => self.staff = s,
            Err(e) => return unauthorized(&e),
        }
        let agent = self.staff.agent.id;
        let (command, ticket_id, result) = match frame {
            AgentFrame::Message { conversation_id, client_id, text } => {
                return self.reply(session, conversation_id, client_id, text).await;
            }
            AgentFrame::Accept { ticket_id } => {
                let r = self.state.routing.answer_offer(ticket_id, agent, true).await;
                ("accept", Some(ticket_id), r)
            }
            AgentFrame::Reject { ticket_id } => {
                let r = self.state.routing.answer_offer(ticket_id, agent, false).await;
                ("reject", Some(ticket_id), r)
            }
            AgentFrame::Presence { presence } => {
                ("presence", None, self.state.routing.set_presence(agent, presence).await)
            }
            AgentFrame::Typing { conversation_id } => {
                let me = &self.staff.agent;
                self.state.webchat.typing(conversation_id, Some((me.id, me.name.clone())));
                return Flow::Continue;
            }
        };
        match result {
            Ok(()) => ws::send(session, &ServerFrame::Done { command, ticket_id }).await,
            Err(e) => {
                ws::send(
                    session,
                    &ServerFrame::Error { code: e.code().as_str(), message: e.to_string(), client_id: None },
                )
                .await
            }
        }
    }

    async fn on_event(&mut self, session: &mut Session, received: Received) -> Flow {
        match received {
            Received::Event(event) => match event.json() {
                Some(json) => ws::send_text(session, json).await,
                None => Flow::Continue,
            },
            // The inbox fell behind: tell the client to re-read through the REST API.
            Received::Lagged => ws::send_text(session, r#"{"type":"resync"}"#.to_owned()).await,
            Received::Closed => ws::close(CloseCode::Away, "the server is restarting; reconnect"),
        }
    }

    async fn on_tick(&mut self, _session: &mut Session) -> Flow {
        // Sign-out, idle expiry, a disabled account or the agent role taken away end the socket too.
        match self.state.sessions.authenticate(&self.token, Activity::Check).await {
            Ok(s) if !s.agent.has_role(Role::Agent) => {
                unauthorized(&Error::Forbidden("this socket needs the agent role".into()))
            }
            Ok(s) => {
                self.staff = s;
                Flow::Continue
            }
            Err(Error::Unavailable(_)) => Flow::Continue,
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
        ws::store_and_ack(&self.state, session, new, Some(&self.staff.agent)).await
    }
}

fn unauthorized(e: &Error) -> Flow {
    Flow::Close(actix_ws::CloseReason {
        code: CloseCode::Other(ws::CLOSE_UNAUTHORIZED),
        description: Some(e.to_string()),
    })
}
