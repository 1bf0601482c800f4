//! [`WebRtcPeer`]: one browser's `RTCPeerConnection`, answered by one `str0m::Rtc`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::SdpOffer;
use str0m::config::DtlsVersion;
use str0m::format::{CodecExtra, FormatParams, PayloadParams};
use str0m::media::{Frequency, MediaData, MediaTime, Mid, Pt, TelephoneEvent};
use str0m::net::{Protocol, Receive};
use str0m::rtp::Extension;
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

use super::types::{AudioFrame, Codec, DisconnectReason, DtmfEvent, PeerConfig, PeerEvent};
use super::{PeerOutput, Transmit, WebRtcError};

/// Telephone-event payload types we offer; str0m remaps them to the browser's.
const PT_TELE_8K: u8 = 101;
const PT_TELE_48K: u8 = 126;

/// Our ID for the mid header extension (str0m's and Chromium's; the offer's ID wins).
const AUDIO_MID_EXT_ID: u8 = 4;

/// Already-due timeouts handled in a row inside `poll_output` before one is reported.
const MAX_DUE_HANDLED: u32 = 4;

/// One call's WebRTC peer. See the module documentation for the model.
pub struct WebRtcPeer {
    rtc: Rtc,
    /// Our host candidate: the advertised address of the shared socket.
    local: SocketAddr,
    /// The audio m-line.
    mid: Mid,
    negotiated: Codec,
    connected: bool,
    /// `Disconnected` was reported; nothing more will be.
    ended: bool,
    /// Why the peer is ending, once known, reported when str0m's output is drained.
    ending: Option<DisconnectReason>,
    /// Latest time seen, for the timeout reported after the end.
    last_now: Instant,
    /// Already-due timeouts handled since the last one reported (see `poll_output`).
    due_handled: u32,
    /// Start time (RTP timestamp) and whether the end was reported, of the last DTMF event.
    last_dtmf: Option<(u64, bool)>,
}

