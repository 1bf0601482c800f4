//! Out-of-dialog requests from carriers: OPTIONS, CANCEL and new INVITEs routed by policy.

use std::time::Instant;

use rsip::prelude::*;

use crate::policy::{self, InboundAuth, InboundDecision, InboundRequest, Target};
use crate::sip::Peer;
use crate::sip::message::{header_value, option_tags};
use crate::sip::reply;
use crate::sip::transaction::TxId;

use super::admission::AuthOutcome;
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
            Some(invite) => {
                // 200 to the CANCEL; a ringing call's INVITE then gets 487. An INVITE
                // already answered is not affected (RFC 3261 §9.2).
                self.respond(now, tx, req, 200, "OK", vec![], None);
                self.cancel_pending(now, invite);
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
                    Target::Endpoint(endpoint) if !self.endpoint_online(&app, &endpoint) => {
                        tracing::info!(%endpoint, "endpoint not connected");
                        self.respond(now, tx, &req, 480, "Temporarily Unavailable", vec![], None)
                    }
                    Target::Endpoint(endpoint) => {
                        let Some(pending) = self.admit_invite(now, tx, req, peer, trunk) else {
                            return;
                        };
                        let caller = caller_id.clone();
                        self.offer_to_endpoint(pending, app, endpoint, did.to_string(), caller);
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
        let Some(pending) = self.admit_invite(now, tx, req, peer, trunk) else {
            return;
        };
        let (offer, bind) = (pending.offer.clone(), pending.bind);
        if let Some(id) = self.answer_pending(now, pending) {
            tracing::info!(call = %id, %peer, remote = %offer.remote, "echo call answered");
            let event = SwitchEvent::EchoStart {
                call: id,
                local: bind,
                offer,
            };
            self.events.push_back(event);
        }
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
