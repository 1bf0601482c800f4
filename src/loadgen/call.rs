//! One call of the load run, both ends in one task: the carrier's SIP dialog and RTP, and
//! the endpoint's WebRTC peer, from set-up through the hold time to the hang-up.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use str0m::format::Codec;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;

use super::Mode;
use super::audio::{Audio, FRAMES};
use super::carrier::{self, SipRoutes};
use super::endpoint::{Session, WsRoutes};
use super::peer::{Drive, Peer};
use super::sip_text::{Dialog, SipMsg, pcmu_sdp, response};
use super::stats::{RxStats, SeqExtender};
use crate::media::wire::{HEADER_LEN, parse_rtp};

/// What reaches a call task: SIP from the bridge, or its endpoint's server messages.
pub enum Event {
    Sip(Box<SipMsg>, SocketAddr),
    Ws(Value),
}

/// What one call does.
pub struct Plan {
    pub index: usize,
    pub mode: Mode,
    /// The endpoint's DID: called (inbound modes) or its caller ID (outbound).
    pub did: String,
    /// Inbound: the carrier's caller number, unique per call. Outbound: the number dialled.
    pub other: String,
    pub hold: Duration,
    pub setup_timeout: Duration,
    pub bridge_sip: SocketAddr,
    pub media_ip: IpAddr,
    pub session: Session,
}

/// What every call shares.
#[derive(Clone)]
pub struct Shared {
    pub audio: Arc<Audio>,
    pub sip: Arc<UdpSocket>,
    pub sip_addr: SocketAddr,
    pub sip_routes: SipRoutes,
    pub ws_routes: WsRoutes,
    pub progress: UnboundedSender<Progress>,
}

pub enum Progress {
    Connected(Instant),
    Finished(Box<Outcome>),
}

#[derive(Default)]
pub struct Outcome {
    pub failure: Option<String>,
    /// Both ends came up (the call counted in the measuring window).
    pub connected: bool,
    /// Inbound: INVITE → 200. Outbound: startPhoneCall → `Connected`.
    pub setup_ms: Option<f64>,
    /// Answer (endpoint `answer`, or the carrier's 200) → first media at the endpoint.
    pub media_ms: Option<f64>,
    pub carrier: RxStats,
    pub endpoint: RxStats,
    pub sip_retransmits: u32,
    /// Frames sent more than 40 ms late: the generator itself fell behind.
    pub late_frames: u64,
}

const TEARDOWN: Duration = Duration::from_secs(8);
const FRAME: Duration = Duration::from_millis(20);

struct Call {
    plan: Plan,
    sh: Shared,
    peer: Peer,
    rtp: UdpSocket,
    remote_rtp: Option<SocketAddr>,
    dialog: Option<Dialog>,
    /// A message repeated until answered (our INVITE, BYE or 200), next time and gap.
    repeat: Option<(String, SocketAddr, Instant, Duration)>,
    ws_call: Option<String>,
    /// Inbound: the WebRTC offer, sent when the endpoint answers.
    pending_offer: Option<String>,
    /// Outbound: the Call-ID of the bridge's INVITE.
    bridge_call_id: Option<String>,
    started: Instant,
    answered: Option<Instant>,
    sip_up: bool,
    rtc_up: bool,
    ws_up: bool,
    hold_end: Option<Instant>,
    teardown: Option<Instant>,
    bye_done: bool,
    ws_ended: bool,
    next_frame: Option<Instant>,
    frame: u64,
    carrier_seq: SeqExtender,
    out: Outcome,
    done: bool,
}

/// Runs the call to its end and reports it through `sh.progress`.
pub async fn run(plan: Plan, sh: Shared) {
    let progress = sh.progress.clone();
    let outcome = match start(plan, sh).await {
        Ok((call, events)) => call.run(events).await,
        Err(e) => Outcome {
            failure: Some(e),
            ..Outcome::default()
        },
    };
    let _ = progress.send(Progress::Finished(Box::new(outcome)));
}

