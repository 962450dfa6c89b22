//! The Switchboard hub: wires the store, the event bus, the channels, the bot and the router into
//! one HTTP server. The binary `switchboard` (src/main.rs) is a thin CLI over [`start`].
//!
//! Layers, top to bottom (see ARCHITECTURE.md): [`http`] (actix handlers, sockets, wire views,
//! the OpenAPI document) calls [`services`] (the behaviour, one module per capability), which use
//! the store (`schema`), the event [`bus`] and the library crates. Nothing below `http` knows
//! actix.

pub mod app;
pub mod bus;
pub mod config;
pub mod demo;
pub mod error;
pub mod http;
pub mod metrics;
pub mod secrets;
pub mod services;

pub use crate::app::{AppState, RunningHub, StartError, start};
pub use crate::bus::{EventBus, LocalBus};
pub use crate::config::Config;
pub use crate::demo::{DEMO_CANNED, DEMO_PASSWORD, DEMO_STAFF};
pub use crate::error::{Error, ErrorCode};
