//! Outbound legs: an INVITE to a trunk, digest challenges answered, provisional responses
//! (PRACK when the carrier sends them reliably), answer, failure, CANCEL and BYE.

use std::time::Instant;

use rsip::headers::untyped::UntypedHeader;
use rsip::prelude::*;

use crate::sip::dialog::Dialog;
use crate::sip::digest::{self, Challenge};
use crate::sip::message::header_value;
use crate::sip::reliable::{self, UacReliableState};
use crate::sip::reply::other;
use crate::sip::transaction::{TxId, cancel_for};
use crate::sip::{Peer, Transport};

use super::{ALLOW, SUPPORTED, SwitchEvent, Switchboard};

/// Identity of an outbound leg, stable across its re-sent INVITEs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u64);

/// What to place: the trunk, the number, and the identity policy decided on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundCall {
    pub trunk: String,
    /// The dialled number as it goes on the wire (`+14155551234`, or `911`).
    pub to: String,
    /// From user part: a number, or `anonymous`.
    pub from_user: String,
    pub from_display: Option<String>,
    /// From host; our advertised host when `None` (`anonymous.invalid` when anonymous).
    pub from_host: Option<String>,
    pub privacy_id: bool,
    /// P-Asserted-Identity number, only toward trusted trunks.
    pub pai: Option<String>,
    /// SDP offer (an empty body makes a late-offer INVITE).
    pub sdp: Vec<u8>,
}

