//! Leadership between hub nodes: named leases ([`LeaseName`]) that at most one node holds at a
//! time, and the work that runs only on the holder ([`Lease::run_while_held`]).
//!
//! The leases are PostgreSQL advisory locks on one session per node (`schema::LeaseSession`; why
//! in ARCHITECTURE.md, "Several nodes"). Every [`TICK`] the node checks its session (which proves
//! it still holds what it holds) and tries to take the leases it lacks (every [`TRY_TICK`] while
//! it lacks one, so a takeover waits little); a failed or slow check
//! ends every term at once and drops the session, which frees the locks if the server still had
//! them. A term is a [`CancellationToken`]: the work of a lease stops when its term is cancelled
//! (lost, or the hub shutting down). On SQLite the node always holds every lease.
//!
//! A node that lost its session learns it at its next check (within [`TICK`] plus
//! [`CHECK_TIMEOUT`]), while the server may have freed the lock earlier: so for a moment two
//! nodes may each still be finishing a step of the same job. The jobs run under a lease are
//! written for that: their writes are conditional or idempotent, or (the router's) fenced with
//! the lease's term, which the node bumps in the store on taking the lease ([`Term::fence`];
//! see ARCHITECTURE.md).

use std::future::Future;
use std::time::{Duration, Instant};

use schema::{Fence, LeaseSession, Store};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// How often a node checks its session and tries for the leases it lacks.
pub const TICK: Duration = Duration::from_secs(1);
/// How often a node that lacks a lease tries for it (and checks its session meanwhile).
pub const TRY_TICK: Duration = Duration::from_millis(250);
/// How long a check may take before the session counts as broken.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The leases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LeaseName {
    /// The scheduled jobs: the SLA timer, churn recomputation, retention, audit pruning, the
    /// upload sweep, the IMAP pollers.
    Jobs,
    /// The routing engine: offers, assignments, presence (`services::routing`).
    Router,
}

impl LeaseName {
    pub const ALL: [Self; 2] = [Self::Jobs, Self::Router];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jobs => "jobs",
            Self::Router => "router",
        }
    }

    /// Its place in [`LeaseName::ALL`].
    fn index(self) -> usize {
        match self {
            Self::Jobs => 0,
            Self::Router => 1,
        }
    }
}

/// A term this node holds a lease for.
#[derive(Clone, Debug)]
pub struct Term {
    /// Cancelled when the term ends (the lease lost, or the hub shutting down).
    pub token: CancellationToken,
    /// The term as the store numbered it, to fence the lease's writes with
    /// ([`Store::fenced`]); `None` on SQLite, where the one node always holds every lease.
    pub fence: Option<Fence>,
}

/// This node's leases: which it holds, and the task that keeps them.
#[derive(Debug)]
pub struct Leadership {
    /// By [`LeaseName::index`].
    terms: [watch::Sender<Option<Term>>; LeaseName::ALL.len()],
    shutdown: CancellationToken,
    metrics: std::sync::Arc<Metrics>,
}

impl Leadership {
    /// A node's leases, held by none yet (start [`Leadership::run`]).
    #[must_use]
    pub fn new(metrics: std::sync::Arc<Metrics>, shutdown: CancellationToken) -> Self {
        let terms = std::array::from_fn(|_| watch::channel(None).0);
        let leadership = Self { terms, shutdown, metrics };
        for name in LeaseName::ALL {
            leadership.metrics.leader.with_label_values(&[name.as_str()]).set(0);
        }
        leadership
    }

    fn term(&self, name: LeaseName) -> &watch::Sender<Option<Term>> {
        &self.terms[name.index()]
    }

    /// Whether this node holds `name` now.
    #[must_use]
    pub fn is_leader(&self, name: LeaseName) -> bool {
        self.term(name).borrow().as_ref().is_some_and(|t| !t.token.is_cancelled())
    }

