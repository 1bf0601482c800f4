//! SIP core, sans-IO: messages (rsip), transactions (RFC 3261 §17 + RFC 6026),
//! dialogs, digest authentication (RFC 8760), session timers (RFC 4028).

pub mod dialog;
pub mod digest;
pub mod framing;
pub mod message;
pub mod reliable;
pub mod reply;
pub mod session_timer;
pub mod transaction;
pub mod transport;

pub use transport::{Peer, Transmit, Transport};
