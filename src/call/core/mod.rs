//! One call, sans-IO: the state machine that links a trunk leg and an endpoint leg.
//!
//! The call task owns a `Call` and feeds it what each leg reports
//! (`handle_trunk`, `handle_endpoint`, `handle_timeout`); `poll_output` then says what
//! to tell each leg and what the endpoint sees. States and their names follow what web
//! developers know from calling SDKs: None, Incoming, Connecting, Ringing, EarlyMedia,
//! Connected, Hold, Disconnecting, Disconnected.

mod machine;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::policy::EndReason;

pub use machine::CallTimers;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CallState {
    None,
    Incoming,
    Connecting,
    Ringing,
    EarlyMedia,
    Connected,
    Hold,
    Disconnecting,
    Disconnected,
}

impl fmt::Display for CallState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CallDirection {
    Inbound,
    Outbound,
}

/// What the trunk leg reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrunkInput {
    /// Outbound: 180 (ringing) or 183 (`early_media` when it carried SDP).
    Progress { code: u16, early_media: bool },
    /// Outbound: the carrier answered.
    Answered,
    /// Outbound: a final failure (3xx–6xx, 408 on timeout).
    Failed { code: u16 },
    /// The carrier hung up (BYE) or, before the answer, cancelled (CANCEL).
    HungUp,
    /// The carrier put the call on hold (`true`) or resumed it.
    RemoteHold(bool),
    /// The trunk leg died: no ACK, session expired, RTP timeout, media failure.
    Lost(EndReason),
}

/// What the endpoint (browser session) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointInput {
    Answer,
    Reject {
        busy: bool,
    },
    HangUp,
    Hold,
    Resume,
    /// ICE and DTLS completed: media flows.
    MediaConnected,
    /// The endpoint's signaling dropped; the call survives for the grace period.
    SignalingLost,
    SignalingRestored,
}

/// What the trunk leg must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrunkCommand {
    /// Inbound: 180 Ringing.
    Ring,
    /// Inbound: 200 OK with our SDP.
    Answer,
    /// Inbound: a final refusal with this SIP code.
    Reject {
        code: u16,
    },
    /// CANCEL (outbound, unanswered) or BYE (answered).
    HangUp,
    /// re-INVITE with `sendonly` / back to `sendrecv`.
    Hold,
    Resume,
}

/// What the call tells its legs and its observers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutput {
    Trunk(TrunkCommand),
    /// The state changed (the endpoint sees it; metrics and webhooks may too).
    State(CallState),
    /// The call is over: always right after `State(Disconnected)`.
    Ended(EndReason),
    /// Call `handle_timeout` then.
    Timeout(Instant),
}

/// One call.
#[derive(Debug)]
pub struct Call {
    direction: CallDirection,
    state: CallState,
    trunk_answered: bool,
    media_connected: bool,
    held_locally: bool,
    held_remotely: bool,
    end_reason: Option<EndReason>,
    timers: CallTimers,
    ring_deadline: Option<Instant>,
    grace_deadline: Option<Instant>,
    out: VecDeque<CallOutput>,
}

impl Call {
    /// A carrier's call to an endpoint: it rings.
    pub fn inbound(now: Instant, timers: CallTimers) -> Self {
        let mut c = Self::new(CallDirection::Inbound, timers);
        c.ring_deadline = Some(now + timers.ring_timeout);
        c.set_state(CallState::Incoming);
        c.out.push_back(CallOutput::Trunk(TrunkCommand::Ring));
        c
    }

    /// An endpoint's call to a phone number, INVITE already on its way.
    pub fn outbound(timers: CallTimers) -> Self {
        let mut c = Self::new(CallDirection::Outbound, timers);
        c.set_state(CallState::Connecting);
        c
    }

    fn new(direction: CallDirection, timers: CallTimers) -> Self {
        Self {
            direction,
            state: CallState::None,
            trunk_answered: false,
            media_connected: false,
            held_locally: false,
            held_remotely: false,
            end_reason: None,
            timers,
            ring_deadline: None,
            grace_deadline: None,
            out: VecDeque::new(),
        }
    }

    pub fn state(&self) -> CallState {
        self.state
    }

    pub fn direction(&self) -> CallDirection {
        self.direction
    }

    pub fn end_reason(&self) -> Option<EndReason> {
        self.end_reason
    }

    pub fn is_over(&self) -> bool {
        self.state == CallState::Disconnected
    }

    pub fn poll_output(&mut self) -> Option<CallOutput> {
        if let Some(o) = self.out.pop_front() {
            return Some(o);
        }
        [self.ring_deadline, self.grace_deadline]
            .into_iter()
            .flatten()
            .min()
            .filter(|_| !self.is_over())
            .map(CallOutput::Timeout)
    }

    fn set_state(&mut self, s: CallState) {
        if self.state != s {
            self.state = s;
            self.out.push_back(CallOutput::State(s));
        }
    }
}

impl Default for CallTimers {
    fn default() -> Self {
        Self {
            ring_timeout: Duration::from_secs(60),
            signaling_grace: Duration::from_secs(10),
        }
    }
}
