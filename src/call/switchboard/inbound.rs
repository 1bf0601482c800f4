//! Out-of-dialog requests from carriers: OPTIONS, CANCEL and new INVITEs routed by policy.

use std::net::SocketAddr;
use std::time::Instant;

use rsip::prelude::*;

use crate::call::sdp;
use crate::policy::{self, InboundAuth, InboundDecision, InboundRequest, Target};
use crate::sip::Peer;
use crate::sip::message::{header_value, option_tags};
use crate::sip::reply;
use crate::sip::transaction::TxId;

use super::admission::AuthOutcome;
use super::dialogs::{Call, CallId, CallPhase};
use super::{ALLOW, SUPPORTED, SwitchEvent, Switchboard};

/// Option tags we can honour in a Require header.
const UNDERSTOOD: [&str; 2] = ["timer", "100rel"];

impl Switchboard {
    pub(super) fn on_options(&mut self, now: Instant, tx: TxId, req: &rsip::Request, peer: Peer) {
        if self.trunk_by_source(peer.addr.ip()).is_none() {
            if let AuthOutcome::Checked(InboundAuth::Verified { .. }) =
                self.check_credentials(now, req)
            {
            } else if self.any_trunk_has_credentials() {
                let challenge = self.challenge_headers(now, false);
                return self.respond(now, tx, req, 401, "Unauthorized", challenge, None);
            } else {
                return self.respond(now, tx, req, 403, "Forbidden", vec![], None);
            }
        }
        let headers = vec![
            reply::other("Allow", ALLOW),
            reply::other("Supported", SUPPORTED),
            reply::other("Accept", "application/sdp"),
        ];
        self.respond(now, tx, req, 200, "OK", headers, None);
    }

    pub(super) fn on_cancel(&mut self, now: Instant, tx: TxId, req: &rsip::Request) {
        match self.tx.find_invite_for_cancel(req) {
            Some(_invite) => {
                // Every INVITE is answered as it arrives, so there is never one left
                // pending: the CANCEL is acknowledged and changes nothing (RFC 3261 §9.2).
                self.respond(now, tx, req, 200, "OK", vec![], None)
            }
            None => self.respond(
                now,
                tx,
                req,
                481,
                "Call/Transaction Does Not Exist",
                vec![],
                None,
            ),
        }
    }

    pub(super) fn on_invite(&mut self, now: Instant, tx: TxId, req: rsip::Request, peer: Peer) {
        let unsupported: Vec<String> = option_tags(&req.headers, "Require")
            .into_iter()
            .filter(|t| !UNDERSTOOD.contains(&t.as_str()))
            .collect();
        if !unsupported.is_empty() {
            let h = reply::other("Unsupported", unsupported.join(", "));
            return self.respond(now, tx, &req, 420, "Bad Extension", vec![h], None);
        }
        if self.draining {
            let h = reply::other("Retry-After", "30");
            return self.respond(
                now,
                tx,
                &req,
                503,
                "Service Unavailable (draining)",
                vec![h],
                None,
            );
        }
        let auth = match self.check_credentials(now, &req) {
            AuthOutcome::Checked(a) => a,
            AuthOutcome::Stale => {
                let challenge = self.challenge_headers(now, true);
                return self.respond(now, tx, &req, 401, "Unauthorized", challenge, None);
            }
        };
        let decision = {
            let to = req.uri().to_string();
            let from = req.from_header().ok().and_then(|f| f.typed().ok());
            let from_uri = from.as_ref().map(|f| f.uri.to_string()).unwrap_or_default();
            let from_name = from.as_ref().and_then(|f| f.display_name.clone());
            let from_name = from_name.as_deref().map(|n| n.trim_matches('"'));
            let (pai, pai_name) =
                split_name_addr(header_value(&req.headers, "P-Asserted-Identity"));
            let privacy_id = header_value(&req.headers, "Privacy")
                .is_some_and(|p| p.split(';').any(|v| v.trim().eq_ignore_ascii_case("id")));
            policy::decide_inbound(
                &self.cfg,
                &InboundRequest {
                    source: peer.addr.ip(),
                    to: &to,
                    from: &from_uri,
                    from_name,
                    pai: pai.as_deref(),
                    pai_name: pai_name.as_deref(),
                    privacy_id,
                    auth,
                },
            )
        };
        match decision {
            InboundDecision::Challenge => {
                let challenge = self.challenge_headers(now, false);
                self.respond(now, tx, &req, 401, "Unauthorized", challenge, None)
            }
            InboundDecision::Reject(r) => {
                tracing::info!(%peer, rejection = ?r, code = r.sip_code(), "inbound call refused");
                self.respond(now, tx, &req, r.sip_code(), r.reason_phrase(), vec![], None)
            }
            InboundDecision::Route {
                trunk,
                app,
                did,
                target,
                caller_id,
            } => {
                let caller = caller_id
                    .number
                    .as_deref()
                    .map(|n| {
                        crate::policy::E164::parse(n)
                            .map_or_else(|_| "invalid".to_owned(), |e| e.redacted().to_string())
                    })
                    .unwrap_or_else(|| "unknown".to_owned());
                let caller_name = caller_id.name.as_deref().unwrap_or("unknown");
                tracing::info!(%peer, %trunk, %app, did = %did.redacted(), %caller, %caller_name, "inbound call routed");
                match target {
                    // Endpoints connect over WebSocket (a later milestone): none is online.
                    Target::Endpoint(endpoint) => {
                        tracing::info!(%endpoint, "endpoint not connected");
                        self.respond(now, tx, &req, 480, "Temporarily Unavailable", vec![], None)
                    }
                    Target::Echo => self.answer_echo(now, tx, req, peer, trunk),
                }
            }
        }
    }

