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

mod bad_input;
mod bot;
mod email;
mod email_imap;
mod ops;
mod routing;
mod social;
mod store;
mod voice;
mod webchat;
