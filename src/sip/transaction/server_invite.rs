//! INVITE server transaction (RFC 3261 §17.2.1, with RFC 6026's Accepted state).
//!
//! Proceeding → Completed (non-2xx: Timer G retransmits, Timer H gives up) → Confirmed
//! (ACK absorbed, Timer I); or Proceeding → Accepted (2xx: retransmitted here until the
//! dialog's ACK arrives, Timer L absorbs INVITE retransmissions, 64*T1 without ACK →
//! `AckTimeout`).

use std::time::Duration;

use bytes::Bytes;

use super::TxState as State;
use super::ctx::{Common, Ctx, Step, to_bytes};
use super::messages::trying_for;
use super::timers::{TimerKind, backoff};
use super::{TxError, TxEvent};

/// Without a response from the TU after this long, the transaction sends 100 Trying (§17.2.1).
pub(crate) const TRYING_DELAY: Duration = Duration::from_millis(200);

/// What an ACK matching this transaction means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AckOutcome {
    /// ACK for a non-2xx (or a stray one): swallowed.
    Absorbed,
    /// ACK for a non-2xx over a reliable transport: Timer I is zero.
    Terminate,
    /// ACK for our 2xx: it belongs to the dialog, surface it.
    ForDialog,
}

#[derive(Debug)]
pub(crate) struct ServerInvite {
    state: State,
    /// Last response sent, replayed on retransmitted INVITEs and by Timer G / 2xx timer.
    last: Option<Bytes>,
    /// Current Timer G / 2xx retransmission interval.
    interval: Duration,
    /// The dialog's ACK for our 2xx arrived.
    acked: bool,
}

impl ServerInvite {
    pub(crate) fn start(c: &mut Common, ctx: &mut Ctx<'_>) -> Self {
        ctx.arm(c, TimerKind::Trying, TRYING_DELAY);
        Self {
            state: State::Proceeding,
            last: None,
            interval: ctx.cfg.t1,
            acked: false,
        }
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// The ACK for our 2xx arrived.
    pub(crate) fn acked(&self) -> bool {
        self.acked
    }

    /// A retransmitted INVITE: replay the last provisional (Proceeding) or final (Completed).
    pub(crate) fn on_retransmit(&mut self, c: &mut Common, ctx: &mut Ctx<'_>) {
        if matches!(self.state, State::Proceeding | State::Completed)
            && let Some(last) = &self.last
        {
            ctx.send(c.peer, last.clone());
        }
    }

    pub(crate) fn on_ack(&mut self, c: &mut Common, ctx: &mut Ctx<'_>) -> AckOutcome {
        match self.state {
            State::Completed => {
                self.state = State::Confirmed;
                ctx.disarm(c, TimerKind::Retransmit);
                ctx.disarm(c, TimerKind::Timeout);
                if c.reliable() {
                    return AckOutcome::Terminate;
                }
                ctx.arm(c, TimerKind::Linger, ctx.cfg.t4); // Timer I
                AckOutcome::Absorbed
            }
            State::Accepted => {
                self.acked = true;
                ctx.disarm(c, TimerKind::Retransmit);
                AckOutcome::ForDialog
            }
            _ => AckOutcome::Absorbed,
        }
    }

    pub(crate) fn send_response(
        &mut self,
        c: &mut Common,
        ctx: &mut Ctx<'_>,
        response: &rsip::Response,
    ) -> Result<Step, TxError> {
        let code = response.status_code.code();
        match (self.state, code) {
            (State::Proceeding, 100..=199) => {
                ctx.disarm(c, TimerKind::Trying);
                self.send(c, ctx, response);
            }
            (State::Proceeding, 200..=299) => {
                ctx.disarm(c, TimerKind::Trying);
                self.send(c, ctx, response);
                self.state = State::Accepted;
                self.arm_retransmit(c, ctx);
                ctx.arm(c, TimerKind::Timeout, ctx.t64()); // Timer L and the ACK wait
            }
            (State::Proceeding, 300..=699) => {
                ctx.disarm(c, TimerKind::Trying);
                self.send(c, ctx, response);
                self.state = State::Completed;
                self.arm_retransmit(c, ctx); // Timer G
                ctx.arm(c, TimerKind::Timeout, ctx.t64()); // Timer H
            }
            // RFC 6026 §8.5: further 2xx from the TU pass through; the latest is retransmitted.
            (State::Accepted, 200..=299) => self.send(c, ctx, response),
            (_, 100..=699) => return Err(TxError::InvalidState("final response already sent")),
            _ => return Err(TxError::InvalidResponse("status code outside 100..=699")),
        }
        Ok(Step::Continue)
    }

    pub(crate) fn on_timer(&mut self, c: &mut Common, ctx: &mut Ctx<'_>, kind: TimerKind) -> Step {
        match (kind, self.state) {
            (TimerKind::Trying, State::Proceeding) if self.last.is_none() => {
                let trying = trying_for(&c.request);
                self.send(c, ctx, &trying);
                Step::Continue
            }
            (TimerKind::Retransmit, State::Completed | State::Accepted) if !self.acked => {
                if let Some(last) = &self.last {
                    ctx.send(c.peer, last.clone());
                }
                self.interval = backoff(self.interval, Some(ctx.cfg.t2));
                ctx.arm(c, TimerKind::Retransmit, self.interval);
                Step::Continue
            }
            (TimerKind::Timeout, State::Completed) => Step::Terminate, // Timer H
            (TimerKind::Timeout, State::Accepted) => {
                if !self.acked {
                    ctx.emit(TxEvent::AckTimeout { tx: c.id });
                }
                Step::Terminate // Timer L
            }
            (TimerKind::Linger, State::Confirmed) => Step::Terminate, // Timer I
            _ => Step::Continue,
        }
    }

    fn send(&mut self, c: &Common, ctx: &mut Ctx<'_>, response: &rsip::Response) {
        let bytes = to_bytes(response);
        ctx.send(c.peer, bytes.clone());
        self.last = Some(bytes);
    }

    fn arm_retransmit(&mut self, c: &mut Common, ctx: &mut Ctx<'_>) {
        if !c.reliable() {
            self.interval = ctx.cfg.t1;
            ctx.arm(c, TimerKind::Retransmit, self.interval);
        }
    }
}
