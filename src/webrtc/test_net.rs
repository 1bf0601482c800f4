//! Test harness: a str0m `Rtc` plays the browser (offerer, full ICE, host candidate), the
//! adapter answers; datagrams are shuttled between them on a simulated network with a manual
//! clock. Loops are bounded; nothing is timed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::{Codec as SCodec, CodecExtra};
use str0m::media::{
    Direction, Frequency, MediaData, MediaKind, MediaTime, Mid, Pt, TelephoneEvent,
};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

use super::*;

pub(super) const BRIDGE: &str = "198.51.100.1:40000";
const STEP: Duration = Duration::from_millis(5);

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

/// The simulated browser: a full-ICE str0m offerer.
pub(super) struct Browser {
    pub rtc: Rtc,
    pub addr: SocketAddr,
    pub mid: Mid,
    pub events: Vec<Event>,
    pending: Option<SdpPendingOffer>,
}

impl Browser {
    /// A browser offering `codecs` (Chromium's order is Opus, ..., PCMU, PCMA) and
    /// telephone-event, from host candidate `addr`. Returns it and its offer SDP.
    pub fn offer(now: Instant, addr: SocketAddr, codecs: &[SCodec]) -> (Browser, String) {
        let mut b = Rtc::builder().clear_codecs();
        for c in codecs {
            b = match c {
                SCodec::Opus => b.enable_opus(true, false),
                SCodec::PCMU => b.enable_pcmu(true, false),
                SCodec::PCMA => b.enable_pcma(true, false),
                other => panic!("unused codec {other:?}"),
            };
        }
        for (pt, rate) in [
            (126u8, Frequency::FORTY_EIGHT_KHZ),
            (110, Frequency::EIGHT_KHZ),
        ] {
            let f = str0m::format::FormatParams::parse_line("0-15");
            b.codec_config()
                .add_config(pt.into(), None, SCodec::Tele, rate, None, f);
        }
        let mut rtc = b.build(now);
        let cand = Candidate::host(addr, "udp").expect("candidate");
        rtc.add_local_candidate(cand);
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = api.apply().expect("offer");
        let b = Browser {
            rtc,
            addr,
            mid,
            events: vec![],
            pending: Some(pending),
        };
        (b, offer.to_sdp_string())
    }

    pub fn accept(&mut self, answer: &str) {
        let answer = SdpAnswer::from_sdp_string(answer).expect("answer parses");
        let pending = self.pending.take().expect("one offer");
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .expect("answer accepted");
    }

    pub fn pt(&self, codec: SCodec) -> Pt {
        let remote = self.rtc.media(self.mid).expect("mid").remote_pts();
        self.rtc
            .codec_config()
            .iter()
            .find(|p| p.spec().codec == codec && remote.contains(&p.pt()))
            .map(|p| p.pt())
            .expect("negotiated")
    }

    pub fn send(&mut self, now: Instant, codec: SCodec, rtp: u64, data: &[u8]) {
        let pt = self.pt(codec);
        let rate = Frequency::new(codec_rate(codec)).expect("rate");
        let w = self.rtc.writer(self.mid).expect("writer");
        w.write(pt, now, MediaTime::new(rtp, rate), data)
            .expect("browser write");
    }

    pub fn send_dtmf(&mut self, now: Instant, rtp: u64, event: u8) {
        let pt = self.pt(SCodec::Opus);
        let tele = TelephoneEvent {
            event,
            end: true,
            volume: 10,
            duration: Duration::from_millis(100),
        };
        let time = MediaTime::new(rtp, Frequency::FORTY_EIGHT_KHZ);
        let w = self.rtc.writer(self.mid).expect("writer");
        w.telephone_event(tele)
            .write(pt, now, time, &[][..])
            .expect("dtmf write");
    }

    pub fn media(&self) -> Vec<&MediaData> {
        let audio = |d: &&MediaData| !matches!(d.codec_extra, CodecExtra::Tele(_));
        self.media_all().into_iter().filter(audio).collect()
    }

    pub fn media_all(&self) -> Vec<&MediaData> {
        fn data(e: &Event) -> Option<&MediaData> {
            match e {
                Event::MediaData(d) => Some(d),
                _ => None,
            }
        }
        self.events.iter().filter_map(data).collect()
    }
}

fn codec_rate(codec: SCodec) -> u32 {
    if codec == SCodec::Opus { 48_000 } else { 8_000 }
}

/// One bridge peer with what it reported.
pub(super) struct Bridge {
    pub peer: WebRtcPeer,
    pub events: Vec<PeerEvent>,
}

impl Bridge {
    pub fn audio(&self) -> Vec<&AudioFrame> {
        fn audio(e: &PeerEvent) -> Option<&AudioFrame> {
            match e {
                PeerEvent::Audio(f) => Some(f),
                _ => None,
            }
        }
        self.events.iter().filter_map(audio).collect()
    }

