//! The transaction table: matching, dispatch to the four machines, output queues.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use rsip::Method;

use super::client_invite::ClientInvite;
use super::client_non_invite::ClientNonInvite;
use super::ctx::{Common, Ctx, Step};
use super::key::{self, ClientKey, MethodKey, ServerKey};
use super::server_invite::ServerInvite;
use super::server_non_invite::ServerNonInvite;
use super::timers::{Deadlines, Timers};
use super::{TxConfig, TxError, TxEvent, TxId, TxState};
use crate::sip::{Peer, Transmit};

/// Counters for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxStats {
    /// Responses matching no client transaction (or without a usable Via/CSeq).
    pub dropped_responses: u64,
    /// Retransmitted requests and non-2xx ACKs absorbed by a server transaction.
    pub absorbed_requests: u64,
}

#[derive(Debug)]
pub(super) enum Machine {
    InviteClient(ClientInvite),
    NonInviteClient(ClientNonInvite),
    InviteServer(ServerInvite),
    NonInviteServer(ServerNonInvite),
}

#[derive(Debug)]
pub(super) enum IndexKey {
    Server(ServerKey),
    Client(ClientKey),
}

/// (Call-ID, CSeq number) of an INVITE: how the dialog's ACK for a 2xx is recognised.
pub(super) type AckKey = (Box<str>, u32);

#[derive(Debug)]
pub(super) struct Tx {
    pub(super) common: Common,
    pub(super) machine: Machine,
    pub(super) index: IndexKey,
    /// INVITE server transactions only.
    pub(super) ack_key: Option<AckKey>,
}

/// The layer's outputs and clock-free timer set, split from the table for borrowing.
#[derive(Debug)]
pub(super) struct Io {
    pub(super) cfg: TxConfig,
    pub(super) transmits: VecDeque<Transmit>,
    pub(super) events: VecDeque<TxEvent>,
    pub(super) timers: Timers,
}

impl Io {
    pub(super) fn ctx(&mut self, now: Instant) -> Ctx<'_> {
        Ctx {
            cfg: &self.cfg,
            now,
            transmits: &mut self.transmits,
            events: &mut self.events,
            timers: &mut self.timers,
        }
    }
}

/// All transactions of one SIP endpoint. See the [module docs](super).
#[derive(Debug)]
pub struct TransactionLayer {
    pub(super) io: Io,
    pub(super) next_id: u64,
    pub(super) txs: HashMap<TxId, Tx>,
    pub(super) servers: HashMap<ServerKey, TxId>,
    pub(super) clients: HashMap<ClientKey, TxId>,
    /// INVITE server transactions in Accepted that still wait for the ACK to their 2xx.
    pub(super) awaiting_ack: HashMap<AckKey, TxId>,
    pub(super) stats: TxStats,
}

impl TransactionLayer {
    /// A layer with `cfg` (timers clamped by [`TxConfig::sanitized`]).
    pub fn new(cfg: TxConfig) -> Self {
        Self {
            io: Io {
                cfg: cfg.sanitized(),
                transmits: VecDeque::new(),
                events: VecDeque::new(),
                timers: Timers::default(),
            },
            next_id: 0,
            txs: HashMap::new(),
            servers: HashMap::new(),
            clients: HashMap::new(),
            awaiting_ack: HashMap::new(),
            stats: TxStats::default(),
        }
    }

    /// A response from the network, matched to a client transaction by top Via branch and
    /// CSeq method (§17.1.3). Unmatched responses are dropped and counted.
    pub fn handle_response(&mut self, now: Instant, response: rsip::Response, _peer: Peer) {
        let id = key::response_key(&response).and_then(|k| self.clients.get(&k).copied());
        let Some(tx) = id.and_then(|id| self.txs.get_mut(&id)) else {
            self.stats.dropped_responses += 1;
            return;
        };
        let id = tx.common.id;
        let mut ctx = self.io.ctx(now);
        let step = match &mut tx.machine {
            Machine::InviteClient(m) => m.on_response(&mut tx.common, &mut ctx, response),
            Machine::NonInviteClient(m) => m.on_response(&mut tx.common, &mut ctx, response),
            _ => Step::Continue, // unreachable: the client index only names client transactions
        };
        self.apply(id, step);
    }

