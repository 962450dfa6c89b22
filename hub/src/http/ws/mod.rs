//! The websockets: the customer's chat (`webchat`), the agents' live inbox, the supervisors'
//! live view. This module is what they share: frame limits, heartbeats, shutdown, close codes.

pub mod inbox;
pub mod supervisor;

/// The staff sockets.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(inbox::socket).service(supervisor::socket);
}

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
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

/// The sockets open per client address (`server.websockets_per_address`), staff and customer
/// alike.
#[derive(Debug, Default)]
pub struct SocketsPerAddress {
    open: Mutex<HashMap<IpAddr, u32>>,
}

/// One open socket counted against its address; dropping it (the socket ended) frees it.
#[derive(Debug)]
pub struct AddressSlot {
    table: Arc<SocketsPerAddress>,
    address: Option<IpAddr>,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if let Some(address) = self.address {
            let mut open = self.table.open.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(n) = open.get_mut(&address) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.remove(&address);
                }
            }
        }
    }
}

/// Counts a socket about to be upgraded against the client's address; over
/// `server.websockets_per_address` (0: no cap), 429 with `Retry-After` before any upgrade.
///
/// # Errors
/// The address has its share of sockets open.
pub fn admit_socket(state: &AppState, req: &actix_web::HttpRequest) -> Result<AddressSlot, crate::error::Error> {
    let table = Arc::clone(&state.sockets);
    let max = state.config.server.websockets_per_address;
    let Some(address) = crate::http::client_address(&state.config, req).filter(|_| max > 0) else {
        return Ok(AddressSlot { table, address: None });
    };
    let mut open = table.open.lock().unwrap_or_else(PoisonError::into_inner);
    let n = open.entry(address).or_insert(0);
    if *n >= max {
        return Err(crate::error::Error::RetryLater {
            message: format!("this address has {max} websockets open already"),
            after: Duration::from_secs(5),
        });
    }
    *n += 1;
    drop(open);
    Ok(AddressSlot { table, address: Some(address) })
}

/// Close code for a peer over the frame rate (RFC 6455: policy violation).
pub const CLOSE_TOO_MANY_FRAMES: CloseCode = CloseCode::Policy;

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

/// Stores a message that came in on a socket (from the customer, or from the staff member
/// `staff`, under the assignee-or-supervisor rule), then answers `ack`, or an `error` frame naming
/// the message's client id.
pub async fn store_and_ack(
    state: &AppState,
    session: &mut Session,
    new: schema::NewMessage,
    staff: Option<&schema::Agent>,
) -> Flow {
    let conversation_id = new.conversation_id;
    let client_id = new.channel_message_id.clone();
    let client_id = client_id.as_ref().map_or("", schema::ChannelMessageId::as_str);
    let stored = match staff {
        Some(agent) => state.ingest.append_as(agent, new).await,
        None => state.ingest.append(new).await,
    };
    match stored {
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
    let token = crate::http::auth::socket_token(req).ok_or_else(|| "a staff session token is required".to_owned())?;
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

/// Runs a socket until the peer leaves, the handler closes it, or the hub shuts down; `slot`
/// (its address's count) is freed at the end. A peer sending more than
/// `server.websocket_frames_per_sec` frames a second (bursts of twice that) is closed with 1008.
pub async fn drive<H: Handler>(
    state: actix_web::web::Data<AppState>,
    mut session: Session,
    stream: MessageStream,
    mut subscription: Subscription,
    mut handler: H,
    kind: &'static str,
    slot: AddressSlot,
) {
    let gauge = state.core.metrics.websockets.with_label_values(&[kind]);
    gauge.inc();
    let rate = NonZeroU32::new(state.config.server.websocket_frames_per_sec).map(|per_sec| {
        let burst = per_sec.saturating_mul(NonZeroU32::MIN.saturating_add(1));
        governor::RateLimiter::direct(governor::Quota::per_second(per_sec).allow_burst(burst))
    });
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
                    // Over the frame rate: the socket is closed, whatever the frame held.
                    Some(Ok(AggregatedMessage::Text(_) | AggregatedMessage::Binary(_)))
                        if rate.as_ref().is_some_and(|r| r.check().is_err()) =>
                    {
                        close(CLOSE_TOO_MANY_FRAMES, "too many frames; slow down")
                    }
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
    drop(slot);
}