    pub fn connected(&self) -> bool {
        self.events.contains(&PeerEvent::Connected)
    }

    pub fn disconnected(&self) -> Option<DisconnectReason> {
        self.events.iter().find_map(|e| match e {
            PeerEvent::Disconnected(r) => Some(*r),
            _ => None,
        })
    }
}

/// Browsers and bridge peers on one simulated network; all bridge peers share `BRIDGE`.
pub(super) struct Net {
    pub now: Instant,
    pub browsers: Vec<Browser>,
    pub bridges: Vec<Bridge>,
    /// Datagrams from browsers that went to a bridge peer: (browser index, peer index).
    pub routed: Vec<(usize, Option<usize>)>,
    /// Deliver datagrams (false: the network is cut).
    pub up: bool,
}

impl Net {
    pub fn new(now: Instant) -> Net {
        Net {
            now,
            browsers: vec![],
            bridges: vec![],
            routed: vec![],
            up: true,
        }
    }

    /// Offers from a new browser at `from`, answered with `cfg`.
    pub fn call(&mut self, from: &str, codecs: &[SCodec], cfg: &PeerConfig) -> usize {
        let (mut b, offer) = Browser::offer(self.now, addr(from), codecs);
        let (peer, answer) = WebRtcPeer::answer(self.now, &offer, cfg).expect("answered");
        b.accept(&answer);
        self.browsers.push(b);
        self.bridges.push(Bridge {
            peer,
            events: vec![],
        });
        self.bridges.len() - 1
    }

    /// Drains every side's output, delivering datagrams, then advances the clock one step.
    pub fn step(&mut self) {
        for i in 0..self.browsers.len() {
            self.drain_browser(i);
        }
        for i in 0..self.bridges.len() {
            self.drain_bridge(i);
        }
        self.now += STEP;
        for b in &mut self.browsers {
            b.rtc.handle_input(Input::Timeout(self.now)).expect("tick");
        }
        for p in &mut self.bridges {
            p.peer.handle_timeout(self.now).expect("tick");
        }
    }

    fn drain_browser(&mut self, i: usize) {
        for _ in 0..10_000 {
            match self.browsers[i].rtc.poll_output().expect("browser output") {
                Output::Timeout(_) => return,
                Output::Event(e) => self.browsers[i].events.push(e),
                Output::Transmit(t) => {
                    if !self.up {
                        continue;
                    }
                    let target = self.bridges.iter().position(|p| {
                        let ours = p.peer.accepts(t.source, &t.contents);
                        ours && t.destination == addr(BRIDGE)
                    });
                    self.routed.push((i, target));
                    if let Some(j) = target {
                        let peer = &mut self.bridges[j].peer;
                        peer.handle_datagram(self.now, t.source, t.destination, &t.contents)
                            .expect("bridge input");
                    }
                }
            }
        }
        panic!("browser output does not settle");
    }

    fn drain_bridge(&mut self, j: usize) {
        for _ in 0..10_000 {
            match self.bridges[j].peer.poll_output() {
                PeerOutput::Timeout(_) => return,
                PeerOutput::Event(e) => self.bridges[j].events.push(e),
                PeerOutput::Transmit(t) => {
                    assert_eq!(t.source, addr(BRIDGE));
                    let Some(b) = self.browsers.iter_mut().find(|b| b.addr == t.destination) else {
                        panic!("datagram to nowhere: {}", t.destination);
                    };
                    if !self.up {
                        continue;
                    }
                    let r = Receive::new(Protocol::Udp, t.source, t.destination, &t.bytes)
                        .expect("bridge sends valid datagrams");
                    b.rtc.handle_input(Input::Receive(self.now, r)).expect("in");
                }
            }
        }
        panic!("bridge output does not settle");
    }

    /// Steps until every pair reports connected on both sides (bounded).
    pub fn connect(&mut self) {
        for _ in 0..2_000 {
            let browsers = self.browsers.iter().all(|b| b.rtc.is_connected());
            if browsers && self.bridges.iter().all(Bridge::connected) {
                return;
            }
            self.step();
        }
        panic!("did not connect");
    }

    /// Steps `n` times.
    pub fn run(&mut self, n: usize) {
        for _ in 0..n {
            self.step();
        }
    }
}

pub(super) fn cfg() -> PeerConfig {
    PeerConfig::new(addr(BRIDGE))
}

pub(super) const CHROME: [SCodec; 3] = [SCodec::Opus, SCodec::PCMU, SCodec::PCMA];

/// A frame payload that differs per frame (and per stream, by `tag`).
pub(super) fn frame(tag: u8, i: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|k| tag ^ (i as u8).wrapping_add(k as u8))
        .collect()
}