    /// A handle on the lease `name`, for the work that runs only while this node holds it.
    #[must_use]
    pub fn lease(&self, name: LeaseName) -> Lease {
        Lease { name, terms: self.term(name).subscribe(), shutdown: self.shutdown.clone() }
    }

    /// Every lease and whether this node holds it.
    #[must_use]
    pub fn held(&self) -> Vec<(LeaseName, bool)> {
        LeaseName::ALL.iter().map(|n| (*n, self.is_leader(*n))).collect()
    }

    fn holds_all(&self) -> bool {
        LeaseName::ALL.iter().all(|n| self.is_leader(*n))
    }

    fn begin(&self, name: LeaseName, fence: Option<Fence>) {
        if self.is_leader(name) {
            return;
        }
        self.term(name).send_replace(Some(Term { token: self.shutdown.child_token(), fence }));
        self.metrics.leader.with_label_values(&[name.as_str()]).set(1);
        tracing::info!(lease = name.as_str(), "this node now holds the lease");
    }

    fn end(&self, name: LeaseName, why: &str) {
        if let Some(term) = self.term(name).send_replace(None) {
            term.token.cancel();
            self.metrics.leader.with_label_values(&[name.as_str()]).set(0);
            tracing::warn!(lease = name.as_str(), why, "this node no longer holds the lease");
        }
    }

    fn end_all(&self, why: &str) {
        for name in LeaseName::ALL {
            self.end(name, why);
        }
    }

    /// Keeps the leases until shutdown, then gives them up (so another node takes over at once).
    /// On SQLite the node holds them all from the start.
    pub async fn run(self: std::sync::Arc<Self>, store: Store) {
        let mut session: Option<LeaseSession> = None;
        let mut failures: u32 = 0;
        loop {
            if session.is_none() {
                match store.lease_session().await {
                    Ok(Some(s)) => session = Some(s),
                    Ok(None) => {
                        // SQLite: one node, always the leader.
                        for name in LeaseName::ALL {
                            self.begin(name, None);
                        }
                        self.shutdown.cancelled().await;
                        self.end_all("shutdown");
                        return;
                    }
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        if failures == 1 || failures.is_power_of_two() {
                            tracing::warn!(error = %e, failures, "cannot open the lease session");
                        }
                    }
                }
            }
            if let Some(s) = session.as_mut() {
                let started = Instant::now();
                match tokio::time::timeout(CHECK_TIMEOUT, self.keep(s)).await {
                    Ok(Ok(())) => failures = 0,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "the lease session broke");
                        self.end_all("the lease session broke");
                        session = None;
                    }
                    Err(_) => {
                        tracing::warn!(
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "the lease session did not answer in time"
                        );
                        self.end_all("the lease session did not answer in time");
                        // Dropped without waiting: the server frees the locks when it sees the
                        // connection closed.
                        session = None;
                    }
                }
            }
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                () = tokio::time::sleep(if self.holds_all() { TICK } else { TRY_TICK }) => {}
            }
        }
        self.end_all("shutdown");
        if let Some(mut s) = session {
            for name in LeaseName::ALL {
                if let Err(e) = s.release(name.as_str()).await {
                    tracing::warn!(error = %e, lease = name.as_str(), "cannot give the lease up; closing its session");
                }
            }
            s.close().await;
        }
    }

    /// One check: the leases held are still held, the others are tried for; a lease just taken
    /// begins its next term in the store before its work starts here.
    async fn keep(&self, session: &mut LeaseSession) -> Result<(), schema::StoreError> {
        for name in LeaseName::ALL {
            let holds = session.try_acquire(name.as_str()).await?;
            match (holds, self.is_leader(name)) {
                (true, false) => {
                    let fence = session.begin_term(name.as_str()).await?;
                    tracing::info!(lease = name.as_str(), term = fence.term(), "a new term of the lease begins");
                    self.begin(name, Some(fence));
                }
                (false, true) => self.end(name, "the database no longer counts this node as the holder"),
                _ => {}
            }
        }
        Ok(())
    }
}