    fn answer_echo(
        &mut self,
        now: Instant,
        tx: TxId,
        req: rsip::Request,
        peer: Peer,
        trunk: String,
    ) {
        let offer = match sdp::parse_offer(req.body()) {
            Ok(o) => o,
            Err(e) => {
                tracing::info!(%peer, error = %e, "echo call offer refused");
                let warning = reply::other("Warning", format!("304 pstn-bridge \"{e}\""));
                return self.respond(
                    now,
                    tx,
                    &req,
                    488,
                    "Not Acceptable Here",
                    vec![warning],
                    None,
                );
            }
        };
        let timer = match super::timers::negotiate(
            &req,
            self.cfg.sip.session_expires_s,
            self.cfg.sip.min_se_s,
        ) {
            Ok(t) => t,
            Err(min_se) => {
                let h = reply::other("Min-SE", min_se.to_string());
                return self.respond(
                    now,
                    tx,
                    &req,
                    422,
                    "Session Interval Too Small",
                    vec![h],
                    None,
                );
            }
        };
        if let Some(cfg) = self.cfg.trunks.get(&trunk)
            && let Err(hit) = self.limits.admit(now, &trunk, cfg)
        {
            let h = reply::other("Retry-After", hit.retry_after().as_secs().to_string());
            tracing::info!(%trunk, ?hit, "trunk limit reached");
            return self.respond(
                now,
                tx,
                &req,
                503,
                "Service Unavailable (trunk limit)",
                vec![h],
                None,
            );
        }
        let Some(port) = self.ports.take() else {
            self.limits.release(&trunk);
            let h = reply::other("Retry-After", "5");
            return self.respond(
                now,
                tx,
                &req,
                503,
                "Service Unavailable (no media ports)",
                vec![h],
                None,
            );
        };
        let local_media = SocketAddr::new(self.cfg.media.advertised_ip, port);
        let bind = SocketAddr::new(self.cfg.media.bind_ip, port);
        let session_id = u64::from(rand::random::<u32>());
        let answer = sdp::answer(&offer, local_media, session_id, 1);
        let tag = self.new_tag();
        let id = CallId::new();
        let contact = self.contact_uri(peer.transport);
        let mut headers = vec![
            rsip::Header::Contact(rsip::headers::Contact::new(format!("<{contact}>"))),
            reply::other("Allow", ALLOW),
            reply::other("Supported", SUPPORTED),
        ];
        if let Some(t) = &timer {
            headers.extend(super::timers::headers(t));
        }
        let dialog = match crate::sip::dialog::Dialog::uas(&req, &tag, contact.clone()) {
            Ok(d) => d,
            Err(e) => {
                self.ports.release(port);
                self.limits.release(&trunk);
                tracing::info!(%peer, error = %e, "INVITE cannot form a dialog");
                return self.respond(
                    now,
                    tx,
                    &req,
                    400,
                    "Bad Request (dialog headers)",
                    vec![],
                    None,
                );
            }
        };
        self.respond_tagged(
            now,
            tx,
            &req,
            200,
            "OK",
            &tag,
            headers,
            Some(("application/sdp", answer.into_bytes())),
        );
        let call = Call {
            id: id.clone(),
            trunk,
            invite_tx: tx,
            dialog,
            phase: CallPhase::Answered,
            peer,
            media_port: port,
            session_id,
            sdp_version: 1,
            offer: offer.clone(),
            timer: timer.map(|t| t.timer(now)),
        };
        tracing::info!(call = %id, %peer, local = %local_media, remote = %offer.remote, "echo call answered");
        self.call_by_tx.insert(tx, id.clone());
        self.calls.insert(id.clone(), call);
        self.events.push_back(SwitchEvent::EchoStart {
            call: id,
            local: bind,
            remote: offer.remote,
        });
    }

    pub(super) fn contact_uri(&self, transport: crate::sip::Transport) -> rsip::Uri {
        let port = self.via_port(transport);
        let text = match transport {
            crate::sip::Transport::Udp => format!("sip:{}:{port}", self.local.host),
            crate::sip::Transport::Tcp => format!("sip:{}:{port};transport=tcp", self.local.host),
        };
        rsip::Uri::try_from(text.as_str()).unwrap_or_default()
    }
}

/// Splits `"Name" <sip:+1415...@host>` into (URI, display name).
fn split_name_addr(value: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(v) = value else { return (None, None) };
    let first = v.split(',').next().unwrap_or(v).trim();
    match (first.find('<'), first.find('>')) {
        (Some(l), Some(r)) if l < r => {
            let name = first[..l].trim().trim_matches('"').trim();
            let name = (!name.is_empty()).then(|| name.to_owned());
            (Some(first[l + 1..r].to_owned()), name)
        }
        _ => (
            Some(first.split(';').next().unwrap_or(first).to_owned()),
            None,
        ),
    }
}
