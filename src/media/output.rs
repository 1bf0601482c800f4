//! Pipeline inputs/outputs and the preallocated output and event queues.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One side of the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The carrier's SIP trunk (plain RTP, G.711).
    Trunk,
    /// The web endpoint (WebRTC, frames via str0m).
    Endpoint,
}

/// A codec frame exchanged with the endpoint's WebRTC stack (no RTP bytes: str0m
/// packetises and encrypts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointFrame<'a> {
    /// Payload type as negotiated with the endpoint.
    pub pt: u8,
    /// RTP timestamp in the codec's clock (48000 for Opus).
    pub timestamp: u32,
    /// RTP sequence number (informative on output: str0m numbers its own packets).
    pub seq: u16,
    /// Marker bit (talkspurt start, first packet of a DTMF event).
    pub marker: bool,
    /// Codec payload (Opus packet, G.711 bytes or RFC 4733 event).
    pub payload: &'a [u8],
}

/// Something the pipeline reports to its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// A DTMF digit finished (relayed to the other side too).
    Dtmf {
        /// Where the digit came from.
        from: Side,
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
        /// How long it was held.
        duration: Duration,
    },
    /// No RTP from the trunk for the configured timeout: end the call.
    RtpTimeout {
        /// How long the trunk has been silent.
        after: Duration,
    },
    /// The trunk source was latched to this address (send RTP there).
    SourceLatched(SocketAddr),
    /// A side restarted its stream (new SSRC or a sequence/timestamp jump); the
    /// outgoing stream on the other side stays continuous.
    StreamRestarted {
        /// Which side restarted.
        side: Side,
    },
}

/// What to do next; drain with `poll_output` until it returns `Timeout`.
#[derive(Debug, PartialEq, Eq)]
pub enum MediaOutput<'a> {
    /// An RTP packet to send to the trunk's media address.
    TrunkRtp(&'a [u8]),
    /// An RTCP packet to send to the trunk's RTCP address (RTP port + 1 unless muxed).
    TrunkRtcp(&'a [u8]),
    /// A frame to hand to the endpoint's WebRTC stack.
    EndpointMedia(EndpointFrame<'a>),
    /// An event for the call.
    Event(MediaEvent),
    /// Nothing more now; call `handle_timeout` at this instant.
    Timeout(Instant),
}

/// Most bytes an output slot holds (an Ethernet MTU is the most we ever send).
pub const OUT_BYTES: usize = 1500;

/// Bytes each output slot starts with: a 20 ms frame of G.711 or of Opus below
/// 190 kbit/s with its RTP header, or an RTCP report. A slot asked for more regrows once.
pub const OUT_START_BYTES: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    TrunkRtp,
    TrunkRtcp,
    Endpoint,
}

#[derive(Clone)]
pub(super) struct OutSlot {
    pub kind: Kind,
    pub len: usize,
    pub pt: u8,
    pub seq: u16,
    pub ts: u32,
    pub marker: bool,
    pub data: Box<[u8]>,
}

/// A fixed ring of output slots.
pub(super) struct OutQueue {
    slots: Box<[OutSlot]>,
    head: usize,
    len: usize,
    pub dropped: u64,
}

impl OutQueue {
    pub fn new(cap: usize) -> Self {
        let empty = OutSlot {
            kind: Kind::TrunkRtp,
            len: 0,
            pt: 0,
            seq: 0,
            ts: 0,
            marker: false,
            data: vec![0; OUT_START_BYTES].into_boxed_slice(),
        };
        Self {
            slots: vec![empty; cap.max(1)].into_boxed_slice(),
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    /// Reserves the next slot with room for `bytes` (at most [`OUT_BYTES`]); `None`
    /// (counted) when the owner has not drained.
    pub fn push(&mut self, bytes: usize) -> Option<&mut OutSlot> {
        if self.len == self.slots.len() {
            self.dropped += 1;
            return None;
        }
        let i = (self.head + self.len) % self.slots.len();
        self.len += 1;
        let slot = &mut self.slots[i];
        if slot.data.len() < bytes {
            // A larger packet than any before in this slot: allocates, rarely.
            slot.data = vec![0; bytes.min(OUT_BYTES)].into_boxed_slice();
        }
        Some(slot)
    }

    /// Slots left before the owner must drain.
    pub fn free(&self) -> usize {
        self.slots.len() - self.len
    }

    /// Returns the last reservation (its write failed).
    pub fn unpush(&mut self) {
        self.len = self.len.saturating_sub(1);
    }

    pub fn pop(&mut self) -> Option<&OutSlot> {
        if self.len == 0 {
            return None;
        }
        let i = self.head;
        self.head = (self.head + 1) % self.slots.len();
        self.len -= 1;
        Some(&self.slots[i])
    }
}

/// A fixed ring of events.
pub(super) struct EventQueue {
    ring: [Option<MediaEvent>; 16],
    head: usize,
    len: usize,
    pub dropped: u64,
}

impl EventQueue {
    pub fn new() -> Self {
        Self {
            ring: [None; 16],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    pub fn push(&mut self, e: MediaEvent) {
        if self.len == self.ring.len() {
            self.dropped += 1;
            return;
        }
        let i = (self.head + self.len) % self.ring.len();
        self.ring[i] = Some(e);
        self.len += 1;
    }

    pub fn pop(&mut self) -> Option<MediaEvent> {
        if self.len == 0 {
            return None;
        }
        let e = self.ring[self.head].take();
        self.head = (self.head + 1) % self.ring.len();
        self.len -= 1;
        e
    }
}
