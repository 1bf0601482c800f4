//! One bridged call's task. It owns the call state machine, the media pipeline, the
//! WebRTC peer and the trunk RTP socket by value; the signaling task, WebSocket sessions
//! and the shared WebRTC socket reach it through its bounded inbox. Nothing is locked per
//! packet.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Command;
use super::endpoints::SessionHandle;
use super::webrtc_socket::WebRtcSocket;
use crate::api::signaling::messages::{ServerMessage, WireCallerId, WireEndReason};
use crate::call::core::{
    Call, CallDirection, CallOutput, CallTimers, EndpointInput, TrunkCommand, TrunkInput,
};
use crate::call::reasons;
use crate::call::sdp::{G711, TrunkOffer};
use crate::call::switchboard::{CallId, LegId};
use crate::media::{
    Codec as MediaCodec, EndpointFrame, MediaConfig, MediaEvent, MediaOutput, MediaPipeline,
    OpusSettings, Side, SideCodec, SourcePolicy,
};
use crate::policy::EndReason;
use crate::webrtc::{Codec as PeerCodec, PeerConfig, PeerEvent, PeerOutput, WebRtcPeer};

/// What reaches a call task.
#[derive(Debug)]
pub enum CallMsg {
    /// From a WebSocket session of the call's endpoint.
    Endpoint { session: u64, cmd: EndpointCmd },
    /// From the trunk leg, via the signaling task.
    Trunk(TrunkInput),
    /// The carrier's SDP (inbound re-INVITE, outbound 183/200): where its RTP is.
    TrunkSdp(TrunkOffer),
    /// A datagram for this call's WebRTC peer, from the shared socket.
    WebRtc {
        from: SocketAddr,
        to: SocketAddr,
        bytes: Bytes,
    },
    /// A session of the endpoint closed.
    SessionGone(u64),
}

#[derive(Debug)]
pub enum EndpointCmd {
    Answer { sdp: String },
    Reject { busy: bool },
    HangUp,
    Hold,
    Resume,
    Dtmf { digits: String, duration_ms: u32 },
}

/// Payload types on the endpoint side of the media pipeline (internal: the WebRTC peer
/// maps codecs to whatever the browser negotiated).
const EP_PT_OPUS: u8 = 111;
const EP_PT_DTMF: u8 = 126;

/// Everything a call task starts with.
pub struct CallSetup {
    pub id: CallId,
    pub direction: CallDirection,
    /// Inbound: every session of the endpoint (all ring); outbound: the one that dialled.
    pub sessions: Vec<SessionHandle>,
    pub caller: WireCallerId,
    pub to: String,
    /// Where our trunk RTP socket binds (its port is in our SDP toward the carrier).
    pub media_bind: SocketAddr,
    /// Inbound: the carrier's offer.
    pub trunk_offer: Option<TrunkOffer>,
    /// Outbound: the browser's offer, answered at once (ringback and early media).
    pub browser_offer: Option<String>,
    pub leg: Option<LegId>,
    pub timers: CallTimers,
    pub rtp_timeout: Duration,
    /// Host candidate (advertised address + the shared WebRTC port).
    pub webrtc_host: SocketAddr,
    /// Encoder settings when the call is transcoded to Opus.
    pub opus: OpusSettings,
}

/// Channels a call task talks through.
pub struct CallLinks {
    pub(crate) webrtc: WebRtcSocket,
    pub(crate) signaling: mpsc::Sender<Command>,
    pub(crate) inbox_tx: mpsc::Sender<CallMsg>,
    pub(crate) metrics: std::sync::Arc<crate::api::Metrics>,
    pub(crate) port_sockets: super::media_ports::PortSockets,
}

