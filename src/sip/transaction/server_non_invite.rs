//! Non-INVITE server transaction (RFC 3261 §17.2.2): Trying → Proceeding → Completed
//! (Timer J absorbs retransmissions, replaying the final response).

use bytes::Bytes;

use super::TxError;
use super::TxState as State;
use super::ctx::{Common, Ctx, Step, to_bytes};
use super::timers::TimerKind;

#[derive(Debug)]
pub(crate) struct ServerNonInvite {
    state: State,
    /// Last response sent, replayed on retransmitted requests.
    last: Option<Bytes>,
}

impl ServerNonInvite {
    pub(crate) fn start() -> Self {
        Self {
            state: State::Trying,
            last: None,
        }
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// A retransmitted request: absorbed in Trying, else the last response is replayed.
    pub(crate) fn on_retransmit(&mut self, c: &mut Common, ctx: &mut Ctx<'_>) {
        if let Some(last) = &self.last {
            ctx.send(c.peer, last.clone());
        }
    }

    pub(crate) fn send_response(
        &mut self,
        c: &mut Common,
        ctx: &mut Ctx<'_>,
        response: &rsip::Response,
    ) -> Result<Step, TxError> {
        let code = response.status_code.code();
        if !(100..=699).contains(&code) {
            return Err(TxError::InvalidResponse("status code outside 100..=699"));
        }
        if self.state == State::Completed {
            return Err(TxError::InvalidState("final response already sent"));
        }
        let bytes = to_bytes(response);
        ctx.send(c.peer, bytes.clone());
        self.last = Some(bytes);
        if code < 200 {
            self.state = State::Proceeding;
            return Ok(Step::Continue);
        }
        if c.reliable() {
            return Ok(Step::Terminate); // Timer J = 0
        }
        self.state = State::Completed;
        ctx.arm(c, TimerKind::Linger, ctx.t64()); // Timer J
        Ok(Step::Continue)
    }

    pub(crate) fn on_timer(&mut self, kind: TimerKind) -> Step {
        match kind {
            TimerKind::Linger => Step::Terminate,
            _ => Step::Continue,
        }
    }
}
