//! What the nodes' SIP servers share through Redis (ARCHITECTURE.md, "Voice on several nodes"):
//! - **registrations**: each node writes the softphone registrations it took, so the node a
//!   call reaches can ring the agent's phone wherever it registered (one hash per agent, one
//!   field per node and contact, each node rewriting only its own fields);
//! - **live calls**: each node vouches every few seconds for the calls it carries (a key that
//!   expires), so the calls of a node that died are known: nobody vouches for them any more.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{Client, RedisResult};
use schema::AgentId;
use serde::{Deserialize, Serialize};

use crate::bus::{describe_redis_error as describe, redis_manager};
use crate::error::Error;
use crate::services::now_ms;

/// How long a node's word for its calls lasts; it renews it every [`CALLS_RENEW`].
pub const CALLS_TTL: Duration = Duration::from_secs(20);
/// How often a node renews its word for its calls.
pub const CALLS_RENEW: Duration = Duration::from_secs(5);
/// A registration hash nobody writes to any more expires after this (past any registration's
/// own expiry: `sip.max_expires` is at most an hour).
const REGISTRATIONS_TTL_MS: u64 = 2 * 3600 * 1000;
/// An agent's registrations beyond this many (all nodes together) are not read.
const MAX_REGISTRATIONS: usize = 64;

/// A softphone registration as the nodes share it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedBinding {
    pub username: String,
    pub contact: String,
    /// Where INVITEs go.
    pub target: SocketAddr,
    /// Registered over TCP: reachable only by the node that holds the connection.
    pub tcp: bool,
    /// The node that took the registration.
    pub node: String,
    /// Ms since the epoch.
    pub expires_at_ms: i64,
}

impl SharedBinding {
    /// The time it has left (none once expired).
    #[must_use]
    pub fn left(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.expires_at_ms.saturating_sub(now_ms())).unwrap_or(0))
    }
}

/// One node's side of the shared voice state.
pub struct VoiceShare {
    conn: ConnectionManager,
    prefix: String,
    node: Arc<str>,
}

impl fmt::Debug for VoiceShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VoiceShare").field("prefix", &self.prefix).field("node", &self.node).finish_non_exhaustive()
    }
}

fn redis_error(e: &redis::RedisError) -> Error {
    Error::Unavailable(format!("Redis: {}", describe(e)))
}

impl VoiceShare {
    /// Connects to Redis at `url` (it may hold a password: never printed).
    ///
    /// # Errors
    /// An invalid URL, or Redis unreachable now.
    pub async fn connect(url: &str, prefix: &str, node: Arc<str>) -> Result<Self, Error> {
        let client = Client::open(url).map_err(|e| Error::Internal(format!("bus.url: {:?}", e.kind())))?;
        let conn = redis_manager(&client).await.map_err(|e| redis_error(&e))?;
        Ok(Self { conn, prefix: prefix.to_owned(), node })
    }

    /// This node's id.
    #[must_use]
    pub fn node(&self) -> &str {
        &self.node
    }

    fn registrations_key(&self, agent: AgentId) -> String {
        format!("{}:sip:registrations:{agent}", self.prefix)
    }

    fn calls_key(&self, node: &str) -> String {
        format!("{}:sip:calls:{node}", self.prefix)
    }

    /// Replaces this node's registrations of `agent` with `bindings` (all of them are this
    /// node's), in one transaction.
    ///
    /// # Errors
    /// Redis fails (503).
    pub async fn publish(&self, agent: AgentId, bindings: &[SharedBinding]) -> Result<(), Error> {
        let key = self.registrations_key(agent);
        let mut conn = self.conn.clone();
        let fields: Vec<String> =
            redis::cmd("HKEYS").arg(&key).query_async(&mut conn).await.map_err(|e| redis_error(&e))?;
        let mine = format!("{}|", self.node);
        let mut pipe = redis::pipe();
        pipe.atomic();
        let stale: Vec<&String> = fields
            .iter()
            .filter(|f| f.starts_with(&mine) && !bindings.iter().any(|b| **f == format!("{mine}{}", b.contact)))
            .collect();
        if !stale.is_empty() {
            pipe.cmd("HDEL").arg(&key).arg(stale).ignore();
        }
        for b in bindings {
            let value = serde_json::to_string(b).map_err(|e| Error::Internal(e.to_string()))?;
            pipe.cmd("HSET").arg(&key).arg(format!("{mine}{}", b.contact)).arg(value).ignore();
        }
        pipe.cmd("PEXPIRE").arg(&key).arg(REGISTRATIONS_TTL_MS).ignore();
        let done: RedisResult<()> = pipe.query_async(&mut conn).await;
        done.map_err(|e| redis_error(&e))
    }

    /// Every node's live registrations of `agent` (unreadable or expired entries skipped).
    ///
    /// # Errors
    /// Redis fails (503).
    pub async fn registrations(&self, agent: AgentId) -> Result<Vec<SharedBinding>, Error> {
        let mut conn = self.conn.clone();
        let values: Vec<String> = redis::cmd("HVALS")
            .arg(self.registrations_key(agent))
            .query_async(&mut conn)
            .await
            .map_err(|e| redis_error(&e))?;
        let now = now_ms();
        Ok(values
            .iter()
            .take(MAX_REGISTRATIONS)
            .filter_map(|v| serde_json::from_str::<SharedBinding>(v).ok())
            .filter(|b| b.expires_at_ms > now)
            .collect())
    }

    /// Vouches for this node's live calls (their ids) for [`CALLS_TTL`].
    ///
    /// # Errors
    /// Redis fails (503).
    pub async fn vouch(&self, calls: &[String]) -> Result<(), Error> {
        let value = serde_json::to_string(calls).map_err(|e| Error::Internal(e.to_string()))?;
        let mut conn = self.conn.clone();
        let ttl = u64::try_from(CALLS_TTL.as_millis()).unwrap_or(u64::MAX);
        let done: RedisResult<()> = redis::cmd("SET")
            .arg(self.calls_key(&self.node))
            .arg(value)
            .arg("PX")
            .arg(ttl)
            .query_async(&mut conn)
            .await;
        done.map_err(|e| redis_error(&e))
    }

    /// The calls some live node vouches for.
    ///
    /// # Errors
    /// Redis fails (503).
    pub async fn vouched(&self) -> Result<HashSet<String>, Error> {
        let mut conn = self.conn.clone();
        let pattern = self.calls_key("*");
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await
                .map_err(|e| redis_error(&e))?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let mut calls = HashSet::new();
        if keys.is_empty() {
            return Ok(calls);
        }
        let values: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await.map_err(|e| redis_error(&e))?;
        for value in values.into_iter().flatten() {
            if let Ok(ids) = serde_json::from_str::<Vec<String>>(&value) {
                calls.extend(ids);
            }
        }
        Ok(calls)
    }
}
