//! Inbound INVITEs between admission and answer: offer read, session timer negotiated,
//! trunk limits and a media port taken. Echo calls are answered at once; calls to an
//! endpoint wait here while the browser rings (`ring_call`, `answer_call`, `reject_call`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsip::prelude::*;

use crate::call::sdp::{self, TrunkOffer};
use crate::policy::CallerId;
use crate::sip::Peer;
use crate::sip::dialog::Dialog;
use crate::sip::message::option_tags;
use crate::sip::reliable::{PrackOutcome, ReliableOutput, ReliableProvisionals};
use crate::sip::reply;
use crate::sip::session_timer::Negotiated;
use crate::sip::transaction::TxId;

use super::dialogs::{Call, CallId, CallPhase, reasons};
use super::{ALLOW, SUPPORTED, SwitchEvent, Switchboard};

pub(super) struct Pending {
    pub id: CallId,
    pub tx: TxId,
    pub req: rsip::Request,
    pub tag: String,
    pub peer: Peer,
    pub trunk: String,
    pub offer: TrunkOffer,
    pub timer: Option<Negotiated>,
    pub port: u16,
    /// Where the call's RTP socket binds.
    pub bind: SocketAddr,
    pub rang: bool,
    /// Our reliable 180 until PRACKed, when the carrier required 100rel (RFC 3262).
    pub reliable: Option<ReliableProvisionals>,
    /// When the INVITE arrived.
    pub received: Instant,
}

impl Switchboard {
    /// Checks what an INVITE needs before it can be answered; answers the failures.
    pub(super) fn admit_invite(
        &mut self,
        now: Instant,
        tx: TxId,
        req: rsip::Request,
        peer: Peer,
        trunk: String,
    ) -> Option<Pending> {
        let offer = match sdp::parse_offer(req.body()) {
            Ok(o) => o,
            Err(e) => {
                tracing::info!(%peer, error = %e, "offer refused");
                let warning = reply::other("Warning", format!("304 pstn-bridge \"{e}\""));
                self.respond(
                    now,
                    tx,
                    &req,
                    488,
                    "Not Acceptable Here",
                    vec![warning],
                    None,
                );
                return None;
            }
        };
        let (se, min_se) = (self.cfg.sip.session_expires_s, self.cfg.sip.min_se_s);
        let timer = match super::timers::negotiate(&req, se, min_se) {
            Ok(t) => t,
            Err(min) => {
                let h = reply::other("Min-SE", min.to_string());
                self.respond(
                    now,
                    tx,
                    &req,
                    422,
                    "Session Interval Too Small",
                    vec![h],
                    None,
                );
                return None;
            }
        };
        // Only a call that will be set up counts against the load: a refusal (404, 403,
        // 480) costs about what a 503 would.
        if let Err(retry) = self.admit_load() {
            tracing::info!(
                load_percent = self.load.percent(),
                "at capacity: new call refused"
            );
            let h = reply::other("Retry-After", retry.as_secs().to_string());
            self.respond(
                now,
                tx,
                &req,
                503,
                "Service Unavailable (at capacity)",
                vec![h],
                None,
            );
            return None;
        }
        if let Some(cfg) = self.cfg.trunks.get(&trunk)
            && let Err(hit) = self.limits.admit(now, &trunk, cfg)
        {
            let h = reply::other("Retry-After", hit.retry_after().as_secs().to_string());
            tracing::info!(%trunk, ?hit, "trunk limit reached");
            self.respond(
                now,
                tx,
                &req,
                503,
                "Service Unavailable (trunk limit)",
                vec![h],
                None,
            );
            return None;
        }
        let Some(port) = self.ports.take() else {
            self.limits.release(&trunk);
            let h = reply::other("Retry-After", "5");
            self.respond(
                now,
                tx,
                &req,
                503,
                "Service Unavailable (no media ports)",
                vec![h],
                None,
            );
            return None;
        };
        Some(Pending {
            id: CallId::new(),
            tx,
            tag: self.new_tag(),
            bind: SocketAddr::new(self.cfg.media.bind_ip, port),
            req,
            peer,
            trunk,
            offer,
            timer,
            port,
            rang: false,
            reliable: None,
            received: now,
        })
    }

