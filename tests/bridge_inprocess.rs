//! The daemon in-process on loopback, with a str0m peer playing the browser and a small SIP
//! UA playing the carrier: calls bridged both ways, audio checked by frequency (a tone sent
//! on one side is found at its frequency on the other). Every wait is a bounded loop with a
//! deadline that fails the test with a message; nothing is asserted by sleeping.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audiopus::coder::{Decoder, Encoder};
use audiopus::{Application, Channels, MutSignals, SampleRate, packet::Packet};
use futures_util::{SinkExt, StreamExt};
use pstn_bridge::driver::{self, Running, ShutdownTx, Stop};
use pstn_bridge::sip::message::{Parsed, parse};
use serde_json::{Value, json};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout_at};
use tokio_tungstenite::tungstenite::Message;

const DID: &str = "+14155550100";
/// The phone: the caller of inbound calls, the number dialled by outbound ones.
const PHONE: &str = "+14155551234";
const SECRET: &str = "in-process test secret, at least 32 bytes long";
/// Tones: the carrier sends 1000 Hz, the browser 440 Hz.
const CARRIER_HZ: f64 = 1000.0;
const BROWSER_HZ: f64 = 440.0;
/// Audio each side must hear before the check (8 kHz samples: 1.5 s).
const HEARD: usize = 12_000;
/// How much louder the tone must be than any other probed frequency (power ratio, 13 dB).
const MARGIN: f64 = 20.0;
const STEP: Duration = Duration::from_millis(10);

fn deadline(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

// ---------------------------------------------------------------------------------------
// Daemon

struct Daemon {
    running: Running,
    keys: pstn_bridge::auth::TokenKeys,
    stop: ShutdownTx,
}

/// Starts the daemon on loopback with ports 0; outbound calls go to `uas`.
async fn daemon(uas: SocketAddr, media_base: u16) -> Daemon {
    let text = format!(
        r#"
[sip]
bind_udp = "127.0.0.1:0"
advertised_host = "127.0.0.1"
[http]
bind = "127.0.0.1:0"
[media]
bind_ip = "127.0.0.1"
advertised_ip = "127.0.0.1"
port_min = {media_base}
port_max = {max}
webrtc_port = 0
[trunks.carrier]
addresses = ["127.0.0.1/32"]
destination = "{uas}"
numbers = ["+*"]
[apps.demo]
numbers = {{ "{DID}" = "alice" }}
trunks = ["carrier"]
default_role = "agent"
[apps.demo.token_keys.k1]
alg = "HS256"
secret = "{SECRET}"
[apps.demo.roles.agent]
allow = ["+1*"]
deny = ["+1900*"]
default_caller_id = "{DID}"
"#,
        max = media_base + 99
    );
    let cfg = pstn_bridge::config::load_str(&text, "bridge_inprocess", false).expect("config");
    let keys = pstn_bridge::auth::TokenKeys::from_config(&cfg)
        .expect("keys")
        .0;
    let (stop, rx) = driver::shutdown_channel();
    let running = driver::start(cfg, rx).await.expect("daemon starts");
    Daemon {
        running,
        keys,
        stop,
    }
}

impl Daemon {
    fn sip(&self) -> SocketAddr {
        self.running.bound.sip_udp.expect("SIP/UDP bound")
    }

    fn token(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        self.keys
            .mint("demo", "alice", "agent", &["pstn".into()], 600, now)
            .expect("token")
    }

    async fn stop(self) {
        let _ = self.stop.send(Stop::Immediate);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.running.done).await;
    }
}

// ---------------------------------------------------------------------------------------
// Signaling client

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One endpoint session on `/v1/ws`; remembers every message it received.
struct Ws {
    ws: WsStream,
    seen: Vec<Value>,
}

impl Ws {
    async fn login(d: &Daemon) -> Ws {
        let url = format!("ws://{}/v1/ws", d.running.bound.http);
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws");
        let mut ws = Ws { ws, seen: vec![] };
        ws.send(json!({"type": "auth", "token": d.token(), "protocol": 1}))
            .await;
        ws.expect("ready", deadline(5)).await;
        ws
    }

