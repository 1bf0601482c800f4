//! RFC 3261 §17 transactions with the RFC 6026 fixes, sans-IO.
//!
//! [`TransactionLayer`] owns every client and server transaction. Feed it parsed messages
//! (`handle_request`, `handle_response`), time (`handle_timeout`) and TU actions
//! (`send_request`, `send_response`); after each call drain `poll_transmit` and
//! `poll_event`, then sleep until `poll_timeout`.
//!
//! Files: `key` matching, `timers` the deadline set, one file per state machine,
//! `inbound` request routing, `messages` the messages the layer builds itself.
//!
//! Behaviour worth knowing:
//! - An INVITE the TU has not answered within 200 ms gets a 100 Trying from the layer
//!   (§17.2.1); non-INVITE requests never do.
//! - Responses go to the peer the request came from; Via `received`/`rport`/`maddr`
//!   routing (§18.2.2) is the driver's business.
//! - A branch without the `z9hG4bK` cookie (RFC 2543 peers) is matched as an opaque branch;
//!   the §17.2.3 fallback (Request-URI, tags, Call-ID, CSeq) is not implemented.
//! - The dialog's ACK for a 2xx is recognised by Call-ID and CSeq number.
//! - An INVITE client in Proceeding waits for its final response indefinitely (Timer B
//!   stops at the first 1xx; Timer C belongs to the TU), unless the TU sends a CANCEL with
//!   `send_request`: then it is given up 64*T1 later (§9.1) with `Timeout`.

mod client_invite;
mod client_non_invite;
mod ctx;
mod inbound;
mod key;
mod layer;
mod messages;
mod server_invite;
mod server_non_invite;
mod timers;

#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use crate::sip::Peer;

pub use key::MAGIC_COOKIE;
pub(crate) use key::{parse_via, split_sent_by, top_via};
pub use layer::{TransactionLayer, TxStats};
pub(crate) use messages::has_tag;
pub use messages::{cancel_for, response_to};

/// Timer values (RFC 3261 §17.1.1.1, table 4) and the table cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxConfig {
    /// RTT estimate; retransmissions start here and every 64*T1 timer derives from it.
    pub t1: Duration,
    /// Cap on non-INVITE request and INVITE response retransmission intervals.
    pub t2: Duration,
    /// Maximum time a message stays in the network (Timers I, K).
    pub t4: Duration,
    /// Live transactions beyond this are refused with [`TxError::TooManyTransactions`].
    pub max_transactions: usize,
}

impl Default for TxConfig {
    /// RFC defaults: T1 500 ms, T2 4 s, T4 5 s; 100 000 transactions.
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            max_transactions: 100_000,
        }
    }
}

impl TxConfig {
    /// Longest accepted timer value; keeps every deadline representable.
    const MAX_TIMER: Duration = Duration::from_secs(3600);

    /// Clamps the timers to sane ranges: T1 in 1 ms..=1 h (a zero T1 would retransmit
    /// forever within one instant), T2 in T1..=1 h, T4 up to 1 h.
    pub fn sanitized(self) -> Self {
        let t1 = self.t1.clamp(Duration::from_millis(1), Self::MAX_TIMER);
        Self {
            t1,
            t2: self.t2.clamp(t1, Self::MAX_TIMER),
            t4: self.t4.min(Self::MAX_TIMER),
            max_transactions: self.max_transactions,
        }
    }
}

/// Handle of one transaction; never reused within a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(u64);

impl TxId {
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx{}", self.0)
    }
}

/// The state of a transaction (the union of the four machines' states).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxState {
    /// INVITE client, before any response.
    Calling,
    /// Non-INVITE client or server, before any response.
    Trying,
    Proceeding,
    Completed,
    /// INVITE server: the ACK for a non-2xx arrived.
    Confirmed,
    /// RFC 6026: an INVITE transaction after a 2xx.
    Accepted,
}

/// What the layer reports to the transaction user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxEvent {
    /// A new request (not a retransmission). `tx` is the server transaction created for it;
    /// `None` for an ACK (to a 2xx: it belongs to the dialog; ACKs for non-2xx are absorbed by
    /// the INVITE server transaction and never surface). A CANCEL creates its own server tx.
    Request {
        tx: Option<TxId>,
        request: rsip::Request,
        peer: Peer,
    },
    /// A response for a client transaction (1xx and final). 2xx retransmissions arriving in
    /// the INVITE client Accepted state (RFC 6026 Timer M) surface again so the UA can
    /// re-send its ACK.
    Response { tx: TxId, response: rsip::Response },
    /// A client transaction got no final response (Timer B or F).
    Timeout { tx: TxId },
    /// An INVITE server transaction answered 2xx and no ACK arrived within 64*T1
    /// (RFC 3261 §13.3.1.4): the UA should send BYE.
    AckTimeout { tx: TxId },
    /// A transaction ended and was removed.
    Terminated { tx: TxId },
}

/// Why the layer refused an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    #[error("no such transaction")]
    UnknownTransaction,
    #[error("transaction table full")]
    TooManyTransactions,
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    #[error("invalid response: {0}")]
    InvalidResponse(&'static str),
    /// The transaction cannot do this now (e.g. a second final response, or a response
    /// on a client transaction).
    #[error("not allowed in this transaction state: {0}")]
    InvalidState(&'static str),
    /// `send_request` with a branch and method already used by a live client transaction.
    #[error("a client transaction with this branch and method exists")]
    DuplicateTransaction,
}

impl TxError {
    /// The response a server should send statelessly for a refused request, if any.
    pub fn sip_status(&self) -> Option<(u16, &'static str)> {
        match self {
            TxError::TooManyTransactions => Some((503, "Service Unavailable")),
            TxError::InvalidRequest(_) => Some((400, "Bad Request")),
            _ => None,
        }
    }
}