    /// Starts a client transaction and sends the request. The request must carry a top Via
    /// whose branch starts with `z9hG4bK`; ACK is refused (use [`Self::send_stateless`]).
    pub fn send_request(
        &mut self,
        now: Instant,
        request: rsip::Request,
        peer: Peer,
    ) -> Result<TxId, TxError> {
        if request.method == Method::Ack {
            return Err(TxError::InvalidRequest("ACK is sent without a transaction"));
        }
        let via = key::top_via(&request.headers)?;
        let branch = via
            .branch
            .filter(|b| b.starts_with(key::MAGIC_COOKIE))
            .ok_or(TxError::InvalidRequest(
                "top Via branch must start with z9hG4bK",
            ))?;
        key::validate_request(&request)?;
        let key = ClientKey {
            branch: branch.into(),
            method: MethodKey::of(request.method),
        };
        if self.clients.contains_key(&key) {
            return Err(TxError::DuplicateTransaction);
        }
        if self.txs.len() >= self.io.cfg.max_transactions {
            return Err(TxError::TooManyTransactions);
        }
        let id = self.allocate_id();
        let invite = request.method == Method::Invite;
        let request_is_cancel = request.method == Method::Cancel;
        let mut common = Common {
            id,
            peer,
            request,
            deadlines: Deadlines::default(),
        };
        let mut ctx = self.io.ctx(now);
        let machine = if invite {
            Machine::InviteClient(ClientInvite::start(&mut common, &mut ctx))
        } else {
            Machine::NonInviteClient(ClientNonInvite::start(&mut common, &mut ctx))
        };
        if request_is_cancel {
            self.cancel_sent(now, &key.branch);
        }
        self.clients.insert(key.clone(), id);
        let index = IndexKey::Client(key);
        let tx = Tx {
            common,
            machine,
            index,
            ack_key: None,
        };
        self.txs.insert(id, tx);
        Ok(id)
    }

    /// Arms the §9.1 give-up timer on the INVITE client transaction a CANCEL targets.
    fn cancel_sent(&mut self, now: Instant, branch: &str) {
        let key = ClientKey {
            branch: branch.into(),
            method: MethodKey::of(Method::Invite),
        };
        if let Some(id) = self.clients.get(&key)
            && let Some(tx) = self.txs.get_mut(id)
            && let Machine::InviteClient(m) = &mut tx.machine
        {
            m.on_cancel_sent(&mut tx.common, &mut self.io.ctx(now));
        }
    }

    /// Sends a response on a server transaction. An INVITE 2xx moves it to Accepted
    /// (RFC 6026): the layer retransmits the 2xx over UDP (T1, 2T1, … capped at T2) until
    /// the ACK arrives (surfacing as `Request { tx: None }`) or 64*T1 passes (`AckTimeout`).
    pub fn send_response(
        &mut self,
        now: Instant,
        tx: TxId,
        response: rsip::Response,
    ) -> Result<(), TxError> {
        let entry = self.txs.get_mut(&tx).ok_or(TxError::UnknownTransaction)?;
        let mut ctx = self.io.ctx(now);
        let c = &mut entry.common;
        let step = match &mut entry.machine {
            Machine::InviteServer(m) => {
                let step = m.send_response(c, &mut ctx, &response)?;
                if m.state() == TxState::Accepted
                    && !m.acked()
                    && let Some(k) = &entry.ack_key
                {
                    self.awaiting_ack.insert(k.clone(), tx);
                }
                step
            }
            Machine::NonInviteServer(m) => m.send_response(c, &mut ctx, &response)?,
            _ => return Err(TxError::InvalidState("not a server transaction")),
        };
        self.apply(tx, step);
        Ok(())
    }

    /// Queues bytes outside any transaction (ACK for a 2xx, stateless replies).
    pub fn send_stateless(&mut self, peer: Peer, bytes: Bytes) {
        self.io.transmits.push_back(Transmit { peer, bytes });
    }