    /// 200 OK with our SDP answer; the call becomes established. `None` when the INVITE
    /// cannot form a dialog (answered 400).
    pub(super) fn answer_pending(&mut self, now: Instant, p: Pending) -> Option<CallId> {
        let local_media = SocketAddr::new(self.cfg.media.advertised_ip, p.port);
        let session_id = u64::from(rand::random::<u32>());
        let answer = sdp::answer(&p.offer, local_media, session_id, 1);
        let contact = self.contact_uri(p.peer.transport);
        let mut headers = vec![
            rsip::Header::Contact(rsip::headers::Contact::new(format!("<{contact}>"))),
            reply::other("Allow", ALLOW),
            reply::other("Supported", SUPPORTED),
        ];
        if let Some(t) = &p.timer {
            headers.extend(super::timers::headers(t));
        }
        let dialog = match Dialog::uas(&p.req, &p.tag, contact) {
            Ok(d) => d,
            Err(e) => {
                self.release(&p.trunk, p.port);
                tracing::info!(peer = %p.peer, error = %e, "INVITE cannot form a dialog");
                self.respond(
                    now,
                    p.tx,
                    &p.req,
                    400,
                    "Bad Request (dialog headers)",
                    vec![],
                    None,
                );
                return None;
            }
        };
        let body = Some(("application/sdp", answer.into_bytes()));
        self.respond_tagged(now, p.tx, &p.req, 200, "OK", &p.tag, headers, body);
        self.metrics
            .inbound_answer_seconds
            .observe(now.saturating_duration_since(p.received).as_secs_f64());
        let call = Call {
            id: p.id.clone(),
            trunk: p.trunk,
            invite_tx: p.tx,
            dialog,
            phase: CallPhase::Answered,
            peer: p.peer,
            media_port: p.port,
            session_id,
            sdp_version: 1,
            offer: p.offer,
            timer: p.timer.map(|t| t.timer(now)),
        };
        self.call_by_tx.insert(p.tx, p.id.clone());
        self.calls.insert(p.id.clone(), call);
        Some(p.id)
    }

    pub(super) fn offer_to_endpoint(
        &mut self,
        p: Pending,
        app: String,
        endpoint: String,
        did: String,
        caller: CallerId,
    ) {
        tracing::info!(call = %p.id, %app, %endpoint, "ringing endpoint");
        self.events.push_back(SwitchEvent::IncomingCall {
            call: p.id.clone(),
            app,
            endpoint,
            did,
            caller,
            trunk_offer: p.offer.clone(),
            media_bind: p.bind,
        });
        self.pending.insert(p.id.clone(), p);
    }

    /// Whether an endpoint has a connected session (kept up to date by the driver).
    pub(super) fn endpoint_online(&self, app: &str, endpoint: &str) -> bool {
        self.online.contains(&(app.to_owned(), endpoint.to_owned()))
    }

    /// The driver reports that an endpoint's first session connected or its last one left.
    pub fn set_endpoint_online(&mut self, app: &str, endpoint: &str, online: bool) {
        let key = (app.to_owned(), endpoint.to_owned());
        if online {
            self.online.insert(key);
        } else {
            self.online.remove(&key);
        }
    }

    /// 180 Ringing toward the carrier (reliably, with RSeq, when it requires 100rel).
    pub fn ring_call(&mut self, now: Instant, id: &CallId) {
        let Some(p) = self.pending.get_mut(id) else {
            return;
        };
        if p.rang {
            return;
        }
        p.rang = true;
        let (tx, req, tag) = (p.tx, p.req.clone(), p.tag.clone());
        let extra = vec![reply::other("Allow", ALLOW)];
        let reliable = option_tags(&req.headers, "Require")
            .iter()
            .any(|t| t == "100rel");
        let ringing = reply::response(&req, 180, "Ringing", Some(&tag), &self.cfg.sip.user_agent);
        let ringing = reply::finish(ringing, extra, None);
        let ringing = if reliable {
            let mut rp = ReliableProvisionals::new(Duration::from_millis(self.cfg.sip.t1_ms));
            let first = rp.send(now, ringing);
            p.reliable = Some(rp);
            first
        } else {
            Some(ringing)
        };
        if let Some(r) = ringing {
            self.metrics.sip_responses.with_label_values(&["180"]).inc();
            if let Err(e) = self.tx.send_response(now, tx, r) {
                tracing::warn!(error = %e, "could not send 180");
            }
        }
        self.drain_tx(now);
    }

    /// Answers a ringing call: 200 OK with our SDP toward the carrier.
    pub fn answer_call(&mut self, now: Instant, id: &CallId) -> bool {
        let Some(p) = self.pending.remove(id) else {
            return false;
        };
        let ok = self.answer_pending(now, p).is_some();
        self.drain_tx(now);
        ok
    }

