//! What every state machine shares: its common fields and a context for output and timers.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::timers::{Deadlines, TimerKind, Timers};
use super::{TxConfig, TxEvent, TxId};
use crate::sip::{Peer, Transmit};

/// What a state machine asks of the layer after handling an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub(crate) enum Step {
    Continue,
    /// Remove the transaction (the layer emits `Terminated`).
    Terminate,
}

/// Fields common to all four machines.
#[derive(Debug)]
pub(crate) struct Common {
    pub id: TxId,
    pub peer: Peer,
    pub request: rsip::Request,
    pub deadlines: Deadlines,
}

impl Common {
    pub(crate) fn reliable(&self) -> bool {
        self.peer.transport.is_reliable()
    }
}

/// Borrowed outputs of the layer, handed to a machine for one input.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a TxConfig,
    pub now: Instant,
    pub transmits: &'a mut VecDeque<Transmit>,
    pub events: &'a mut VecDeque<TxEvent>,
    pub timers: &'a mut Timers,
}

impl Ctx<'_> {
    pub(crate) fn send(&mut self, peer: Peer, bytes: Bytes) {
        self.transmits.push_back(Transmit { peer, bytes });
    }

    pub(crate) fn emit(&mut self, event: TxEvent) {
        self.events.push_back(event);
    }

    pub(crate) fn arm(&mut self, c: &mut Common, kind: TimerKind, after: Duration) {
        let at = self.now + after;
        self.timers.arm(&mut c.deadlines, c.id, kind, at);
    }

    pub(crate) fn disarm(&mut self, c: &mut Common, kind: TimerKind) {
        self.timers.disarm(&mut c.deadlines, c.id, kind);
    }

    /// 64*T1: Timers B, F, H, L, M and the 2xx ACK wait.
    pub(crate) fn t64(&self) -> Duration {
        self.cfg.t1.saturating_mul(64)
    }

    /// Timer D: at least 32 s over UDP.
    pub(crate) fn timer_d(&self) -> Duration {
        self.t64().max(Duration::from_secs(32))
    }
}

/// Serializes a message once, for sending and for replay.
pub(crate) fn to_bytes(msg: &impl std::fmt::Display) -> Bytes {
    Bytes::from(msg.to_string())
}
