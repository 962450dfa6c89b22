//! The end-to-end tests through the running hub, in one test binary: each former
//! `tests/tests/*.rs` file is a module here, so the whole hub (candle, tantivy) is linked once
//! rather than once per file. Run one area with a filter, e.g. `cargo test -p tests --test e2e
//! voice::`.
//!
//! Every test shares this process with the others, run in parallel on the default test threads,
//! so none may depend on being alone: each starts its own hub, database, relay, Dovecot and sipp
//! on ephemeral ports and temporary folders, and none sets environment variables, changes the
//! working directory or resource limits, or installs process-wide state (a log subscriber, sqlx
//! drivers other than the defaults).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod abandoned;
mod admin;
mod audit;
mod authz;
mod bad_input;
mod bot;
mod bss;
mod bss_tmf;
mod canned;
mod care;
mod churn;
mod csat;
mod customer_identity;
mod customers;
mod email;
mod email_imap;
mod hardening;
mod identity;
mod ops;
mod outages;
mod privacy;
mod reports;
mod routing;
mod routing_console;
mod scale_out;
mod selfservice;
mod sla;
mod social;
mod sso;
mod store;
mod supervisor;
mod trainer;
mod voice;
mod web_origin;
mod webchat;

use std::time::Duration;

/// How often a test looks again at a condition it waits for.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Asks `probe` every [`POLL_INTERVAL`] until it gives `Some`, for `timeout` at most (`None`
/// then): a bounded wait on something the test can observe (a row, a status, a bound port),
/// where a sleep would only guess how long it takes.
async fn poll_until<T>(timeout: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(found) = probe().await {
            return Some(found);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