struct CallTask {
    id: CallId,
    call: Call,
    sessions: Vec<SessionHandle>,
    owner: Option<u64>,
    leg: Option<LegId>,
    trunk_offer: Option<TrunkOffer>,
    media: Option<MediaPipeline>,
    peer: Option<WebRtcPeer>,
    ufrag: Option<String>,
    rtp: UdpSocket,
    links: CallLinks,
    rtp_timeout: Duration,
    webrtc_host: SocketAddr,
    opus: OpusSettings,
    call_timer: Option<Instant>,
    peer_timer: Option<Instant>,
    media_timer: Option<Instant>,
    /// The peer had input since its output was last drained (str0m's `poll_output`
    /// recomputes every timeout: polling an untouched peer is wasted work).
    peer_dirty: bool,
    /// RTP timestamp of the last DTMF event forwarded to the browser (its end repeats).
    dtmf_forwarded: Option<u32>,
}

/// Runs a call to its end; returns why it ended.
pub async fn run(
    setup: CallSetup,
    links: CallLinks,
    mut inbox: mpsc::Receiver<CallMsg>,
) -> EndReason {
    let now = Instant::now();
    let rtp = match links.port_sockets.claim(setup.media_bind) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(call = %setup.id, bind = %setup.media_bind, error = %e, "cannot bind trunk RTP port");
            let _ = links.signaling.try_send(Command::CallTrunk {
                call: setup.id.clone(),
                leg: setup.leg,
                cmd: TrunkCommand::HangUp,
            });
            for s in &setup.sessions {
                s.send(ended(&setup.id, reasons::MEDIA_FAILURE));
            }
            return reasons::MEDIA_FAILURE;
        }
    };
    let call = match setup.direction {
        CallDirection::Inbound => Call::inbound(now.into_std(), setup.timers),
        CallDirection::Outbound => Call::outbound(setup.timers),
    };
    let mut t = CallTask {
        id: setup.id,
        call,
        owner: (setup.direction == CallDirection::Outbound)
            .then(|| setup.sessions.first().map(|s| s.id))
            .flatten(),
        sessions: setup.sessions,
        leg: setup.leg,
        trunk_offer: setup.trunk_offer,
        media: None,
        peer: None,
        ufrag: None,
        rtp,
        links,
        rtp_timeout: setup.rtp_timeout,
        webrtc_host: setup.webrtc_host,
        opus: setup.opus,
        call_timer: None,
        peer_timer: None,
        media_timer: None,
        peer_dirty: false,
        dtmf_forwarded: None,
    };
    if setup.direction == CallDirection::Inbound {
        let msg = ServerMessage::IncomingCall {
            call_id: t.id.to_string(),
            caller_id: setup.caller,
            to: setup.to,
        };
        t.broadcast(msg);
    }
    if let Some(offer) = setup.browser_offer {
        t.accept_browser_offer(&offer).await;
    }
    t.drain();
    let mut buf = [0u8; 2048];
    // One timer for the task's life, moved only when the earliest deadline changes: a
    // fresh `sleep_until` per loop turn registered and cancelled a timer per packet.
    let mut armed = t.next_wake();
    let sleep = tokio::time::sleep_until(armed.unwrap_or_else(Instant::now));
    tokio::pin!(sleep);
    while !t.call.is_over() {
        let wake = t.next_wake();
        if let Some(at) = wake.filter(|&at| Some(at) != armed) {
            sleep.as_mut().reset(at);
        }
        armed = wake;
        tokio::select! {
            msg = inbox.recv() => match msg {
                Some(m) => t.on_msg(m).await,
                None => t.call.hang_up(reasons::SHUTDOWN),
            },
            got = t.rtp.recv_from(&mut buf) => {
                if let (Ok((n, from)), Some(media)) = (got, t.media.as_mut()) {
                    let _ = media.handle_trunk_rtp(Instant::now().into_std(), from, &buf[..n]);
                }
            }
            _ = &mut sleep, if armed.is_some() => t.on_timers(),
        }
        t.drain();
    }
    t.finish()
}

fn ended(id: &CallId, reason: EndReason) -> ServerMessage {
    ServerMessage::CallEnded {
        call_id: Some(id.to_string()),
        request_id: None,
        call_end_reason: WireEndReason::from(reason),
        reason: reason_text(reason).to_owned(),
    }
}

