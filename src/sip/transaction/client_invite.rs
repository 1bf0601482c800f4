//! INVITE client transaction (RFC 3261 §17.1.1, with RFC 6026's Accepted state).
//!
//! Calling → Proceeding → Completed (non-2xx: ACK sent here, Timer D) or Accepted (2xx:
//! Timer M, retransmitted 2xx surface again so the UA can re-send its ACK).

use std::time::Duration;

use bytes::Bytes;

use super::TxEvent;
use super::TxState as State;
use super::ctx::{Common, Ctx, Step, to_bytes};
use super::messages::build_ack;
use super::timers::{TimerKind, backoff};

#[derive(Debug)]
pub(crate) struct ClientInvite {
    state: State,
    /// Current Timer A interval.
    interval: Duration,
    request: Bytes,
    /// The ACK for the non-2xx final, re-sent on each retransmission of that final.
    ack: Option<Bytes>,
}

impl ClientInvite {
    /// Sends the INVITE and arms Timers A (UDP only) and B.
    pub(crate) fn start(c: &mut Common, ctx: &mut Ctx<'_>) -> Self {
        let request = to_bytes(&c.request);
        ctx.send(c.peer, request.clone());
        if !c.reliable() {
            ctx.arm(c, TimerKind::Retransmit, ctx.cfg.t1);
        }
        ctx.arm(c, TimerKind::Timeout, ctx.t64());
        Self {
            state: State::Calling,
            interval: ctx.cfg.t1,
            request,
            ack: None,
        }
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// The TU sent a CANCEL for this INVITE: without a final response within 64*T1 the
    /// transaction is given up (RFC 3261 §9.1), even in Proceeding where Timer B is off.
    pub(crate) fn on_cancel_sent(&mut self, c: &mut Common, ctx: &mut Ctx<'_>) {
        let deadline = ctx.now + ctx.t64();
        let armed = c.deadlines[TimerKind::Timeout as usize];
        if matches!(self.state, State::Calling | State::Proceeding)
            && armed.is_none_or(|at| at > deadline)
        {
            ctx.arm(c, TimerKind::Timeout, ctx.t64());
        }
    }

    pub(crate) fn on_response(
        &mut self,
        c: &mut Common,
        ctx: &mut Ctx<'_>,
        response: rsip::Response,
    ) -> Step {
        let code = response.status_code.code();
        let waiting = matches!(self.state, State::Calling | State::Proceeding);
        match code {
            100..=199 if waiting => {
                self.state = State::Proceeding;
                ctx.disarm(c, TimerKind::Retransmit);
                ctx.disarm(c, TimerKind::Timeout);
                ctx.emit(TxEvent::Response { tx: c.id, response });
            }
            200..=299 if waiting => {
                self.state = State::Accepted;
                ctx.disarm(c, TimerKind::Retransmit);
                ctx.disarm(c, TimerKind::Timeout);
                ctx.arm(c, TimerKind::Linger, ctx.t64()); // Timer M
                ctx.emit(TxEvent::Response { tx: c.id, response });
            }
            300..=699 if waiting => {
                ctx.disarm(c, TimerKind::Retransmit);
                ctx.disarm(c, TimerKind::Timeout);
                self.ack = build_ack(&c.request, &response).map(|ack| to_bytes(&ack));
                if let Some(ack) = &self.ack {
                    ctx.send(c.peer, ack.clone());
                }
                ctx.emit(TxEvent::Response { tx: c.id, response });
                if c.reliable() {
                    return Step::Terminate; // Timer D = 0
                }
                self.state = State::Completed;
                ctx.arm(c, TimerKind::Linger, ctx.timer_d());
            }
            300..=699 if self.state == State::Completed => {
                if let Some(ack) = &self.ack {
                    ctx.send(c.peer, ack.clone());
                }
            }
            200..=299 if self.state == State::Accepted => {
                ctx.emit(TxEvent::Response { tx: c.id, response });
            }
            _ => {} // late provisional, or a code outside 100..=699: nothing to do.
        }
        Step::Continue
    }

    pub(crate) fn on_timer(&mut self, c: &mut Common, ctx: &mut Ctx<'_>, kind: TimerKind) -> Step {
        match kind {
            TimerKind::Retransmit if self.state == State::Calling => {
                ctx.send(c.peer, self.request.clone());
                self.interval = backoff(self.interval, None);
                ctx.arm(c, TimerKind::Retransmit, self.interval);
                Step::Continue
            }
            TimerKind::Timeout if matches!(self.state, State::Calling | State::Proceeding) => {
                ctx.emit(TxEvent::Timeout { tx: c.id });
                Step::Terminate
            }
            TimerKind::Linger => Step::Terminate, // Timer D or M
            _ => Step::Continue,
        }
    }
}
