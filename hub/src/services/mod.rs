//! The hub's behaviour, one module per capability. A service is built from what it needs (the
//! [`Core`] every service shares, its configuration section, the few other services it calls)
//! and never from the HTTP layer's state; background workers own a handle to their service.
//! Nothing here knows actix: `crate::http` calls in, never the reverse.
//!
//! Who calls whom (arrows are calls; nothing calls back up):
//! ```text
//! http, channels' listeners ─▶ ingest ─▶ routing ─▶ (bus: offers) voice
//!                              │   └──▶ bot queue ─▶ bot workers ─▶ escalate ─▶ routing
//!                              └──▶ email replies         voice ─▶ escalate, ingest, routing
//! outbox worker ◀─ email, social (the senders)
//! ```

pub mod account360;
pub mod archive;
pub mod audit;
pub mod bot;
pub mod canned;
pub mod care;
pub mod churn;
pub mod csat;
pub mod customers;
pub mod email;
pub mod escalate;
pub mod ingest;
pub mod knowledge;
pub mod leader;
pub mod mfa;
pub mod outages;
pub mod outbox;
pub mod privacy;
pub mod reports;
pub mod routing;
pub mod routing_link;
pub mod selfservice;
pub mod settings;
pub mod sla;
pub mod social;
pub mod sso;
pub mod staff;
pub mod throttle;
pub mod tickets;
pub mod voice;
pub mod voice_share;
pub mod wall;
pub mod webchat;

use std::sync::Arc;

use schema::Store;
use tokio_util::sync::CancellationToken;

use crate::bus::EventBus;
use crate::metrics::Metrics;

/// What every service shares: the store, the event bus, the metrics, and the shutdown signal.
/// Cloning it is cheap.
#[derive(Clone, Debug)]
pub struct Core {
    pub store: Store,
    pub bus: Arc<dyn EventBus>,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the hub begins to shut down: workers stop, sockets close with 1001.
    pub shutdown: CancellationToken,
}

/// Milliseconds since the Unix epoch, the router's clock.
#[must_use]
pub fn now_ms() -> router::Millis {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
