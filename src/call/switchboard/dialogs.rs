//! Established calls: ACK, BYE, re-INVITE/UPDATE with SDP direction, session timers and
//! ending a call from our side.

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

use rsip::prelude::*;

use crate::call::sdp::{self, TrunkOffer};
use crate::policy::EndReason;
use crate::sip::dialog::Dialog;
use crate::sip::reply;
use crate::sip::session_timer::SessionTimer;
use crate::sip::transaction::TxId;
use crate::sip::{Peer, Transport};

use super::{SUPPORTED, SwitchEvent, Switchboard};

pub use crate::call::reasons;

/// Stable identity of a call, independent of SIP Call-IDs on either leg.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(String);

impl CallId {
    pub fn new() -> Self {
        let bits: u128 = rand::random();
        Self(format!("{bits:032x}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for CallId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallPhase {
    /// 200 OK sent, waiting for ACK.
    Answered,
    Confirmed,
    /// We sent BYE.
    Ending,
}

pub struct Call {
    pub id: CallId,
    pub trunk: String,
    pub invite_tx: TxId,
    pub dialog: Dialog,
    pub phase: CallPhase,
    /// Where the carrier's requests came from; our in-dialog requests go there.
    pub peer: Peer,
    pub media_port: u16,
    pub session_id: u64,
    pub sdp_version: u64,
    pub offer: TrunkOffer,
    pub timer: Option<SessionTimer>,
}

impl Switchboard {
    fn call_for(&self, req: &rsip::Request) -> Option<CallId> {
        let key = crate::sip::dialog::dialog_id_of_request(req)?;
        self.calls
            .values()
            .find(|c| {
                c.dialog.id().call_id == key.call_id && c.dialog.id().local_tag == key.local_tag
            })
            .map(|c| c.id.clone())
    }

    pub(super) fn on_ack(&mut self, _now: Instant, req: &rsip::Request) {
        if let Some(id) = self.call_for(req)
            && let Some(call) = self.calls.get_mut(&id)
            && call.phase == CallPhase::Answered
        {
            call.phase = CallPhase::Confirmed;
            call.dialog.confirm();
            tracing::debug!(call = %id, "ACK received, call confirmed");
        }
    }

    pub(super) fn on_in_dialog(&mut self, now: Instant, tx: TxId, req: rsip::Request, _peer: Peer) {
        if *req.method() == rsip::Method::PRack && self.on_prack_for_pending(now, tx, &req) {
            return;
        }
        let Some(id) = self.call_for(&req) else {
            return self.respond(
                now,
                tx,
                &req,
                481,
                "Call/Transaction Does Not Exist",
                vec![],
                None,
            );
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.dialog.handle_remote_request(&req).is_err() {
            return self.respond(
                now,
                tx,
                &req,
                500,
                "Server Internal Error (CSeq out of order)",
                vec![],
                None,
            );
        }
        let tag = call.dialog.id().local_tag.clone();
        match req.method() {
            rsip::Method::Bye => {
                self.respond_tagged(now, tx, &req, 200, "OK", &tag, vec![], None);
                self.finish_call(&id, reasons::REMOTE_HANGUP);
            }
            rsip::Method::Invite | rsip::Method::Update => self.on_refresh(now, tx, req, id, tag),
            _ => self.respond_tagged(now, tx, &req, 501, "Not Implemented", &tag, vec![], None),
        }
    }

    /// A re-INVITE or UPDATE: new SDP (hold/resume, address change) and/or a session refresh.
    fn on_refresh(&mut self, now: Instant, tx: TxId, req: rsip::Request, id: CallId, tag: String) {
        let (se, min_se) = (self.cfg.sip.session_expires_s, self.cfg.sip.min_se_s);
        let negotiated = match super::timers::negotiate(&req, se, min_se) {
            Ok(t) => t,
            Err(min) => {
                let h = reply::other("Min-SE", min.to_string());
                return self.respond_tagged(
                    now,
                    tx,
                    &req,
                    422,
                    "Session Interval Too Small",
                    &tag,
                    vec![h],
                    None,
                );
            }
        };
        let new_offer = if req.body().is_empty() {
            None
        } else {
            match sdp::parse_offer(req.body()) {
                Ok(o) => Some(o),
                Err(e) => {
                    let w = reply::other("Warning", format!("304 pstn-bridge \"{e}\""));
                    return self.respond_tagged(
                        now,
                        tx,
                        &req,
                        488,
                        "Not Acceptable Here",
                        &tag,
                        vec![w],
                        None,
                    );
                }
            }
        };
        let local = SocketAddr::new(self.cfg.media.advertised_ip, 0);
        let contact = self.contact_uri(self_transport(&self.calls, &id));
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let mut headers = vec![
            rsip::Header::Contact(rsip::headers::Contact::new(format!("<{contact}>"))),
            reply::other("Supported", SUPPORTED),
        ];
        match negotiated {
            Some(t) => {
                headers.extend(super::timers::headers(&t));
                call.timer = Some(t.timer(now));
            }
            None => call.timer = None,
        }
        let body = new_offer.map(|offer| {
            call.sdp_version += 1;
            let moved =
                offer.remote != call.offer.remote || offer.direction != call.offer.direction;
            call.offer = offer.clone();
            let local = SocketAddr::new(local.ip(), call.media_port);
            if moved {
                self.events.push_back(SwitchEvent::EchoUpdate {
                    call: id.clone(),
                    remote: offer.remote,
                    send: offer.direction.peer_receives(),
                });
            }
            (
                "application/sdp",
                sdp::answer(&offer, local, call.session_id, call.sdp_version).into_bytes(),
            )
        });
        tracing::debug!(call = %id, method = %req.method(), "session refreshed");
        self.respond_tagged(now, tx, &req, 200, "OK", &tag, headers, body);
    }

    pub(super) fn on_ack_timeout(&mut self, now: Instant, tx: TxId) {
        if let Some(id) = self.call_by_tx.get(&tx).cloned()
            && self
                .calls
                .get(&id)
                .is_some_and(|c| c.phase == CallPhase::Answered)
        {
            tracing::info!(call = %id, "no ACK for 200 OK, ending call");
            self.end_call(now, &id, reasons::NO_ACK, true);
        }
    }

    pub(super) fn on_client_response(&mut self, now: Instant, tx: TxId, resp: rsip::Response) {
        let code = resp.status_code().code();
        if code >= 200 {
            self.on_refresh_answer(now, tx, code);
            if let Some(id) = self.client_tx.remove(&tx) {
                tracing::debug!(call = %id, code, "final response to our request");
            }
        }
    }

    pub(super) fn on_client_timeout(&mut self, _now: Instant, tx: TxId) {
        if let Some(id) = self.client_tx.remove(&tx) {
            tracing::info!(call = %id, "our in-dialog request timed out");
        }
    }

    /// Ends a call from our side: BYE (when `send_bye`), media stopped, resources released.
    pub(super) fn end_call(
        &mut self,
        now: Instant,
        id: &CallId,
        reason: EndReason,
        send_bye: bool,
    ) {
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        if send_bye && call.phase != CallPhase::Ending {
            call.phase = CallPhase::Ending;
            let transport = call.peer.transport;
            let host = self.local.host.clone();
            let port = self.cfg.sip.advertised_port.or(match transport {
                Transport::Udp => self.local.udp_port,
                Transport::Tcp => self.local.tcp_port,
            });
            let branch = format!("z9hG4bK{:016x}", rand::random::<u64>());
            let bye = call.dialog.make_request(
                rsip::Method::Bye,
                &host,
                port.unwrap_or(5060),
                transport,
                &branch,
            );
            // Fix: `make_request` already carries `Content-Length: 0`; a second one was
            // pushed here, so every bridge-sent BYE on an inbound call had the header twice
            // (a single-valued header, RFC 3261 §20.14; strict carriers reject it with 400).
            let peer = call.peer;
            match self.tx.send_request(now, bye, peer) {
                Ok(tx) => {
                    self.client_tx.insert(tx, id.clone());
                }
                Err(e) => tracing::warn!(call = %id, error = %e, "could not send BYE"),
            }
        }
        self.finish_call(id, reason);
    }

    /// Forgets a call and tells the driver.
    pub(super) fn finish_call(&mut self, id: &CallId, reason: EndReason) {
        let Some(call) = self.calls.remove(id) else {
            return;
        };
        self.call_by_tx.remove(&call.invite_tx);
        self.ports.release(call.media_port);
        self.limits.release(&call.trunk);
        tracing::info!(call = %id, code = reason.code, sub_code = reason.sub_code, "call ended");
        self.events
            .push_back(SwitchEvent::MediaStop { call: id.clone() });
        self.events.push_back(SwitchEvent::CallEnded {
            call: id.clone(),
            reason,
        });
    }
}

fn self_transport(calls: &std::collections::HashMap<CallId, Call>, id: &CallId) -> Transport {
    calls.get(id).map_or(Transport::Udp, |c| c.peer.transport)
}
