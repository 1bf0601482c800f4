//! Tones, G.711 mu-law, and the frequency check (Goertzel).

/// How much louder the tone must be than any other probed frequency (power ratio, 13 dB).
const MARGIN: f64 = 20.0;

/// `n` samples of a sine at `hz` (8 kHz), starting at sample `from`.
pub fn tone(hz: f64, from: usize, n: usize) -> Vec<i16> {
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    (from..from + n)
        .map(|i| (8000.0 * (w * i as f64).sin()) as i16)
        .collect()
}

pub fn goertzel(samples: &[i16], hz: f64) -> f64 {
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
pub struct ToneReport {
    pub peak_hz: f64,
    pub margin: f64,
}

/// Passes when `hz` dominates `samples`: probes 100..3900 Hz in 20 Hz steps, the tone's
/// power must exceed every probe further than 60 Hz from it by `MARGIN`.
pub fn check_tone(samples: &[i16], hz: f64) -> Result<ToneReport, String> {
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

pub fn ulaw_encode(x: i16) -> u8 {
    const BIAS: i32 = 0x84;
    let x = i32::from(x);
    let sign = if x < 0 { 0x80 } else { 0 };
    let mag = (x.abs().min(32635) + BIAS) as u32;
    let exp = (31 - mag.leading_zeros()).saturating_sub(7).min(7);
    let mant = (mag >> (exp + 3)) & 0x0f;
    !(sign | (exp << 4) as u8 | mant as u8)
}

pub fn ulaw_decode(u: u8) -> i16 {
    let u = !u;
    let exp = (u >> 4) & 7;
    let mag = ((((i32::from(u) & 0x0f) << 3) + 0x84) << exp) - 0x84;
    (if u & 0x80 != 0 { -mag } else { mag }) as i16
}