fn reason_text(r: EndReason) -> &'static str {
    match (r.code, r.sub_code) {
        (0, 0) => "hung up",
        (0, 1) => "the other party hung up",
        (0, 2) => "answered elsewhere",
        (408, 40804) => "signaling lost",
        (408, _) => "timeout",
        (480, _) => "unavailable",
        (486, _) => "busy",
        (487, _) => "cancelled",
        (500, _) => "media failure",
        (503, _) => "service unavailable",
        (603, _) => "declined",
        _ => "call failed",
    }
}

impl CallTask {
    /// The earliest armed timer, if any.
    fn next_wake(&self) -> Option<Instant> {
        [self.call_timer, self.peer_timer, self.media_timer]
            .into_iter()
            .flatten()
            .min()
    }

    fn on_timers(&mut self) {
        let now = Instant::now();
        if self.call_timer.is_some_and(|t| t <= now) {
            self.call_timer = None;
            self.call.handle_timeout(now.into_std());
        }
        if self.peer_timer.is_some_and(|t| t <= now) {
            self.peer_timer = None;
            if let Some(p) = self.peer.as_mut() {
                let _ = p.handle_timeout(now.into_std());
                self.peer_dirty = true;
            }
        }
        if self.media_timer.is_some_and(|t| t <= now) {
            self.media_timer = None;
            if let Some(m) = self.media.as_mut() {
                m.handle_timeout(now.into_std());
            }
        }
    }

    async fn on_msg(&mut self, msg: CallMsg) {
        let now = Instant::now().into_std();
        match msg {
            CallMsg::Endpoint { session, cmd } => self.on_endpoint(session, cmd).await,
            CallMsg::Trunk(input) => self.call.handle_trunk(now, input),
            CallMsg::TrunkSdp(offer) => {
                if let Some(m) = self.media.as_mut() {
                    m.set_source_policy(SourcePolicy::Strict(offer.remote));
                }
                self.trunk_offer = Some(offer);
                self.ensure_media();
            }
            CallMsg::WebRtc { from, to, bytes } => {
                if let Some(p) = self.peer.as_mut() {
                    let _ = p.handle_datagram(now, from, to, &bytes);
                    self.peer_dirty = true;
                }
            }
            CallMsg::SessionGone(id) => {
                self.sessions.retain(|s| s.id != id);
                if self.owner == Some(id) || (self.owner.is_none() && self.sessions.is_empty()) {
                    self.call.handle_endpoint(now, EndpointInput::SignalingLost);
                }
            }
        }
    }

    async fn on_endpoint(&mut self, session: u64, cmd: EndpointCmd) {
        let now = Instant::now().into_std();
        if self.owner.is_some_and(|o| o != session) {
            return self.error_to(session, "not_your_call", "another session holds this call");
        }
        match cmd {
            EndpointCmd::Answer { sdp } => {
                if self.owner.is_some() {
                    return self.error_to(session, "bad_state", "the call is already answered");
                }
                self.owner = Some(session);
                for s in self.sessions.iter().filter(|s| s.id != session) {
                    s.send(ended(&self.id, reasons::ANSWERED_ELSEWHERE));
                }
                self.sessions.retain(|s| s.id == session);
                if self.accept_browser_offer(&sdp).await {
                    self.call.handle_endpoint(now, EndpointInput::Answer);
                } else {
                    self.call.hang_up(reasons::MEDIA_FAILURE);
                }
            }
            EndpointCmd::Reject { busy } => self
                .call
                .handle_endpoint(now, EndpointInput::Reject { busy }),
            EndpointCmd::HangUp => self.call.handle_endpoint(now, EndpointInput::HangUp),
            EndpointCmd::Hold => self.call.handle_endpoint(now, EndpointInput::Hold),
            EndpointCmd::Resume => self.call.handle_endpoint(now, EndpointInput::Resume),
            EndpointCmd::Dtmf {
                digits,
                duration_ms,
            } => self.inject_dtmf(&digits, duration_ms),
        }
    }

