//! G.711 µ-law and A-law by table lookup, plus a repeat-with-fade loss concealment.
//!
//! The tables are built at compile time from the ITU-T G.711 segment rules (the
//! classic reference coder); `tests` check them against the segment formulas.

/// One of the two G.711 laws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Law {
    /// µ-law (PCMU, static payload type 0).
    Mu,
    /// A-law (PCMA, static payload type 8).
    A,
}

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 8159;

const fn ulaw_encode_ref(pcm: i16) -> u8 {
    let mut v = (pcm as i32) >> 2;
    let mask: i32 = if v < 0 {
        v = -v;
        0x7F
    } else {
        0xFF
    };
    if v > ULAW_CLIP {
        v = ULAW_CLIP;
    }
    v += ULAW_BIAS >> 2;
    let mut seg = 0;
    while seg < 8 && v > (0x40 << seg) - 1 {
        seg += 1;
    }
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    (((seg << 4) | ((v >> (seg + 1)) & 0xF)) ^ mask) as u8
}

const fn ulaw_decode_ref(code: u8) -> i16 {
    let u = !code as i32;
    let t = (((u & 0x0F) << 3) + ULAW_BIAS) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    }) as i16
}

const fn alaw_encode_ref(pcm: i16) -> u8 {
    let mut v = (pcm as i32) >> 3;
    let mask: i32 = if v >= 0 {
        0xD5
    } else {
        v = -v - 1;
        0x55
    };
    let mut seg = 0;
    while seg < 8 && v > (0x20 << seg) - 1 {
        seg += 1;
    }
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mant = if seg < 2 {
        (v >> 1) & 0xF
    } else {
        (v >> seg) & 0xF
    };
    (((seg << 4) | mant) ^ mask) as u8
}

const fn alaw_decode_ref(code: u8) -> i16 {
    let a = (code ^ 0x55) as i32;
    let mut t = (a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (seg - 1),
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

const fn build_decode(law: Law) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match law {
            Law::Mu => ulaw_decode_ref(i as u8),
            Law::A => alaw_decode_ref(i as u8),
        };
        i += 1;
    }
    t
}

/// µ-law encode table indexed by the 14 significant bits (`pcm >> 2`).
const fn build_ulaw_encode() -> [u8; 16384] {
    let mut t = [0u8; 16384];
    let mut i = 0;
    while i < 16384 {
        t[i] = ulaw_encode_ref(((i as i32 - 8192) << 2) as i16);
        i += 1;
    }
    t
}

/// A-law encode table indexed by the 13 significant bits (`pcm >> 3`).
const fn build_alaw_encode() -> [u8; 8192] {
    let mut t = [0u8; 8192];
    let mut i = 0;
    while i < 8192 {
        t[i] = alaw_encode_ref(((i as i32 - 4096) << 3) as i16);
        i += 1;
    }
    t
}

static ULAW_DEC: [i16; 256] = build_decode(Law::Mu);
static ALAW_DEC: [i16; 256] = build_decode(Law::A);
static ULAW_ENC: [u8; 16384] = build_ulaw_encode();
static ALAW_ENC: [u8; 8192] = build_alaw_encode();

impl Law {
    /// Encodes one linear sample.
    #[inline]
    pub fn encode_sample(self, pcm: i16) -> u8 {
        match self {
            // (pcm >> 2) + 8192 is in 0..16384 for every i16.
            Law::Mu => ULAW_ENC[((pcm as i32 >> 2) + 8192) as usize],
            // (pcm >> 3) + 4096 is in 0..8192 for every i16.
            Law::A => ALAW_ENC[((pcm as i32 >> 3) + 4096) as usize],
        }
    }

    /// Decodes one code word.
    #[inline]
    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            Law::Mu => ULAW_DEC[code as usize],
            Law::A => ALAW_DEC[code as usize],
        }
    }

    /// Encodes `pcm` into `out`; returns the number of bytes written (the shorter length).
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) -> usize {
        let n = pcm.len().min(out.len());
        for (o, &s) in out[..n].iter_mut().zip(&pcm[..n]) {
            *o = self.encode_sample(s);
        }
        n
    }

    /// Decodes `codes` into `out`; returns the number of samples written.
    pub fn decode(self, codes: &[u8], out: &mut [i16]) -> usize {
        let n = codes.len().min(out.len());
        for (o, &c) in out[..n].iter_mut().zip(&codes[..n]) {
            *o = self.decode_sample(c);
        }
        n
    }

    /// Reference (non-table) encoder, for tests.
    pub const fn encode_reference(self, pcm: i16) -> u8 {
        match self {
            Law::Mu => ulaw_encode_ref(pcm),
            Law::A => alaw_encode_ref(pcm),
        }
    }
}

