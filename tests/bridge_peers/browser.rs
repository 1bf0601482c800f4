//! The browser: a str0m offerer on a real UDP socket, driven in real time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use audiopus::coder::{Decoder, Encoder};
use audiopus::{Application, Channels, MutSignals, SampleRate, packet::Packet};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use super::tone::{tone, ulaw_decode, ulaw_encode};
use super::{Heard, STEP};

pub struct Browser {
    rtc: Rtc,
    sock: UdpSocket,
    mid: Mid,
    pending: Option<SdpPendingOffer>,
}

impl Browser {
    /// A browser offering `codecs` (Opus and/or PCMU, in that order) and telephone-event;
    /// returns it and its offer.
    pub async fn offer(codecs: &[Codec]) -> (Browser, String) {
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

    pub fn accept(&mut self, answer: &str) {
        let answer = SdpAnswer::from_sdp_string(answer).expect("answer parses");
        let pending = self.pending.take().expect("one offer");
        let api = self.rtc.sdp_api();
        api.accept_answer(pending, answer).expect("answer accepted");
    }

    /// The codec the browser sends: the first of the answer's payload types.
    pub fn send_codec(&self) -> (str0m::media::Pt, Codec) {
        let first = self.rtc.media(self.mid).expect("mid").remote_pts()[0];
        let params = self.rtc.codec_config().iter().find(|p| p.pt() == first);
        (first, params.expect("known pt").spec().codec)
    }

    /// Runs ICE/DTLS, then sends a `hz` tone every 20 ms and decodes what arrives into
    /// `heard`, until `stop` turns true.
    pub async fn run(mut self, hz: f64, heard: Arc<Mutex<Heard>>, mut stop: watch::Receiver<bool>) {
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
pub struct Voice {
    enc: Encoder,
    dec: Decoder,
}

impl Voice {
    pub fn new() -> Voice {
        Voice {
            enc: Encoder::new(SampleRate::Hz8000, Channels::Mono, Application::Voip)
                .expect("opus encoder"),
            dec: Decoder::new(SampleRate::Hz8000, Channels::Mono).expect("opus decoder"),
        }
    }

    /// One frame of `pcm` starting at sample `at` (8 kHz): payload and RTP time.
    pub fn encode(&self, codec: Codec, pcm: &[i16], at: usize) -> (Vec<u8>, MediaTime) {
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
    pub fn decode(&mut self, codec: Codec, data: &[u8]) -> Option<Vec<i16>> {
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
