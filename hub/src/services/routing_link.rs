//! How a node that does not hold the `router` lease reaches the one that does: routing commands
//! over two kinds of Redis list (ARCHITECTURE.md, "Routing on several nodes").
//!
//! - A caller pushes a request (`RPUSH {stream}:router:requests`) carrying an id, the key of its
//!   node's reply list and a deadline, and waits for the answer; one task per node reads that
//!   node's reply list (`BLPOP {stream}:router:replies:{node}`) and hands each answer to the call
//!   waiting for it.
//! - The leader reads the requests (`BLPOP`) one at a time, in the order they were pushed, for as
//!   long as its term lasts; it drops those past their deadline (their caller has given up) and
//!   pushes each answer to the asker's list, which expires if its node is gone.
//!
//! Lists rather than pub/sub: a request pushed while no node leads (during a takeover) waits in
//! the list for the next leader instead of being lost, and the order of one node's requests is
//! kept (a socket's open before its close). Nothing here knows what a command means: commands and
//! answers are JSON, which `services::routing` defines.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, RedisResult};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::bus::{describe_redis_error as describe, redis_manager};
use crate::services::now_ms;

/// How long one `BLPOP` waits before looking at its term or the shutdown again.
const BLOCK_SECS: f64 = 1.0;
/// How long any other Redis command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);
/// A request or answer larger than this is neither sent nor read.
const MAX_ENTRY_BYTES: usize = 4 << 20;
/// A list no one pushes to expires after this long (a reply list whose node is gone, the
/// requests when no node runs).
const LIST_TTL_MS: u64 = 60_000;
/// Backoff between reconnection attempts.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// Why a call got no answer.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("no node running the router answered within {0:?}")]
    Timeout(Duration),
    #[error("cannot reach Redis to forward a routing command: {0}")]
    Redis(String),
    #[error("a routing command could not be encoded: {0}")]
    Encode(String),
}

/// The answer to a request: the command's result as JSON, or its error's code and text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Ok(serde_json::Value),
    Err { code: String, message: String },
}

#[derive(Serialize, Deserialize)]
struct Request {
    id: u64,
    reply_to: String,
    /// Ms since the epoch after which the caller no longer waits.
    deadline_ms: i64,
    command: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
struct Response {
    id: u64,
    answer: Answer,
}

/// Where the lists are.
#[derive(Clone)]
pub struct LinkOptions {
    /// `redis://…`: may hold a password, so it is never printed.
    pub url: String,
    /// The deployment's stream key (`bus.stream`): the lists' keys start with it.
    pub prefix: String,
    /// This node's id (the reply list's name).
    pub node: Arc<str>,
    /// How long a call waits for its answer.
    pub timeout: Duration,
}

impl fmt::Debug for LinkOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkOptions")
            .field("url", &"[redacted]")
            .field("prefix", &self.prefix)
            .field("node", &self.node)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// One node's end of the link.
pub struct RouterLink {
    client: Client,
    conn: ConnectionManager,
    requests: String,
    replies: String,
    /// Every node's reply list starts with this: an answer goes to no other key.
    reply_prefix: String,
    node: Arc<str>,
    timeout: Duration,
    waiting: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
    next: AtomicU64,
}

impl fmt::Debug for RouterLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterLink").field("node", &self.node).field("requests", &self.requests).finish_non_exhaustive()
    }
}

/// A connection for one blocking reader (a `BLPOP` holds its connection while it waits).
async fn blocking_connection(client: &Client) -> RedisResult<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(COMMAND_TIMEOUT)
        .set_response_timeout(Duration::from_secs_f64(BLOCK_SECS) + COMMAND_TIMEOUT);
    client.get_multiplexed_async_connection_with_config(&config).await
}

/// Pops the next entry of `key`, waiting at most [`BLOCK_SECS`]: `None` if none came.
async fn pop(conn: &mut MultiplexedConnection, key: &str) -> RedisResult<Option<Vec<u8>>> {
    let popped: Option<(String, Vec<u8>)> = redis::cmd("BLPOP").arg(key).arg(BLOCK_SECS).query_async(conn).await?;
    Ok(popped.map(|(_, v)| v))
}

/// Reads one list, connecting again (with backoff) whenever Redis is lost.
struct ListReader {
    client: Client,
    key: String,
    what: &'static str,
    conn: Option<MultiplexedConnection>,
    retry: Duration,
}

impl ListReader {
    fn new(client: Client, key: String, what: &'static str) -> Self {
        Self { client, key, what, conn: None, retry: RETRY_MIN }
    }

    /// The next entry, waiting as long as it takes; `None` once `stop` is cancelled.
    async fn next(&mut self, stop: &CancellationToken) -> Option<Vec<u8>> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                let connected = tokio::select! {
                    c = blocking_connection(&self.client) => c,
                    () = stop.cancelled() => return None,
                };
                match connected {
                    Ok(c) => {
                        self.conn = Some(c);
                        self.retry = RETRY_MIN;
                    }
                    Err(e) => {
                        tracing::warn!(error = %describe(&e), list = self.what, "routing link: cannot reach Redis");
                        tokio::select! {
                            () = tokio::time::sleep(self.retry) => {}
                            () = stop.cancelled() => return None,
                        }
                        self.retry = (self.retry * 2).min(RETRY_MAX);
                    }
                }
                continue;
            };
            let popped = tokio::select! {
                p = pop(conn, &self.key) => p,
                () = stop.cancelled() => return None,
            };
            match popped {
                Ok(Some(body)) => return Some(body),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %describe(&e), list = self.what, "routing link: lost Redis while waiting");
                    self.conn = None;
                }
            }
        }
    }
}

