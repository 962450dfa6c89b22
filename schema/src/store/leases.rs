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
//! A lock alone cannot stop a node that lost its session from writing: it learns of the loss at
//! its next check, while its successor may already be at work. So each lease has a term in the
//! store (`lease_terms`), bumped by the node that takes the lease, before it starts the lease's
//! work ([`LeaseSession::begin_term`]); the lease's writes go through a store fenced with that
//! term ([`Store::fenced`]), whose transactions first read the term under a share lock and fail
//! with [`StoreError::Fenced`] if it moved on. The bump waits for the share locks of the old
//! holder's transactions in flight, so each of those commits before the new term begins (and the
//! successor, which reads the store after the bump, sees it) or fails.
//!
//! SQLite is one node by design: there is no session, the node always leads, nothing is fenced.

use sqlx::AnyConnection;
use sqlx::{Connection as _, Executor as _, Row as _};

use super::{Backend, Result, Store, StoreError};

/// A lease's term as the node that took it was given it: the writes made under the lease are
/// fenced with it ([`Store::fenced`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    lease: String,
    term: i64,
}

impl Fence {
    /// The lease's name.
    #[must_use]
    pub fn lease(&self) -> &str {
        &self.lease
    }

    /// The term: 1 for the first holder ever, one more for each holder after it.
    #[must_use]
    pub fn term(&self) -> i64 {
        self.term
    }
}

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

    /// Begins a new term of the lease `name`, which this session must hold (just taken): the
    /// term after the last holder's, to fence the writes made under the lease with. Waits for the
    /// previous holder's fenced transactions still in flight (each commits first or fails).
    ///
    /// # Errors
    /// The session is broken, or does not hold the lease (then nothing is written).
    pub async fn begin_term(&mut self, name: &str) -> Result<Fence> {
        if !self.holds(name).await? {
            return Err(StoreError::Fenced { lease: name.to_owned() });
        }
        let row = sqlx::query(
            "INSERT INTO lease_terms (name, term) VALUES ($1, 1) \
             ON CONFLICT (name) DO UPDATE SET term = lease_terms.term + 1 RETURNING term",
        )
        .bind(name)
        .fetch_one(&mut self.conn)
        .await?;
        Ok(Fence { lease: name.to_owned(), term: row.try_get::<i64, _>(0)? })
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

impl Store {
    /// This store, with the writes that belong to a lease fenced with `fence`: each such write
    /// (the ticket and presence writes of the router) fails with [`StoreError::Fenced`], writing
    /// nothing, once another term of the lease has begun. Reads and other writes are unchanged.
    #[must_use]
    pub fn fenced(&self, fence: Fence) -> Self {
        Self { fence: Some(std::sync::Arc::new(fence)), ..self.clone() }
    }

    /// Begins a write transaction, fenced if this store is (PostgreSQL): it holds a share lock on
    /// the lease's term until it ends, so no new term begins meanwhile.
    pub(super) async fn begin_fenced(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let mut tx = self.write.begin().await?;
        if let Some(fence) = self.fence.as_deref()
            && self.backend == Backend::Postgres
        {
            let term: Option<i64> = sqlx::query_scalar("SELECT term FROM lease_terms WHERE name = $1 FOR SHARE")
                .bind(&fence.lease)
                .fetch_optional(&mut *tx)
                .await?;
            if term != Some(fence.term) {
                tx.rollback().await?;
                return Err(StoreError::Fenced { lease: fence.lease.clone() });
            }
        }
        Ok(tx)
    }
}
