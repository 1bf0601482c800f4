//! Codec selection and the per-direction decoder/encoder over 8 kHz PCM.

use super::MediaError;
use super::g711::{Concealer, Law};
use super::opus::{OpusDecoder, OpusEncoder, OpusSettings};

/// Samples in one 20 ms frame at 8 kHz: the pipeline's processing unit.
pub const FRAME_SAMPLES: usize = 160;

/// Largest decoded packet at 8 kHz (120 ms, the Opus maximum).
pub const MAX_DECODED: usize = 960;

/// An audio codec either side may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// Opus (RTP clock 48000).
    Opus,
}

impl Codec {
    /// RTP clock rate.
    pub fn clock(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
            Codec::Opus => 48_000,
        }
    }

    /// RTP timestamp units in one 20 ms frame.
    pub fn frame_ts(self) -> u32 {
        self.clock() / 50
    }

    fn law(self) -> Option<Law> {
        match self {
            Codec::Pcmu => Some(Law::Mu),
            Codec::Pcma => Some(Law::A),
            Codec::Opus => None,
        }
    }
}

/// Decoder for one incoming stream, with loss concealment.
#[derive(Debug)]
pub enum Decoder {
    /// G.711 with repeat-with-fade concealment.
    G711(Law, Box<Concealer>),
    /// Opus with PLC and FEC.
    Opus(OpusDecoder),
}

impl Decoder {
    /// A decoder for `codec`.
    pub fn new(codec: Codec) -> Result<Self, MediaError> {
        Ok(match codec.law() {
            Some(l) => Decoder::G711(l, Box::default()),
            None => Decoder::Opus(OpusDecoder::new()?),
        })
    }

    /// Decodes a payload into `out` (at least [`MAX_DECODED`] long); returns samples.
    pub fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, MediaError> {
        match self {
            Decoder::G711(law, c) => {
                let n = law.decode(payload, out);
                c.good(&out[..n]);
                Ok(n)
            }
            Decoder::Opus(d) => d.decode(payload, out),
        }
    }

    /// Fills `out` (one frame) for a lost packet; `next` is the following packet, if held.
    pub fn conceal(&mut self, next: Option<&[u8]>, out: &mut [i16]) -> Result<usize, MediaError> {
        match self {
            Decoder::G711(_, c) => {
                c.conceal(out);
                Ok(out.len())
            }
            Decoder::Opus(d) => d.conceal(next, out),
        }
    }
}

/// Encoder for one outgoing stream.
#[derive(Debug)]
pub enum Encoder {
    /// G.711.
    G711(Law),
    /// Opus at 8 kHz input.
    Opus(OpusEncoder),
}

impl Encoder {
    /// An encoder for `codec`.
    pub fn new(codec: Codec, opus: OpusSettings) -> Result<Self, MediaError> {
        Ok(match codec.law() {
            Some(l) => Encoder::G711(l),
            None => Encoder::Opus(OpusEncoder::new(opus)?),
        })
    }

    /// Encodes one frame of PCM; returns payload bytes.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, MediaError> {
        match self {
            Encoder::G711(law) => Ok(law.encode(pcm, out)),
            Encoder::Opus(e) => e.encode(pcm, out),
        }
    }
}
