//! The transitions of a call.

use std::time::{Duration, Instant};

use super::{Call, CallDirection, CallOutput, CallState, EndpointInput, TrunkCommand, TrunkInput};
use crate::call::reasons;
use crate::policy::EndReason;

/// How long things may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallTimers {
    /// An unanswered inbound call is refused (480) after this.
    pub ring_timeout: Duration,
    /// A call whose endpoint lost its signaling ends after this.
    pub signaling_grace: Duration,
}

impl Call {
    pub fn handle_trunk(&mut self, now: Instant, input: TrunkInput) {
        if self.is_over() {
            return;
        }
        let _ = now; // trunk inputs start no timers today
        match input {
            TrunkInput::Progress { code, early_media }
                if self.direction == CallDirection::Outbound =>
            {
                if matches!(
                    self.state,
                    CallState::Connecting | CallState::Ringing | CallState::EarlyMedia
                ) {
                    // Once early media flows, a later 180 does not take it away.
                    let next = if early_media || self.state == CallState::EarlyMedia {
                        CallState::EarlyMedia
                    } else {
                        CallState::Ringing
                    };
                    tracing::trace!(code, ?next, "outbound progress");
                    self.set_state(next);
                }
            }
            TrunkInput::Answered if self.direction == CallDirection::Outbound => {
                self.trunk_answered = true;
                self.set_state(CallState::Connected);
            }
            TrunkInput::Failed { code } if self.direction == CallDirection::Outbound => {
                self.end(reasons::carrier_final(code));
            }
            TrunkInput::HungUp => {
                let reason = if self.trunk_answered {
                    reasons::REMOTE_HANGUP
                } else {
                    reasons::CALLER_CANCELLED
                };
                self.end(reason);
            }
            TrunkInput::RemoteHold(held) => {
                self.held_remotely = held;
                self.refresh_hold_state();
            }
            TrunkInput::Lost(reason) => {
                if reason == reasons::RTP_TIMEOUT {
                    self.out.push_back(CallOutput::Trunk(TrunkCommand::HangUp));
                }
                self.end(reason);
            }
            // Progress/answer/failure of an inbound call come from the endpoint side.
            _ => {}
        }
    }

    pub fn handle_endpoint(&mut self, now: Instant, input: EndpointInput) {
        if self.is_over() {
            return;
        }
        match input {
            EndpointInput::Answer if self.state == CallState::Incoming => {
                self.ring_deadline = None;
                self.trunk_answered = true;
                self.out.push_back(CallOutput::Trunk(TrunkCommand::Answer));
                let next = if self.media_connected {
                    CallState::Connected
                } else {
                    CallState::Connecting
                };
                self.set_state(next);
            }
            EndpointInput::Reject { busy } if self.state == CallState::Incoming => {
                let (code, reason) = if busy {
                    (486, reasons::ENDPOINT_BUSY)
                } else {
                    (603, reasons::ENDPOINT_DECLINED)
                };
                self.out
                    .push_back(CallOutput::Trunk(TrunkCommand::Reject { code }));
                self.end(reason);
            }
            EndpointInput::HangUp => self.hang_up(reasons::LOCAL_HANGUP),
            EndpointInput::Hold if matches!(self.state, CallState::Connected | CallState::Hold) => {
                if !self.held_locally {
                    self.held_locally = true;
                    self.out.push_back(CallOutput::Trunk(TrunkCommand::Hold));
                }
                self.refresh_hold_state();
            }
            EndpointInput::Resume if self.held_locally => {
                self.held_locally = false;
                self.out.push_back(CallOutput::Trunk(TrunkCommand::Resume));
                self.refresh_hold_state();
            }
            EndpointInput::MediaConnected => {
                self.media_connected = true;
                if self.direction == CallDirection::Inbound && self.state == CallState::Connecting {
                    self.set_state(CallState::Connected);
                }
            }
            EndpointInput::SignalingLost => {
                self.grace_deadline = Some(now + self.timers.signaling_grace);
            }
            EndpointInput::SignalingRestored => self.grace_deadline = None,
            _ => {}
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_over() {
            return;
        }
        if self.ring_deadline.is_some_and(|d| now >= d) {
            self.ring_deadline = None;
            if self.state == CallState::Incoming {
                self.out
                    .push_back(CallOutput::Trunk(TrunkCommand::Reject { code: 480 }));
                self.end(reasons::NO_ANSWER);
                return;
            }
        }
        if self.grace_deadline.is_some_and(|d| now >= d) {
            self.grace_deadline = None;
            if self.state == CallState::Incoming {
                self.out
                    .push_back(CallOutput::Trunk(TrunkCommand::Reject { code: 480 }));
                self.end(reasons::ENDPOINT_SIGNALING_LOST);
            } else {
                self.hang_up(reasons::ENDPOINT_SIGNALING_LOST);
            }
        }
    }

    /// Ends the call from our side: BYE, CANCEL or a refusal toward the trunk.
    pub fn hang_up(&mut self, reason: EndReason) {
        if self.is_over() {
            return;
        }
        let command = if self.state == CallState::Incoming {
            TrunkCommand::Reject { code: 480 }
        } else {
            TrunkCommand::HangUp
        };
        self.set_state(CallState::Disconnecting);
        self.out.push_back(CallOutput::Trunk(command));
        self.end(reason);
    }

    fn refresh_hold_state(&mut self) {
        if !matches!(self.state, CallState::Connected | CallState::Hold) {
            return;
        }
        let held = self.held_locally || self.held_remotely;
        self.set_state(if held {
            CallState::Hold
        } else {
            CallState::Connected
        });
    }

    fn end(&mut self, reason: EndReason) {
        self.ring_deadline = None;
        self.grace_deadline = None;
        self.end_reason = Some(reason);
        self.set_state(CallState::Disconnected);
        self.out.push_back(CallOutput::Ended(reason));
    }
}
