//! A simulated browser: a str0m offerer on its own UDP socket, sending pre-encoded frames
//! and recording what it receives.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::{Codec, FormatParams};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;

use super::stats::RxStats;

/// What driving the peer turned up.
#[derive(Default)]
pub struct Drive {
    pub connected: bool,
    pub first_media: bool,
    pub ice_lost: bool,
}

pub struct Peer {
    rtc: Rtc,
    pub sock: UdpSocket,
    local: SocketAddr,
    mid: Mid,
    pending: Option<SdpPendingOffer>,
    send: Option<(Pt, Codec)>,
    pub rx: RxStats,
}

impl Peer {
    /// A peer on `ip` offering `codec` and telephone-event; returns it and its offer.
    pub async fn offer(ip: IpAddr, codec: Codec) -> Result<(Peer, String), String> {
        let sock = UdpSocket::bind((ip, 0))
            .await
            .map_err(|e| format!("endpoint socket: {e}"))?;
        let local = sock.local_addr().map_err(|e| e.to_string())?;
        let mut b = Rtc::builder()
            .set_ice_lite(false)
            .clear_codecs()
            .enable_opus(codec == Codec::Opus, false)
            .enable_pcmu(codec == Codec::PCMU, false);
        let events = FormatParams::parse_line("0-15");
        b.codec_config().add_config(
            126.into(),
            None,
            Codec::Tele,
            Frequency::EIGHT_KHZ,
            None,
            events,
        );
        let mut rtc = b.build(Instant::now());
        let cand = Candidate::host(local, "udp").map_err(|e| e.to_string())?;
        rtc.add_local_candidate(cand);
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = api.apply().ok_or("no offer")?;
        let peer = Peer {
            rtc,
            sock,
            local,
            mid,
            pending: Some(pending),
            send: None,
            rx: RxStats::default(),
        };
        Ok((peer, offer.to_sdp_string()))
    }

    /// Applies the bridge's answer; the first payload type it lists is what we send.
    pub fn accept(&mut self, answer: &str) -> Result<(), String> {
        let answer = SdpAnswer::from_sdp_string(answer).map_err(|e| format!("answer: {e}"))?;
        let pending = self.pending.take().ok_or("second answer")?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| format!("answer refused: {e}"))?;
        let media = self.rtc.media(self.mid).ok_or("no audio")?;
        let first = *media.remote_pts().first().ok_or("no payload type")?;
        let params = self.rtc.codec_config().iter().find(|p| p.pt() == first);
        let codec = params.ok_or("unknown payload type")?.spec().codec;
        self.send = Some((first, codec));
        Ok(())
    }

    /// Runs str0m until it wants time to pass; returns when it next wants to be woken.
    /// A timeout already due (str0m packetizes a written frame on its next timeout) is
    /// handled at once, a few times at most, instead of costing a timer wake-up.
    pub fn drive(&mut self, out: &mut Drive) -> Result<Instant, String> {
        let now = Instant::now();
        let mut due_now = 0;
        loop {
            match self.rtc.poll_output().map_err(|e| format!("webrtc: {e}"))? {
                Output::Transmit(t) => {
                    let _ = self.sock.try_send_to(&t.contents, t.destination);
                }
                Output::Timeout(t) if t <= now && due_now < 4 => {
                    due_now += 1;
                    let _ = self.rtc.handle_input(Input::Timeout(now));
                }
                Output::Timeout(t) => return Ok(t),
                Output::Event(Event::Connected) => out.connected = true,
                Output::Event(Event::MediaData(d)) => {
                    if self.rx.received == 0 {
                        out.first_media = true;
                    }
                    let seq = **d.seq_range.end();
                    self.rx.record(seq, d.time.as_seconds(), d.network_time);
                }
                Output::Event(Event::IceConnectionStateChange(
                    IceConnectionState::Disconnected,
                )) => out.ice_lost = true,
                Output::Event(_) => {}
            }
        }
    }

    /// A datagram that arrived on the peer's socket.
    pub fn receive(&mut self, from: SocketAddr, data: &[u8]) {
        let Ok(r) = Receive::new(Protocol::Udp, from, self.local, data) else {
            return;
        };
        let _ = self.rtc.handle_input(Input::Receive(Instant::now(), r));
    }

    pub fn tick(&mut self) {
        let _ = self.rtc.handle_input(Input::Timeout(Instant::now()));
    }

    /// Sends frame number `n` (20 ms each) taken from `pcmu` or `opus`.
    pub fn send_frame(&mut self, n: u64, pcmu: &[u8], opus: &[u8]) {
        let Some((pt, codec)) = self.send else { return };
        let (payload, time) = match codec {
            Codec::Opus => (opus, MediaTime::new(n * 960, Frequency::FORTY_EIGHT_KHZ)),
            _ => (pcmu, MediaTime::new(n * 160, Frequency::EIGHT_KHZ)),
        };
        if let Some(w) = self.rtc.writer(self.mid) {
            let _ = w.write(pt, Instant::now(), time, payload);
        }
    }

    pub fn close(&mut self) {
        self.rtc.disconnect();
    }
}
