//! Hold and resume toward the carrier: a re-INVITE whose SDP says `sendonly` (hold) or
//! `sendrecv` (resume), ACKed when answered 2xx (RFC 3264 §8.4, RFC 6337 §5).

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use rsip::prelude::*;

use crate::call::sdp::{self, Direction};
use crate::sip::dialog::Dialog;
use crate::sip::transaction::TxId;
use crate::sip::{Peer, Transport};

use super::Switchboard;
use super::dialogs::{CallId, CallPhase};

/// Whose re-INVITE a client transaction carries.
#[derive(Debug, Clone)]
pub(super) enum Reinvite {
    Call(CallId),
    Leg(super::LegId),
}

/// Replaces a dialog request's empty body with SDP.
pub(super) fn with_sdp(mut req: rsip::Request, body: String) -> rsip::Request {
    req.headers.retain(|h| {
        !matches!(
            h,
            rsip::Header::ContentLength(_) | rsip::Header::ContentType(_)
        )
    });
    req.headers
        .push(rsip::Header::ContentType(rsip::headers::ContentType::new(
            "application/sdp",
        )));
    req.headers.push(rsip::Header::ContentLength(
        rsip::headers::ContentLength::new(body.len().to_string()),
    ));
    req.body = body.into_bytes();
    req
}

impl Switchboard {
    /// Puts an answered inbound call on hold toward the carrier, or resumes it. False when the
    /// call is unknown or not yet confirmed.
    pub fn hold_call(&mut self, now: Instant, id: &CallId, hold: bool) -> bool {
        let host = self.local.host.clone();
        let Some(call) = self.calls.get_mut(id) else {
            return false;
        };
        if call.phase != CallPhase::Confirmed {
            return false;
        }
        call.sdp_version += 1;
        let local = SocketAddr::new(self.cfg.media.advertised_ip, call.media_port);
        let direction = if hold {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        let body = sdp::describe(
            &call.offer,
            local,
            call.session_id,
            call.sdp_version,
            direction,
        );
        let peer = call.peer;
        let port = self.cfg.sip.advertised_port.or(match peer.transport {
            Transport::Udp => self.local.udp_port,
            Transport::Tcp => self.local.tcp_port,
        });
        let branch = format!("z9hG4bK{:016x}", rand::random::<u64>());
        let invite = call.dialog.make_request(
            rsip::Method::Invite,
            &host,
            port.unwrap_or(5060),
            peer.transport,
            &branch,
        );
        self.send_reinvite(
            now,
            with_sdp(invite, body),
            peer,
            Reinvite::Call(id.clone()),
        )
    }

    pub(super) fn send_reinvite(
        &mut self,
        now: Instant,
        invite: rsip::Request,
        peer: Peer,
        owner: Reinvite,
    ) -> bool {
        match self.tx.send_request(now, invite, peer) {
            Ok(tx) => {
                tracing::info!(?owner, "re-INVITE sent");
                self.reinvites.insert(tx, owner);
                self.drain_tx(now);
                true
            }
            Err(e) => {
                tracing::warn!(?owner, error = %e, "re-INVITE not sent");
                false
            }
        }
    }

    /// A response to one of our re-INVITEs: every 2xx (retransmissions included) is ACKed.
    /// True when the transaction was a re-INVITE.
    pub(super) fn on_reinvite_response(&mut self, tx: TxId, resp: &rsip::Response) -> bool {
        let Some(owner) = self.reinvites.get(&tx).cloned() else {
            return false;
        };
        let code = resp.status_code().code();
        if !(200..300).contains(&code) {
            if code >= 300 {
                tracing::info!(
                    ?owner,
                    code,
                    "re-INVITE refused; the call continues as it was"
                );
            }
            return true;
        }
        let Ok(cseq) = resp.cseq_header().and_then(|c| c.typed()).map(|c| c.seq) else {
            return true;
        };
        let host = self.local.host.clone();
        let branch = format!("z9hG4bK{:016x}", rand::random::<u64>());
        let ack = match &owner {
            Reinvite::Call(id) => self.calls.get(id).map(|c| {
                (
                    c.peer,
                    ack_for(
                        &c.dialog,
                        cseq,
                        &host,
                        self.via_port(c.peer.transport),
                        c.peer.transport,
                        &branch,
                    ),
                )
            }),
            Reinvite::Leg(leg) => self.leg_ack(*leg, cseq, &host, &branch),
        };
        if let Some((peer, ack)) = ack {
            self.tx.send_stateless(peer, Bytes::from(ack.to_string()));
        }
        true
    }
}

pub(super) fn ack_for(
    dialog: &Dialog,
    cseq: u32,
    host: &str,
    port: u16,
    transport: Transport,
    branch: &str,
) -> rsip::Request {
    dialog.make_ack(cseq, host, port, transport, branch)
}
