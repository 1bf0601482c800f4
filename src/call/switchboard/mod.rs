//! The node's signaling core (sans-IO): SIP messages and time in, transmissions and media
//! events out. It admits requests from trunks (policy), answers out-of-dialog requests,
//! runs echo calls, and keeps each established call's dialog and session timer.

mod admission;
mod dialogs;
mod hold;
mod inbound;
mod limits;
mod load;
mod outbound;
mod pending;
mod ports;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_outbound;
mod timers;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rsip::prelude::*;

use crate::api::Metrics;
use crate::config::Config;
use crate::policy::EndReason;
use crate::sip::digest::NonceIssuer;
use crate::sip::message::{self, Malformed, Parsed};
use crate::sip::reply;
use crate::sip::transaction::{TransactionLayer, TxConfig, TxEvent, TxId};
use crate::sip::{Peer, Transmit, Transport};

use dialogs::Call;
pub use dialogs::{CallId, reasons};
use limits::TrunkLimits;
pub use outbound::{LegEvent, LegId, OutboundCall, OutboundError};
pub use ports::{MediaPorts, PortPool};

/// Methods we answer; anything else is 501, these others are 405.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, PRACK";
/// Option tags we support (RFC 3261 §19.2).
pub const SUPPORTED: &str = "timer, 100rel";
const KNOWN_UNSUPPORTED: [&str; 7] = [
    "REGISTER",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "MESSAGE",
    "REFER",
    "INFO",
];

/// What the driver must do besides sending bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwitchEvent {
    /// A carrier calls an online endpoint: ring its sessions. `media_bind` is the call's
    /// RTP port (already in the SDP answer we will send); answer with `answer_call`.
    IncomingCall {
        call: CallId,
        app: String,
        endpoint: String,
        did: String,
        caller: crate::policy::CallerId,
        trunk_offer: crate::call::sdp::TrunkOffer,
        media_bind: SocketAddr,
    },
    /// Bind `local` and send the RTP that arrives from `remote` back to it (echo service).
    EchoStart {
        call: CallId,
        local: SocketAddr,
        offer: crate::call::sdp::TrunkOffer,
    },
    /// The far end moved or changed direction (re-INVITE/UPDATE); `send` false while on hold.
    EchoUpdate {
        call: CallId,
        remote: SocketAddr,
        send: bool,
    },
    /// Release the call's media.
    MediaStop { call: CallId },
    /// A call ended.
    CallEnded { call: CallId, reason: EndReason },
    /// Progress of an outbound leg placed with `place_call`.
    Leg { leg: LegId, event: LegEvent },
}

/// Our own addresses, as written into Via and Contact.
#[derive(Debug, Clone)]
pub struct LocalAddrs {
    pub host: String,
    pub udp_port: Option<u16>,
    pub tcp_port: Option<u16>,
}

pub struct Switchboard {
    cfg: Arc<Config>,
    metrics: Arc<Metrics>,
    local: LocalAddrs,
    tx: TransactionLayer,
    calls: HashMap<CallId, Call>,
    /// INVITE server transactions of established calls, for ACK timeouts.
    call_by_tx: HashMap<TxId, CallId>,
    /// Our client transactions (BYE, refreshes) and the call they belong to.
    client_tx: HashMap<TxId, CallId>,
    legs: HashMap<LegId, outbound::Leg>,
    /// Inbound calls ringing an endpoint.
    pending: HashMap<CallId, pending::Pending>,
    /// Endpoints with at least one connected session: (app, endpoint).
    online: HashSet<(String, String)>,
    /// Client transactions of outbound legs (INVITE, PRACK, CANCEL, BYE).
    leg_by_tx: HashMap<TxId, LegId>,
    /// Our re-INVITEs (hold/resume) in flight, by client transaction.
    reinvites: HashMap<TxId, hold::Reinvite>,
    /// Our session refreshes (UPDATE) in flight.
    refreshes: HashMap<TxId, CallId>,
    nonces: NonceIssuer,
    ports: Box<dyn MediaPorts>,
    limits: TrunkLimits,
    load: load::LoadGovernor,
    draining: bool,
    started: (Instant, u64),
    events: VecDeque<SwitchEvent>,
    transmits: VecDeque<Transmit>,
    next_id: u64,
}

