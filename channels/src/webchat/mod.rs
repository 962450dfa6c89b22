//! Web chat over a websocket: the visitor token and the frames customers and agents exchange.

mod frames;
mod token;

pub use frames::{AgentFrame, ClientFrame, FrameError, ServerFrame};
pub use token::{TokenError, VisitorClaims, VisitorTokenKey};