/// A handle on one lease, for the work that runs only on its holder.
#[derive(Clone, Debug)]
pub struct Lease {
    name: LeaseName,
    terms: watch::Receiver<Option<Term>>,
    shutdown: CancellationToken,
}

impl Lease {
    #[must_use]
    pub fn name(&self) -> LeaseName {
        self.name
    }

    /// Waits until this node holds the lease: the term, whose token is cancelled when the node
    /// loses the lease or shuts down. `None` at shutdown.
    pub async fn acquired(&mut self) -> Option<Term> {
        loop {
            if self.shutdown.is_cancelled() {
                return None;
            }
            if let Some(term) = self.terms.borrow_and_update().as_ref().filter(|t| !t.token.is_cancelled()) {
                return Some(term.clone());
            }
            tokio::select! {
                () = self.shutdown.cancelled() => return None,
                changed = self.terms.changed() => if changed.is_err() { return None },
            }
        }
    }

    /// Runs `work` in each term this node holds the lease, until shutdown. `work` gets the term
    /// and must return once its token is cancelled; work that ends earlier is not started again
    /// until the next term.
    pub async fn run_while_held<F, Fut>(mut self, mut work: F)
    where
        F: FnMut(Term) -> Fut,
        Fut: Future<Output = ()>,
    {
        while let Some(term) = self.acquired().await {
            tracing::info!(lease = self.name.as_str(), "starting the lease's work");
            let token = term.token.clone();
            work(term).await;
            token.cancelled().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lease_has_its_place() {
        for (i, name) in LeaseName::ALL.iter().enumerate() {
            assert_eq!(name.index(), i, "{name:?}");
        }
    }

    #[tokio::test]
    async fn a_term_ends_when_the_lease_is_lost_and_work_waits_for_the_next() {
        let shutdown = CancellationToken::new();
        let leadership = Leadership::new(std::sync::Arc::new(Metrics::new().unwrap()), shutdown.clone());
        let mut lease = leadership.lease(LeaseName::Jobs);
        assert!(!leadership.is_leader(LeaseName::Jobs));
        let waiting = tokio::time::timeout(Duration::from_millis(50), lease.acquired()).await;
        assert!(waiting.is_err(), "no term before the lease is held");

        leadership.begin(LeaseName::Jobs, None);
        let term = lease.acquired().await.expect("a term").token;
        assert!(leadership.is_leader(LeaseName::Jobs));
        leadership.end(LeaseName::Jobs, "test");
        assert!(term.is_cancelled(), "losing the lease ends the term");
        assert!(!leadership.is_leader(LeaseName::Jobs));

        leadership.begin(LeaseName::Jobs, None);
        let second = lease.acquired().await.expect("a second term").token;
        assert!(!second.is_cancelled());
        shutdown.cancel();
        assert!(second.is_cancelled(), "shutdown ends the term");
        assert!(lease.acquired().await.is_none(), "no term after shutdown");
    }

    #[tokio::test]
    async fn work_runs_in_each_term_only() {
        let shutdown = CancellationToken::new();
        let leadership =
            std::sync::Arc::new(Leadership::new(std::sync::Arc::new(Metrics::new().unwrap()), shutdown.clone()));
        let (started, mut starts) = tokio::sync::mpsc::unbounded_channel();
        let runner = tokio::spawn(leadership.lease(LeaseName::Jobs).run_while_held(move |term| {
            let started = started.clone();
            async move {
                started.send(()).unwrap();
                term.token.cancelled().await;
            }
        }));
        tokio::task::yield_now().await;
        assert!(starts.try_recv().is_err(), "no work before the lease is held");
        for _ in 0..2 {
            leadership.begin(LeaseName::Jobs, None);
            starts.recv().await.expect("work starts with the term");
            leadership.end(LeaseName::Jobs, "test");
        }
        shutdown.cancel();
        runner.await.unwrap();
        assert!(starts.try_recv().is_err(), "work started once per term");
    }
}