impl RouterLink {
    /// Connects and starts the task that reads this node's answers; it stops with `shutdown`.
    ///
    /// # Errors
    /// An invalid URL, or Redis unreachable now.
    pub async fn start(options: LinkOptions, shutdown: CancellationToken) -> Result<Arc<Self>, LinkError> {
        let client = Client::open(options.url.as_str()).map_err(|e| LinkError::Redis(format!("{:?}", e.kind())))?;
        let conn = redis_manager(&client).await.map_err(|e| LinkError::Redis(describe(&e)))?;
        let link = Arc::new(Self {
            client,
            conn,
            requests: format!("{}:router:requests", options.prefix),
            replies: format!("{}:router:replies:{}", options.prefix, options.node),
            reply_prefix: format!("{}:router:replies:", options.prefix),
            node: options.node,
            timeout: options.timeout,
            waiting: Mutex::default(),
            next: AtomicU64::new(1),
        });
        tokio::spawn(Arc::clone(&link).read_answers(shutdown));
        Ok(link)
    }

    /// This node's id.
    #[must_use]
    pub fn node(&self) -> &Arc<str> {
        &self.node
    }

    /// Sends `command` to whichever node runs the router and waits for its answer.
    ///
    /// # Errors
    /// No answer within the timeout (no leader, or it died with the request), or Redis is
    /// unreachable.
    pub async fn call(&self, command: serde_json::Value) -> Result<Answer, LinkError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let request = Request {
            id,
            reply_to: self.replies.clone(),
            deadline_ms: now_ms().saturating_add(i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX)),
            command,
        };
        let body = serde_json::to_vec(&request).map_err(|e| LinkError::Encode(e.to_string()))?;
        if body.len() > MAX_ENTRY_BYTES {
            return Err(LinkError::Encode(format!("{} bytes is over the limit", body.len())));
        }
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id, tx);
        if let Err(e) = self.push(&self.requests, body).await {
            self.lock().remove(&id);
            return Err(LinkError::Redis(describe(&e)));
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            _ => {
                self.lock().remove(&id);
                Err(LinkError::Timeout(self.timeout))
            }
        }
    }

    /// Appends `body` to the list `key`, which expires unless pushed to again.
    async fn push(&self, key: &str, body: Vec<u8>) -> RedisResult<()> {
        let mut conn = self.conn.clone();
        redis::pipe()
            .cmd("RPUSH")
            .arg(key)
            .arg(body)
            .ignore()
            .cmd("PEXPIRE")
            .arg(key)
            .arg(LIST_TTL_MS)
            .ignore()
            .query_async(&mut conn)
            .await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Answer>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads this node's reply list until shutdown, handing each answer to its call.
    async fn read_answers(self: Arc<Self>, shutdown: CancellationToken) {
        let mut answers = ListReader::new(self.client.clone(), self.replies.clone(), "answers");
        while let Some(body) = answers.next(&shutdown).await {
            self.deliver(&body);
        }
    }

    fn deliver(&self, body: &[u8]) {
        if body.len() > MAX_ENTRY_BYTES {
            tracing::warn!(bytes = body.len(), "routing link: an oversized answer was dropped");
            return;
        }
        match serde_json::from_slice::<Response>(body) {
            Ok(response) => {
                if let Some(tx) = self.lock().remove(&response.id) {
                    // The call may have given up meanwhile: nothing to do then.
                    let _ = tx.send(response.answer);
                }
            }
            Err(e) => tracing::warn!(error = %e, "routing link: an unreadable answer was dropped"),
        }
    }

    /// Serves the requests of every node with `handle`, one at a time in their order, until
    /// `term` ends (this node lost the lease, or shuts down).
    pub async fn serve<F, Fut>(&self, term: CancellationToken, mut handle: F)
    where
        F: FnMut(serde_json::Value) -> Fut,
        Fut: Future<Output = Answer>,
    {
        let mut requests = ListReader::new(self.client.clone(), self.requests.clone(), "requests");
        while let Some(body) = requests.next(&term).await {
            if body.len() > MAX_ENTRY_BYTES {
                tracing::warn!(bytes = body.len(), "routing link: an oversized request was dropped");
                continue;
            }
            let request: Request = match serde_json::from_slice(&body) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "routing link: an unreadable request was dropped");
                    continue;
                }
            };
            if now_ms() > request.deadline_ms {
                tracing::warn!(id = request.id, "routing link: a request past its deadline was dropped");
                continue;
            }
            if !request.reply_to.starts_with(&self.reply_prefix) {
                tracing::warn!(id = request.id, "routing link: a request with a foreign reply key was dropped");
                continue;
            }
            let answer = handle(request.command).await;
            self.answer(&request.reply_to, request.id, answer).await;
        }
    }

    async fn answer(&self, reply_to: &str, id: u64, answer: Answer) {
        let body = match serde_json::to_vec(&Response { id, answer }) {
            Ok(b) if b.len() <= MAX_ENTRY_BYTES => b,
            Ok(b) => {
                tracing::error!(bytes = b.len(), "routing link: an answer over the limit was not sent");
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "routing link: an answer could not be encoded");
                return;
            }
        };
        if let Err(e) = self.push(reply_to, body).await {
            tracing::warn!(error = %describe(&e), id, "routing link: an answer could not be sent");
        }
    }
}
