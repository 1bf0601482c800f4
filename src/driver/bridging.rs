//! The signaling task's side of bridged calls: spawning call tasks for inbound calls to
//! online endpoints and for endpoints' outbound calls, carrying trunk events to them and
//! their trunk commands to the switchboard.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Signaling;
use crate::api::signaling::messages::{ServerMessage, WireCallerId, WireEndReason};
use crate::call::core::{CallDirection, CallTimers, TrunkCommand, TrunkInput};
use crate::call::reasons;
use crate::call::sdp::{self, TrunkOffer};
use crate::call::switchboard::{CallId, LegEvent, LegId, OutboundCall};
use crate::driver::OutboundStart;
use crate::driver::call_task::{self, CallLinks, CallMsg, CallSetup};
use crate::policy::{CallerId, EndReason};

impl Signaling {
    fn timers(&self) -> CallTimers {
        CallTimers {
            ring_timeout: Duration::from_secs(self.cfg.media.ring_timeout_s),
            signaling_grace: Duration::from_secs(self.cfg.media.signaling_grace_s),
        }
    }

    fn webrtc_host(&self) -> SocketAddr {
        SocketAddr::new(self.cfg.media.advertised_ip, self.webrtc.local.port())
    }

    fn spawn_call(&mut self, setup: CallSetup) {
        let (tx, rx) = mpsc::channel(512);
        self.node.calls.insert(setup.id.to_string(), tx.clone());
        let links = CallLinks {
            webrtc: self.webrtc.clone(),
            signaling: self.node.control.sender(),
            inbox_tx: tx,
            metrics: self.node.metrics.clone(),
            port_sockets: self.port_sockets.clone(),
        };
        // The `active_calls` gauge is the switchboard's: inbound calls plus outbound legs.
        tokio::spawn(async move {
            let id = setup.id.clone();
            let reason = call_task::run(setup, links, rx).await;
            tracing::debug!(call = %id, code = reason.code, sub_code = reason.sub_code, "call task ended");
        });
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn incoming_call(
        &mut self,
        call: CallId,
        app: &str,
        endpoint: &str,
        did: String,
        caller: &CallerId,
        offer: TrunkOffer,
        media_bind: SocketAddr,
    ) {
        let sessions = self.node.endpoints.sessions_of(app, endpoint);
        if sessions.is_empty() {
            self.core.reject_call(Instant::now().into_std(), &call, 480);
            return;
        }
        let setup = CallSetup {
            id: call,
            direction: CallDirection::Inbound,
            sessions,
            caller: WireCallerId::from(caller),
            to: did,
            media_bind,
            trunk_offer: Some(offer),
            browser_offer: None,
            leg: None,
            timers: self.timers(),
            rtp_timeout: Duration::from_secs(self.cfg.media.rtp_timeout_s),
            webrtc_host: self.webrtc_host(),
            opus: self.cfg.media.opus(),
        };
        self.spawn_call(setup);
    }

    pub(super) fn start_outbound(&mut self, start: OutboundStart) {
        let now = Instant::now().into_std();
        let refuse = |reason: EndReason, text: &str| ServerMessage::CallEnded {
            call_id: None,
            request_id: Some(start.request_id.clone()),
            call_end_reason: WireEndReason::from(reason),
            reason: text.to_owned(),
        };
        if self.core.admit_load().is_err() {
            tracing::info!("at capacity: endpoint call refused");
            return start
                .session
                .send(refuse(reasons::AT_CAPACITY, "at capacity"));
        }
        let Some(port) = self.core.take_media_port() else {
            return start
                .session
                .send(refuse(reasons::carrier_final(503), "no media ports"));
        };
        let media = SocketAddr::new(self.cfg.media.advertised_ip, port);
        let id = CallId::new();
        let call = OutboundCall {
            trunk: start.trunk.clone(),
            to: start.to.clone(),
            from_user: start.identity.from_user.clone(),
            from_display: start.identity.from_display.clone(),
            from_host: start.identity.from_host.clone(),
            privacy_id: start.identity.privacy_id,
            pai: start.identity.pai.as_ref().map(|p| p.to_string()),
            sdp: sdp::offer(media, u64::from(rand::random::<u32>()), 1).into_bytes(),
        };
        let leg = match self.core.place_call(now, call) {
            Ok(leg) => leg,
            Err(e) => {
                self.core.release_media_port(port);
                tracing::warn!(trunk = %start.trunk, error = %e, "outbound call not placed");
                return start
                    .session
                    .send(refuse(reasons::carrier_final(503), "trunk unavailable"));
            }
        };
        tracing::info!(call = %id, leg = leg.0, trunk = %start.trunk, "endpoint call placed");
        start.session.send(ServerMessage::CallAccepted {
            request_id: start.request_id.clone(),
            call_id: id.to_string(),
        });
        self.bridged_legs.insert(leg, (id.clone(), port));
        let setup = CallSetup {
            id,
            direction: CallDirection::Outbound,
            sessions: vec![start.session],
            caller: WireCallerId {
                number: None,
                name: None,
            },
            to: start.to,
            media_bind: SocketAddr::new(self.cfg.media.bind_ip, port),
            trunk_offer: None,
            browser_offer: Some(start.browser_sdp),
            leg: Some(leg),
            timers: self.timers(),
            rtp_timeout: Duration::from_secs(self.cfg.media.rtp_timeout_s),
            webrtc_host: self.webrtc_host(),
            opus: self.cfg.media.opus(),
        };
        self.spawn_call(setup);
    }

    pub(super) fn call_trunk(&mut self, call: &CallId, leg: Option<LegId>, cmd: TrunkCommand) {
        let now = Instant::now().into_std();
        match (leg, cmd) {
            (None, TrunkCommand::Ring) => self.core.ring_call(now, call),
            (None, TrunkCommand::Answer) => {
                self.core.answer_call(now, call);
            }
            (None, TrunkCommand::Reject { code }) => self.core.reject_call(now, call, code),
            (None, TrunkCommand::HangUp) => self.core.hangup_call(now, call),
            (Some(leg), TrunkCommand::HangUp | TrunkCommand::Reject { .. }) => {
                self.core.cancel_leg(now, leg)
            }
            (None, TrunkCommand::Hold | TrunkCommand::Resume) => {
                self.core.hold_call(now, call, cmd == TrunkCommand::Hold);
            }
            (Some(leg), TrunkCommand::Hold | TrunkCommand::Resume) => {
                self.core.hold_leg(now, leg, cmd == TrunkCommand::Hold);
            }
            (Some(_), TrunkCommand::Ring | TrunkCommand::Answer) => {}
        }
    }

    pub(super) fn call_finished(&mut self, call: &CallId, leg: Option<LegId>) {
        self.node.calls.remove(call.as_str());
        let now = Instant::now().into_std();
        match leg {
            Some(leg) => {
                if let Some((_, port)) = self.bridged_legs.remove(&leg) {
                    self.core.cancel_leg(now, leg);
                    self.core.release_media_port(port);
                }
            }
            None => self.core.hangup_call(now, call),
        }
    }

    /// The switchboard ended an inbound bridged call (carrier BYE/CANCEL, timers).
    pub(super) fn trunk_call_ended(&mut self, call: &CallId, reason: EndReason) {
        let Some(tx) = self.node.calls.get(call.as_str()).map(|t| t.clone()) else {
            return;
        };
        let input = if reason == reasons::REMOTE_HANGUP || reason == reasons::CALLER_CANCELLED {
            TrunkInput::HungUp
        } else {
            TrunkInput::Lost(reason)
        };
        let _ = tx.try_send(CallMsg::Trunk(input));
    }

    /// The carrier's re-INVITE moved its media or put the call on hold.
    pub(super) fn trunk_media_changed(&mut self, call: &CallId, _remote: SocketAddr, send: bool) {
        if let Some(tx) = self.node.calls.get(call.as_str()) {
            let _ = tx.try_send(CallMsg::Trunk(TrunkInput::RemoteHold(!send)));
        }
    }

    pub(super) fn bridged_leg_event(&mut self, leg: LegId, event: &LegEvent) {
        let Some((call, _)) = self.bridged_legs.get(&leg).cloned() else {
            return;
        };
        let Some(tx) = self.node.calls.get(call.as_str()).map(|t| t.clone()) else {
            return;
        };
        let sdp_of = |body: &[u8]| sdp::parse_offer(body).ok();
        match event {
            LegEvent::Progress { code, sdp } => {
                let offer = sdp.as_deref().and_then(sdp_of);
                let early_media = offer.is_some();
                if let Some(o) = offer {
                    let _ = tx.try_send(CallMsg::TrunkSdp(o));
                }
                let _ = tx.try_send(CallMsg::Trunk(TrunkInput::Progress {
                    code: *code,
                    early_media,
                }));
            }
            LegEvent::Answered { sdp } => {
                if let Some(o) = sdp_of(sdp) {
                    let _ = tx.try_send(CallMsg::TrunkSdp(o));
                }
                let _ = tx.try_send(CallMsg::Trunk(TrunkInput::Answered));
            }
            LegEvent::Failed { code, .. } => {
                let _ = tx.try_send(CallMsg::Trunk(TrunkInput::Failed { code: *code }));
            }
            LegEvent::Ended { .. } => {
                let _ = tx.try_send(CallMsg::Trunk(TrunkInput::HungUp));
            }
        }
    }

    /// Shutdown: every call task hangs up.
    pub(super) fn stop_bridged_calls(&mut self) {
        for entry in self.node.calls.iter() {
            let _ = entry
                .value()
                .try_send(CallMsg::Trunk(TrunkInput::Lost(reasons::SHUTDOWN)));
        }
    }
}