impl Switchboard {
    /// `unix_now` is wall-clock seconds at `now`, used only to date digest nonces.
    pub fn new(
        cfg: Arc<Config>,
        metrics: Arc<Metrics>,
        local: LocalAddrs,
        now: Instant,
        unix_now: u64,
    ) -> Self {
        let s = &cfg.sip;
        let tx = TransactionLayer::new(TxConfig {
            t1: Duration::from_millis(s.t1_ms),
            t2: Duration::from_millis(s.t2_ms),
            t4: Duration::from_millis(s.t4_ms),
            max_transactions: s.max_transactions,
        });
        Self {
            ports: Box::new(PortPool::new(cfg.media.port_min, cfg.media.port_max)),
            limits: TrunkLimits::default(),
            load: load::LoadGovernor::new(
                cfg.admission.max_cpu_percent,
                cfg.admission.retry_after_s,
            ),
            nonces: NonceIssuer::random(300),
            cfg,
            metrics,
            local,
            tx,
            calls: HashMap::new(),
            call_by_tx: HashMap::new(),
            client_tx: HashMap::new(),
            refreshes: HashMap::new(),
            reinvites: HashMap::new(),
            legs: HashMap::new(),
            pending: HashMap::new(),
            online: HashSet::new(),
            leg_by_tx: HashMap::new(),
            draining: false,
            started: (now, unix_now),
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            next_id: 0,
        }
    }

    /// Replaces where RTP ports come from (the driver binds them before they are used).
    pub fn set_media_ports(&mut self, ports: Box<dyn MediaPorts>) {
        self.ports = ports;
    }

    /// One datagram or TCP frame from `peer`.
    pub fn handle_message(&mut self, now: Instant, peer: Peer, bytes: &[u8]) {
        match message::parse(bytes, self.cfg.sip.max_message_bytes) {
            Ok(Parsed::Response(resp)) => self.tx.handle_response(now, resp, peer),
            Ok(Parsed::Request(req)) => self.handle_request(now, req, peer),
            Err(Malformed {
                error,
                request: Some(req),
                ..
            }) => {
                let mut req = *req;
                self.metrics
                    .sip_requests
                    .with_label_values(&[req.method().to_string().as_str()])
                    .inc();
                tracing::info!(%peer, %error, "malformed request, answering 400");
                let to = reply::stamp_via_and_route(&mut req, peer);
                let resp = reply::response(
                    &req,
                    400,
                    &format!("Bad Request ({error})"),
                    None,
                    &self.cfg.sip.user_agent,
                );
                self.send_stateless(to, reply::finish(resp, vec![], None));
            }
            Err(Malformed {
                error,
                raw_head: Some(head),
                ..
            }) => {
                self.metrics
                    .sip_requests
                    .with_label_values(&["other"])
                    .inc();
                if head.starts_with("ACK ") {
                    // An ACK is never answered (RFC 3261 §17.2.1).
                    tracing::debug!(%peer, %error, "malformed ACK dropped");
                    return;
                }
                let tag = self.new_tag();
                let ua = self.cfg.sip.user_agent.clone();
                let (code, reason) = match error {
                    message::ParseError::UnknownMethod => (501, "Not Implemented".to_owned()),
                    e => (400, format!("Bad Request ({e})")),
                };
                if let Some(text) = reply::raw_response(&head, code, &reason, &tag, &ua) {
                    self.metrics
                        .sip_responses
                        .with_label_values(&[code.to_string().as_str()])
                        .inc();
                    self.transmits.push_back(Transmit {
                        peer,
                        bytes: Bytes::from(text),
                    });
                }
            }
            Err(Malformed {
                error,
                request: None,
                ..
            }) => {
                self.metrics
                    .sip_dropped
                    .with_label_values(&[short_reason(error)])
                    .inc();
                tracing::debug!(%peer, %error, "unanswerable message dropped");
            }
        }
        self.drain_tx(now);
    }

