//! The supervisors' live view: per-queue figures pushed over a websocket.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, Session};
use channels::webchat::ServerFrame;
use serde_json::json;

use crate::bus::{Received, Topic};
use crate::error::ApiError;
use crate::socket::{self, Flow};
use crate::{AppState, auth};

/// How often the figures are pushed.
const PUSH_EVERY: Duration = Duration::from_secs(1);

/// `GET /ws/supervisor`: staff with the `supervisor` role; token in `Authorization: Bearer` or
/// `?token=`. Pushes `{"type":"queues","queues":[…]}` on connect and every second.
pub async fn socket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let token = match socket::staff_session(&state, &req, schema::Role::Supervisor).await {
        Ok((_, token)) => token,
        Err(reason) => {
            actix_web::rt::spawn(socket::refuse(session, reason));
            return Ok(response);
        }
    };
    // Subscribed only to be woken by shutdown with the rest; the figures come from the engine.
    let subscription = state.bus.subscribe(Topic::Inbox);
    let handler = Supervisor { state: state.clone(), token };
    actix_web::rt::spawn(socket::drive(state, session, stream, subscription, handler, "supervisor"));
    Ok(response)
}

struct Supervisor {
    state: web::Data<AppState>,
    token: String,
}

impl socket::Handler for Supervisor {
    async fn on_text(&mut self, session: &mut Session, _text: &str) -> Flow {
        socket::send(
            session,
            &ServerFrame::Error {
                code: "unknown_frame_type",
                message: "the live view takes no commands".into(),
                client_id: None,
            },
        )
        .await
    }

    async fn on_event(&mut self, _session: &mut Session, received: Received) -> Flow {
        match received {
            Received::Closed => socket::close(CloseCode::Away, "the server is restarting; reconnect"),
            Received::Event(_) | Received::Lagged => Flow::Continue,
        }
    }

    async fn on_tick(&mut self, _session: &mut Session) -> Flow {
        match auth::authenticate(&self.state, &self.token, auth::Activity::Check).await {
            Ok(_) | Err(ApiError::Unavailable(_)) => Flow::Continue,
            Err(e) => Flow::Close(actix_ws::CloseReason {
                code: CloseCode::Other(socket::CLOSE_UNAUTHORIZED),
                description: Some(e.to_string()),
            }),
        }
    }

    fn period(&self) -> Option<Duration> {
        Some(PUSH_EVERY)
    }

    async fn on_period(&mut self, session: &mut Session) -> Flow {
        let queues = self.state.routing.queue_stats().await;
        socket::send_text(session, json!({ "type": "queues", "queues": queues }).to_string()).await
    }
}