async fn start(plan: Plan, sh: Shared) -> Result<(Call, UnboundedReceiver<Event>), String> {
    let codec = match plan.mode {
        Mode::Transcode | Mode::Outbound => Codec::Opus,
        Mode::Passthrough | Mode::Signaling => Codec::PCMU,
    };
    let (peer, offer) = Peer::offer(plan.media_ip, codec).await?;
    let rtp = UdpSocket::bind((plan.media_ip, 0))
        .await
        .map_err(|e| format!("carrier RTP socket: {e}"))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let mut call = Call {
        peer,
        rtp,
        remote_rtp: None,
        dialog: None,
        repeat: None,
        ws_call: None,
        pending_offer: None,
        bridge_call_id: None,
        started: Instant::now(),
        answered: None,
        sip_up: false,
        rtc_up: false,
        ws_up: false,
        hold_end: None,
        teardown: None,
        bye_done: false,
        ws_ended: false,
        next_frame: None,
        frame: 0,
        carrier_seq: SeqExtender::default(),
        out: Outcome::default(),
        done: false,
        plan,
        sh,
    };
    if call.plan.mode == Mode::Outbound {
        call.sh.sip_routes.by_dialled(&call.plan.other, tx.clone());
        call.sh.ws_routes.by_request(&call.request_id(), tx);
        call.plan.session.send(json!({
            "type": "startPhoneCall", "requestId": call.request_id(),
            "number": call.plan.other, "callerId": call.plan.did, "sdp": offer,
        }));
    } else {
        call.sh.ws_routes.by_caller(&call.plan.other, tx.clone());
        call.pending_offer = Some(offer);
        call.send_invite(tx);
    }
    Ok((call, rx))
}

impl Call {
    fn request_id(&self) -> String {
        format!("lg-{}", self.plan.index)
    }

    fn call_id(&self) -> String {
        format!(
            "lg-{}-{}@{}",
            std::process::id(),
            self.plan.index,
            self.sh.sip_addr.ip()
        )
    }

    /// Inbound modes: the carrier's INVITE to the endpoint's DID. The WebRTC offer is made
    /// now but sent when the endpoint answers.
    fn send_invite(&mut self, tx: UnboundedSender<Event>) {
        let me = self.sh.sip_addr;
        let bridge = self.plan.bridge_sip;
        let d = Dialog {
            call_id: self.call_id(),
            me,
            from: format!(
                "From: \"Load {}\" <sip:{}@{}>;tag=lg{}",
                self.plan.index,
                self.plan.other,
                me.ip(),
                self.plan.index
            ),
            to: format!("To: <sip:{}@{bridge}>", self.plan.did),
            target: format!("sip:{}@{bridge}", self.plan.did),
        };
        self.sh.sip_routes.by_call_id(&d.call_id, tx);
        let rtp = self.rtp.local_addr().unwrap_or(me);
        let sdp = pcmu_sdp(rtp, self.plan.index as u64);
        let branch = format!("{}-inv", d.call_id.split('@').next().unwrap_or("x"));
        let extra = "Content-Type: application/sdp\r\n";
        let invite = d.request("INVITE", 1, &branch, extra, &sdp);
        self.dialog = Some(d);
        self.send_repeated(invite, bridge);
    }

    fn send_repeated(&mut self, text: String, to: SocketAddr) {
        carrier::send(&self.sh.sip, to, &text);
        let gap = Duration::from_millis(500);
        self.repeat = Some((text, to, Instant::now() + gap, gap));
    }

    fn fail(&mut self, why: String) {
        if self.out.failure.is_none() {
            tracing::debug!(call = self.plan.index, why, "call failed");
            self.out.failure = Some(why);
        }
        self.done = true;
    }

