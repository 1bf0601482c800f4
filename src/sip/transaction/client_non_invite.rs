//! Non-INVITE client transaction (RFC 3261 §17.1.2): Trying → Proceeding → Completed.

use std::time::Duration;

use bytes::Bytes;

use super::TxEvent;
use super::TxState as State;
use super::ctx::{Common, Ctx, Step, to_bytes};
use super::timers::{TimerKind, backoff};

#[derive(Debug)]
pub(crate) struct ClientNonInvite {
    state: State,
    /// Current Timer E interval.
    interval: Duration,
    request: Bytes,
}

impl ClientNonInvite {
    /// Sends the request and arms Timers E (UDP only) and F.
    pub(crate) fn start(c: &mut Common, ctx: &mut Ctx<'_>) -> Self {
        let request = to_bytes(&c.request);
        ctx.send(c.peer, request.clone());
        if !c.reliable() {
            ctx.arm(c, TimerKind::Retransmit, ctx.cfg.t1);
        }
        ctx.arm(c, TimerKind::Timeout, ctx.t64());
        Self {
            state: State::Trying,
            interval: ctx.cfg.t1,
            request,
        }
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    pub(crate) fn on_response(
        &mut self,
        c: &mut Common,
        ctx: &mut Ctx<'_>,
        response: rsip::Response,
    ) -> Step {
        if self.state == State::Completed {
            return Step::Continue; // retransmitted final: absorbed
        }
        match response.status_code.code() {
            100..=199 => {
                self.state = State::Proceeding;
                ctx.emit(TxEvent::Response { tx: c.id, response });
            }
            200..=699 => {
                ctx.disarm(c, TimerKind::Retransmit);
                ctx.disarm(c, TimerKind::Timeout);
                ctx.emit(TxEvent::Response { tx: c.id, response });
                if c.reliable() {
                    return Step::Terminate; // Timer K = 0
                }
                self.state = State::Completed;
                ctx.arm(c, TimerKind::Linger, ctx.cfg.t4); // Timer K
            }
            _ => {}
        }
        Step::Continue
    }

    pub(crate) fn on_timer(&mut self, c: &mut Common, ctx: &mut Ctx<'_>, kind: TimerKind) -> Step {
        match (kind, self.state) {
            (TimerKind::Retransmit, State::Trying | State::Proceeding) => {
                ctx.send(c.peer, self.request.clone());
                // Timer E doubles up to T2 while Trying; in Proceeding it is T2 (§17.1.2.2).
                self.interval = match self.state {
                    State::Trying => backoff(self.interval, Some(ctx.cfg.t2)),
                    _ => ctx.cfg.t2,
                };
                ctx.arm(c, TimerKind::Retransmit, self.interval);
                Step::Continue
            }
            (TimerKind::Timeout, State::Trying | State::Proceeding) => {
                ctx.emit(TxEvent::Timeout { tx: c.id });
                Step::Terminate
            }
            (TimerKind::Linger, _) => Step::Terminate,
            _ => Step::Continue,
        }
    }
}
