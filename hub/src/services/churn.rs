//! Churn risk in the hub: each customer's score (`schema::churn`, a pure points model) computed
//! from the store's signals, kept in the store with when it was computed, and recomputed when it
//! is read stale, at each escalation (the routing rules' `churn_risk_at_least` sees the score of
//! that moment), and shortly after the customer's tickets or conversations change (a worker on
//! the event bus), and when the customer answers a satisfaction survey (the surveys call
//! [`Churn::compute`]).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use schema::churn::{CSAT_WINDOW_DAYS, ChurnRisk, assess, low_ratings};
use schema::{ConversationId, CustomerId};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::bus::{Event, Received, Topic};
use crate::error::Error;
use crate::services::Core;
use crate::services::leader::Lease;

/// A stored score younger than this is served as it is.
pub const FRESH_FOR: time::Duration = time::Duration::minutes(5);
/// How long the worker gathers changed customers before recomputing them (one recomputation per
/// customer per batch, however many of their tickets changed).
const BATCH: Duration = Duration::from_secs(2);
/// Most customers one batch recomputes; those beyond wait for their next change or read.
const MAX_BATCH: usize = 1_000;

/// Computes, stores and serves churn-risk scores.
#[derive(Debug, Clone)]
pub struct Churn {
    core: Core,
}

impl Churn {
    #[must_use]
    pub fn new(core: Core) -> Self {
        Self { core }
    }

    /// Computes the customer's score as of now and stores it.
    ///
    /// # Errors
    /// Unknown customer (404), or the store fails.
    pub async fn compute(&self, customer: CustomerId) -> Result<ChurnRisk, Error> {
        let now = OffsetDateTime::now_utc();
        let mut signals = self.core.store.churn_signals(customer, now).await?;
        let ratings =
            self.core.store.csat_ratings_for_customer(customer, now - time::Duration::days(CSAT_WINDOW_DAYS)).await?;
        signals.low_csat_90d = low_ratings(ratings.iter().filter_map(|s| s.score).map(schema::csat::Score::get));
        let risk = ChurnRisk { customer_id: customer, assessment: assess(&signals), signals, computed_at: now };
        self.core.store.put_churn_risk(&risk).await?;
        self.core.metrics.churn_scores.with_label_values(&[risk.assessment.band.as_str()]).inc();
        tracing::debug!(%customer, score = risk.assessment.score, band = %risk.assessment.band, "churn risk computed");
        Ok(risk)
    }

    /// The customer's score: the stored one while fresh (computed under [`FRESH_FOR`] ago), else
    /// computed now.
    ///
    /// # Errors
    /// Unknown customer (404), or the store fails.
    pub async fn current(&self, customer: CustomerId) -> Result<ChurnRisk, Error> {
        if let Some(risk) = self.core.store.churn_risk(customer).await?
            && OffsetDateTime::now_utc() - risk.computed_at < FRESH_FOR
        {
            return Ok(risk);
        }
        self.compute(customer).await
    }

    /// The score a routing rule sees at escalation: computed now; `None` (logged) when the store
    /// cannot say, so a scoring failure never blocks a hand-over.
    pub async fn for_routing(&self, customer: CustomerId) -> Option<u8> {
        match self.compute(customer).await {
            Ok(risk) => Some(risk.assessment.score),
            Err(e) => {
                tracing::warn!(%customer, error = %e, "no churn risk for routing");
                None
            }
        }
    }

    /// On the node that holds the `jobs` lease (one node recomputes for all: every node's
    /// events reach it), recomputes the scores of customers whose tickets or conversations
    /// change, until shutdown.
    pub async fn run(self: Arc<Self>, jobs: Lease) {
        jobs.run_while_held(|term| Arc::clone(&self).recompute_changed(term.token)).await;
    }

    /// Recomputes, in batches, the scores of customers whose tickets or conversations change,
    /// until `term` ends. Changes while no node ran it are caught up when the score is read
    /// stale; a node finishing a batch after losing the lease only writes a score again.
    async fn recompute_changed(self: Arc<Self>, term: CancellationToken) {
        let mut events = self.core.bus.subscribe(Topic::Inbox);
        let shutdown = term;
        loop {
            // Wait for the first change, then gather for one batch.
            let mut conversations: BTreeSet<ConversationId> = BTreeSet::new();
            let mut customers: BTreeSet<CustomerId> = BTreeSet::new();
            let deadline = tokio::time::sleep(BATCH);
            tokio::pin!(deadline);
            loop {
                let waiting = conversations.is_empty() && customers.is_empty();
                let received = tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = &mut deadline, if !waiting => break,
                    r = events.recv() => r,
                };
                match received {
                    Received::Event(envelope) => {
                        if waiting {
                            deadline.as_mut().reset(tokio::time::Instant::now() + BATCH);
                        }
                        if conversations.len() + customers.len() >= MAX_BATCH {
                            continue;
                        }
                        match &**envelope {
                            Event::TicketUpdated { ticket } => {
                                conversations.insert(ticket.conversation_id);
                            }
                            Event::ConversationCreated { conversation } => {
                                customers.insert(conversation.customer_id);
                            }
                            Event::MessageCreated { message, conversation }
                                if message
                                    .channel_message_id
                                    .as_ref()
                                    .is_some_and(|k| k.as_str().starts_with("incident:")) =>
                            {
                                customers.insert(conversation.customer_id);
                            }
                            _ => {}
                        }
                    }
                    // Missed changes are caught up when the score is next read stale.
                    Received::Lagged => {}
                    Received::Closed => return,
                }
            }
            for id in conversations {
                match self.core.store.conversation(id).await {
                    Ok(c) => {
                        customers.insert(c.customer_id);
                    }
                    Err(e) => tracing::warn!(conversation_id = %id, error = %e, "churn risk: no conversation"),
                }
            }
            for customer in customers {
                if let Err(e) = self.compute(customer).await {
                    tracing::warn!(%customer, error = %e, "churn risk not recomputed");
                }
            }
        }
    }
}
