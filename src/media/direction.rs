//! One direction of a call's media: receive tracking, jitter buffer, decode,
//! concealment, encode (or passthrough), DTMF relay and the outgoing stream.

use std::time::{Duration, Instant};

use super::MediaError;
use super::codec::{Codec, Decoder, Encoder, FRAME_SAMPLES, MAX_DECODED};
use super::config::{MediaConfig, SideCodec};
use super::dtmf::{DtmfOut, DtmfPayload, DtmfRelay, Finished};
use super::dtmf_gen::DtmfGen;
use super::jitter::{JitterBuffer, JitterConfig, Pop, SLOT_BYTES};
use super::output::{EventQueue, Kind, MediaEvent, OutQueue, Side};
use super::rtp::{self, RtpHeader};
use super::stats::{Arrival, RxTracker};
use super::stream::TxStream;

/// Concealed frames in a row after which an idle source stops producing output.
const MAX_CONCEAL_RUN: u32 = 5;

/// Static payload type of comfort noise (RFC 3389), ignored.
const PT_CN: u8 = 13;

/// A received packet, from either side.
#[derive(Debug, Clone, Copy)]
pub(super) struct InPacket<'a> {
    pub hdr: RtpHeader,
    pub payload: &'a [u8],
    /// Arrival time in the input clock's units (for jitter).
    pub arrival: u32,
}

pub(super) struct Direction {
    from: Side,
    to: Side,
    inp: SideCodec,
    outp: SideCodec,
    passthrough: bool,
    pub rx: RxTracker,
    pub jb: JitterBuffer,
    dec: Decoder,
    enc: Encoder,
    pcm: Box<[i16; MAX_DECODED + FRAME_SAMPLES]>,
    pcm_len: usize,
    scratch: Box<[u8; SLOT_BYTES]>,
    pub tx: TxStream,
    dtmf: DtmfRelay,
    dtmf_gen: DtmfGen,
    conceal_run: u32,
    pub concealed: u64,
    pub digits: u64,
}

impl Direction {
    /// The direction whose input comes from `from`.
    pub fn new(from: Side, cfg: &MediaConfig) -> Result<Self, MediaError> {
        let (to, inp, outp, ssrc) = match from {
            Side::Trunk => (Side::Endpoint, cfg.trunk, cfg.endpoint, cfg.endpoint_ssrc),
            Side::Endpoint => (Side::Trunk, cfg.endpoint, cfg.trunk, cfg.trunk_ssrc),
        };
        Ok(Self {
            from,
            to,
            inp,
            outp,
            passthrough: inp.codec == outp.codec,
            rx: RxTracker::new(inp.codec.clock()),
            // Passthrough forwards each packet at once and never fills the buffer: it
            // gets the smallest one.
            jb: JitterBuffer::new(if inp.codec == outp.codec {
                JitterConfig {
                    capacity: 0,
                    ..cfg.jitter
                }
            } else {
                JitterConfig {
                    max_payload: max_payload(inp.codec).min(cfg.jitter.max_payload),
                    ..cfg.jitter
                }
            }),
            dec: Decoder::new(inp.codec)?,
            enc: Encoder::new(outp.codec, cfg.opus)?,
            pcm: Box::new([0; MAX_DECODED + FRAME_SAMPLES]),
            pcm_len: 0,
            scratch: Box::new([0; SLOT_BYTES]),
            tx: TxStream::new(ssrc, outp.codec.clock(), outp.codec.frame_ts()),
            dtmf: DtmfRelay::new(inp.dtmf_clock, outp.dtmf_clock, cfg.dtmf_end_timeout),
            dtmf_gen: DtmfGen::new(outp.dtmf_clock),
            conceal_run: 0,
            concealed: 0,
            digits: 0,
        })
    }

