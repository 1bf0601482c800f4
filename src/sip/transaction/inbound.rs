//! Requests from the network: retransmission absorption, ACK routing, new server
//! transactions.

use std::time::Instant;

use rsip::Method;

use super::ctx::Common;
use super::key;
use super::layer::{AckKey, IndexKey, Machine, TransactionLayer, Tx};
use super::server_invite::{AckOutcome, ServerInvite};
use super::server_non_invite::ServerNonInvite;
use super::timers::Deadlines;
use super::{TxError, TxEvent, TxId};
use crate::sip::Peer;

impl TransactionLayer {
    /// A request from the network. Retransmissions are absorbed (replaying the last response);
    /// a new request creates a server transaction and surfaces as [`TxEvent::Request`].
    ///
    /// Errors: `InvalidRequest` (missing Via/branch/Call-ID/CSeq/From/To),
    /// `TooManyTransactions` at the cap (the caller answers 503 statelessly).
    pub fn handle_request(
        &mut self,
        now: Instant,
        request: rsip::Request,
        peer: Peer,
    ) -> Result<(), TxError> {
        let key = key::server_key(&request)?;
        let is_ack = request.method == Method::Ack;
        if let Some(&id) = self.servers.get(&key) {
            return self.on_matched_request(now, id, request, peer);
        }
        let (call_id, seq) = key::validate_request(&request)?;
        if is_ack {
            // An ACK with its own branch: for a 2xx, so the dialog's (RFC 3261 §17.1.1.3).
            let ack_key: AckKey = (call_id.into(), seq);
            if let Some(id) = self.awaiting_ack.remove(&ack_key) {
                self.ack_accepted(now, id);
            }
            self.io.events.push_back(TxEvent::Request {
                tx: None,
                request,
                peer,
            });
            return Ok(());
        }
        if self.txs.len() >= self.io.cfg.max_transactions {
            return Err(TxError::TooManyTransactions);
        }
        let id = self.allocate_id();
        let mut common = Common {
            id,
            peer,
            request: request.clone(),
            deadlines: Deadlines::default(),
        };
        let (machine, ack_key) = if request.method == Method::Invite {
            let m = ServerInvite::start(&mut common, &mut self.io.ctx(now));
            (Machine::InviteServer(m), Some((call_id.into(), seq)))
        } else {
            (Machine::NonInviteServer(ServerNonInvite::start()), None)
        };
        self.servers.insert(key.clone(), id);
        self.txs.insert(
            id,
            Tx {
                common,
                machine,
                index: IndexKey::Server(key),
                ack_key,
            },
        );
        self.io.events.push_back(TxEvent::Request {
            tx: Some(id),
            request,
            peer,
        });
        Ok(())
    }

    /// A retransmission, or an ACK carrying the INVITE's branch.
    fn on_matched_request(
        &mut self,
        now: Instant,
        id: TxId,
        request: rsip::Request,
        peer: Peer,
    ) -> Result<(), TxError> {
        let Some(tx) = self.txs.get_mut(&id) else {
            return Ok(()); // unreachable: the index only names live transactions
        };
        let mut ctx = self.io.ctx(now);
        let c = &mut tx.common;
        match (&mut tx.machine, request.method == Method::Ack) {
            (Machine::InviteServer(m), true) => match m.on_ack(c, &mut ctx) {
                AckOutcome::Absorbed => self.stats.absorbed_requests += 1,
                AckOutcome::Terminate => {
                    self.stats.absorbed_requests += 1;
                    self.remove(id);
                }
                AckOutcome::ForDialog => {
                    // An ACK for our 2xx reusing the INVITE's branch (RFC 2543 style).
                    if let Some(k) = &tx.ack_key
                        && self.awaiting_ack.get(k) == Some(&id)
                    {
                        self.awaiting_ack.remove(k);
                    }
                    self.io.events.push_back(TxEvent::Request {
                        tx: None,
                        request,
                        peer,
                    });
                }
            },
            (Machine::InviteServer(m), false) => {
                m.on_retransmit(c, &mut ctx);
                self.stats.absorbed_requests += 1;
            }
            (Machine::NonInviteServer(m), _) => {
                m.on_retransmit(c, &mut ctx);
                self.stats.absorbed_requests += 1;
            }
            _ => {} // unreachable: the server index only names server transactions
        }
        Ok(())
    }

    /// The dialog's ACK for a 2xx reached an Accepted INVITE server transaction.
    fn ack_accepted(&mut self, now: Instant, id: TxId) {
        if let Some(tx) = self.txs.get_mut(&id)
            && let Machine::InviteServer(m) = &mut tx.machine
        {
            let _ = m.on_ack(&mut tx.common, &mut self.io.ctx(now));
        }
    }
}