    fn error_to(&self, session: u64, code: &str, message: &str) {
        if let Some(s) = self.sessions.iter().find(|s| s.id == session) {
            s.send(ServerMessage::Error {
                code: code.into(),
                message: message.into(),
                request_id: None,
                call_id: Some(self.id.to_string()),
            });
        }
    }

    /// Answers the browser's offer with our WebRTC peer; tells the session the answer.
    async fn accept_browser_offer(&mut self, offer: &str) -> bool {
        let prefer = match self.trunk_offer.as_ref().map(|o| o.codec) {
            Some(G711::Pcma) => PeerCodec::Pcma,
            _ => PeerCodec::Pcmu,
        };
        let cfg = PeerConfig::new(self.webrtc_host).prefer(prefer);
        let (peer, answer) = match WebRtcPeer::answer(Instant::now().into_std(), offer, &cfg) {
            Ok(x) => x,
            Err(e) => {
                tracing::info!(call = %self.id, error = %e, "browser offer refused");
                return false;
            }
        };
        self.ufrag = answer
            .lines()
            .find_map(|l| l.trim().strip_prefix("a=ice-ufrag:"))
            .map(str::to_owned);
        if let Some(u) = &self.ufrag {
            self.links
                .webrtc
                .register(u.clone(), self.links.inbox_tx.clone())
                .await;
        }
        tracing::info!(call = %self.id, codec = ?peer.negotiated_codec(), "WebRTC answer ready");
        self.peer = Some(peer);
        self.peer_dirty = true;
        let msg = ServerMessage::Sdp {
            call_id: self.id.to_string(),
            sdp: answer,
        };
        self.to_owner(msg);
        self.ensure_media();
        true
    }

    /// Builds the media pipeline once both sides' codecs are known.
    fn ensure_media(&mut self) {
        if self.media.is_some() {
            return;
        }
        let (Some(offer), Some(peer)) = (self.trunk_offer.as_ref(), self.peer.as_ref()) else {
            return;
        };
        let Some(ep) = peer.negotiated_codec() else {
            return;
        };
        let trunk = SideCodec {
            codec: match offer.codec {
                G711::Pcmu => MediaCodec::Pcmu,
                G711::Pcma => MediaCodec::Pcma,
            },
            pt: offer.pt,
            dtmf_pt: offer.dtmf_pt,
            dtmf_clock: 8000,
        };
        let (codec, pt) = match ep {
            PeerCodec::Opus => (MediaCodec::Opus, EP_PT_OPUS),
            PeerCodec::Pcmu => (MediaCodec::Pcmu, 0),
            PeerCodec::Pcma => (MediaCodec::Pcma, 8),
        };
        let endpoint = SideCodec {
            codec,
            pt,
            dtmf_pt: Some(EP_PT_DTMF),
            dtmf_clock: ep.clock_rate(),
        };
        let cfg = MediaConfig {
            trunk,
            endpoint,
            source: SourcePolicy::Strict(offer.remote),
            rtp_timeout: Some(self.rtp_timeout),
            opus: self.opus,
            ..MediaConfig::default()
        };
        match MediaPipeline::new(cfg, Instant::now().into_std(), SystemTime::now()) {
            Ok(m) => {
                tracing::info!(call = %self.id, passthrough = m.is_passthrough(), "media pipeline ready");
                self.media = Some(m);
            }
            Err(e) => {
                tracing::warn!(call = %self.id, error = %e, "media pipeline refused");
                self.call.hang_up(reasons::MEDIA_FAILURE);
            }
        }
    }