/// Longest frame the concealer remembers (60 ms at 8 kHz).
pub const MAX_CONCEAL: usize = 480;

/// Repeat-with-fade concealment for G.711 loss: replays the last good frame, halving
/// its gain on each consecutive lost frame, silence after four.
#[derive(Debug)]
pub struct Concealer {
    last: [i16; MAX_CONCEAL],
    len: usize,
    lost_run: u32,
}

impl Default for Concealer {
    fn default() -> Self {
        Self {
            last: [0; MAX_CONCEAL],
            len: 0,
            lost_run: 0,
        }
    }
}

impl Concealer {
    /// Remembers a good frame.
    pub fn good(&mut self, pcm: &[i16]) {
        let n = pcm.len().min(MAX_CONCEAL);
        self.last[..n].copy_from_slice(&pcm[..n]);
        self.len = n;
        self.lost_run = 0;
    }

    /// Fills `out` with concealment for one lost frame.
    pub fn conceal(&mut self, out: &mut [i16]) {
        self.lost_run = self.lost_run.saturating_add(1);
        let shift = self.lost_run;
        if self.len == 0 || shift > 4 {
            out.fill(0);
            return;
        }
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.last[i % self.len] >> shift;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_code_words() {
        assert_eq!(Law::Mu.encode_sample(0), 0xFF);
        assert_eq!(Law::Mu.encode_sample(i16::MAX), 0x80);
        assert_eq!(Law::Mu.encode_sample(i16::MIN), 0x00);
        assert_eq!(Law::A.encode_sample(0), 0xD5);
        assert_eq!(Law::A.encode_sample(i16::MAX), 0xAA);
        assert_eq!(Law::A.encode_sample(i16::MIN), 0x2A);
        assert_eq!(Law::Mu.decode_sample(0xFF), 0);
        assert_eq!(Law::A.decode_sample(0xD5), 8);
    }

    #[test]
    fn tables_match_reference_coder() {
        for x in i16::MIN..=i16::MAX {
            assert_eq!(Law::Mu.encode_sample(x), ulaw_encode_ref(x));
            assert_eq!(Law::A.encode_sample(x), alaw_encode_ref(x));
        }
    }

    /// G.711 segment formulas: µ-law |y| = ((2m+33) << e) - 33 (14-bit units),
    /// A-law |y| = 2m+1 for e = 0 and (2m+33) << (e-1) otherwise (13-bit units).
    #[test]
    fn decode_matches_itu_segment_formula() {
        for code in 0..=255u8 {
            let u = !code;
            let (e, m) = (((u >> 4) & 7) as i32, (u & 0xF) as i32);
            let mag = (((2 * m + 33) << e) - 33) * 4;
            let want = if u & 0x80 != 0 { -mag } else { mag };
            assert_eq!(Law::Mu.decode_sample(code) as i32, want, "mu {code:#x}");

            let a = code ^ 0x55;
            let (e, m) = (((a >> 4) & 7) as i32, (a & 0xF) as i32);
            let mag = if e == 0 {
                2 * m + 1
            } else {
                (2 * m + 33) << (e - 1)
            } * 8;
            let want = if a & 0x80 != 0 { mag } else { -mag };
            assert_eq!(Law::A.decode_sample(code) as i32, want, "a {code:#x}");
        }
    }

    /// Round trip error stays within half a quantisation step of the sample's segment,
    /// and µ-law codes follow the continuous law F(x) = ln(1+255|x|)/ln(256).
    #[test]
    fn round_trip_within_step_and_log_law() {
        for x in (i16::MIN..=i16::MAX).step_by(7) {
            for law in [Law::Mu, Law::A] {
                let y = law.decode_sample(law.encode_sample(x)) as i32;
                let err = (y - x as i32).abs();
                // Step doubles per segment: allow half the step at |x| plus the clip region.
                let step = ((x as i32).abs() / 16).max(16);
                assert!(
                    err <= step || (x as i32).abs() > 32_000,
                    "{law:?} {x} -> {y}"
                );
            }
            let xn = (x as f64 / 32768.0).abs();
            let f = (1.0 + 255.0 * xn).ln() / 256f64.ln();
            let code = !Law::Mu.encode_sample(x) & 0x7F;
            assert!(
                ((f * 128.0) - code as f64).abs() <= 2.5,
                "{x}: {f} vs {code}"
            );
        }
    }

    #[test]
    fn concealer_fades_to_silence() {
        let mut c = Concealer::default();
        c.good(&[1000; 160]);
        let mut out = [0i16; 160];
        c.conceal(&mut out);
        assert_eq!(out[0], 500);
        for _ in 0..4 {
            c.conceal(&mut out);
        }
        assert!(out.iter().all(|&s| s == 0));
    }
}
