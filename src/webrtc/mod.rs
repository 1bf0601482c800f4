//! WebRTC toward browsers: a sans-IO adapter over [`str0m::Rtc`].
//!
//! Model:
//! - **One [`WebRtcPeer`] per call**, owned by value by that call's task: no threads, no locks,
//!   no sockets and no clock in here. Time comes in as `now`; output leaves through
//!   [`WebRtcPeer::poll_output`] (`Transmit`, `Timeout`, `Event`), drained after every input
//!   until it returns `Timeout`.
//! - **The browser always offers** (non-trickle, candidates inside the offer);
//!   [`WebRtcPeer::answer`] applies the offer and returns the answer. The bridge is an
//!   ICE-lite answerer whose only candidate is the advertised host address of the **one UDP
//!   socket shared by all peers**. DTLS-SRTP only (str0m offers neither SDES nor plain RTP).
//! - **Demultiplexing**: the socket task asks each peer [`WebRtcPeer::accepts`] (STUN by ICE
//!   ufrag, then DTLS/SRTP by the nominated remote address) and hands the datagram to the
//!   first that accepts, through that call's channel: nothing is shared per packet.
//! - **Codecs**: Opus, PCMU and PCMA in the configured order of preference, plus
//!   telephone-event at 8 and 48 kHz. str0m enables only Opus by default; G.711 is enabled
//!   here explicitly. [`WebRtcPeer::negotiated_codec`] tells what the browser took, so the
//!   call passes G.711 through when it matches the trunk and transcodes otherwise.
//! - **One DTLS certificate** for all peers (`certificate.rs`, rotated daily): the only
//!   state shared between calls, taken once per call at set-up.

mod certificate;
mod error;

/// Makes the shared DTLS certificate at `now` (starting the crypto library with it), so the
/// first call's set-up does not pay for either (≈ 80 ms measured).
pub fn prepare_certificate(now: std::time::Instant) {
    let _ = certificate::for_call(now);
}
mod peer;
mod types;

#[cfg(test)]
mod test_net;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_codecs;

pub use error::WebRtcError;
pub use peer::WebRtcPeer;
pub use types::{
    AudioFrame, Codec, DisconnectReason, DtmfEvent, PeerConfig, PeerEvent, PeerOutput, Transmit,
};
