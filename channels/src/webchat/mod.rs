//! Web chat over a websocket: the visitor token, the frames customers and agents exchange, and
//! the files customers send.

mod frames;
mod token;
pub mod upload;

pub use frames::{AgentFrame, AgentName, ClientFrame, FrameError, ServerFrame};
pub use token::{TokenError, VisitorClaims, VisitorTokenKey};
