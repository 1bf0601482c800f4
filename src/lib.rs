//! pstn-bridge: a SIP-trunk-to-WebRTC bridge.
//!
//! Cores (`sip`, `policy`, `call`, `media`) are sans-IO state machines driven with
//! `handle_*(now, ..)` / `poll_*()`; only `driver` touches sockets, tasks and the clock.

pub mod api;
pub mod auth;
pub mod call;
pub mod cli;
pub mod config;
pub mod driver;
#[doc(hidden)]
pub mod fuzzing;
pub mod loadgen;
pub mod media;
pub mod policy;
pub mod sip;
pub mod webrtc;