    /// Fires every timer due at or before `now`. Each timer runs at its own deadline, so
    /// retransmission schedules do not drift when the driver wakes late.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, id, kind)) = self.io.timers.pop_due(now) {
            let Some(tx) = self.txs.get_mut(&id) else {
                continue;
            };
            tx.common.deadlines[kind as usize] = None;
            let mut ctx = self.io.ctx(at);
            let c = &mut tx.common;
            let step = match &mut tx.machine {
                Machine::InviteClient(m) => m.on_timer(c, &mut ctx, kind),
                Machine::NonInviteClient(m) => m.on_timer(c, &mut ctx, kind),
                Machine::InviteServer(m) => m.on_timer(c, &mut ctx, kind),
                Machine::NonInviteServer(m) => m.on_timer(kind),
            };
            self.apply(id, step);
        }
    }

    /// The transport could not deliver this transaction's messages (TCP connection failed,
    /// ICMP unreachable). A client still waiting for a final response reports `Timeout`
    /// (§8.1.3.1: the TU treats it like a 503); then the transaction terminates.
    pub fn handle_transport_error(&mut self, tx: TxId) -> Result<(), TxError> {
        let entry = self.txs.get(&tx).ok_or(TxError::UnknownTransaction)?;
        let waiting = match &entry.machine {
            Machine::InviteClient(m) => matches!(m.state(), TxState::Calling | TxState::Proceeding),
            Machine::NonInviteClient(m) => {
                matches!(m.state(), TxState::Trying | TxState::Proceeding)
            }
            _ => false,
        };
        if waiting {
            self.io.events.push_back(TxEvent::Timeout { tx });
        }
        self.remove(tx);
        Ok(())
    }

    /// The next deadline, if any transaction has a timer armed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.io.timers.next()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.io.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.io.events.pop_front()
    }

    /// Live transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    pub fn stats(&self) -> TxStats {
        self.stats
    }

    /// The INVITE server transaction a CANCEL matches (§9.2: same top Via branch and
    /// sent-by), if it is still live.
    pub fn find_invite_for_cancel(&self, cancel: &rsip::Request) -> Option<TxId> {
        let mut key = key::server_key(cancel).ok()?;
        key.method = MethodKey::of(Method::Invite);
        let id = *self.servers.get(&key)?;
        let tx = self.txs.get(&id)?;
        matches!(tx.machine, Machine::InviteServer(_)).then_some(id)
    }

    /// The request that created a transaction.
    pub fn request_of(&self, tx: TxId) -> Option<&rsip::Request> {
        self.txs.get(&tx).map(|t| &t.common.request)
    }

    /// The current state of a transaction.
    pub fn state_of(&self, tx: TxId) -> Option<TxState> {
        let t = self.txs.get(&tx)?;
        Some(match &t.machine {
            Machine::InviteClient(m) => m.state(),
            Machine::NonInviteClient(m) => m.state(),
            Machine::InviteServer(m) => m.state(),
            Machine::NonInviteServer(m) => m.state(),
        })
    }

    pub(super) fn allocate_id(&mut self) -> TxId {
        self.next_id += 1;
        TxId(self.next_id)
    }

    fn apply(&mut self, id: TxId, step: Step) {
        if step == Step::Terminate {
            self.remove(id);
        }
    }

    /// Removes a transaction, its index entries and timers, and reports `Terminated`.
    pub(super) fn remove(&mut self, id: TxId) {
        let Some(mut tx) = self.txs.remove(&id) else {
            return;
        };
        self.io.timers.disarm_all(&mut tx.common.deadlines, id);
        match &tx.index {
            IndexKey::Server(k) => remove_if(&mut self.servers, k, id),
            IndexKey::Client(k) => remove_if(&mut self.clients, k, id),
        }
        if let Some(k) = &tx.ack_key {
            remove_if(&mut self.awaiting_ack, k, id);
        }
        self.io.events.push_back(TxEvent::Terminated { tx: id });
    }

    #[cfg(test)]
    pub(crate) fn armed_timers(&self) -> usize {
        self.io.timers.len()
    }
}

fn remove_if<K: std::hash::Hash + Eq>(map: &mut HashMap<K, TxId>, key: &K, id: TxId) {
    if map.get(key) == Some(&id) {
        map.remove(key);
    }
}
