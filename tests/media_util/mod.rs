//! Helpers shared by the media integration tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use pstn_bridge::media::wire::write_rtp;
use pstn_bridge::media::{
    Codec, EndpointFrame, MediaConfig, MediaEvent, MediaOutput, MediaPipeline, RtpHeader, SideCodec,
};

pub const TRUNK: &str = "192.0.2.10:4000";
pub const FRAME: Duration = Duration::from_millis(20);

pub fn trunk_addr() -> SocketAddr {
    TRUNK.parse().unwrap()
}

/// An owned copy of one output.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Trunk(Vec<u8>),
    Rtcp(Vec<u8>),
    Endpoint {
        pt: u8,
        ts: u32,
        seq: u16,
        marker: bool,
        payload: Vec<u8>,
    },
    Event(MediaEvent),
}

/// Drains outputs; returns them and the next timeout.
pub fn drain(p: &mut MediaPipeline) -> (Vec<Out>, Instant) {
    let mut v = Vec::new();
    loop {
        match p.poll_output() {
            MediaOutput::TrunkRtp(b) => v.push(Out::Trunk(b.to_vec())),
            MediaOutput::TrunkRtcp(b) => v.push(Out::Rtcp(b.to_vec())),
            MediaOutput::EndpointMedia(f) => v.push(Out::Endpoint {
                pt: f.pt,
                ts: f.timestamp,
                seq: f.seq,
                marker: f.marker,
                payload: f.payload.to_vec(),
            }),
            MediaOutput::Event(e) => v.push(Out::Event(e)),
            MediaOutput::Timeout(t) => return (v, t),
        }
    }
}

pub fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 12 + payload.len()];
    let h = RtpHeader {
        pt,
        seq,
        ts,
        ssrc,
        marker,
    };
    let n = write_rtp(&mut b, &h, payload).unwrap();
    b.truncate(n);
    b
}

pub fn endpoint_frame(
    pt: u8,
    seq: u16,
    timestamp: u32,
    marker: bool,
    payload: &[u8],
) -> EndpointFrame<'_> {
    EndpointFrame {
        pt,
        timestamp,
        seq,
        marker,
        payload,
    }
}

pub fn pcmu_config() -> MediaConfig {
    MediaConfig {
        endpoint: SideCodec {
            codec: Codec::Pcmu,
            pt: 0,
            dtmf_pt: Some(101),
            dtmf_clock: 8000,
        },
        ..MediaConfig::default()
    }
}

pub fn pipeline(cfg: MediaConfig, t0: Instant) -> MediaPipeline {
    MediaPipeline::new(
        cfg,
        t0,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
    .unwrap()
}

/// Speech-like test signal at 8 kHz: harmonics of a pitch that glides between ~90 and
/// ~190 Hz, with a formant-like spectral tilt and a 3-5 Hz syllable envelope.
pub fn speech_like(samples: usize, seed: f64) -> Vec<i16> {
    let mut phase = 0.0f64;
    (0..samples)
        .map(|n| {
            let t = n as f64 / 8000.0;
            let f0 =
                140.0 + 50.0 * (2.0 * std::f64::consts::PI * (0.7 + 0.1 * seed) * t + seed).sin();
            phase += 2.0 * std::f64::consts::PI * f0 / 8000.0;
            let mut s = 0.0;
            for k in 1..=20 {
                let fk = f0 * k as f64;
                if fk > 3600.0 {
                    break;
                }
                // Two formant bumps around 500 and 1500 Hz.
                let g = 1.0 / k as f64
                    + 0.8 * (-((fk - 500.0 - 80.0 * seed) / 200.0).powi(2)).exp()
                    + 0.5 * (-((fk - 1500.0) / 300.0).powi(2)).exp();
                s += g * (k as f64 * phase + 0.3 * k as f64 * seed).sin();
            }
            let env = 0.55 + 0.45 * (2.0 * std::f64::consts::PI * (3.0 + seed) * t).sin();
            (s * env * 4000.0).clamp(-32000.0, 32000.0) as i16
        })
        .collect()
}
