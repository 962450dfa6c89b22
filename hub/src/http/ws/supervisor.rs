//! The supervisors' live view: the wall (queues, skills, agents) pushed over a websocket.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, get, web};
use actix_ws::{CloseCode, Session};
use channels::webchat::ServerFrame;

use crate::AppState;
use crate::bus::{Event, Received, Topic};
use crate::error::Error;
use crate::http::ws::{self, Flow};
use crate::services::staff::Activity;

/// How often the figures are pushed.
const PUSH_EVERY: Duration = Duration::from_secs(1);

/// The supervisors' live view: pushes the wall, `{"type":"queues","queues":[…],"skills":[…],
/// "agents":[…],…}` (docs/api.md), on connect and every second, and SLA warnings and breaches as
/// they happen (`{"type":"sla.warning"|"sla.breached",…}`). Token in `Authorization: Bearer` or `?token=`.
#[utoipa::path(
    tag = "staff sockets",
    params(("token" = Option<String>, Query, description = "the staff session token, when no header can be sent")),
    responses((status = 101, description = "switching to the websocket protocol; no supervisor session closes it with 4401"))
)]
#[get("/ws/supervisor")]
pub async fn socket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let address = ws::admit_socket(&state, &req)?;
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let token = match ws::staff_session(&state, &req, schema::Role::Supervisor).await {
        Ok((_, token)) => token,
        Err(reason) => {
            actix_web::rt::spawn(ws::refuse(session, reason));
            return Ok(response);
        }
    };
    // Subscribed for the SLA warnings and breaches, and to be woken by shutdown with the rest;
    // the figures come from the engine.
    let subscription = state.core.bus.subscribe(Topic::Inbox);
    let handler = Supervisor { state: state.clone(), token };
    actix_web::rt::spawn(ws::drive(state, session, stream, subscription, handler, "supervisor", address));
    Ok(response)
}

struct Supervisor {
    state: web::Data<AppState>,
    token: String,
}

impl ws::Handler for Supervisor {
    async fn on_text(&mut self, session: &mut Session, _text: &str) -> Flow {
        ws::send(
            session,
            &ServerFrame::Error {
                code: "unknown_frame_type",
                message: "the live view takes no commands".into(),
                client_id: None,
            },
        )
        .await
    }

    async fn on_event(&mut self, session: &mut Session, received: Received) -> Flow {
        match received {
            Received::Closed => ws::close(CloseCode::Away, "the server is restarting; reconnect"),
            // SLA warnings and breaches as they happen: `{"type":"sla.warning"|"sla.breached",…}`.
            Received::Event(e) if matches!(**e, Event::SlaWarning(_) | Event::SlaBreached(_)) => match e.json() {
                Some(json) => ws::send_text(session, json).await,
                None => Flow::Continue,
            },
            Received::Event(_) | Received::Lagged => Flow::Continue,
        }
    }

    async fn on_tick(&mut self, _session: &mut Session) -> Flow {
        // Sign-out, expiry, a disabled account or the supervisor role taken away end the socket.
        let ended = match self.state.sessions.authenticate(&self.token, Activity::Check).await {
            Ok(s) if !s.agent.has_role(schema::Role::Supervisor) => {
                Error::Forbidden("this socket needs the supervisor role".into())
            }
            Ok(_) | Err(Error::Unavailable(_)) => return Flow::Continue,
            Err(e) => e,
        };
        Flow::Close(actix_ws::CloseReason {
            code: CloseCode::Other(ws::CLOSE_UNAUTHORIZED),
            description: Some(ended.to_string()),
        })
    }

    fn period(&self) -> Option<Duration> {
        Some(PUSH_EVERY)
    }

    async fn on_period(&mut self, session: &mut Session) -> Flow {
        // One snapshot a second, shared by every supervisor socket (see services::wall).
        match self.state.wall.snapshot().await {
            Ok(snapshot) => ws::send_text(session, snapshot.frame_json()).await,
            Err(e) => {
                tracing::warn!(error = %e, "the wall could not be computed");
                Flow::Continue
            }
        }
    }
}
