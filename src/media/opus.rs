//! Opus at 8 kHz in and out (narrowband): a thin wrapper over `audiopus`.
//!
//! Both sides work on 8 kHz mono PCM so the bridge never resamples; the RTP clock
//! toward WebRTC stays 48 kHz (RFC 7587), which only scales timestamps.

use audiopus::coder::{Decoder, Encoder};
use audiopus::{
    Application, Bandwidth, Bitrate, Channels, MutSignals, SampleRate, Signal, packet::Packet,
};

use super::MediaError;

/// Which Opus layer our encoder uses (the decoder takes whatever the browser sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpusMode {
    /// CELT only (libopus "restricted low delay"): at 8 kHz about half the encoding cost
    /// of SILK, closer to the G.711 waveform, 4 ms less delay; no in-band FEC.
    #[default]
    Celt,
    /// SILK (libopus "VoIP"): the speech codec, with in-band FEC when enabled.
    Silk,
}

impl OpusMode {
    /// The libopus application that selects this layer.
    pub fn application(self) -> Application {
        match self {
            OpusMode::Celt => Application::LowDelay,
            OpusMode::Silk => Application::Voip,
        }
    }
}

/// Encoder settings. Defaults come from the measurements in `BENCHMARKS.md`: CELT
/// encodes a 20 ms frame in ~25 µs against SILK's ~43 µs, and the round-trip test
/// measured correlation 0.993 (CELT) against 0.897 (SILK) at every complexity 0-10.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusSettings {
    pub mode: OpusMode,
    /// 0..=10; cost grows with it (see `BENCHMARKS.md`).
    pub complexity: u8,
    /// In-band FEC (LBRR, SILK only): lets the receiver rebuild a lost frame from the next.
    pub inband_fec: bool,
    /// Expected loss in percent; FEC is only produced when this is above zero.
    pub expected_loss_pct: u8,
    /// Target bitrate in bits/s; `None` lets libopus choose.
    pub bitrate: Option<u32>,
}

impl Default for OpusSettings {
    fn default() -> Self {
        Self {
            mode: OpusMode::Celt,
            complexity: 1,
            inband_fec: true,
            expected_loss_pct: 5,
            bitrate: Some(24_000),
        }
    }
}

/// Opus encoder taking 8 kHz mono.
#[derive(Debug)]
pub struct OpusEncoder {
    enc: Encoder,
}

impl OpusEncoder {
    /// Creates and configures the encoder (allocates once, inside libopus).
    pub fn new(s: OpusSettings) -> Result<Self, MediaError> {
        let mut enc = Encoder::new(SampleRate::Hz8000, Channels::Mono, s.mode.application())?;
        enc.set_complexity(s.complexity)?;
        enc.set_inband_fec(s.inband_fec)?;
        enc.set_packet_loss_perc(s.expected_loss_pct.min(100))?;
        enc.set_signal(Signal::Voice)?;
        enc.set_max_bandwidth(Bandwidth::Narrowband)?;
        let rate = s.bitrate.map_or(Bitrate::Auto, |b| {
            Bitrate::BitsPerSecond(b.clamp(6000, 64_000) as i32)
        });
        enc.set_bitrate(rate)?;
        Ok(Self { enc })
    }

    /// Encodes one frame (160 samples for 20 ms); returns the packet length.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, MediaError> {
        Ok(self.enc.encode(pcm, out)?)
    }
}

/// Opus decoder producing 8 kHz mono.
#[derive(Debug)]
pub struct OpusDecoder {
    dec: Decoder,
}

impl OpusDecoder {
    /// Creates the decoder.
    pub fn new() -> Result<Self, MediaError> {
        Ok(Self {
            dec: Decoder::new(SampleRate::Hz8000, Channels::Mono)?,
        })
    }

    /// Decodes a packet into `out`; returns samples written.
    pub fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, MediaError> {
        let p = Packet::try_from(payload)?;
        let o = MutSignals::try_from(out)?;
        Ok(self.dec.decode(Some(p), o, false)?)
    }

    /// Conceals one lost frame of `out.len()` samples: from the FEC data in `next` when
    /// given, otherwise by libopus PLC.
    pub fn conceal(&mut self, next: Option<&[u8]>, out: &mut [i16]) -> Result<usize, MediaError> {
        let o = MutSignals::try_from(out)?;
        match next.filter(|n| !n.is_empty()) {
            Some(n) => Ok(self.dec.decode(Some(Packet::try_from(n)?), o, true)?),
            None => Ok(self.dec.decode(None, o, false)?),
        }
    }
}