/// What happened on a leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEvent {
    /// 180/183 (with early-media SDP on 183).
    Progress {
        code: u16,
        sdp: Option<Vec<u8>>,
    },
    Answered {
        sdp: Vec<u8>,
    },
    /// A final failure (3xx–6xx), a timeout (408), or our own CANCEL (487).
    Failed {
        code: u16,
        reason: String,
    },
    /// The answered leg ended; `by_remote` when the carrier sent BYE.
    Ended {
        by_remote: bool,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutboundError {
    #[error("unknown trunk")]
    UnknownTrunk,
    #[error("trunk has no destination")]
    NoDestination,
    #[error("trunk's transport is not listening")]
    TransportUnavailable,
    #[error("request could not be built or sent")]
    Send,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegPhase {
    Calling,
    Early,
    Confirmed,
    Ending,
}

pub(super) struct Leg {
    trunk: String,
    invite: rsip::Request,
    invite_tx: TxId,
    peer: Peer,
    phase: LegPhase,
    dialog: Option<Dialog>,
    auth_attempts: u8,
    cancel_requested: bool,
    reliable: UacReliableState,
    sdp_version: u64,
}

const MAX_AUTH_ATTEMPTS: u8 = 2;

impl Switchboard {
    /// Sends an INVITE for `call` on its trunk. Progress arrives as `SwitchEvent::Leg`.
    pub fn place_call(&mut self, now: Instant, call: OutboundCall) -> Result<LegId, OutboundError> {
        let trunk = self
            .cfg
            .trunks
            .get(&call.trunk)
            .ok_or(OutboundError::UnknownTrunk)?;
        let dest = trunk.destination.ok_or(OutboundError::NoDestination)?;
        let transport = match trunk.transport {
            crate::config::TransportKind::Udp => Transport::Udp,
            crate::config::TransportKind::Tcp => Transport::Tcp,
        };
        let port = match transport {
            Transport::Udp => self.local.udp_port,
            Transport::Tcp => self.local.tcp_port,
        };
        if port.is_none() {
            return Err(OutboundError::TransportUnavailable);
        }
        let peer = Peer {
            transport,
            addr: dest,
        };
        let host = self.local.host.clone();
        let tag = self.new_tag();
        let call_id = format!("{:032x}@{host}", rand::random::<u128>());
        let from_host = call.from_host.clone().unwrap_or_else(|| host.clone());
        let display = call
            .from_display
            .as_ref()
            .map(|d| format!("\"{d}\" "))
            .unwrap_or_default();
        let contact = self.contact_uri(transport);
        let mut text = format!(
            "INVITE sip:{to}@{dest};user=phone SIP/2.0\r\nVia: SIP/2.0/{t} {host}:{port};branch={branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: {display}<sip:{from}@{from_host}>;tag={tag}\r\nTo: <sip:{to}@{dest}>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <{contact}>\r\nAllow: {ALLOW}\r\nSupported: {SUPPORTED}\r\n\
             Session-Expires: {se}\r\nMin-SE: {min_se}\r\nUser-Agent: {ua}\r\n",
            to = call.to,
            t = transport.via_token(),
            port = self.via_port(transport),
            branch = new_branch(),
            from = call.from_user,
            se = self.cfg.sip.session_expires_s,
            min_se = self.cfg.sip.min_se_s,
            ua = self.cfg.sip.user_agent,
        );
        if call.privacy_id {
            text.push_str("Privacy: id\r\n");
        }
        if let Some(pai) = &call.pai {
            text.push_str(&format!(
                "P-Asserted-Identity: <sip:{pai}@{host};user=phone>\r\n"
            ));
        }
        if !call.sdp.is_empty() {
            text.push_str("Content-Type: application/sdp\r\n");
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n", call.sdp.len()));
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(&call.sdp);
        let invite = rsip::Request::try_from(bytes).map_err(|_| OutboundError::Send)?;
        let invite_tx = self
            .tx
            .send_request(now, invite.clone(), peer)
            .map_err(|_| OutboundError::Send)?;
        self.next_id += 1;
        let id = LegId(self.next_id);
        tracing::info!(leg = id.0, trunk = %call.trunk, %peer, "outbound INVITE sent");
        self.metrics
            .sip_requests
            .with_label_values(&["INVITE_out"])
            .inc();
        self.legs.insert(
            id,
            Leg {
                trunk: call.trunk,
                invite,
                invite_tx,
                peer,
                phase: LegPhase::Calling,
                dialog: None,
                auth_attempts: 0,
                cancel_requested: false,
                reliable: UacReliableState::default(),
                sdp_version: 1,
            },
        );
        self.leg_by_tx.insert(invite_tx, id);
        Ok(id)
    }

    /// Cancels a leg that has not been answered (CANCEL once a provisional arrived).
    pub fn cancel_leg(&mut self, now: Instant, id: LegId) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        match leg.phase {
            LegPhase::Early => self.send_cancel(now, id),
            LegPhase::Calling => leg.cancel_requested = true,
            LegPhase::Confirmed | LegPhase::Ending => self.hangup_leg(now, id),
        }
    }

    /// Ends an answered leg with BYE.
    pub fn hangup_leg(&mut self, now: Instant, id: LegId) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        if leg.phase != LegPhase::Confirmed {
            return self.cancel_leg(now, id);
        }
        leg.phase = LegPhase::Ending;
        let transport = leg.peer.transport;
        let port = self.cfg.sip.advertised_port.or(match transport {
            Transport::Udp => self.local.udp_port,
            Transport::Tcp => self.local.tcp_port,
        });
        let port = port.unwrap_or(5060);
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        let Some(dialog) = leg.dialog.as_mut() else {
            return;
        };
        let bye = dialog.make_request(
            rsip::Method::Bye,
            &self.local.host,
            port,
            leg.peer.transport,
            &new_branch(),
        );
        let peer = leg.peer;
        if let Ok(tx) = self.tx.send_request(now, bye, peer) {
            self.leg_by_tx.insert(tx, id);
        }
        self.finish_leg(id, LegEvent::Ended { by_remote: false });
    }

    fn send_cancel(&mut self, now: Instant, id: LegId) {
        let Some(leg) = self.legs.get(&id) else {
            return;
        };
        if let Some(cancel) = cancel_for(&leg.invite) {
            let peer = leg.peer;
            if let Ok(tx) = self.tx.send_request(now, cancel, peer) {
                tracing::info!(leg = id.0, "CANCEL sent");
                self.leg_by_tx.insert(tx, id);
            }
        }
    }

    /// A response on one of a leg's client transactions. Returns false if not a leg's.
    pub(super) fn on_leg_response(
        &mut self,
        now: Instant,
        tx: TxId,
        resp: &rsip::Response,
    ) -> bool {
        let Some(&id) = self.leg_by_tx.get(&tx) else {
            return false;
        };
        let Some(leg) = self.legs.get(&id) else {
            return true;
        };
        if tx != leg.invite_tx {
            return true; // CANCEL, PRACK, BYE answers need nothing more
        }
        let code = resp.status_code().code();
        match code {
            100 => {}
            101..=199 => self.on_leg_provisional(now, id, resp),
            200..=299 => self.on_leg_answer(now, id, resp),
            401 | 407 if self.retry_with_credentials(now, id, resp) => {}
            _ => {
                let reason = resp.status_code().to_string();
                let reason = reason
                    .split_once(' ')
                    .map_or(reason.as_str(), |(_, r)| r)
                    .to_owned();
                tracing::info!(leg = id.0, code, %reason, "outbound call failed");
                self.finish_leg(id, LegEvent::Failed { code, reason });
            }
        }
        true
    }

    fn on_leg_provisional(&mut self, now: Instant, id: LegId, resp: &rsip::Response) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        if !leg.reliable.accept(resp) {
            return; // a retransmitted or out-of-order reliable provisional
        }
        let has_tag = resp
            .to_header()
            .ok()
            .and_then(|t| t.typed().ok())
            .is_some_and(|t| t.tag().is_some());
        if leg.dialog.is_none() && has_tag {
            leg.dialog = Dialog::uac(&leg.invite, resp).ok();
        }
        leg.phase = LegPhase::Early;
        let sdp = (!resp.body().is_empty()).then(|| resp.body().clone());
        let code = resp.status_code().code();
        if reliable::is_reliable(resp)
            && let (Some(rack), Some(dialog)) = (reliable::make_rack(resp), leg.dialog.as_mut())
        {
            let port = self.cfg.sip.advertised_port.unwrap_or(5060);
            let port = match leg.peer.transport {
                Transport::Udp => self.local.udp_port.unwrap_or(port),
                Transport::Tcp => self.local.tcp_port.unwrap_or(port),
            };
            let mut prack = dialog.make_request(
                rsip::Method::PRack,
                &self.local.host,
                port,
                leg.peer.transport,
                &new_branch(),
            );
            prack.headers.push(other("RAck", rack));
            let peer = leg.peer;
            if let Ok(tx) = self.tx.send_request(now, prack, peer) {
                self.leg_by_tx.insert(tx, id);
            }
        }
        let cancel = self.legs.get(&id).is_some_and(|l| l.cancel_requested);
        self.events.push_back(SwitchEvent::Leg {
            leg: id,
            event: LegEvent::Progress { code, sdp },
        });
        if cancel {
            self.send_cancel(now, id);
        }
    }

    fn on_leg_answer(&mut self, now: Instant, id: LegId, resp: &rsip::Response) {
        let port_udp = self.local.udp_port;
        let port_tcp = self.local.tcp_port;
        let host = self.local.host.clone();
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        let first = leg.phase != LegPhase::Confirmed && leg.phase != LegPhase::Ending;
        if leg.dialog.is_none() {
            leg.dialog = Dialog::uac(&leg.invite, resp).ok();
        } else if let Some(d) = leg.dialog.as_mut() {
            let _ = d.handle_response(resp);
        }
        let Some(dialog) = leg.dialog.as_mut() else {
            self.finish_leg(
                id,
                LegEvent::Failed {
                    code: 502,
                    reason: "answer without dialog".into(),
                },
            );
            return;
        };
        dialog.confirm();
        // ACK every 2xx, including retransmissions (RFC 6026 Timer M keeps passing them up).
        let cseq = leg
            .invite
            .cseq_header()
            .ok()
            .and_then(|c| c.typed().ok())
            .map_or(1, |c| c.seq);
        let port = match leg.peer.transport {
            Transport::Udp => port_udp,
            Transport::Tcp => port_tcp,
        };
        let port = self.cfg.sip.advertised_port.or(port).unwrap_or(5060);
        let ack = dialog.make_ack(cseq, &host, port, leg.peer.transport, &new_branch());
        let peer = leg.peer;
        self.tx
            .send_stateless(peer, bytes::Bytes::from(ack.to_string()));
        if first {
            if leg.cancel_requested {
                // The answer crossed our CANCEL: hang up instead.
                leg.phase = LegPhase::Confirmed;
                return self.hangup_leg(now, id);
            }
            leg.phase = LegPhase::Confirmed;
            tracing::info!(leg = id.0, "outbound call answered");
            self.events.push_back(SwitchEvent::Leg {
                leg: id,
                event: LegEvent::Answered {
                    sdp: resp.body().clone(),
                },
            });
        }
    }

    /// Re-sends the INVITE with credentials for a 401/407; false when we have none or
    /// already tried.
    fn retry_with_credentials(&mut self, now: Instant, id: LegId, resp: &rsip::Response) -> bool {
        let Some(leg) = self.legs.get(&id) else {
            return false;
        };
        let Some(creds) = self
            .cfg
            .trunks
            .get(&leg.trunk)
            .and_then(|t| t.outbound_auth.clone())
        else {
            return false;
        };
        if leg.auth_attempts >= MAX_AUTH_ATTEMPTS {
            return false;
        }
        let (challenge_name, answer_name) = if resp.status_code().code() == 407 {
            ("Proxy-Authenticate", "Proxy-Authorization")
        } else {
            ("WWW-Authenticate", "Authorization")
        };
        let challenge = resp
            .headers()
            .iter()
            .filter_map(|h| match h {
                rsip::Header::WwwAuthenticate(v) if challenge_name == "WWW-Authenticate" => {
                    Some(v.value().to_owned())
                }
                rsip::Header::ProxyAuthenticate(v) if challenge_name == "Proxy-Authenticate" => {
                    Some(v.value().to_owned())
                }
                _ => None,
            })
            .chain(header_value(resp.headers(), challenge_name).map(str::to_owned))
            .filter_map(|v| Challenge::parse(&v).ok())
            .max_by_key(|c| {
                matches!(
                    c.algorithm,
                    digest::Algorithm::Sha256 | digest::Algorithm::Sha256Sess
                )
            });
        let Some(challenge) = challenge else {
            return false;
        };
        let mut invite = leg.invite.clone();
        let uri = invite.uri().to_string();
        let cnonce = format!("{:016x}", rand::random::<u64>());
        let answer = digest::respond(
            &challenge,
            "INVITE",
            &uri,
            &creds.username,
            &creds.password,
            &cnonce,
            1,
        );
        invite.headers.retain(|h| {
            !matches!(
                h,
                rsip::Header::Authorization(_)
                    | rsip::Header::ProxyAuthorization(_)
                    | rsip::Header::CSeq(_)
                    | rsip::Header::Via(_)
            )
        });
        let seq = leg
            .invite
            .cseq_header()
            .ok()
            .and_then(|c| c.typed().ok())
            .map_or(1, |c| c.seq)
            + 1;
        let via = leg
            .invite
            .via_header()
            .map(|v| v.value().to_owned())
            .unwrap_or_default();
        let via = match via.split_once(";branch=") {
            Some((head, rest)) => {
                let tail = rest
                    .split_once(';')
                    .map(|(_, t)| format!(";{t}"))
                    .unwrap_or_default();
                format!("{head};branch={}{tail}", new_branch())
            }
            None => via,
        };
        invite
            .headers
            .push(rsip::Header::Via(rsip::headers::Via::new(via)));
        invite
            .headers
            .push(rsip::Header::CSeq(rsip::headers::CSeq::new(format!(
                "{seq} INVITE"
            ))));
        invite.headers.push(other(answer_name, answer.to_string()));
        let peer = leg.peer;
        let attempts = leg.auth_attempts + 1;
        match self.tx.send_request(now, invite.clone(), peer) {
            Ok(tx) => {
                tracing::info!(
                    leg = id.0,
                    attempt = attempts,
                    "answering the carrier's digest challenge"
                );
                let leg = self.legs.get_mut(&id).expect("leg looked up above");
                self.leg_by_tx.remove(&leg.invite_tx);
                leg.invite = invite;
                leg.invite_tx = tx;
                leg.auth_attempts = attempts;
                self.leg_by_tx.insert(tx, id);
                true
            }
            Err(_) => false,
        }
    }

    pub(super) fn on_leg_timeout(&mut self, tx: TxId) -> bool {
        let Some(&id) = self.leg_by_tx.get(&tx) else {
            return false;
        };
        if self
            .legs
            .get(&id)
            .is_some_and(|l| l.invite_tx == tx && l.phase != LegPhase::Confirmed)
        {
            self.finish_leg(
                id,
                LegEvent::Failed {
                    code: 408,
                    reason: "Request Timeout".into(),
                },
            );
        }
        true
    }

    /// A BYE (or other request) from the carrier inside a leg's dialog.
    pub(super) fn leg_for(&self, req: &rsip::Request) -> Option<LegId> {
        let key = crate::sip::dialog::dialog_id_of_request(req)?;
        self.legs.iter().find_map(|(id, l)| {
            let d = l.dialog.as_ref()?;
            (d.id().call_id == key.call_id && d.id().local_tag == key.local_tag).then_some(*id)
        })
    }

    pub(super) fn on_leg_request(&mut self, now: Instant, tx: TxId, id: LegId, req: rsip::Request) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        let tag = leg
            .dialog
            .as_ref()
            .map(|d| d.id().local_tag.clone())
            .unwrap_or_default();
        if let Some(d) = leg.dialog.as_mut()
            && d.handle_remote_request(&req).is_err()
        {
            return self.respond_tagged(
                now,
                tx,
                &req,
                500,
                "Server Internal Error (CSeq out of order)",
                &tag,
                vec![],
                None,
            );
        }
        match req.method() {
            rsip::Method::Bye => {
                self.respond_tagged(now, tx, &req, 200, "OK", &tag, vec![], None);
                self.finish_leg(id, LegEvent::Ended { by_remote: true });
            }
            _ => self.respond_tagged(now, tx, &req, 501, "Not Implemented", &tag, vec![], None),
        }
    }

    fn finish_leg(&mut self, id: LegId, event: LegEvent) {
        if let Some(leg) = self.legs.remove(&id) {
            self.leg_by_tx.remove(&leg.invite_tx);
        }
        self.events.push_back(SwitchEvent::Leg { leg: id, event });
    }

    pub fn active_legs(&self) -> usize {
        self.legs.len()
    }
}

