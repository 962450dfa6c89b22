//! The websockets: the customer's chat (`webchat`), the agents' live inbox, the supervisors'
//! live view. This module is what they share: frame limits, heartbeats, shutdown, close codes.

pub mod inbox;
pub mod supervisor;

/// The staff sockets.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(inbox::socket).service(supervisor::socket);
}

use std::time::{Duration, Instant};

use actix_ws::{AggregatedMessage, CloseCode, CloseReason, MessageStream, ProtocolError, Session};
use channels::webchat::ServerFrame;
use futures_util::StreamExt as _;

use crate::AppState;
use crate::bus::{Received, Subscription};
use crate::services::staff::Activity;

/// The peer must be heard from (any frame, or a pong) within this many heartbeats
/// (`server.heartbeat_secs`), or the socket is closed.
const SILENT_HEARTBEATS: u32 = 3;

/// Close code for a missing, invalid or expired credential (4000-4999: application codes).
pub const CLOSE_UNAUTHORIZED: u16 = 4401;

/// What a handler wants after a frame or an event.
#[derive(Debug)]
pub enum Flow {
    Continue,
    Close(CloseReason),
}

/// `Flow::Close` with a code and a reason.
pub fn close(code: CloseCode, description: &str) -> Flow {
    Flow::Close(CloseReason { code, description: Some(description.to_owned()) })
}

/// The per-kind behaviour of a socket.
pub trait Handler {
    /// A text frame from the peer.
    async fn on_text(&mut self, session: &mut Session, text: &str) -> Flow;
    /// Something from the bus.
    async fn on_event(&mut self, session: &mut Session, received: Received) -> Flow;
    /// Called every heartbeat: is the credential still good?
    async fn on_tick(&mut self, session: &mut Session) -> Flow;
    /// How often [`Handler::on_period`] runs (first right after connect); `None`: never.
    fn period(&self) -> Option<Duration> {
        None
    }
    /// Periodic work, e.g. pushing figures.
    async fn on_period(&mut self, _session: &mut Session) -> Flow {
        Flow::Continue
    }
}

/// Sends a frame; a failure means the peer is gone.
pub async fn send(session: &mut Session, frame: &ServerFrame<'_>) -> Flow {
    send_text(session, frame.to_json()).await
}

/// Sends raw JSON text; a failure means the peer is gone.
pub async fn send_text(session: &mut Session, text: impl Into<bytestring::ByteString>) -> Flow {
    match session.text(text).await {
        Ok(()) => Flow::Continue,
        Err(_) => Flow::Close(CloseReason { code: CloseCode::Normal, description: None }),
    }
}

/// Stores a message that came in on a socket, then answers `ack`, or an `error` frame naming
/// the message's client id.
pub async fn store_and_ack(state: &AppState, session: &mut Session, new: schema::NewMessage) -> Flow {
    let conversation_id = new.conversation_id;
    let client_id = new.channel_message_id.clone();
    let client_id = client_id.as_ref().map_or("", schema::ChannelMessageId::as_str);
    match state.ingest.append(new).await {
        Ok(appended) => {
            send(session, &ServerFrame::Ack { conversation_id, client_id, seq: appended.message.seq }).await
        }
        Err(e) => {
            send(
                session,
                &ServerFrame::Error { code: e.code().as_str(), message: e.to_string(), client_id: Some(client_id) },
            )
            .await
        }
    }
}

/// The staff session behind a staff socket's upgrade request (`Authorization: Bearer` or
/// `?token=`), if it is live and has `role`; else the reason to refuse it, for [`refuse`].
pub async fn staff_session(
    state: &AppState,
    req: &actix_web::HttpRequest,
    role: schema::Role,
) -> Result<(schema::StaffSession, String), String> {
    let token = crate::http::auth::bearer_token(req).ok_or_else(|| "a staff session token is required".to_owned())?;
    match state.sessions.authenticate(&token, Activity::Active).await {
        Ok(s) if s.agent.has_role(role) => Ok((s, token)),
        Ok(_) => Err(format!("this socket needs the {role} role")),
        Err(e) => Err(e.to_string()),
    }
}

/// Closes a socket that was upgraded but failed authentication.
pub async fn refuse(session: Session, description: String) {
    let reason = CloseReason { code: CloseCode::Other(CLOSE_UNAUTHORIZED), description: Some(description) };
    let _ = session.close(Some(reason)).await;
}

/// Runs a socket until the peer leaves, the handler closes it, or the hub shuts down.
pub async fn drive<H: Handler>(
    state: actix_web::web::Data<AppState>,
    mut session: Session,
    stream: MessageStream,
    mut subscription: Subscription,
    mut handler: H,
    kind: &'static str,
) {
    let gauge = state.core.metrics.websockets.with_label_values(&[kind]);
    gauge.inc();
    let limit = state.config.webchat.max_frame_bytes;
    let mut stream = stream.max_frame_size(limit).aggregate_continuations().max_continuation_size(limit);
    let every = Duration::from_secs(state.config.server.heartbeat_secs.max(1));
    let silence_limit = every * SILENT_HEARTBEATS;
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let mut last_heard = Instant::now();
    let periodic = handler.period();
    let mut period = tokio::time::interval(periodic.unwrap_or(Duration::from_secs(86_400)));
    period.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let reason = loop {
        let flow = tokio::select! {
            biased;
            () = state.core.shutdown.cancelled() => close(CloseCode::Away, "the server is restarting; reconnect"),
            frame = stream.next() => {
                last_heard = Instant::now();
                match frame {
                    None => break None,
                    Some(Ok(AggregatedMessage::Text(text))) => handler.on_text(&mut session, &text).await,
                    Some(Ok(AggregatedMessage::Binary(_))) => {
                        send(&mut session, &ServerFrame::Error {
                            code: "unsupported_frame",
                            message: "send JSON text frames".into(),
                            client_id: None,
                        }).await
                    }
                    Some(Ok(AggregatedMessage::Ping(bytes))) => match session.pong(&bytes).await {
                        Ok(()) => Flow::Continue,
                        Err(_) => break None,
                    },
                    Some(Ok(AggregatedMessage::Pong(_))) => Flow::Continue,
                    Some(Ok(AggregatedMessage::Close(reason))) => break reason,
                    Some(Err(ProtocolError::Overflow)) => {
                        close(CloseCode::Size, &format!("frames are limited to {limit} bytes"))
                    }
                    Some(Err(e)) => close(CloseCode::Protocol, &e.to_string()),
                }
            }
            received = subscription.recv() => handler.on_event(&mut session, received).await,
            _ = period.tick(), if periodic.is_some() => handler.on_period(&mut session).await,
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > silence_limit {
                    close(CloseCode::Away, "no heartbeat")
                } else if session.ping(b"").await.is_err() {
                    break None;
                } else {
                    handler.on_tick(&mut session).await
                }
            }
        };
        if let Flow::Close(reason) = flow {
            break Some(reason);
        }
    };
    if let Some(r) = &reason {
        tracing::debug!(kind, code = u16::from(r.code), reason = ?r.description, "closing socket");
    }
    let _ = session.close(reason).await;
    gauge.dec();
}