    /// DTMF requested over signaling, sent toward the trunk as RFC 4733 events.
    fn inject_dtmf(&mut self, digits: &str, duration_ms: u32) {
        let Some(media) = self.media.as_mut() else {
            return;
        };
        let duration = Duration::from_millis(u64::from(duration_ms.clamp(40, 2000)));
        for d in digits.chars() {
            if let Err(e) = media.send_dtmf(Instant::now().into_std(), Side::Trunk, d, duration) {
                tracing::info!(call = %self.id, digit = %d, error = %e, "DTMF not sent");
            }
        }
    }

    fn to_owner(&self, msg: ServerMessage) {
        match self.owner {
            Some(o) => {
                if let Some(s) = self.sessions.iter().find(|s| s.id == o) {
                    s.send(msg);
                }
            }
            None => self.broadcast(msg),
        }
    }

    fn broadcast(&self, msg: ServerMessage) {
        for s in &self.sessions {
            s.send(msg.clone());
        }
    }

    /// Runs the three state machines until none has anything more to say.
    fn drain(&mut self) {
        for _ in 0..64 {
            let mut more = false;
            while let Some(out) = self.call.poll_output() {
                match out {
                    CallOutput::Trunk(cmd) => {
                        let c = Command::CallTrunk {
                            call: self.id.clone(),
                            leg: self.leg,
                            cmd,
                        };
                        if self.links.signaling.try_send(c).is_err() {
                            tracing::warn!(call = %self.id, ?cmd, "signaling task busy: trunk command lost");
                        }
                    }
                    CallOutput::State(state) => self.to_owner(ServerMessage::CallState {
                        call_id: self.id.to_string(),
                        state,
                    }),
                    CallOutput::Ended(reason) => self.broadcast(ended(&self.id, reason)),
                    CallOutput::Timeout(at) => {
                        self.call_timer = Some(Instant::from_std(at));
                        break;
                    }
                }
            }
            more |= self.drain_peer();
            more |= self.drain_media();
            if !more {
                return;
            }
        }
    }

    fn drain_peer(&mut self) -> bool {
        let mut fed_media = false;
        let now = Instant::now().into_std();
        if !self.peer_dirty {
            return false;
        }
        let Some(peer) = self.peer.as_mut() else {
            return false;
        };
        self.peer_dirty = false;
        loop {
            match peer.poll_output() {
                PeerOutput::Transmit(t) => self.links.webrtc.send(t.destination, &t.bytes),
                PeerOutput::Timeout(at) => {
                    self.peer_timer = Some(Instant::from_std(at));
                    break;
                }
                PeerOutput::Event(PeerEvent::Connected) => {
                    self.call
                        .handle_endpoint(now, EndpointInput::MediaConnected);
                }
                PeerOutput::Event(PeerEvent::Disconnected(why)) => {
                    tracing::info!(call = %self.id, ?why, "WebRTC peer disconnected");
                    self.call.hang_up(reasons::MEDIA_FAILURE);
                }
                PeerOutput::Event(PeerEvent::Audio(f)) => {
                    if let Some(m) = self.media.as_mut() {
                        let pt = match f.codec {
                            PeerCodec::Opus => EP_PT_OPUS,
                            PeerCodec::Pcmu => 0,
                            PeerCodec::Pcma => 8,
                        };
                        let frame = EndpointFrame {
                            pt,
                            timestamp: f.rtp_time as u32,
                            seq: f.seq as u16,
                            marker: false,
                            payload: &f.payload,
                        };
                        fed_media |= m.handle_endpoint_media(now, frame).is_ok();
                    }
                }
                PeerOutput::Event(PeerEvent::Dtmf(d)) => {
                    if let Some(m) = self.media.as_mut() {
                        let flags = if d.end { 0x80 } else { 0 } | (d.volume & 0x3f);
                        let len = (d.duration.as_millis() as u64
                            * u64::from(m.config().endpoint.dtmf_clock)
                            / 1000) as u16;
                        let payload = [d.event, flags, (len >> 8) as u8, len as u8];
                        let frame = EndpointFrame {
                            pt: EP_PT_DTMF,
                            timestamp: d.rtp_time as u32,
                            seq: 0,
                            marker: false,
                            payload: &payload,
                        };
                        fed_media |= m.handle_endpoint_media(now, frame).is_ok();
                    }
                }
                #[allow(unreachable_patterns)]
                PeerOutput::Event(_) => {}
            }
        }
        fed_media
    }