    /// The earliest DTMF deadline (relay end regeneration or generator).
    pub fn deadline(&self) -> Option<Instant> {
        match (self.dtmf.deadline(), self.dtmf_gen.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Starts sending a DTMF event of our own on this direction's output.
    pub fn start_dtmf(
        &mut self,
        now: Instant,
        event: u8,
        duration: Duration,
    ) -> Result<(), MediaError> {
        if self.outp.dtmf_pt.is_none() {
            return Err(MediaError::DtmfNotNegotiated);
        }
        let ts = if self.passthrough {
            self.tx.last_ts()
        } else {
            self.tx.gen_ts()
        };
        self.dtmf_gen.start(now, event, duration, ts);
        Ok(())
    }

    /// Handles one received packet.
    pub fn on_packet(
        &mut self,
        now: Instant,
        p: InPacket<'_>,
        out: &mut OutQueue,
        ev: &mut EventQueue,
    ) -> Result<(), MediaError> {
        let h = p.hdr;
        let is_dtmf = self.inp.dtmf_pt == Some(h.pt);
        if !is_dtmf && h.pt != self.inp.pt {
            return if h.pt == PT_CN {
                Ok(())
            } else {
                Err(MediaError::UnknownPayloadType(h.pt))
            };
        }
        match self
            .rx
            .on_packet(p.arrival, h.ssrc, h.seq, h.ts, p.payload.len())
        {
            Arrival::Duplicate => return Ok(()),
            Arrival::Restart => {
                if self.rx.counters.restarts > 0 {
                    ev.push(MediaEvent::StreamRestarted { side: self.from });
                }
                if self.passthrough {
                    self.tx.rebase(now, h.seq, h.ts);
                }
            }
            Arrival::Fresh => {}
        }
        if is_dtmf {
            return self.on_dtmf(now, h, p.payload, out, ev);
        }
        if self.passthrough {
            let (seq, ts, marker) = self.tx.map(now, h.seq, h.ts, h.marker);
            emit(
                self.to,
                &mut self.tx,
                out,
                self.outp.pt,
                seq,
                ts,
                marker,
                p.payload,
            );
        } else {
            self.jb.push(h.seq, h.ts, h.pt, p.payload);
            let frames = self.rx.jitter() / self.inp.codec.frame_ts().max(1);
            self.jb
                .set_jitter_frames(frames.min(u16::MAX as u32) as u16);
        }
        Ok(())
    }

    fn on_dtmf(
        &mut self,
        now: Instant,
        h: RtpHeader,
        payload: &[u8],
        out: &mut OutQueue,
        ev: &mut EventQueue,
    ) -> Result<(), MediaError> {
        let p = DtmfPayload::parse(payload).ok_or(MediaError::MalformedRtp)?;
        if !self.passthrough {
            // Keep the audio sequence continuous in the jitter buffer: an empty placeholder.
            self.jb.push(h.seq, h.ts, h.pt, &[]);
        }
        let new_ts = if self.passthrough {
            self.tx.map_ts(h.ts)
        } else {
            self.tx.gen_ts()
        };
        let step = self.dtmf.on_packet(now, h.ts, p, new_ts);
        if let Some((o, f)) = step.regen {
            self.send_dtmf(now, o, None, out);
            self.finish(f, ev);
        }
        if let Some(o) = step.forward {
            self.send_dtmf(now, o, Some(h), out);
        }
        if let Some(f) = step.finished {
            self.finish(f, ev);
        }
        Ok(())
    }

    fn finish(&mut self, f: Finished, ev: &mut EventQueue) {
        self.digits += 1;
        ev.push(MediaEvent::Dtmf {
            from: self.from,
            digit: f.digit,
            duration: f.duration,
        });
    }

    /// Sends a mapped event packet; `input` is the packet it relays (none for a
    /// regenerated end).
    fn send_dtmf(
        &mut self,
        now: Instant,
        o: DtmfOut,
        input: Option<RtpHeader>,
        out: &mut OutQueue,
    ) {
        let Some(pt) = self.outp.dtmf_pt else {
            return;
        };
        let bytes = o.payload.to_bytes();
        for i in 0..o.repeat {
            let seq = match (self.passthrough, input) {
                // Relayed packets keep their place in the input's sequence space.
                (true, Some(h)) => self.tx.map(now, h.seq, h.ts, false).0,
                (true, None) => self.tx.insert(),
                (false, _) => self.tx.next_generated(now, self.tx.last_ts()).0,
            };
            emit(
                self.to,
                &mut self.tx,
                out,
                pt,
                seq,
                o.ts,
                o.marker && i == 0,
                &bytes,
            );
        }
    }

    /// Regenerates lost DTMF ends and sends generated events.
    pub fn on_dtmf_timeout(&mut self, now: Instant, out: &mut OutQueue, ev: &mut EventQueue) {
        if let Some((o, f)) = self.dtmf.on_timeout(now) {
            self.send_dtmf(now, o, None, out);
            self.finish(f, ev);
        }
        while let Some(p) = self.dtmf_gen.poll(now) {
            let o = DtmfOut {
                ts: p.ts,
                payload: p.payload,
                marker: p.marker,
                repeat: 1,
            };
            self.send_dtmf(now, o, None, out);
        }
    }

    /// One 20 ms playout step (transcoding only).
    pub fn on_tick(&mut self, now: Instant, out: &mut OutQueue) {
        if self.passthrough {
            return;
        }
        self.tx.tick();
        let mut placeholder = false;
        // Invariant: inside this loop pcm_len < FRAME_SAMPLES, so `dst` holds more than
        // MAX_DECODED samples: any Opus packet (120 ms max) or a concealed frame fits.
        while self.pcm_len < FRAME_SAMPLES {
            let dst = &mut self.pcm[self.pcm_len..];
            let got = match self.jb.pop() {
                Pop::Frame(f) if f.payload.is_empty() => {
                    placeholder = true;
                    break;
                }
                Pop::Frame(f) => {
                    self.conceal_run = 0;
                    match self.dec.decode(f.payload, dst) {
                        Ok(n) => n,
                        Err(_) => self
                            .dec
                            .conceal(None, &mut dst[..FRAME_SAMPLES])
                            .unwrap_or(0),
                    }
                }
                Pop::Missing { next } => {
                    self.concealed += 1;
                    let next = next.map(|f| f.payload);
                    self.dec
                        .conceal(next, &mut dst[..FRAME_SAMPLES])
                        .unwrap_or(0)
                }
                Pop::Empty
                    if self.conceal_run < MAX_CONCEAL_RUN && self.tx.counters.packets > 0 =>
                {
                    self.conceal_run += 1;
                    self.concealed += 1;
                    self.dec
                        .conceal(None, &mut dst[..FRAME_SAMPLES])
                        .unwrap_or(0)
                }
                Pop::Empty | Pop::Buffering => break,
            };
            if got == 0 {
                break;
            }
            self.pcm_len += got;
        }
        if placeholder || self.dtmf.is_active() || self.dtmf_gen.is_active() {
            // No audio during a DTMF event; the next talkspurt is marked.
            self.pcm_len = 0;
            self.tx.gap();
            return;
        }
        if self.pcm_len < FRAME_SAMPLES {
            if self.to == Side::Endpoint {
                // WebRTC copes with gaps; the next talkspurt is marked.
                self.pcm_len = 0;
                self.tx.gap();
                return;
            }
            // Carriers expect continuous G.711: send silence while the endpoint is idle.
            self.pcm[self.pcm_len..FRAME_SAMPLES].fill(0);
            self.pcm_len = FRAME_SAMPLES;
        }
        // An encoder error drops this frame (counted as nothing sent).
        let n = self
            .enc
            .encode(&self.pcm[..FRAME_SAMPLES], &mut self.scratch[..])
            .unwrap_or_default();
        self.pcm.copy_within(FRAME_SAMPLES..self.pcm_len, 0);
        self.pcm_len -= FRAME_SAMPLES;
        if n == 0 {
            return;
        }
        let ts = self.tx.gen_ts();
        let (seq, marker) = self.tx.next_generated(now, ts);
        emit(
            self.to,
            &mut self.tx,
            out,
            self.outp.pt,
            seq,
            ts,
            marker,
            &self.scratch[..n],
        );
    }
}

/// Writes one packet toward `to` into the next output slot.
#[allow(clippy::too_many_arguments)]
fn emit(
    to: Side,
    tx: &mut TxStream,
    out: &mut OutQueue,
    pt: u8,
    seq: u16,
    ts: u32,
    marker: bool,
    payload: &[u8],
) {
    let ssrc = tx.ssrc();
    let bytes = match to {
        Side::Trunk => rtp::HEADER_LEN + payload.len(),
        Side::Endpoint => payload.len(),
    };
    let Some(slot) = out.push(bytes) else {
        return;
    };
    slot.pt = pt;
    slot.seq = seq;
    slot.ts = ts;
    slot.marker = marker;
    match to {
        Side::Trunk => {
            slot.kind = Kind::TrunkRtp;
            let h = RtpHeader {
                pt,
                seq,
                ts,
                ssrc,
                marker,
            };
            match rtp::write(&mut slot.data, &h, payload) {
                Ok(n) => slot.len = n,
                Err(_) => {
                    out.unpush();
                    return;
                }
            }
        }
        Side::Endpoint => {
            slot.kind = Kind::Endpoint;
            let Some(dst) = slot.data.get_mut(..payload.len()) else {
                out.unpush();
                return;
            };
            dst.copy_from_slice(payload);
            slot.len = payload.len();
        }
    }
    tx.count(payload.len());
}

/// The largest payload of `codec` worth buffering: a G.711 frame the decoder can take
/// (one byte per sample), any Opus packet.
fn max_payload(codec: Codec) -> usize {
    match codec {
        Codec::Pcmu | Codec::Pcma => MAX_DECODED,
        Codec::Opus => SLOT_BYTES,
    }
}