fn new_branch() -> String {
    format!("z9hG4bK{:016x}", rand::random::<u64>())
}

impl Switchboard {
    /// Puts an answered outbound leg on hold toward the carrier (our offer re-sent with
    /// `sendonly`), or resumes it (`sendrecv`).
    pub fn hold_leg(&mut self, now: Instant, id: LegId, hold: bool) -> bool {
        let host = self.local.host.clone();
        let Some(leg) = self.legs.get_mut(&id) else {
            return false;
        };
        if leg.phase != LegPhase::Confirmed {
            return false;
        }
        let Some(dialog) = leg.dialog.as_mut() else {
            return false;
        };
        leg.sdp_version += 1;
        let body = String::from_utf8_lossy(leg.invite.body()).into_owned();
        let body = rewrite_direction(
            &body,
            if hold { "sendonly" } else { "sendrecv" },
            leg.sdp_version,
        );
        let transport = leg.peer.transport;
        let port = self.cfg.sip.advertised_port.or(match transport {
            Transport::Udp => self.local.udp_port,
            Transport::Tcp => self.local.tcp_port,
        });
        let invite = dialog.make_request(
            rsip::Method::Invite,
            &host,
            port.unwrap_or(5060),
            transport,
            &new_branch(),
        );
        let peer = leg.peer;
        self.send_reinvite(
            now,
            super::hold::with_sdp(invite, body),
            peer,
            super::hold::Reinvite::Leg(id),
        )
    }

    /// The ACK for a 2xx to a leg's re-INVITE.
    pub(super) fn leg_ack(
        &self,
        id: LegId,
        cseq: u32,
        host: &str,
        branch: &str,
    ) -> Option<(Peer, rsip::Request)> {
        let leg = self.legs.get(&id)?;
        let dialog = leg.dialog.as_ref()?;
        let port = self.via_port(leg.peer.transport);
        Some((
            leg.peer,
            dialog.make_ack(cseq, host, port, leg.peer.transport, branch),
        ))
    }
}

/// Our SDP with a new direction attribute and `o=` version.
fn rewrite_direction(sdp: &str, direction: &str, version: u64) -> String {
    sdp.lines()
        .map(|l| {
            if matches!(l, "a=sendrecv" | "a=sendonly" | "a=recvonly" | "a=inactive") {
                format!("a={direction}")
            } else if let Some(rest) = l.strip_prefix("o=") {
                let mut f: Vec<&str> = rest.split(' ').collect();
                let v = version.to_string();
                if f.len() >= 3 {
                    f[2] = &v;
                }
                format!("o={}", f.join(" "))
            } else {
                l.to_owned()
            }
        })
        .map(|l| l + "\r\n")
        .collect()
}