    async fn run(mut self, mut events: UnboundedReceiver<Event>) -> Outcome {
        let mut buf = vec![0u8; 2048];
        let mut rtp_buf = vec![0u8; 2048];
        let sleep = tokio::time::sleep_until(Instant::now());
        tokio::pin!(sleep);
        let setup_deadline = self.started + self.plan.setup_timeout;
        while !self.done {
            let mut drive = Drive::default();
            let rtc_wake = match self.peer.drive(&mut drive) {
                Ok(t) => Instant::from_std(t),
                Err(e) => {
                    self.fail(e);
                    break;
                }
            };
            self.after_drive(&drive);
            if self.done {
                break;
            }
            let deadline = self.teardown.unwrap_or(setup_deadline);
            let deadline = if self.hold_end.is_some() && self.teardown.is_none() {
                self.hold_end.unwrap_or(deadline)
            } else {
                deadline
            };
            let mut wake = rtc_wake.min(deadline);
            for t in [self.next_frame, self.repeat.as_ref().map(|r| r.2)] {
                wake = t.map_or(wake, |t| t.min(wake));
            }
            sleep.as_mut().reset(wake);
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(Event::Sip(msg, from)) => self.on_sip(*msg, from),
                    Some(Event::Ws(v)) => self.on_ws(v),
                    None => self.fail("event channel closed".into()),
                },
                got = self.peer.sock.recv_from(&mut buf) => {
                    if let Ok((n, from)) = got {
                        self.peer.receive(from, &buf[..n]);
                    }
                }
                got = self.rtp.recv_from(&mut rtp_buf) => {
                    if let Ok((n, _)) = got {
                        self.on_carrier_rtp(n, &rtp_buf);
                    }
                }
                _ = &mut sleep => self.on_time(setup_deadline),
            }
        }
        self.peer.close();
        let mut keys = vec![
            format!("caller:{}", self.plan.other),
            format!("req:{}", self.request_id()),
            format!("to:{}", self.plan.other),
        ];
        self.sh.ws_routes.forget(&keys);
        keys.push(format!("cid:{}", self.call_id()));
        if let Some(cid) = &self.bridge_call_id {
            keys.push(format!("cid:{cid}"));
        }
        self.sh.sip_routes.forget(&keys);
        self.out.endpoint = std::mem::take(&mut self.peer.rx);
        self.out
    }

    fn after_drive(&mut self, d: &Drive) {
        let now = Instant::now();
        if d.connected {
            self.rtc_up = true;
        }
        if d.first_media
            && let Some(at) = self.answered
        {
            self.out.media_ms = Some(ms(now - at));
        }
        if d.ice_lost && self.teardown.is_none() {
            self.fail("endpoint ICE lost".into());
            return;
        }
        let up = self.sip_up && self.rtc_up && (self.plan.mode != Mode::Outbound || self.ws_up);
        if up && self.hold_end.is_none() {
            self.hold_end = Some(now + self.plan.hold);
            if self.plan.mode != Mode::Signaling {
                self.next_frame = Some(now);
            }
            self.out.connected = true;
            let _ = self.sh.progress.send(Progress::Connected(now));
        }
    }

    fn on_time(&mut self, setup_deadline: Instant) {
        let now = Instant::now();
        self.peer.tick();
        if let Some(at) = self.next_frame.filter(|at| *at <= now) {
            self.send_frames();
            let mut next = at + FRAME;
            if now > next + FRAME {
                self.out.late_frames += 1;
                next = now + FRAME;
            }
            self.next_frame = Some(next);
        }
        if let Some((text, to, at, gap)) = self.repeat.take() {
            if at <= now && gap <= Duration::from_secs(4) {
                carrier::send(&self.sh.sip, to, &text);
                self.out.sip_retransmits += 1;
                self.repeat = Some((text, to, now + gap * 2, gap * 2));
            } else {
                self.repeat = Some((text, to, at, gap));
            }
        }
        match (self.hold_end, self.teardown) {
            (None, _) if now >= setup_deadline => self.give_up(),
            (Some(end), None) if now >= end => self.hang_up(now),
            (_, Some(t)) if now >= t => self.fail(format!(
                "teardown timeout (BYE answered: {}, callEnded: {})",
                self.bye_done, self.ws_ended
            )),
            _ => {}
        }
    }

    /// Set-up did not finish in time: cancel what was started and report it.
    fn give_up(&mut self) {
        let what = format!(
            "setup timeout (sip: {}, webrtc: {}, endpoint: {})",
            self.sip_up,
            self.rtc_up,
            self.ws_call.is_some()
        );
        if let Some(id) = self.ws_call.clone() {
            self.plan
                .session
                .send(json!({"type": "hangUp", "callId": id}));
        }
        self.fail(what);
    }

    fn hang_up(&mut self, now: Instant) {
        self.next_frame = None;
        self.teardown = Some(now + TEARDOWN);
        match (self.plan.mode, &self.dialog) {
            (Mode::Outbound, _) | (_, None) => {
                let id = self.ws_call.clone().unwrap_or_default();
                self.plan
                    .session
                    .send(json!({"type": "hangUp", "callId": id}));
            }
            (_, Some(d)) => {
                let branch = format!("{}-bye", d.call_id.split('@').next().unwrap_or("x"));
                let bye = d.request("BYE", 2, &branch, "", "");
                let to = self.plan.bridge_sip;
                self.send_repeated(bye, to);
            }
        }
    }

    fn check_done(&mut self) {
        if self.teardown.is_some() && self.bye_done && self.ws_ended {
            self.done = true;
        }
    }

    fn send_frames(&mut self) {
        let n = self.frame;
        self.frame += 1;
        let i = (n as usize) % FRAMES;
        let audio = &self.sh.audio;
        if let Some(to) = self.remote_rtp {
            let mut pkt = [0u8; HEADER_LEN + 160];
            pkt[0] = 0x80;
            pkt[2..4].copy_from_slice(&(n as u16).to_be_bytes());
            pkt[4..8].copy_from_slice(&((n as u32).wrapping_mul(160)).to_be_bytes());
            pkt[8..12].copy_from_slice(&(0x4c47_0000 | self.plan.index as u32).to_be_bytes());
            pkt[HEADER_LEN..].copy_from_slice(&audio.pcmu[i]);
            let _ = self.rtp.try_send_to(&pkt, to);
        }
        self.peer.send_frame(n, &audio.pcmu[i], &audio.opus[i]);
    }

    fn on_carrier_rtp(&mut self, n: usize, buf: &[u8]) {
        let Ok((h, _)) = parse_rtp(&buf[..n]) else {
            return;
        };
        // Audio only (PCMU); telephone-event and RTCP are not counted.
        if h.pt == 0 {
            let seq = self.carrier_seq.extend(h.seq);
            let ts = f64::from(h.ts) / 8000.0;
            self.out.carrier.record(seq, ts, Instant::now().into_std());
        }
    }

    fn on_sip(&mut self, msg: SipMsg, from: SocketAddr) {
        match (msg.status(), msg.method()) {
            (Some(code), _) => self.on_response(code, &msg),
            (None, Some(m)) => self.on_request(m, &msg, from),
            _ => {}
        }
        self.check_done();
    }

    fn on_response(&mut self, code: u16, msg: &SipMsg) {
        let Some(d) = &mut self.dialog else { return };
        match msg.cseq_method() {
            "INVITE" if code < 200 => {
                self.repeat = None;
            }
            "INVITE" if code < 300 => {
                self.repeat = None;
                let first = !self.sip_up;
                if first {
                    d.to = msg.header("To").to_owned();
                    if let Some(t) = msg.contact_uri() {
                        d.target = t;
                    }
                    self.remote_rtp = msg.media_addr();
                    self.out.setup_ms = Some(ms(Instant::now() - self.started));
                    self.sip_up = true;
                }
                let branch = format!("{}-ack", d.call_id.split('@').next().unwrap_or("x"));
                let ack = d.request("ACK", 1, &branch, "", "");
                carrier::send(&self.sh.sip, self.plan.bridge_sip, &ack);
                if self.remote_rtp.is_none() {
                    self.fail("200 without media address".into());
                }
            }
            "INVITE" => {
                self.repeat = None;
                // ACK for a failure reuses the INVITE's branch (RFC 3261 §17.1.1.3).
                let branch = format!("{}-inv", d.call_id.split('@').next().unwrap_or("x"));
                let ack = Dialog {
                    to: msg.header("To").to_owned(),
                    call_id: d.call_id.clone(),
                    from: d.from.clone(),
                    target: d.target.clone(),
                    me: d.me,
                };
                let text = ack.request("ACK", 1, &branch, "", "");
                carrier::send(&self.sh.sip, self.plan.bridge_sip, &text);
                self.fail(format!("sip {code}"));
            }
            "BYE" if code >= 200 => {
                self.repeat = None;
                self.bye_done = true;
            }
            _ => {}
        }
    }

    fn on_request(&mut self, m: rsip::Method, msg: &SipMsg, from: SocketAddr) {
        let me = self.sh.sip_addr;
        let tag = format!("lgu{}", self.plan.index);
        match m {
            rsip::Method::Invite if self.plan.mode == Mode::Outbound && !self.sip_up => {
                if self.remote_rtp.is_none() {
                    self.remote_rtp = msg.media_addr();
                    self.bridge_call_id = Some(msg.value("Call-ID").to_owned());
                    let ringing = response("180 Ringing", msg, me, &tag, "");
                    carrier::send(&self.sh.sip, from, &ringing);
                }
                let rtp = self.rtp.local_addr().unwrap_or(me);
                let sdp = pcmu_sdp(rtp, self.plan.index as u64);
                let ok = response("200 OK", msg, me, &tag, &sdp);
                self.answered.get_or_insert_with(Instant::now);
                self.send_repeated(ok, from);
            }
            rsip::Method::Invite => {
                // A refresh or re-INVITE: accept it with the same media.
                let rtp = self.rtp.local_addr().unwrap_or(me);
                let sdp = pcmu_sdp(rtp, self.plan.index as u64);
                let ok = response("200 OK", msg, me, &tag, &sdp);
                carrier::send(&self.sh.sip, from, &ok);
            }
            rsip::Method::Ack => {
                if self.plan.mode == Mode::Outbound && !self.sip_up {
                    self.repeat = None;
                    self.sip_up = true;
                }
            }
            rsip::Method::Bye => {
                let ok = response("200 OK", msg, me, &tag, "");
                carrier::send(&self.sh.sip, from, &ok);
                if self.teardown.is_some() {
                    self.bye_done = true;
                } else {
                    self.fail("bridge hung up early".into());
                }
            }
            _ => {
                let ok = response("200 OK", msg, me, &tag, "");
                carrier::send(&self.sh.sip, from, &ok);
            }
        }
    }

    fn on_ws(&mut self, v: Value) {
        match v["type"].as_str().unwrap_or("") {
            "incomingCall" | "callAccepted" => {
                let id = v["callId"].as_str().unwrap_or("").to_owned();
                if v["type"] == "incomingCall" {
                    // Auto-answer with the WebRTC offer made at start.
                    let sdp = self.pending_offer.take().unwrap_or_default();
                    self.plan
                        .session
                        .send(json!({"type": "answer", "callId": id, "sdp": sdp}));
                    self.answered = Some(Instant::now());
                }
                self.ws_call = Some(id);
            }
            "sdp" => {
                let sdp = v["sdp"].as_str().unwrap_or("");
                if let Err(e) = self.peer.accept(sdp) {
                    self.fail(e);
                }
            }
            "callState" if v["state"] == "Connected" && !self.ws_up => {
                self.ws_up = true;
                if self.plan.mode == Mode::Outbound {
                    self.out.setup_ms = Some(ms(Instant::now() - self.started));
                }
            }
            "callEnded" => {
                self.ws_ended = true;
                if self.teardown.is_none() {
                    let r = &v["callEndReason"];
                    let why = format!("ended {}/{}", r["code"], r["subCode"]);
                    self.fail(why);
                }
            }
            "error" => tracing::warn!(call = self.plan.index, message = %v, "endpoint error"),
            _ => {}
        }
        self.check_done();
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
