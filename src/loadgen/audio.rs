//! The speech the generator sends, encoded once at start-up: one second (50 frames of
//! 20 ms) of a speech-like signal as PCMU and as Opus, replayed in a loop. No encoding
//! happens per packet.

use crate::media::{Law, OpusEncoder, OpusMode, OpusSettings};

/// Frames in the loop (20 ms each).
pub const FRAMES: usize = 50;
/// Samples per frame at 8 kHz.
pub const SAMPLES: usize = 160;

pub struct Audio {
    pub pcmu: Vec<[u8; SAMPLES]>,
    pub opus: Vec<Vec<u8>>,
}

impl Audio {
    pub fn encode() -> Result<Audio, String> {
        let pcm = speech_like(SAMPLES * FRAMES);
        // What browsers send for speech: SILK (the bridge's own encoder may use CELT).
        let mut enc = OpusEncoder::new(OpusSettings {
            mode: OpusMode::Silk,
            complexity: 5,
            ..OpusSettings::default()
        })
        .map_err(|e| format!("opus encoder: {e}"))?;
        let mut pcmu = Vec::with_capacity(FRAMES);
        let mut opus = Vec::with_capacity(FRAMES);
        for frame in pcm.chunks(SAMPLES) {
            let mut u = [0u8; SAMPLES];
            Law::Mu.encode(frame, &mut u);
            pcmu.push(u);
            let mut o = vec![0u8; 400];
            let n = enc
                .encode(frame, &mut o)
                .map_err(|e| format!("opus encode: {e}"))?;
            o.truncate(n);
            opus.push(o);
        }
        Ok(Audio { pcmu, opus })
    }
}

/// Harmonics of a gliding ~90-190 Hz pitch with two formant bumps and a syllable envelope.
fn speech_like(samples: usize) -> Vec<i16> {
    use std::f64::consts::PI;
    let mut phase = 0.0f64;
    (0..samples)
        .map(|n| {
            let t = n as f64 / 8000.0;
            let f0 = 140.0 + 50.0 * (2.0 * PI * 0.7 * t).sin();
            phase += 2.0 * PI * f0 / 8000.0;
            let mut s = 0.0;
            for k in 1..=20 {
                let fk = f0 * k as f64;
                if fk > 3600.0 {
                    break;
                }
                let g = 1.0 / k as f64
                    + 0.8 * (-((fk - 500.0) / 200.0).powi(2)).exp()
                    + 0.5 * (-((fk - 1500.0) / 300.0).powi(2)).exp();
                s += g * (k as f64 * phase).sin();
            }
            let env = 0.55 + 0.45 * (2.0 * PI * 3.0 * t).sin();
            (s * env * 4000.0).clamp(-32000.0, 32000.0) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_second_of_both_codecs() {
        let a = Audio::encode().expect("encodes");
        assert_eq!(a.pcmu.len(), FRAMES);
        assert_eq!(a.opus.len(), FRAMES);
        // Speech, not silence: Opus spends more than a DTX/comfort-noise frame on it.
        let mean = a.opus.iter().map(Vec::len).sum::<usize>() / FRAMES;
        assert!(mean > 20, "mean Opus frame {mean} bytes");
        assert!(a.pcmu.iter().any(|f| f.iter().any(|&b| b != 0xff)));
    }
}
