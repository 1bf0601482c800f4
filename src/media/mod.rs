//! One call's media: RTP/RTCP toward the trunk, codec frames toward the WebRTC
//! endpoint, jitter buffering, G.711 ⇄ Opus transcoding (or passthrough), RFC 4733
//! DTMF relay, strict-source checks, an RTP inactivity timeout and counters.
//!
//! Sans-IO like the other cores: no sockets, no clock, no locks, and no allocation
//! after [`MediaPipeline::new`] (`tests/media_alloc.rs` proves it per packet).
//!
//! # Driving a pipeline
//!
//! The call task owns the pipeline by value and feeds it:
//!
//! ```no_run
//! # use std::time::{Instant, SystemTime};
//! # use pstn_bridge::media::*;
//! # fn send_trunk(_: &[u8]) {} fn send_trunk_rtcp(_: &[u8]) {} fn to_str0m(_: EndpointFrame<'_>) {}
//! # fn on_event(_: MediaEvent) {}
//! let now = Instant::now();
//! let mut media = MediaPipeline::new(MediaConfig::default(), now, SystemTime::now()).unwrap();
//! // on a trunk datagram:   media.handle_trunk_rtp(now, from, &datagram)
//! // on an RTCP datagram:   media.handle_trunk_rtcp(now, from, &datagram)
//! // on a str0m MediaData:  media.handle_endpoint_media(now, EndpointFrame { .. })
//! // when the timer fires:  media.handle_timeout(now)
//! // after each of those, drain:
//! let next_timer = loop {
//!     match media.poll_output() {
//!         MediaOutput::TrunkRtp(pkt) => send_trunk(pkt),          // to media.trunk_remote()
//!         MediaOutput::TrunkRtcp(pkt) => send_trunk_rtcp(pkt),
//!         MediaOutput::EndpointMedia(frame) => to_str0m(frame),   // Writer::write(pt, .., timestamp, payload)
//!         MediaOutput::Event(e) => on_event(e),                   // Dtmf, RtpTimeout (end the call), ...
//!         MediaOutput::Timeout(at) => break at,
//!     }
//! };
//! ```
//!
//! `poll_output` always returns something and ends each drain with
//! [`MediaOutput::Timeout`] (never `None`): arm the call task's timer with it. Output
//! slices borrow preallocated buffers and are valid until the next call on the
//! pipeline. [`MediaPipeline::stats`] returns a plain [`MediaStats`] for `/metrics`
//! totals and the CDR at call end.
//!
//! # Wiring notes
//!
//! - Build [`MediaConfig`] from the negotiated SDP: the trunk's PCMU/PCMA and
//!   telephone-event payload types, the endpoint's (Opus 111 / telephone-event, or
//!   PCMU for passthrough), a random `trunk_ssrc`, and [`SourcePolicy::Strict`] with
//!   the SDP address (or [`SourcePolicy::LatchFromIp`] for carriers behind NAT).
//!   Send trunk RTP to [`MediaPipeline::trunk_remote`].
//! - On a re-INVITE that moves the trunk's media, call
//!   [`MediaPipeline::set_source_policy`]; our outgoing streams stay continuous by
//!   themselves. On hold (`sendonly`/`inactive`), [`MediaPipeline::set_rtp_timeout`]
//!   with `None`, and back to the configured value on resume.
//! - [`MediaEvent::RtpTimeout`] should end the call with the media-timeout end reason.
//! - A codec change needs a new pipeline (not yet a `reconfigure`).
//! - Per call about 85 KB is allocated up front (jitter buffers, output slots,
//!   libopus state); after that only when the far end sends a larger packet than any
//!   before (a slot regrows once, up to the codec's maximum).
//!
//! # Behaviour
//!
//! - **Passthrough** when both sides use the same codec: each packet is forwarded at
//!   once with payload type, SSRC, sequence and timestamp rewritten.
//! - **Transcoding** otherwise: packets enter a jitter buffer per direction; every
//!   20 ms tick decodes one frame to 8 kHz PCM (concealing loss: Opus PLC/FEC, G.711
//!   repeat-with-fade) and encodes it for the other side. Opus runs at 8 kHz in and out
//!   (SILK narrowband); its RTP clock stays 48000.
//! - Each outgoing stream keeps one SSRC and continuous sequence/timestamps across the
//!   far end's restarts (re-INVITE, hold, new SSRC).
//! - DTMF (RFC 4733) is relayed with payload-type and clock mapping; a lost end is
//!   regenerated after `dtmf_end_timeout`. Audio in that direction pauses meanwhile.
//! - RTCP SR/RR go to the trunk every `rtcp_interval`; its reports give loss, jitter
//!   and RTT in [`MediaStats::remote`].

mod codec;
mod config;
mod direction;
mod dtmf;
mod dtmf_gen;
mod error;
mod g711;
mod jitter;
mod opus;
mod output;
mod pipeline;
mod rtcp;
mod rtcp_session;
mod rtp;
mod source;
mod stats;
mod stream;

pub use codec::Codec;
pub use config::{MediaConfig, SideCodec};
pub use dtmf::{DtmfPayload, digit, event_code};
pub use error::{ConfigProblem, MediaError};
pub use g711::Law;
pub use jitter::{JitterBuffer, JitterConfig, JitterStats, Pop, Pushed};
pub use opus::{OpusDecoder, OpusEncoder, OpusMode, OpusSettings};
pub use output::{EndpointFrame, MediaEvent, MediaOutput, Side};
pub use pipeline::MediaPipeline;
pub use rtcp::{ReportBlock, RtcpItem, SenderInfo};
pub use rtp::RtpHeader;
pub use source::SourcePolicy;
pub use stats::{MediaStats, RemoteReport, RxCounters, TxCounters};

/// RTP and RTCP helpers for tests, benches and the driver.
pub mod wire {
    pub use super::rtcp::{parse as parse_rtcp, write_report};
    pub use super::rtp::{HEADER_LEN, is_rtcp, parse as parse_rtp, write as write_rtp};
}
