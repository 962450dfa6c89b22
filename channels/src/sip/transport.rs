//! UDP and TCP listeners (RFC 3261 §18). Each reader parses what arrives, applies the
//! per-source rate limit, and hands messages to the core task; a source over its limit gets at
//! most one `503` a second and is otherwise dropped, so a flood never stalls other sources.
//! TCP connections beyond `max_tcp_connections` get `503` to their first request and are closed.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use super::message::{self, MAX_MESSAGE_SIZE, Method, Response, SipMessage};
use super::{Flow, RateLimit, SipError};

/// Messages waiting for the core; beyond this UDP input is dropped (the sender retransmits).
pub(crate) const INBOUND_QUEUE: usize = 8192;
/// A TCP connection silent this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(300);
/// How long a connection over the limit has to send the request that gets its `503`.
const TCP_REFUSE_WAIT: Duration = Duration::from_secs(5);
/// Connections over the limit being answered at once; beyond, they are closed unanswered.
const TCP_REFUSING: usize = 64;
/// Frames queued towards one TCP connection before it is considered stuck and dropped.
const TCP_OUT_QUEUE: usize = 256;

/// What the transport hands the core.
#[derive(Debug)]
pub(crate) enum Inbound {
    Message { msg: SipMessage, source: SocketAddr, flow: Flow },
    TcpOpened { id: u64, writer: mpsc::Sender<Vec<u8>> },
    TcpClosed { id: u64 },
}

/// Per-source-IP limiter, plus a slower one for the `503`s sent to a source over its limit.
#[derive(Clone)]
pub(crate) struct Limiter {
    messages: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    rejections: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    trusted: Arc<Vec<IpAddr>>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("enabled", &self.messages.is_some()).finish()
    }
}

/// The verdict on one inbound message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    Yes,
    /// Over the limit: answer `503` (requests only).
    Reject,
    Drop,
}

impl Limiter {
    pub(crate) fn new(limit: Option<&RateLimit>, trusted: Vec<IpAddr>) -> Self {
        let messages = limit.map(|l| {
            let per = NonZeroU32::new(l.per_second.max(1)).unwrap_or(NonZeroU32::MIN);
            let burst = NonZeroU32::new(l.burst.max(1)).unwrap_or(NonZeroU32::MIN);
            Arc::new(RateLimiter::keyed(Quota::per_second(per).allow_burst(burst)))
        });
        let rejections = Arc::new(RateLimiter::keyed(Quota::per_second(NonZeroU32::MIN)));
        Self { messages, rejections, trusted: Arc::new(trusted) }
    }

    pub(crate) fn admit(&self, ip: IpAddr) -> Admit {
        let Some(lim) = &self.messages else { return Admit::Yes };
        if self.trusted.contains(&ip) || lim.check_key(&ip).is_ok() {
            Admit::Yes
        } else if self.rejections.check_key(&ip).is_ok() {
            Admit::Reject
        } else {
            Admit::Drop
        }
    }

    /// Forgets sources that have been quiet (bounded memory under address-spraying floods).
    pub(crate) fn sweep(&self) {
        if let Some(l) = &self.messages {
            l.retain_recent();
            l.shrink_to_fit();
        }
        self.rejections.retain_recent();
        self.rejections.shrink_to_fit();
    }
}

/// The `503` for a request over the limit; `None` for ACKs and responses.
fn overload_response(msg: &SipMessage) -> Option<Vec<u8>> {
    let SipMessage::Request(req) = msg else { return None };
    if req.method == Method::Ack {
        return None;
    }
    let mut resp = Response::to_request(req, 503, None);
    resp.headers.push("Retry-After", "5");
    Some(resp.to_bytes())
}

pub(crate) async fn bind_udp(
    addr: SocketAddr,
    inbound: mpsc::Sender<Inbound>,
    limiter: Limiter,
) -> Result<(Arc<UdpSocket>, JoinHandle<()>), SipError> {
    let socket = Arc::new(UdpSocket::bind(addr).await.map_err(|e| SipError::Io(format!("bind UDP {addr}: {e}")))?);
    let reader = Arc::clone(&socket);
    let task = tokio::spawn(async move {
        // One byte more than the limit, so an oversize datagram is seen as such and not truncated into a valid one.
        let mut buf = vec![0u8; MAX_MESSAGE_SIZE + 1];
        loop {
            let (n, source) = match reader.recv_from(&mut buf).await {
                Ok(x) => x,
                // ICMP port unreachable surfaces as an error on some platforms: keep serving.
                Err(e) => {
                    tracing::debug!(error = %e, "sip udp recv");
                    continue;
                }
            };
            let admit = limiter.admit(source.ip());
            if admit == Admit::Drop {
                continue;
            }
            let msg = match SipMessage::parse(&buf[..n]) {
                Ok(m) => m,
                Err(e) => {
                    if n > 4 {
                        tracing::debug!(%source, code = e.code(), "sip udp: dropped a malformed datagram");
                    }
                    continue;
                }
            };
            if admit == Admit::Reject {
                if let Some(bytes) = overload_response(&msg) {
                    let _ = reader.try_send_to(&bytes, source);
                }
                continue;
            }
            if inbound.try_send(Inbound::Message { msg, source, flow: Flow::Udp }).is_err() && inbound.is_closed() {
                return;
            }
        }
    });
    Ok((socket, task))
}

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

