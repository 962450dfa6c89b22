//! Leases between hub nodes: a named lease that at most one node holds, as a PostgreSQL
//! session-level advisory lock on one connection kept for that purpose ([`LeaseSession`]).
//!
//! PostgreSQL grants an advisory lock to one session at a time and frees it when the session
//! ends, so a node that dies (its socket closed by the kernel) loses its leases at once, and one
//! whose host or network goes away loses them when the server's TCP keepalive gives up on it
//! (set short on this session: a few seconds). The lock's key is a 64-bit hash of the schema and
//! the lease's name, so deployments (or tests) sharing a database in separate schemas do not
//! share a lease. The session must reach PostgreSQL directly: a transaction-pooling proxy would
//! hand the lock to whichever client used the server connection next.
//!
//! SQLite is one node by design: there is no session, the node always leads.

use sqlx::AnyConnection;
use sqlx::{Connection as _, Executor as _, Row as _};

use super::{Backend, Result, Store, StoreError};

/// The server gives up on a silent node after `idle + interval * count` seconds (PostgreSQL
/// ignores these on a Unix-domain socket, where a dead peer is seen at once).
const KEEPALIVE: &str = "SET tcp_keepalives_idle = 2; SET tcp_keepalives_interval = 1; \
     SET tcp_keepalives_count = 2; SET application_name = 'switchboard-leases'";

/// The one connection a node holds its leases on (PostgreSQL). Dropping it closes the connection,
/// which frees every lease it held.
#[derive(Debug)]
pub struct LeaseSession {
    conn: AnyConnection,
}

impl Store {
    /// Opens the session leases are held on: a connection taken out of the pool for good (the
    /// pool opens another in its place), with a short TCP keepalive on the server's side. `None`
    /// on SQLite, where the one node always leads.
    ///
    /// # Errors
    /// The database cannot be reached.
    pub async fn lease_session(&self) -> Result<Option<LeaseSession>> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut conn = self.write.acquire().await.map_err(StoreError::Unavailable)?.detach();
        conn.execute(KEEPALIVE).await?;
        Ok(Some(LeaseSession { conn }))
    }
}

impl LeaseSession {
    /// Takes the lease `name` if no session holds it; whether this session holds it now (taking
    /// one it already holds is a no-op, never a second hold).
    ///
    /// # Errors
    /// The session is broken: drop it (which frees whatever it held) and open another.
    pub async fn try_acquire(&mut self, name: &str) -> Result<bool> {
        if self.holds(name).await? {
            return Ok(true);
        }
        let row = sqlx::query("SELECT pg_try_advisory_lock(hashtextextended(current_schema() || '/' || $1, 0))")
            .bind(name)
            .fetch_one(&mut self.conn)
            .await?;
        Ok(row.try_get::<bool, _>(0)?)
    }

    /// Whether this session holds the lease `name` (asked of the server: the answer also proves
    /// the session is alive).
    ///
    /// # Errors
    /// The session is broken.
    pub async fn holds(&mut self, name: &str) -> Result<bool> {
        // A bigint key shows in pg_locks as its high half (classid) and low half (objid), with
        // objsubid 1.
        let row = sqlx::query(
            "WITH k AS (SELECT hashtextextended(current_schema() || '/' || $1, 0) AS key) \
             SELECT COUNT(*) FROM pg_locks, k WHERE locktype = 'advisory' AND pid = pg_backend_pid() \
             AND granted AND objsubid = 1 AND classid::bigint = ((k.key >> 32) & 4294967295) \
             AND objid::bigint = (k.key & 4294967295)",
        )
        .bind(name)
        .fetch_one(&mut self.conn)
        .await?;
        Ok(row.try_get::<i64, _>(0)? > 0)
    }

    /// Gives the lease `name` up (at a clean shutdown, so another node takes over at once).
    ///
    /// # Errors
    /// The session is broken (and so holds nothing any more).
    pub async fn release(&mut self, name: &str) -> Result<()> {
        sqlx::query("SELECT pg_advisory_unlock(hashtextextended(current_schema() || '/' || $1, 0))")
            .bind(name)
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }

    /// Closes the session, freeing whatever it holds.
    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}
