//! Channel adapters. Each module turns one channel's wire format into `schema` values and back;
//! none touches the database or decides routing.

pub mod email;
pub mod sip;
pub mod social;
pub mod webchat;