    fn drain_media(&mut self) -> bool {
        let mut fed_peer = false;
        let now = Instant::now().into_std();
        let Some(media) = self.media.as_mut() else {
            return false;
        };
        let remote = self.trunk_offer.as_ref().map(|o| o.remote);
        let dtmf_clock = u64::from(media.config().endpoint.dtmf_clock.max(1));
        loop {
            match media.poll_output() {
                MediaOutput::TrunkRtp(pkt) => {
                    if let Some(to) = media_target(remote) {
                        let _ = self.rtp.try_send_to(pkt, to);
                    }
                }
                MediaOutput::TrunkRtcp(pkt) => {
                    if let Some(to) = media_target(remote) {
                        let _ = self
                            .rtp
                            .try_send_to(pkt, SocketAddr::new(to.ip(), to.port().wrapping_add(1)));
                    }
                }
                MediaOutput::EndpointMedia(f) => {
                    let Some(peer) = self.peer.as_mut() else {
                        continue;
                    };
                    self.peer_dirty = true;
                    let mut wrote = false;
                    if f.pt == EP_PT_DTMF {
                        // A digit goes to the browser once, on its first end packet.
                        let end = f.payload.len() >= 4 && f.payload[1] & 0x80 != 0;
                        if end && self.dtmf_forwarded != Some(f.timestamp) {
                            self.dtmf_forwarded = Some(f.timestamp);
                            let ms = u64::from(u16::from_be_bytes([f.payload[2], f.payload[3]]))
                                * 1000
                                / dtmf_clock;
                            let codec = peer.negotiated_codec().unwrap_or(PeerCodec::Opus);
                            wrote = peer
                                .send_dtmf(
                                    now,
                                    codec,
                                    u64::from(f.timestamp),
                                    f.payload[0],
                                    Duration::from_millis(ms),
                                )
                                .is_ok();
                        }
                    } else if let Some(codec) = peer.negotiated_codec() {
                        wrote = peer
                            .send_audio(now, codec, u64::from(f.timestamp), f.payload)
                            .is_ok();
                    }
                    if wrote {
                        // str0m requires its output drained after every write, before
                        // the next one: `drain` polls the peer, then comes back here
                        // for the rest of the pipeline's output.
                        fed_peer = true;
                        break;
                    }
                }
                MediaOutput::Event(MediaEvent::RtpTimeout { .. }) => {
                    self.call
                        .handle_trunk(now, TrunkInput::Lost(reasons::RTP_TIMEOUT));
                }
                MediaOutput::Event(_) => {}
                MediaOutput::Timeout(at) => {
                    self.media_timer = Some(Instant::from_std(at));
                    break;
                }
            }
        }
        fed_peer
    }

    fn finish(mut self) -> EndReason {
        let reason = self.call.end_reason().unwrap_or(reasons::LOCAL_HANGUP);
        if let Some(u) = self.ufrag.take() {
            self.links.webrtc.unregister(u);
        }
        if let Some(mut p) = self.peer.take() {
            p.close();
            while let PeerOutput::Transmit(t) = p.poll_output() {
                self.links.webrtc.send(t.destination, &t.bytes);
            }
        }
        if let Some(m) = &self.media {
            let s = m.stats();
            self.links.metrics.add_call_media(&s);
            tracing::info!(call = %self.id, code = reason.code, sub_code = reason.sub_code, stats = ?s, "call finished");
        }
        let _ = self.links.signaling.try_send(Command::CallFinished {
            call: self.id.clone(),
            leg: self.leg,
        });
        reason
    }
}

fn media_target(remote: Option<SocketAddr>) -> Option<SocketAddr> {
    remote.filter(|r| !r.ip().is_unspecified() && r.port() != 0)
}
