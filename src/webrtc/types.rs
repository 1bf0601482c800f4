//! Inputs and outputs of [`super::WebRtcPeer`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Audio codecs the bridge speaks toward browsers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Opus,
    Pcmu,
    Pcma,
}

impl Codec {
    /// RTP clock rate: the unit of `rtp_time`.
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Opus => 48_000,
            Codec::Pcmu | Codec::Pcma => 8_000,
        }
    }

    pub(crate) fn to_str0m(self) -> str0m::format::Codec {
        match self {
            Codec::Opus => str0m::format::Codec::Opus,
            Codec::Pcmu => str0m::format::Codec::PCMU,
            Codec::Pcma => str0m::format::Codec::PCMA,
        }
    }

    pub(crate) fn from_str0m(c: str0m::format::Codec) -> Option<Codec> {
        match c {
            str0m::format::Codec::Opus => Some(Codec::Opus),
            str0m::format::Codec::PCMU => Some(Codec::Pcmu),
            str0m::format::Codec::PCMA => Some(Codec::Pcma),
            _ => None,
        }
    }
}

/// How one peer answers.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// The advertised address of the shared UDP socket: our only (host) ICE candidate.
    pub host: SocketAddr,
    /// Audio codecs in order of preference; the browser sends the first one it supports.
    /// Put the trunk's G.711 first to pass it through without transcoding.
    pub codecs: Vec<Codec>,
    /// Offer telephone-event (RFC 4733) at 8 kHz and 48 kHz.
    pub telephone_event: bool,
}

impl PeerConfig {
    /// Opus first (transcoding), then PCMU and PCMA, with telephone-event.
    pub fn new(host: SocketAddr) -> Self {
        Self {
            host,
            codecs: vec![Codec::Opus, Codec::Pcmu, Codec::Pcma],
            telephone_event: true,
        }
    }

    /// Prefer `codec` (the trunk's) so the browser takes it when it can.
    pub fn prefer(mut self, codec: Codec) -> Self {
        self.codecs.retain(|c| *c != codec);
        self.codecs.insert(0, codec);
        self
    }
}

/// A datagram to send from the shared socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Our local address (the host candidate).
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub bytes: Vec<u8>,
}

/// One audio frame (one RTP packet's payload) from the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrame {
    pub codec: Codec,
    /// Payload type as negotiated in this session.
    pub pt: u8,
    /// RTP timestamp, extended to 64 bits, in `codec.clock_rate()` units.
    pub rtp_time: u64,
    /// RTP sequence number, extended to 64 bits.
    pub seq: u64,
    /// The payload, shared with str0m's buffer (no copy).
    pub payload: Arc<[u8]>,
}

/// An RFC 4733 telephone-event from the browser, reported once when it starts and once when
/// it ends (repeated reports are folded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfEvent {
    /// Event code: 0-9 digits, 10 `*`, 11 `#`, 12-15 `A`-`D`.
    pub event: u8,
    /// `false`: the tone started; `true`: it ended (with its total duration).
    pub end: bool,
    /// Tone power in -dBm0.
    pub volume: u8,
    pub duration: Duration,
    /// RTP timestamp of the event start, in the telephone-event clock rate.
    pub rtp_time: u64,
}

impl DtmfEvent {
    /// The digit for DTMF events (`0-9*#A-D`).
    pub fn digit(&self) -> Option<char> {
        b"0123456789*#ABCD"
            .get(usize::from(self.event))
            .map(|b| char::from(*b))
    }
}

/// Why a peer ended. Every variant is final: the peer produces no more media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The browser closed DTLS (close_notify), e.g. `pc.close()`.
    RemoteClosed,
    /// ICE consent lapsed: the browser stopped answering/sending checks.
    IceLost,
    /// [`super::WebRtcPeer::close`] was called.
    LocalClosed,
    /// str0m failed (e.g. DTLS handshake or fingerprint mismatch).
    Failed,
}

/// Something the call task should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// ICE and DTLS are up: media flows.
    Connected,
    /// The peer is over; reported once.
    Disconnected(DisconnectReason),
    Audio(AudioFrame),
    Dtmf(DtmfEvent),
}

/// What [`super::WebRtcPeer::poll_output`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerOutput {
    Transmit(Transmit),
    /// Call [`super::WebRtcPeer::handle_timeout`] at this time (or on the next datagram).
    Timeout(Instant),
    Event(PeerEvent),
}