    fn handle_request(&mut self, now: Instant, mut req: rsip::Request, source: Peer) {
        let method = req.method().to_string();
        self.metrics
            .sip_requests
            .with_label_values(&[method.as_str()])
            .inc();
        let peer = reply::stamp_via_and_route(&mut req, source);
        if *req.method() != rsip::Method::Ack
            && let Ok(0) = req.max_forwards_header().and_then(|m| m.num())
        {
            return self.reply_stateless(&req, peer, 483, "Too Many Hops", vec![]);
        }
        match self.tx.handle_request(now, req.clone(), peer) {
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(%peer, error = %e, "request not taken by the transaction layer");
                if *req.method() != rsip::Method::Ack {
                    let retry = reply::other("Retry-After", "5");
                    self.reply_stateless(&req, peer, 503, "Service Unavailable", vec![retry]);
                }
            }
        }
    }

    /// Advances timers: transactions, session timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        self.drain_tx(now);
        self.reliable_timers(now);
        self.check_session_timers(now);
        self.drain_tx(now);
    }

    /// The driver could not run media for `call` (port taken, RTP timeout): end it.
    pub fn handle_media_failed(&mut self, now: Instant, call: &CallId, reason: EndReason) {
        self.end_call(now, call, reason, true);
        self.drain_tx(now);
    }

    /// Stop admitting calls (503); calls in progress continue.
    pub fn start_drain(&mut self) {
        self.draining = true;
    }

    /// Ends every call with BYE (shutdown).
    pub fn end_all_calls(&mut self, now: Instant) {
        let ids: Vec<CallId> = self.calls.keys().cloned().collect();
        for id in ids {
            self.end_call(now, &id, dialogs::reasons::SHUTDOWN, true);
        }
        self.drain_tx(now);
    }

    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// A measurement for the admission rule: the process's CPU seconds at `now` and the
    /// cores it may run on.
    pub fn handle_load_sample(&mut self, now: Instant, cpu_seconds: f64, cores: usize) {
        let calls = self.calls_costing_cpu();
        self.load.handle_sample(now, cpu_seconds, cores, calls);
        self.metrics.cpu_load_percent.set(self.load.percent());
    }

    /// Admits one new call under the load rule, or says when to retry.
    pub fn admit_load(&mut self) -> Result<(), Duration> {
        let calls = self.calls_costing_cpu();
        self.load.admit(calls)
    }

    /// What the load rule counts as calls in progress, at sampling and at admission alike:
    /// answered and ringing inbound calls and outbound legs.
    fn calls_costing_cpu(&self) -> usize {
        self.calls.len() + self.legs.len() + self.pending.len()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits
            .pop_front()
            .or_else(|| self.tx.poll_transmit())
    }

    pub fn poll_event(&mut self) -> Option<SwitchEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let calls = self
            .calls
            .values()
            .filter_map(|c| c.timer.as_ref().and_then(|t| t.poll_timeout()));
        let reliable = self.reliable_timeout();
        self.tx
            .poll_timeout()
            .into_iter()
            .chain(calls)
            .chain(reliable)
            .min()
    }

    fn drain_tx(&mut self, now: Instant) {
        while let Some(ev) = self.tx.poll_event() {
            match ev {
                TxEvent::Request { tx, request, peer } => self.dispatch(now, tx, request, peer),
                TxEvent::Response { tx, response } => {
                    if self.on_reinvite_response(tx, &response) {
                    } else if !self.on_leg_response(now, tx, &response) {
                        self.on_client_response(now, tx, response)
                    }
                }
                TxEvent::Timeout { tx } => {
                    if !self.on_leg_timeout(tx) {
                        self.on_client_timeout(now, tx)
                    }
                }
                TxEvent::AckTimeout { tx } => self.on_ack_timeout(now, tx),
                TxEvent::Terminated { tx } => {
                    self.client_tx.remove(&tx);
                    self.refreshes.remove(&tx);
                    self.reinvites.remove(&tx);
                    if self
                        .leg_by_tx
                        .get(&tx)
                        .is_some_and(|l| !self.legs.contains_key(l))
                    {
                        self.leg_by_tx.remove(&tx);
                    }
                }
            }
        }
        self.metrics.active_transactions.set(self.tx.len() as i64);
        let calls = self.calls.len() + self.legs.len();
        self.metrics.active_calls.set(calls as i64);
    }

    fn dispatch(&mut self, now: Instant, tx: Option<TxId>, req: rsip::Request, peer: Peer) {
        let Some(tx) = tx else {
            return self.on_ack(now, &req);
        };
        let in_dialog = req
            .to_header()
            .is_ok_and(|t| crate::sip::transaction::has_tag(t.value()));
        match req.method() {
            rsip::Method::Cancel => self.on_cancel(now, tx, &req),
            _ if in_dialog => match self.leg_for(&req) {
                Some(leg) => self.on_leg_request(now, tx, leg, req),
                None => self.on_in_dialog(now, tx, req, peer),
            },
            rsip::Method::Invite => self.on_invite(now, tx, req, peer),
            rsip::Method::Options => self.on_options(now, tx, &req, peer),
            rsip::Method::Bye | rsip::Method::Update | rsip::Method::PRack => self.respond(
                now,
                tx,
                &req,
                481,
                "Call/Transaction Does Not Exist",
                vec![],
                None,
            ),
            m if KNOWN_UNSUPPORTED.contains(&m.to_string().as_str()) => {
                let allow = reply::other("Allow", ALLOW);
                self.respond(now, tx, &req, 405, "Method Not Allowed", vec![allow], None)
            }
            _ => self.respond(now, tx, &req, 501, "Not Implemented", vec![], None),
        }
    }

    /// Answers a server transaction and counts the code.
    #[allow(clippy::too_many_arguments)]
    fn respond(
        &mut self,
        now: Instant,
        tx: TxId,
        req: &rsip::Request,
        code: u16,
        reason: &str,
        extra: Vec<rsip::Header>,
        body: Option<(&str, Vec<u8>)>,
    ) {
        let tag = self.new_tag();
        self.respond_tagged(now, tx, req, code, reason, &tag, extra, body);
    }

    #[allow(clippy::too_many_arguments)]
    fn respond_tagged(
        &mut self,
        now: Instant,
        tx: TxId,
        req: &rsip::Request,
        code: u16,
        reason: &str,
        tag: &str,
        extra: Vec<rsip::Header>,
        body: Option<(&str, Vec<u8>)>,
    ) {
        let resp = reply::response(req, code, reason, Some(tag), &self.cfg.sip.user_agent);
        let resp = reply::finish(resp, extra, body);
        self.metrics
            .sip_responses
            .with_label_values(&[code.to_string().as_str()])
            .inc();
        if let Err(e) = self.tx.send_response(now, tx, resp) {
            tracing::warn!(error = %e, code, "could not send response");
        }
    }

    fn reply_stateless(
        &mut self,
        req: &rsip::Request,
        peer: Peer,
        code: u16,
        reason: &str,
        extra: Vec<rsip::Header>,
    ) {
        let tag = self.new_tag();
        let resp = reply::response(req, code, reason, Some(&tag), &self.cfg.sip.user_agent);
        self.send_stateless(peer, reply::finish(resp, extra, None));
    }

    fn send_stateless(&mut self, peer: Peer, resp: rsip::Response) {
        self.metrics
            .sip_responses
            .with_label_values(&[resp.status_code().code().to_string().as_str()])
            .inc();
        self.transmits.push_back(Transmit {
            peer,
            bytes: Bytes::from(resp.to_string()),
        });
    }

    fn new_tag(&mut self) -> String {
        self.next_id += 1;
        format!("{:x}{:08x}", self.next_id, rand::random::<u32>())
    }

    fn unix_now(&self, now: Instant) -> u64 {
        self.started.1 + now.saturating_duration_since(self.started.0).as_secs()
    }

    fn via_port(&self, transport: Transport) -> u16 {
        let p = match transport {
            Transport::Udp => self.local.udp_port,
            Transport::Tcp => self.local.tcp_port,
        };
        self.cfg.sip.advertised_port.or(p).unwrap_or(5060)
    }
}

fn short_reason(e: message::ParseError) -> &'static str {
    use message::ParseError as E;
    match e {
        E::TooLarge => "too_large",
        E::NoHeaderEnd | E::NotUtf8 | E::BadStartLine => "unparsable",
        _ => "bad_header",
    }
}
