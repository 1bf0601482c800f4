//! Peers for the in-process bridge tests: the daemon and an endpoint session, a str0m
//! browser, a SIP UA carrier with its RTP, and the tone check.

pub mod browser;
pub mod carrier;
pub mod daemon;
pub mod tone;

use std::time::Duration;

use str0m::format::Codec;
use tokio::time::Instant;

pub const DID: &str = "+14155550100";
/// The phone: the caller of inbound calls, the number dialled by outbound ones.
pub const PHONE: &str = "+14155551234";
/// Longest idle wait of the media loops.
pub const STEP: Duration = Duration::from_millis(10);

pub fn deadline(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

/// What a side heard (8 kHz PCM) and in which codecs, shared with the test while it runs.
#[derive(Default)]
pub struct Heard {
    pub pcm: Vec<i16>,
    pub codecs: Vec<Codec>,
}