pub(crate) async fn bind_tcp(
    addr: SocketAddr,
    inbound: mpsc::Sender<Inbound>,
    limiter: Limiter,
    max_connections: usize,
) -> Result<(SocketAddr, JoinHandle<()>), SipError> {
    let listener = TcpListener::bind(addr).await.map_err(|e| SipError::Io(format!("bind TCP {addr}: {e}")))?;
    let local = listener.local_addr().map_err(|e| SipError::Io(e.to_string()))?;
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    let refusing = Arc::new(Semaphore::new(TCP_REFUSING));
    let task = tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!(error = %e, "sip tcp accept");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                if let Ok(refusal) = Arc::clone(&refusing).try_acquire_owned() {
                    tokio::spawn(async move {
                        refuse_tcp(stream).await;
                        drop(refusal);
                    });
                }
                continue;
            };
            let id = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
            let (inbound, limiter) = (inbound.clone(), limiter.clone());
            tokio::spawn(async move {
                serve_tcp(id, stream, peer, inbound, limiter).await;
                drop(permit);
            });
        }
    });
    Ok((local, task))
}

/// A connection over the limit: `503` with `Retry-After` to its first request, then closed.
async fn refuse_tcp(mut stream: TcpStream) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 4096];
    let refused = tokio::time::timeout(TCP_REFUSE_WAIT, async {
        loop {
            let n = stream.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
            buf.extend_from_slice(&chunk[..n]);
            match message::frame_length(&buf) {
                Ok(Some(len)) => return SipMessage::parse(&buf[..len]).ok().and_then(|m| overload_response(&m)),
                Ok(None) if buf.len() <= MAX_MESSAGE_SIZE => {}
                _ => return None,
            }
        }
    })
    .await;
    if let Ok(Some(bytes)) = refused {
        let _ = stream.write_all(&bytes).await;
        // Let the client ACK the 503 before the connection goes.
        let _ = tokio::time::timeout(TCP_REFUSE_WAIT, async {
            while stream.read(&mut chunk).await.is_ok_and(|n| n > 0) {}
        })
        .await;
    }
    let _ = stream.shutdown().await;
}

async fn serve_tcp(id: u64, stream: TcpStream, peer: SocketAddr, inbound: mpsc::Sender<Inbound>, limiter: Limiter) {
    let (mut rd, mut wr) = stream.into_split();
    let (writer, mut out) = mpsc::channel::<Vec<u8>>(TCP_OUT_QUEUE);
    if inbound.send(Inbound::TcpOpened { id, writer: writer.clone() }).await.is_err() {
        return;
    }
    let write_task = tokio::spawn(async move {
        while let Some(bytes) = out.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    'conn: loop {
        let n = match tokio::time::timeout(TCP_IDLE, rd.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) | Err(_) => break,
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            let len = match message::frame_length(&buf) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                // The stream cannot be resynchronised after a framing error: close it.
                Err(e) => {
                    tracing::debug!(%peer, code = e.code(), "sip tcp: framing error, closing");
                    break 'conn;
                }
            };
            let frame: Vec<u8> = buf.drain(..len).collect();
            if frame.iter().all(|b| *b == b'\r' || *b == b'\n') {
                continue;
            }
            let admit = limiter.admit(peer.ip());
            if admit == Admit::Drop {
                continue;
            }
            let msg = match SipMessage::parse(&frame) {
                Ok(m) => m,
                Err(e) => {
                    tracing::debug!(%peer, code = e.code(), "sip tcp: dropped a malformed message");
                    continue;
                }
            };
            if admit == Admit::Reject {
                if let Some(bytes) = overload_response(&msg) {
                    let _ = writer.try_send(bytes);
                }
                continue;
            }
            if inbound.send(Inbound::Message { msg, source: peer, flow: Flow::Tcp(id) }).await.is_err() {
                break 'conn;
            }
        }
        // Keep-alive CRLFs alone never make a frame; don't let them pile up.
        if buf.iter().all(|b| *b == b'\r' || *b == b'\n') {
            buf.clear();
        }
        if buf.len() > MAX_MESSAGE_SIZE {
            break;
        }
    }
    let _ = inbound.send(Inbound::TcpClosed { id }).await;
    drop(writer);
    write_task.abort();
}