    async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::text(v.to_string()))
            .await
            .expect("ws send");
    }

    /// The next message of type `kind` (others are kept in `seen`).
    async fn expect(&mut self, kind: &str, until: Instant) -> Value {
        loop {
            let msg = match timeout_at(until, self.ws.next()).await {
                Ok(Some(Ok(m))) => m,
                Ok(other) => panic!(
                    "ws closed waiting for {kind}: {other:?}; saw {:?}",
                    self.seen
                ),
                Err(_) => panic!("no {kind} in time; saw {:?}", self.seen),
            };
            let Message::Text(t) = msg else { continue };
            let v: Value = serde_json::from_str(&t).expect("json");
            self.seen.push(v.clone());
            if v["type"] == kind {
                return v;
            }
        }
    }

    /// Returns once a `callState` with `state` has arrived (now or before).
    async fn wait_state(&mut self, state: &str, until: Instant) {
        while !self.states().iter().any(|s| s == state) {
            self.expect("callState", until).await;
        }
    }

    fn states(&self) -> Vec<String> {
        let states = self.seen.iter().filter(|v| v["type"] == "callState");
        states
            .map(|v| v["state"].as_str().unwrap_or("?").to_owned())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Tones and the frequency check

/// `n` samples of a sine at `hz` (8 kHz), starting at sample `from`.
fn tone(hz: f64, from: usize, n: usize) -> Vec<i16> {
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    (from..from + n)
        .map(|i| (8000.0 * (w * i as f64).sin()) as i16)
        .collect()
}

fn goertzel(samples: &[i16], hz: f64) -> f64 {
    let k = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s0 = f64::from(x) + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - k * s1 * s2
}

/// What the check measured: the strongest probed frequency and the tone's margin over
/// every other probed frequency (power ratio).
#[derive(Debug)]
struct ToneReport {
    peak_hz: f64,
    margin: f64,
}

/// Passes when `hz` dominates `samples`: probes 100..3900 Hz in 20 Hz steps, the tone's
/// power must exceed every probe further than 60 Hz from it by `MARGIN`.
fn check_tone(samples: &[i16], hz: f64) -> Result<ToneReport, String> {
    if samples.len() < 1600 {
        return Err(format!("only {} samples", samples.len()));
    }
    let at = goertzel(samples, hz);
    let probes = (5..=195).map(|k| f64::from(k) * 20.0);
    let mut peak = (hz, at);
    let mut other = 0.0f64;
    for f in probes {
        let p = goertzel(samples, f);
        if p > peak.1 {
            peak = (f, p);
        }
        if (f - hz).abs() > 60.0 {
            other = other.max(p);
        }
    }
    let report = ToneReport {
        peak_hz: peak.0,
        margin: at / other.max(1.0),
    };
    if report.margin >= MARGIN {
        Ok(report)
    } else {
        Err(format!("{hz} Hz not dominant: {report:?}"))
    }
}

fn ulaw_encode(x: i16) -> u8 {
    const BIAS: i32 = 0x84;
    let x = i32::from(x);
    let sign = if x < 0 { 0x80 } else { 0 };
    let mag = (x.abs().min(32635) + BIAS) as u32;
    let exp = (31 - mag.leading_zeros()).saturating_sub(7).min(7);
    let mant = (mag >> (exp + 3)) & 0x0f;
    !(sign | (exp << 4) as u8 | mant as u8)
}

fn ulaw_decode(u: u8) -> i16 {
    let u = !u;
    let exp = (u >> 4) & 7;
    let mag = ((((i32::from(u) & 0x0f) << 3) + 0x84) << exp) - 0x84;
    (if u & 0x80 != 0 { -mag } else { mag }) as i16
}

// ---------------------------------------------------------------------------------------
// The browser: a str0m offerer on a real UDP socket, driven in real time

struct Browser {
    rtc: Rtc,
    sock: UdpSocket,
    mid: Mid,
    pending: Option<SdpPendingOffer>,
}

/// What the browser's media loop shares with the test while it runs.
#[derive(Default)]
struct Heard {
    pcm: Vec<i16>,
    codecs: Vec<Codec>,
}

impl Browser {
    /// A browser offering `codecs` (Opus and/or PCMU, in that order) and telephone-event;
    /// returns it and its offer.
    async fn offer(codecs: &[Codec]) -> (Browser, String) {
        let sock = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("browser socket");
        let addr = sock.local_addr().expect("addr");
        let mut b = Rtc::builder()
            .clear_codecs()
            .enable_opus(codecs.contains(&Codec::Opus), false)
            .enable_pcmu(codecs.contains(&Codec::PCMU), false);
        let f = str0m::format::FormatParams::parse_line("0-15");
        b.codec_config()
            .add_config(126.into(), None, Codec::Tele, Frequency::EIGHT_KHZ, None, f);
        let mut rtc = b.build(std::time::Instant::now());
        rtc.add_local_candidate(Candidate::host(addr, "udp").expect("candidate"));
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = api.apply().expect("offer");
        let b = Browser {
            rtc,
            sock,
            mid,
            pending: Some(pending),
        };
        (b, offer.to_sdp_string())
    }

    fn accept(&mut self, answer: &str) {
        let answer = SdpAnswer::from_sdp_string(answer).expect("answer parses");
        let pending = self.pending.take().expect("one offer");
        let api = self.rtc.sdp_api();
        api.accept_answer(pending, answer).expect("answer accepted");
    }

    /// The codec the browser sends: the first of the answer's payload types.
    fn send_codec(&self) -> (str0m::media::Pt, Codec) {
        let first = self.rtc.media(self.mid).expect("mid").remote_pts()[0];
        let params = self.rtc.codec_config().iter().find(|p| p.pt() == first);
        (first, params.expect("known pt").spec().codec)
    }

    /// Runs ICE/DTLS, then sends a `hz` tone every 20 ms and decodes what arrives into
    /// `heard`, until `stop` turns true.
    async fn run(mut self, hz: f64, heard: Arc<Mutex<Heard>>, mut stop: watch::Receiver<bool>) {
        let (pt, codec) = self.send_codec();
        let mut voice = Voice::new();
        let mut next_frame: Option<Instant> = None;
        let mut sent = 0usize;
        let mut buf = vec![0u8; 2000];
        while !*stop.borrow() {
            let wake = loop {
                match self.rtc.poll_output().expect("browser output") {
                    Output::Transmit(t) => {
                        let _ = self.sock.send_to(&t.contents, t.destination).await;
                    }
                    Output::Timeout(t) => break Instant::from_std(t),
                    Output::Event(Event::Connected) => next_frame = Some(Instant::now()),
                    Output::Event(Event::MediaData(d)) => {
                        let codec = d.params.spec().codec;
                        if let Some(pcm) = voice.decode(codec, &d.data) {
                            let mut h = heard.lock().expect("lock");
                            h.codecs.push(codec);
                            h.pcm.extend(pcm);
                        }
                    }
                    Output::Event(_) => {}
                }
            };
            let now = Instant::now();
            if let Some(at) = next_frame.filter(|at| *at <= now) {
                let (payload, time) = voice.encode(codec, &tone(hz, sent, 160), sent);
                let w = self.rtc.writer(self.mid).expect("writer");
                w.write(pt, now.into_std(), time, payload)
                    .expect("browser write");
                sent += 160;
                next_frame = Some(at + Duration::from_millis(20));
                continue;
            }
            let wake = next_frame.map_or(wake, |f| f.min(wake)).min(now + STEP);
            let input_now = std::time::Instant::now;
            tokio::select! {
                got = self.sock.recv_from(&mut buf) => {
                    let (n, from) = got.expect("browser recv");
                    let to = self.sock.local_addr().expect("addr");
                    let r = Receive::new(Protocol::Udp, from, to, &buf[..n]).expect("datagram");
                    self.rtc.handle_input(Input::Receive(input_now(), r)).expect("input");
                }
                _ = sleep_until(wake) => {
                    self.rtc.handle_input(Input::Timeout(input_now())).expect("tick");
                }
                _ = stop.changed() => {}
            }
        }
    }
}

/// The browser's audio codecs: Opus (8 kHz PCM, 48 kHz RTP clock) or PCMU.
struct Voice {
    enc: Encoder,
    dec: Decoder,
}

impl Voice {
    fn new() -> Voice {
        Voice {
            enc: Encoder::new(SampleRate::Hz8000, Channels::Mono, Application::Voip)
                .expect("opus encoder"),
            dec: Decoder::new(SampleRate::Hz8000, Channels::Mono).expect("opus decoder"),
        }
    }

    /// One frame of `pcm` starting at sample `at` (8 kHz): payload and RTP time.
    fn encode(&self, codec: Codec, pcm: &[i16], at: usize) -> (Vec<u8>, MediaTime) {
        if codec == Codec::PCMU {
            let payload = pcm.iter().map(|&x| ulaw_encode(x)).collect();
            return (payload, MediaTime::new(at as u64, Frequency::EIGHT_KHZ));
        }
        let mut out = vec![0u8; 400];
        let n = self.enc.encode(pcm, &mut out).expect("opus encode");
        out.truncate(n);
        (
            out,
            MediaTime::new(at as u64 * 6, Frequency::FORTY_EIGHT_KHZ),
        )
    }

    /// PCM (8 kHz) of one received frame; `None` for what is not audio.
    fn decode(&mut self, codec: Codec, data: &[u8]) -> Option<Vec<i16>> {
        match codec {
            Codec::PCMU => Some(data.iter().map(|&u| ulaw_decode(u)).collect()),
            Codec::Opus => {
                let mut out = vec![0i16; 960];
                let p = Packet::try_from(data).expect("opus packet");
                let o = MutSignals::try_from(&mut out[..]).expect("buffer");
                let n = self.dec.decode(Some(p), o, false).expect("opus decode");
                out.truncate(n);
                Some(out)
            }
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The carrier: a tiny SIP UA and an RTP stream

/// A SIP UA on a plain UDP socket: hand-written requests and responses, parsed replies.
struct SipUa {
    sock: UdpSocket,
    addr: SocketAddr,
}

/// A received message: parsed, plus its raw text (for copying headers into replies).
struct SipMsg {
    parsed: Parsed,
    raw: String,
}

impl SipMsg {
    fn status(&self) -> Option<u16> {
        match &self.parsed {
            Parsed::Response(r) => Some(r.status_code().code()),
            Parsed::Request(_) => None,
        }
    }

    fn method(&self) -> Option<rsip::Method> {
        match &self.parsed {
            Parsed::Request(r) => Some(*r.method()),
            Parsed::Response(_) => None,
        }
    }

    fn body(&self) -> &[u8] {
        match &self.parsed {
            Parsed::Request(r) => r.body(),
            Parsed::Response(r) => r.body(),
        }
    }

    /// Every header line named `name` (case-insensitive), as written.
    fn headers(&self, name: &str) -> Vec<&str> {
        let head = self.raw.split("\r\n\r\n").next().unwrap_or("");
        let named = |l: &&str| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        };
        head.lines().skip(1).filter(named).collect()
    }

    fn header(&self, name: &str) -> String {
        let h = self.headers(name);
        h.first()
            .unwrap_or_else(|| panic!("no {name} in\n{}", self.raw))
            .to_string()
    }

    /// The RTP address in the SDP body (`c=` and `m=audio`).
    fn media_addr(&self) -> SocketAddr {
        let sdp = std::str::from_utf8(self.body()).expect("utf-8 SDP");
        let ip = sdp.lines().find_map(|l| l.strip_prefix("c=IN IP4 "));
        let port = sdp.lines().find_map(|l| l.strip_prefix("m=audio "));
        let port = port.and_then(|p| p.split(' ').next());
        match (ip, port) {
            (Some(ip), Some(port)) => format!("{}:{}", ip.trim(), port).parse().expect("addr"),
            _ => panic!("no media address in SDP:\n{sdp}"),
        }
    }
}

impl SipUa {
    async fn bind() -> SipUa {
        let sock = UdpSocket::bind("127.0.0.1:0").await.expect("sip socket");
        let addr = sock.local_addr().expect("addr");
        SipUa { sock, addr }
    }

    async fn send(&self, to: SocketAddr, text: &str) {
        self.sock
            .send_to(text.as_bytes(), to)
            .await
            .expect("sip send");
    }

    /// The next message that `want` accepts (others are skipped: retransmissions, 100).
    async fn recv(
        &self,
        what: &str,
        until: Instant,
        want: impl Fn(&SipMsg) -> bool,
    ) -> (SipMsg, SocketAddr) {
        let mut buf = vec![0u8; 65535];
        loop {
            let (n, from) = match timeout_at(until, self.sock.recv_from(&mut buf)).await {
                Ok(r) => r.expect("sip recv"),
                Err(_) => panic!("SIP UA: no {what} in time"),
            };
            let raw = String::from_utf8_lossy(&buf[..n]).into_owned();
            let Ok(parsed) = parse(&buf[..n], 65535) else {
                panic!("unparseable SIP from the bridge:\n{raw}")
            };
            let msg = SipMsg { parsed, raw };
            if want(&msg) {
                return (msg, from);
            }
        }
    }

    /// An INVITE from `PHONE` to `DID` at `bridge`, offering `sdp`.
    fn invite(&self, bridge: SocketAddr, sdp: &str) -> String {
        format!(
            "INVITE sip:{DID}@{bridge} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK-INVITE-1;rport\r\nFrom: \"Line check\" <sip:{PHONE}@{a}>;tag=ua1\r\nTo: <sip:{DID}@{bridge}>\r\nCall-ID: inproc-inbound@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:{PHONE}@{a}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            a = self.addr,
            len = sdp.len()
        )
    }

    /// A body-less request of ours (ACK, BYE) inside the dialog `ok` established.
    fn request(&self, method: &str, uri: &str, cseq: u32, ok: &SipMsg) -> String {
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK-{method}-{cseq};rport\r\n{from}\r\n{to}\r\n{cid}\r\nCSeq: {cseq} {method}\r\nContact: <sip:{PHONE}@{a}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            a = self.addr,
            from = ok.header("From"),
            to = ok.header("To"),
            cid = ok.header("Call-ID"),
        )
    }

    /// A response to `req` (its Vias, From, Call-ID, CSeq; our To tag).
    fn response(&self, code: &str, req: &SipMsg, body: &str) -> String {
        let ct = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        let mut to = req.header("To");
        if !to.contains("tag=") {
            to.push_str(";tag=uas1");
        }
        format!(
            "SIP/2.0 {code}\r\n{via}\r\n{from}\r\n{to}\r\n{cid}\r\n{cseq}\r\nContact: <sip:{a}>\r\n{ct}Content-Length: {len}\r\n\r\n{body}",
            via = req.headers("Via").join("\r\n"),
            from = req.header("From"),
            cid = req.header("Call-ID"),
            cseq = req.header("CSeq"),
            a = self.addr,
            len = body.len()
        )
    }
}

/// A PCMU-only SDP for the carrier's RTP socket.
fn carrier_sdp(rtp: SocketAddr) -> String {
    format!(
        "v=0\r\no=carrier 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n",
        ip = rtp.ip(),
        port = rtp.port()
    )
}

/// The carrier's RTP: sends a PCMU tone at `hz` every 20 ms to `to` and decodes the PCMU
/// that comes back into `heard`, until `stop` turns true.
async fn carrier_rtp(
    sock: UdpSocket,
    to: SocketAddr,
    hz: f64,
    heard: Arc<Mutex<Heard>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut next = Instant::now();
    let mut buf = vec![0u8; 2000];
    for seq in 0u16.. {
        if *stop.borrow() {
            return;
        }
        let mut pkt = vec![0x80, 0x00];
        pkt.extend_from_slice(&seq.to_be_bytes());
        pkt.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        pkt.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        let pcm = tone(hz, usize::from(seq) * 160, 160);
        pkt.extend(pcm.iter().map(|&x| ulaw_encode(x)));
        let _ = sock.send_to(&pkt, to).await;
        next += Duration::from_millis(20);
        while Instant::now() < next {
            tokio::select! {
                got = sock.recv_from(&mut buf) => {
                    let Ok((n, _)) = got else { continue };
                    // PCMU (PT 0) only; RTCP and events are skipped.
                    if n > 12 && buf[0] >> 6 == 2 && buf[1] & 0x7f == 0 {
                        let mut h = heard.lock().expect("lock");
                        h.codecs.push(Codec::PCMU);
                        h.pcm.extend(buf[12..n].iter().map(|&u| ulaw_decode(u)));
                    }
                }
                _ = sleep_until(next) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

/// Media running both ways; `hear` waits until both sides have heard enough.
struct Media {
    browser: Arc<Mutex<Heard>>,
    carrier: Arc<Mutex<Heard>>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Media {
    fn new() -> Media {
        Media {
            browser: Arc::default(),
            carrier: Arc::default(),
            stop: watch::channel(false).0,
            tasks: vec![],
        }
    }

    /// Starts the browser's loop (ICE, DTLS, then its tone).
    fn browser(&mut self, b: Browser) {
        let heard = Arc::clone(&self.browser);
        let task = b.run(BROWSER_HZ, heard, self.stop.subscribe());
        self.tasks.push(tokio::spawn(task));
    }

    /// Starts the carrier's RTP toward the bridge's `to`.
    fn carrier(&mut self, rtp: UdpSocket, to: SocketAddr) {
        let (heard, stop) = (Arc::clone(&self.carrier), self.stop.subscribe());
        let task = carrier_rtp(rtp, to, CARRIER_HZ, heard, stop);
        self.tasks.push(tokio::spawn(task));
    }

    /// Waits (bounded) until each side heard `HEARD` samples beyond the first half second,
    /// stops both, and returns the last `HEARD` samples each heard plus the browser's codec.
    async fn hear(self, until: Instant) -> (Vec<i16>, Vec<i16>, Codec) {
        let need = HEARD + 4000;
        let heard = |h: &Mutex<Heard>| h.lock().expect("lock").pcm.len();
        let failed = loop {
            let (b, c) = (heard(&self.browser), heard(&self.carrier));
            if b >= need && c >= need {
                break None;
            }
            if self.tasks.iter().any(|t| t.is_finished()) || Instant::now() >= until {
                break Some(format!(
                    "audio did not flow: browser heard {b} samples, carrier {c} (need {need})"
                ));
            }
            tokio::time::sleep(STEP).await;
        };
        let _ = self.stop.send(true);
        for t in self.tasks {
            // A task that panicked fails the test with its own message.
            if let Err(e) = t.await {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        if let Some(why) = failed {
            panic!("{why}");
        }
        let tail = |h: &Mutex<Heard>| {
            let h = h.lock().expect("lock");
            h.pcm[h.pcm.len() - HEARD..].to_vec()
        };
        let codec = self.browser.lock().expect("lock").codecs[0];
        (tail(&self.browser), tail(&self.carrier), codec)
    }
}

/// Both tones found where they belong, with the wrong tone refused on the same signal.
fn assert_tones(browser: &[i16], carrier: &[i16], label: &str) {
    let b = check_tone(browser, CARRIER_HZ).unwrap_or_else(|e| panic!("browser: {e}"));
    let c = check_tone(carrier, BROWSER_HZ).unwrap_or_else(|e| panic!("carrier: {e}"));
    println!(
        "{label}: browser heard peak {} Hz, {:.1} dB margin; carrier heard peak {} Hz, {:.1} dB margin",
        b.peak_hz,
        10.0 * b.margin.log10(),
        c.peak_hz,
        10.0 * c.margin.log10()
    );
    assert!((b.peak_hz - CARRIER_HZ).abs() <= 20.0, "browser peak {b:?}");
    assert!((c.peak_hz - BROWSER_HZ).abs() <= 20.0, "carrier peak {c:?}");
    assert!(
        check_tone(browser, BROWSER_HZ).is_err(),
        "browser: 440 Hz found in 1000 Hz audio"
    );
    assert!(
        check_tone(carrier, CARRIER_HZ).is_err(),
        "carrier: 1000 Hz found in 440 Hz audio"
    );
}

// ---------------------------------------------------------------------------------------
// Tests

#[test]
fn frequency_check_refuses_the_wrong_tone() {
    let a = tone(CARRIER_HZ, 0, HEARD);
    let b = tone(BROWSER_HZ, 0, HEARD);
    assert!(check_tone(&a, CARRIER_HZ).is_ok());
    assert!(check_tone(&b, BROWSER_HZ).is_ok());
    // Negative controls, one per direction: the other side's tone does not pass.
    assert!(check_tone(&a, BROWSER_HZ).is_err());
    assert!(check_tone(&b, CARRIER_HZ).is_err());
    // Through G.711 and back the tone survives; silence and noise-free zeros do not pass.
    let through: Vec<i16> = a.iter().map(|&x| ulaw_decode(ulaw_encode(x))).collect();
    assert!(check_tone(&through, CARRIER_HZ).is_ok());
    assert!(check_tone(&vec![0; HEARD], CARRIER_HZ).is_err());
}

/// The browser offers what Chromium does: the bridge answers PCMU (passthrough).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_call_rings_the_browser_and_carries_tones_both_ways() {
    let codec = inbound_call(&[Codec::Opus, Codec::PCMU], 41_000).await;
    assert_eq!(codec, Codec::PCMU);
}

/// An Opus-only browser: the bridge transcodes between Opus and the trunk's PCMU.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_call_to_an_opus_only_browser_is_transcoded() {
    let codec = inbound_call(&[Codec::Opus], 41_200).await;
    assert_eq!(codec, Codec::Opus);
}

/// The carrier calls the DID, the browser (offering `codecs`) answers, tones flow both
/// ways, the carrier hangs up. Returns the codec the browser received.
async fn inbound_call(codecs: &[Codec], media_base: u16) -> Codec {
    let d = daemon("127.0.0.1:9".parse().expect("addr"), media_base).await;
    let mut ws = Ws::login(&d).await;
    let ua = SipUa::bind().await;
    let rtp = UdpSocket::bind("127.0.0.1:0").await.expect("rtp");
    let rtp_addr = rtp.local_addr().expect("addr");

    // The carrier calls the DID.
    ua.send(d.sip(), &ua.invite(d.sip(), &carrier_sdp(rtp_addr)))
        .await;

    // The browser rings, answers with its offer, gets the bridge's answer.
    let ring = ws.expect("incomingCall", deadline(5)).await;
    assert_eq!(ring["callerId"]["number"], PHONE);
    assert_eq!(ring["to"], DID);
    let call_id = ring["callId"].as_str().expect("callId").to_owned();
    let (mut browser, offer) = Browser::offer(codecs).await;
    ws.send(json!({"type": "answer", "callId": call_id, "sdp": offer}))
        .await;
    let answer = ws.expect("sdp", deadline(5)).await;
    browser.accept(answer["sdp"].as_str().expect("sdp"));

    // ICE/DTLS run while the carrier waits for 180 then 200, ACKs and starts its RTP.
    let mut media = Media::new();
    media.browser(browser);
    let until = deadline(10);
    let (ringing, _) = ua
        .recv("180", until, |m| m.status().is_some_and(|s| s >= 180))
        .await;
    assert_eq!(ringing.status(), Some(180), "{}", ringing.raw);
    let (ok, _) = ua.recv("200", until, |m| m.status() == Some(200)).await;
    assert!(
        ok.raw.contains("PCMU/8000"),
        "200 does not answer PCMU:\n{}",
        ok.raw
    );
    let uri = format!("sip:{DID}@{}", d.sip());
    ua.send(d.sip(), &ua.request("ACK", &uri, 1, &ok)).await;
    media.carrier(rtp, ok.media_addr());

    let (browser_pcm, carrier_pcm, codec) = media.hear(deadline(10)).await;
    assert_tones(
        &browser_pcm,
        &carrier_pcm,
        &format!("inbound, browser received {codec:?}"),
    );
    ws.wait_state("Connected", deadline(5)).await;

    // The carrier hangs up.
    ua.send(d.sip(), &ua.request("BYE", &uri, 2, &ok)).await;
    let (bye_ok, _) = ua
        .recv("200 to BYE", deadline(5), |m| {
            m.status().is_some() && m.header("CSeq").contains("BYE")
        })
        .await;
    assert_eq!(bye_ok.status(), Some(200), "{}", bye_ok.raw);
    let ended = ws.expect("callEnded", deadline(5)).await;
    assert_eq!(ended["callId"], call_id.as_str());
    assert_eq!(ended["callEndReason"], json!({"code": 0, "subCode": 1}));
    d.stop().await;
    codec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_call_from_the_browser_reaches_the_carrier_and_carries_tones_both_ways() {
    let uas = SipUa::bind().await;
    let d = daemon(uas.addr, 41_100).await;
    let mut ws = Ws::login(&d).await;
    let rtp = UdpSocket::bind("127.0.0.1:0").await.expect("rtp");
    let rtp_addr = rtp.local_addr().expect("addr");

    // The browser dials; the bridge accepts and answers its offer at once.
    let (mut browser, offer) = Browser::offer(&[Codec::Opus, Codec::PCMU]).await;
    let start = json!({"type": "startPhoneCall", "requestId": "r1", "number": PHONE, "sdp": offer});
    ws.send(start).await;
    let accepted = ws.expect("callAccepted", deadline(5)).await;
    assert_eq!(accepted["requestId"], "r1");
    let call_id = accepted["callId"].as_str().expect("callId").to_owned();
    let answer = ws.expect("sdp", deadline(5)).await;
    assert_eq!(answer["callId"], call_id.as_str());
    browser.accept(answer["sdp"].as_str().expect("sdp"));
    let mut media = Media::new();
    media.browser(browser);

    // The carrier's UAS rings, answers with PCMU, gets the ACK, starts its RTP.
    let is = |m: rsip::Method| move |msg: &SipMsg| msg.method() == Some(m);
    let (invite, bridge) = uas
        .recv("INVITE", deadline(5), is(rsip::Method::Invite))
        .await;
    assert!(invite.header("To").contains(PHONE), "{}", invite.raw);
    assert!(
        invite.raw.contains("PCMU/8000"),
        "no PCMU offered:\n{}",
        invite.raw
    );
    uas.send(bridge, &uas.response("180 Ringing", &invite, ""))
        .await;
    ws.wait_state("Ringing", deadline(5)).await;
    let ok = uas.response("200 OK", &invite, &carrier_sdp(rtp_addr));
    uas.send(bridge, &ok).await;
    uas.recv("ACK", deadline(5), is(rsip::Method::Ack)).await;
    media.carrier(rtp, invite.media_addr());
    ws.wait_state("Connected", deadline(5)).await;

    let (browser_pcm, carrier_pcm, codec) = media.hear(deadline(10)).await;
    assert_eq!(codec, Codec::PCMU);
    assert_tones(
        &browser_pcm,
        &carrier_pcm,
        "outbound, browser received PCMU",
    );

    // The browser hangs up: the carrier gets a BYE.
    ws.send(json!({"type": "hangUp", "callId": call_id})).await;
    let (bye, from) = uas.recv("BYE", deadline(5), is(rsip::Method::Bye)).await;
    uas.send(from, &uas.response("200 OK", &bye, "")).await;
    let ended = ws.expect("callEnded", deadline(5)).await;
    assert_eq!(ended["callId"], call_id.as_str());
    assert_eq!(ended["callEndReason"], json!({"code": 0, "subCode": 0}));
    println!(
        "outbound: states {:?}, ended {}",
        ws.states(),
        ended["callEndReason"]
    );
    d.stop().await;
}
