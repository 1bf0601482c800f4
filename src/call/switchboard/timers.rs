//! RFC 4028 session timers on established calls: negotiation for incoming INVITE/UPDATE,
//! refreshes we send when we are the refresher, and ending sessions nobody refreshed.

use std::time::Instant;

use crate::sip::message::option_tags;
use crate::sip::session_timer::{
    Negotiated, SessionTimerAction, negotiate_uas, read_min_se, read_session_expires,
};
use crate::sip::transaction::TxId;
use rsip::headers::untyped::UntypedHeader;

use super::Switchboard;
use super::dialogs::{CallPhase, reasons};

/// Negotiates the session interval for an INVITE/UPDATE: `Ok(None)` when the peer asked for
/// no timer, `Err(min_se)` when its interval is too small (answer 422 with that Min-SE).
pub fn negotiate(
    req: &rsip::Request,
    our_interval: u64,
    our_min_se: u64,
) -> Result<Option<Negotiated>, u64> {
    let se = read_session_expires(&req.headers).ok().flatten();
    let min_se = read_min_se(&req.headers).ok().flatten();
    let supported = option_tags(&req.headers, "Supported")
        .iter()
        .any(|t| t == "timer")
        || option_tags(&req.headers, "Require")
            .iter()
            .any(|t| t == "timer");
    if se.is_none() && !supported {
        return Ok(None);
    }
    negotiate_uas(se, min_se, supported, our_interval, our_min_se)
        .map(Some)
        .map_err(|t| t.min_se)
}

/// Response headers for a negotiated timer.
pub fn headers(n: &Negotiated) -> Vec<rsip::Header> {
    let mut h = vec![n.session_expires().to_header()];
    if n.require_timer {
        h.push(crate::sip::reply::other("Require", "timer"));
    }
    h
}

impl Switchboard {
    pub(super) fn check_session_timers(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let mut refresh = Vec::new();
        for call in self.calls.values_mut() {
            let Some(timer) = call.timer.as_mut() else {
                continue;
            };
            match timer.handle_timeout(now) {
                Some(SessionTimerAction::Expire) => expired.push(call.id.clone()),
                Some(SessionTimerAction::SendRefresh) if call.phase == CallPhase::Confirmed => {
                    refresh.push(call.id.clone())
                }
                _ => {}
            }
        }
        for id in expired {
            tracing::info!(call = %id, "session timer expired, ending call");
            self.end_call(now, &id, reasons::SESSION_EXPIRED, true);
        }
        for id in refresh {
            self.send_refresh(now, &id);
        }
    }

    /// Refreshes the session with UPDATE (no SDP, RFC 4028 §7.1 allows it).
    fn send_refresh(&mut self, now: Instant, id: &super::CallId) {
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        let transport = call.peer.transport;
        let port = self.cfg.sip.advertised_port.unwrap_or(match transport {
            crate::sip::Transport::Udp => self.local.udp_port.unwrap_or(5060),
            crate::sip::Transport::Tcp => self.local.tcp_port.unwrap_or(5060),
        });
        let branch = format!("z9hG4bK{:016x}", rand::random::<u64>());
        let mut update = call.dialog.make_request(
            rsip::Method::Update,
            &self.local.host,
            port,
            transport,
            &branch,
        );
        let interval = call
            .timer
            .as_ref()
            .map_or(self.cfg.sip.session_expires_s, |t| t.interval().as_secs());
        update.headers.push(crate::sip::reply::other(
            "Session-Expires",
            format!("{interval};refresher=uas"),
        ));
        update
            .headers
            .push(crate::sip::reply::other("Supported", super::SUPPORTED));
        update.headers.push(rsip::Header::ContentLength(
            rsip::headers::ContentLength::new("0"),
        ));
        let peer = call.peer;
        match self.tx.send_request(now, update, peer) {
            Ok(tx) => {
                self.client_tx.insert(tx, id.clone());
                self.refreshes.insert(tx, id.clone());
            }
            Err(e) => tracing::warn!(call = %id, error = %e, "could not send session refresh"),
        }
    }

    /// The answer to one of our refreshes: 2xx restarts the timer.
    pub(super) fn on_refresh_answer(&mut self, now: Instant, tx: TxId, code: u16) {
        let Some(id) = self.refreshes.remove(&tx) else {
            return;
        };
        if (200..300).contains(&code) {
            if let Some(t) = self.calls.get_mut(&id).and_then(|c| c.timer.as_mut()) {
                t.handle_refresh(now);
            }
        } else if code == 481 || code == 408 {
            tracing::info!(call = %id, code, "session refresh refused, ending call");
            self.end_call(now, &id, reasons::SESSION_EXPIRED, false);
        }
    }
}
