//! Calls: SDP offer/answer toward trunks and the signaling core that routes them.

pub mod core;
pub mod reasons;
pub mod sdp;
pub mod switchboard;