    /// Refuses a ringing call with `code` (486 busy, 603 declined, 480 no answer).
    pub fn reject_call(&mut self, now: Instant, id: &CallId, code: u16) {
        let Some(p) = self.pending.remove(id) else {
            return;
        };
        let reason = match code {
            486 => "Busy Here",
            603 => "Decline",
            487 => "Request Terminated",
            500 => "Server Internal Error (no PRACK)",
            _ => "Temporarily Unavailable",
        };
        self.release(&p.trunk, p.port);
        self.respond_tagged(now, p.tx, &p.req, code, reason, &p.tag, vec![], None);
        self.drain_tx(now);
    }

    /// Ends a call whatever its phase: refuses a ringing one, sends BYE on an answered one.
    pub fn hangup_call(&mut self, now: Instant, id: &CallId) {
        if self.pending.contains_key(id) {
            return self.reject_call(now, id, 480);
        }
        self.end_call(now, id, reasons::LOCAL_HANGUP, true);
        self.drain_tx(now);
    }

    /// A CANCEL for a ringing call: 487 to its INVITE. True when one was pending.
    pub(super) fn cancel_pending(&mut self, now: Instant, invite_tx: TxId) -> bool {
        let Some(id) = self
            .pending
            .iter()
            .find(|(_, p)| p.tx == invite_tx)
            .map(|(id, _)| id.clone())
        else {
            return false;
        };
        self.reject_call(now, &id, 487);
        self.events
            .push_back(SwitchEvent::MediaStop { call: id.clone() });
        self.events.push_back(SwitchEvent::CallEnded {
            call: id,
            reason: reasons::CALLER_CANCELLED,
        });
        true
    }

    fn release(&mut self, trunk: &str, port: u16) {
        self.ports.release(port);
        self.limits.release(trunk);
    }

    pub fn pending_calls(&self) -> usize {
        self.pending.len()
    }
}

impl Switchboard {
    /// A media port for an outbound bridged call (its SDP offer names it).
    pub fn take_media_port(&mut self) -> Option<u16> {
        self.ports.take()
    }

    pub fn release_media_port(&mut self, port: u16) {
        self.ports.release(port);
    }
}

impl Switchboard {
    /// A PRACK for a ringing call's reliable 180: 200 when its RAck matches the outstanding
    /// response, 481 otherwise, 400 when unreadable (RFC 3262 §7.2). True when the PRACK
    /// belonged to a ringing call.
    pub(super) fn on_prack_for_pending(
        &mut self,
        now: Instant,
        tx: TxId,
        req: &rsip::Request,
    ) -> bool {
        let Ok(call_id) = req.call_id_header().map(|c| c.value().to_owned()) else {
            return false;
        };
        let Some(p) = self
            .pending
            .values_mut()
            .find(|p| p.req.call_id_header().is_ok_and(|c| c.value() == call_id))
        else {
            return false;
        };
        let tag = p.tag.clone();
        let rack = crate::sip::message::header_value(&req.headers, "RAck").unwrap_or("");
        let outcome = p
            .reliable
            .as_mut()
            .map_or(PrackOutcome::NoMatch, |rp| rp.handle_prack(rack));
        let (code, reason) = match outcome {
            PrackOutcome::Acknowledged => (200, "OK"),
            PrackOutcome::Malformed => (400, "Bad Request (RAck)"),
            _ => (481, "Call/Transaction Does Not Exist"),
        };
        self.respond_tagged(now, tx, req, code, reason, &tag, vec![], None);
        true
    }

    /// Retransmits unacknowledged reliable 180s; one never PRACKed ends the call with 500.
    pub(super) fn reliable_timers(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let mut resend = Vec::new();
        for (id, p) in self.pending.iter_mut() {
            let Some(rp) = p.reliable.as_mut() else {
                continue;
            };
            while let Some(out) = rp.poll_output(now) {
                match out {
                    ReliableOutput::Transmit(r) => resend.push((p.tx, r)),
                    ReliableOutput::Expired => expired.push(id.clone()),
                }
            }
        }
        for (tx, r) in resend {
            let _ = self.tx.send_response(now, tx, r);
        }
        for id in expired {
            tracing::info!(call = %id, "no PRACK for our reliable 180, refusing the call");
            self.reject_call(now, &id, 500);
            self.events
                .push_back(SwitchEvent::MediaStop { call: id.clone() });
            self.events.push_back(SwitchEvent::CallEnded {
                call: id,
                reason: reasons::NO_PRACK,
            });
        }
    }

    /// When the next reliable 180 retransmission or give-up is due.
    pub(super) fn reliable_timeout(&self) -> Option<Instant> {
        self.pending
            .values()
            .filter_map(|p| p.reliable.as_ref()?.poll_timeout())
            .min()
    }
}