impl std::fmt::Debug for WebRtcPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcPeer")
            .field("local", &self.local)
            .field("mid", &self.mid)
            .field("negotiated", &self.negotiated)
            .field("connected", &self.connected)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl WebRtcPeer {
    /// Answers a browser's (non-trickle) offer: ICE-lite, our host candidate, DTLS-SRTP, the
    /// configured codecs. Returns the peer and the answer SDP.
    pub fn answer(
        now: Instant,
        offer_sdp: &str,
        cfg: &PeerConfig,
    ) -> Result<(WebRtcPeer, String), WebRtcError> {
        let offer = SdpOffer::from_sdp_string(offer_sdp)?;
        let mid = offer
            .media_lines
            .iter()
            .find(|m| m.rtp_params().iter().any(|p| p.spec().codec.is_audio()))
            .map(|m| m.mid())
            .ok_or(WebRtcError::NoAudio)?;

        // DTLS 1.2 is what Chromium was verified with (str0m's default, made explicit).
        // Audio only, forwarded as it comes: of the RTP header extensions only the mid
        // (transport-cc would add TWCC bookkeeping and a feedback packet every 50 ms per
        // call, for a bandwidth estimate nobody reads).
        let mut builder = Rtc::builder()
            .set_ice_lite(true)
            .set_dtls_version(DtlsVersion::Dtls12)
            .clear_extension_map()
            .set_extension(AUDIO_MID_EXT_ID, Extension::RtpMid)
            .clear_codecs();
        if let Some(cert) = super::certificate::for_call(now) {
            builder = builder.set_dtls_cert(cert);
        }
        for codec in &cfg.codecs {
            builder = match codec {
                Codec::Opus => builder.enable_opus(true, false),
                Codec::Pcmu => builder.enable_pcmu(true, false),
                Codec::Pcma => builder.enable_pcma(true, false),
            };
        }
        if cfg.telephone_event {
            let params = builder.codec_config();
            for (pt, rate) in [
                (PT_TELE_48K, Frequency::FORTY_EIGHT_KHZ),
                (PT_TELE_8K, Frequency::EIGHT_KHZ),
            ] {
                let format = FormatParams::parse_line("0-15");
                params.add_config(
                    pt.into(),
                    None,
                    str0m::format::Codec::Tele,
                    rate,
                    None,
                    format,
                );
            }
        }
        let mut rtc = builder.build(now);
        rtc.add_local_candidate(Candidate::host(cfg.host, "udp")?);
        let answer = rtc.sdp_api().accept_offer(offer)?;

        let mut peer = WebRtcPeer {
            rtc,
            local: cfg.host,
            mid,
            negotiated: Codec::Opus,
            connected: false,
            ended: false,
            ending: None,
            last_now: now,
            due_handled: 0,
            last_dtmf: None,
        };
        let negotiated = peer
            .audio_params()
            .find_map(|p| Codec::from_str0m(p.spec().codec))
            .ok_or(WebRtcError::NoCommonCodec)?;
        peer.negotiated = negotiated;
        let mut sdp = answer.to_sdp_string();
        if let Some(pt) = peer.pt_for(Codec::Opus) {
            sdp = opus_narrowband(&sdp, *pt);
        }
        Ok((peer, sdp))
    }

    /// The codec the browser sends (the first of ours it accepted). Always `Some` after
    /// [`Self::answer`] succeeded; kept optional for a future renegotiation.
    pub fn negotiated_codec(&self) -> Option<Codec> {
        Some(self.negotiated)
    }

    /// Payload params (local PT, remapped to the browser's) negotiated on the audio m-line, in
    /// our order of preference.
    fn audio_params(&self) -> impl Iterator<Item = &PayloadParams> {
        let remote = self
            .rtc
            .media(self.mid)
            .filter(|m| !m.disabled())
            .map(|m| m.remote_pts())
            .unwrap_or(&[]);
        self.rtc
            .codec_config()
            .iter()
            .filter(move |p| remote.contains(&p.pt()))
    }

    fn pt_for(&self, codec: Codec) -> Option<Pt> {
        let c = codec.to_str0m();
        self.audio_params()
            .find(|p| p.spec().codec == c)
            .map(|p| p.pt())
    }

    /// Is this datagram from the shared socket ours? STUN is recognised by our ICE ufrag,
    /// DTLS and SRTP by the browser's address. Garbage is nobody's.
    pub fn accepts(&self, source: SocketAddr, datagram: &[u8]) -> bool {
        if self.ended {
            return false;
        }
        match Receive::new(Protocol::Udp, source, self.local, datagram) {
            Ok(r) => self.rtc.accepts(&Input::Receive(self.last_now, r)),
            Err(_) => false,
        }
    }

    /// Feeds a datagram received on the shared socket. `destination` is where it arrived;
    /// str0m sees it addressed to our advertised candidate (the socket may be bound to an
    /// unspecified or private address behind a 1:1 NAT).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), WebRtcError> {
        self.last_now = now;
        if destination.port() != self.local.port() {
            tracing::debug!(%destination, local = %self.local, "datagram for another port");
        }
        let r = Receive::new(Protocol::Udp, source, self.local, datagram)?;
        self.rtc.handle_input(Input::Receive(now, r))?;
        Ok(())
    }

    /// Advances time (at the latest when `Timeout` said so).
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), WebRtcError> {
        self.last_now = now;
        self.rtc.handle_input(Input::Timeout(now))?;
        Ok(())
    }

    /// Sends one encoded audio frame (20 ms: 160 G.711 bytes or one Opus packet).
    /// `rtp_time` is in `codec.clock_rate()` units and must advance with the audio.
    pub fn send_audio(
        &mut self,
        now: Instant,
        codec: Codec,
        rtp_time: u64,
        payload: &[u8],
    ) -> Result<(), WebRtcError> {
        let pt = self.writable(codec)?;
        let time = MediaTime::new(rtp_time, frequency(codec));
        self.last_now = now;
        let writer = self.rtc.writer(self.mid).ok_or(WebRtcError::Closed)?;
        writer.write(pt, now, time, payload)?;
        Ok(())
    }

    /// Sends an RFC 4733 event (`event` 0-15) of `duration` starting at `rtp_time` of the
    /// audio stream in `codec`; str0m paces the packets (re-send the end three times).
    pub fn send_dtmf(
        &mut self,
        now: Instant,
        codec: Codec,
        rtp_time: u64,
        event: u8,
        duration: Duration,
    ) -> Result<(), WebRtcError> {
        if event > 15 {
            return Err(WebRtcError::InvalidDtmf(event));
        }
        let pt = self.writable(codec)?;
        let time = MediaTime::new(rtp_time, frequency(codec));
        let tele = TelephoneEvent {
            event,
            end: true,
            volume: 10,
            duration,
        };
        self.last_now = now;
        let writer = self.rtc.writer(self.mid).ok_or(WebRtcError::Closed)?;
        writer.telephone_event(tele).write(pt, now, time, &[][..])?;
        Ok(())
    }

    fn writable(&self, codec: Codec) -> Result<Pt, WebRtcError> {
        if self.ended || self.ending.is_some() || !self.rtc.is_alive() {
            return Err(WebRtcError::Closed);
        }
        if !self.connected {
            return Err(WebRtcError::NotConnected);
        }
        self.pt_for(codec)
            .ok_or(WebRtcError::CodecNotNegotiated(codec))
    }

    /// Closes: RTCP BYE and DTLS close_notify go out, then `Disconnected(LocalClosed)`.
    pub fn close(&mut self) {
        if self.ending.is_none() && !self.ended {
            self.ending = Some(DisconnectReason::LocalClosed);
        }
        if let Err(e) = self.rtc.close() {
            tracing::debug!(error = %e, "closing the peer");
            self.rtc.disconnect();
        }
    }

    /// Whether ICE and DTLS are up and the peer has not ended.
    pub fn is_connected(&self) -> bool {
        self.connected && !self.ended
    }

    /// Next output; drain until `Timeout` after every input. After `Disconnected` it only
    /// returns a distant `Timeout`: drop the peer.
    pub fn poll_output(&mut self) -> PeerOutput {
        loop {
            if self.ended {
                return PeerOutput::Timeout(self.last_now + Duration::from_secs(3600));
            }
            if !self.rtc.is_alive() {
                self.ended = true;
                let reason = self.ending.unwrap_or(DisconnectReason::Failed);
                return PeerOutput::Event(PeerEvent::Disconnected(reason));
            }
            let out = match self.rtc.poll_output() {
                Ok(out) => out,
                Err(e) => {
                    tracing::debug!(error = %e, "webrtc peer failed");
                    self.ending.get_or_insert(DisconnectReason::Failed);
                    self.rtc.disconnect();
                    continue;
                }
            };
            match out {
                Output::Timeout(t) => {
                    if self.ending.is_some() && self.stop_if_nothing_to_drain() {
                        continue;
                    }
                    // str0m packetizes written media on its next timeout, which it reports
                    // as already due: handled here, it costs the owner no timer wake-up.
                    if t <= self.last_now && self.due_handled < MAX_DUE_HANDLED {
                        self.due_handled += 1;
                        if let Err(e) = self.rtc.handle_input(Input::Timeout(self.last_now)) {
                            tracing::debug!(error = %e, "webrtc timeout failed");
                        }
                        continue;
                    }
                    self.due_handled = 0;
                    return PeerOutput::Timeout(t);
                }
                Output::Transmit(t) => {
                    return PeerOutput::Transmit(Transmit {
                        source: t.source,
                        destination: t.destination,
                        bytes: t.contents.into(),
                    });
                }
                Output::Event(e) => {
                    if let Some(ev) = self.on_event(e) {
                        return PeerOutput::Event(ev);
                    }
                }
            }
        }
    }

    /// After ICE loss or a failure nobody can hear a goodbye: stop now. (Closes, local or
    /// remote, end by themselves once str0m has sent its BYE and close_notify.)
    fn stop_if_nothing_to_drain(&mut self) -> bool {
        match self.ending {
            Some(DisconnectReason::IceLost) | Some(DisconnectReason::Failed) => {
                self.rtc.disconnect();
                true
            }
            _ => false,
        }
    }

    fn on_event(&mut self, e: Event) -> Option<PeerEvent> {
        match e {
            Event::Connected => {
                self.connected = true;
                Some(PeerEvent::Connected)
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.ending.get_or_insert(DisconnectReason::IceLost);
                None
            }
            Event::Closed => {
                self.ending.get_or_insert(DisconnectReason::RemoteClosed);
                None
            }
            Event::MediaData(data) if data.mid == self.mid => self.on_media(data),
            _ => None,
        }
    }

    fn on_media(&mut self, data: MediaData) -> Option<PeerEvent> {
        if let CodecExtra::Tele(t) = data.codec_extra {
            return self.on_dtmf(t, data.time.numer());
        }
        let codec = Codec::from_str0m(data.params.spec().codec)?;
        Some(PeerEvent::Audio(AudioFrame {
            codec,
            pt: *data.pt,
            rtp_time: data.time.numer(),
            seq: **data.seq_range.start(),
            payload: data.data,
        }))
    }

    /// Folds RFC 4733 repeats: one report at the start, one at the end of each event.
    fn on_dtmf(&mut self, t: TelephoneEvent, rtp_time: u64) -> Option<PeerEvent> {
        let report = match self.last_dtmf {
            Some((start, true)) if start == rtp_time => false,
            Some((start, false)) if start == rtp_time => t.end,
            _ => true,
        };
        if !report {
            return None;
        }
        self.last_dtmf = Some((rtp_time, t.end));
        Some(PeerEvent::Dtmf(DtmfEvent {
            event: t.event,
            end: t.end,
            volume: t.volume,
            duration: t.duration,
            rtp_time,
        }))
    }
}

/// Tells the browser that Opus toward us is played out and captured at 8 kHz (RFC 7587
/// `maxplaybackrate`, `sprop-maxcapturerate`): the other leg is the 8 kHz PSTN, so wider
/// audio would be thrown away after costing bandwidth and decoding time. Browsers then encode
/// narrowband (Chromium also lowers its default bitrate, 32 to 12 kbit/s). str0m keeps no
/// fmtp keys it does not know, so the parameters are added to the answer's text.
pub(super) fn opus_narrowband(sdp: &str, pt: u8) -> String {
    const NARROWBAND: &str = "maxplaybackrate=8000;sprop-maxcapturerate=8000";
    let fmtp = format!("a=fmtp:{pt} ");
    let rtpmap = format!("a=rtpmap:{pt} ");
    let has_fmtp = sdp.lines().any(|l| l.starts_with(fmtp.as_str()));
    let mut out = String::with_capacity(sdp.len() + 64);
    for line in sdp.split_inclusive('\n') {
        if let Some(params) = line.strip_prefix(fmtp.as_str()) {
            let params = params.trim_end();
            if params.contains("maxplaybackrate") {
                out.push_str(line);
            } else {
                out.push_str(&format!("{fmtp}{params};{NARROWBAND}\r\n"));
            }
            continue;
        }
        out.push_str(line);
        if !has_fmtp && line.starts_with(rtpmap.as_str()) {
            out.push_str(&format!("{fmtp}{NARROWBAND}\r\n"));
        }
    }
    out
}

fn frequency(codec: Codec) -> Frequency {
    match codec {
        Codec::Opus => Frequency::FORTY_EIGHT_KHZ,
        Codec::Pcmu | Codec::Pcma => Frequency::EIGHT_KHZ,
    }
}
