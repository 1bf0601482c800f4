//! Media pipeline benchmarks: one 20 ms frame through the whole pipeline per
//! iteration, against raw libopus at the same settings.
//!
//! `cargo bench --bench media -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use audiopus::coder::{Decoder, Encoder};
use audiopus::{Bandwidth, Bitrate, Channels, MutSignals, SampleRate, Signal, packet::Packet};
use criterion::{Criterion, criterion_group};
use pstn_bridge::media::wire::write_rtp;
use pstn_bridge::media::{
    Codec, EndpointFrame, JitterBuffer, JitterConfig, Law, MediaConfig, MediaOutput, MediaPipeline,
    OpusEncoder, OpusMode, OpusSettings, RtpHeader, SideCodec,
};

/// What browsers send for speech (SILK), whatever the bridge's own encoder uses.
fn browser_opus(pcm: &[i16]) -> Vec<Vec<u8>> {
    let s = OpusSettings {
        mode: OpusMode::Silk,
        complexity: 5,
        ..OpusSettings::default()
    };
    opus_frames(pcm, s)
}

const FRAME: Duration = Duration::from_millis(20);
const FRAMES: usize = 50;

fn from() -> SocketAddr {
    "192.0.2.10:4000".parse().unwrap()
}

/// One second of a speech-like signal (harmonics, gliding pitch, syllable envelope).
fn speech() -> Vec<i16> {
    let mut phase = 0.0f64;
    (0..160 * FRAMES)
        .map(|n| {
            let t = n as f64 / 8000.0;
            let f0 = 140.0 + 50.0 * (2.0 * std::f64::consts::PI * 0.7 * t).sin();
            phase += 2.0 * std::f64::consts::PI * f0 / 8000.0;
            let s: f64 = (1..=20).map(|k| (k as f64 * phase).sin() / k as f64).sum();
            let env = 0.55 + 0.45 * (2.0 * std::f64::consts::PI * 3.0 * t).sin();
            (s * env * 5000.0) as i16
        })
        .collect()
}

fn pcmu_frames(pcm: &[i16]) -> Vec<[u8; 160]> {
    pcm.chunks(160)
        .map(|c| {
            let mut f = [0u8; 160];
            Law::Mu.encode(c, &mut f);
            f
        })
        .collect()
}

fn opus_frames(pcm: &[i16], s: OpusSettings) -> Vec<Vec<u8>> {
    let mut e = OpusEncoder::new(s).unwrap();
    pcm.chunks(160)
        .map(|c| {
            let mut b = vec![0u8; 400];
            let n = e.encode(c, &mut b).unwrap();
            b.truncate(n);
            b
        })
        .collect()
}

fn new_pipeline(cfg: MediaConfig, t0: Instant) -> MediaPipeline {
    MediaPipeline::new(cfg, t0, SystemTime::now()).unwrap()
}

fn drain(p: &mut MediaPipeline) -> usize {
    let mut n = 0;
    loop {
        match p.poll_output() {
            MediaOutput::Timeout(_) => return n,
            o => {
                black_box(&o);
                n += 1;
            }
        }
    }
}

/// Feeds the trunk one PCMU frame and runs one tick.
fn trunk_step(
    p: &mut MediaPipeline,
    k: u32,
    now: Instant,
    frames: &[[u8; 160]],
    buf: &mut [u8; 200],
) {
    let h = RtpHeader {
        pt: 0,
        seq: k as u16,
        ts: k.wrapping_mul(160),
        ssrc: 9,
        marker: false,
    };
    let n = write_rtp(buf, &h, &frames[k as usize % FRAMES]).unwrap();
    p.handle_trunk_rtp(now, from(), &buf[..n]).unwrap();
}

fn endpoint_step(p: &mut MediaPipeline, k: u32, now: Instant, frames: &[Vec<u8>]) {
    let f = EndpointFrame {
        pt: 111,
        timestamp: k.wrapping_mul(960),
        seq: k as u16,
        marker: false,
        payload: &frames[k as usize % FRAMES],
    };
    p.handle_endpoint_media(now, f).unwrap();
}

fn bench_pipeline(c: &mut Criterion) {
    let pcm = speech();
    let pcmu = pcmu_frames(&pcm);
    let opus = browser_opus(&pcm);
    let mut buf = [0u8; 200];

    let mut g = c.benchmark_group("transcode");
    g.bench_function("pcmu_to_opus", |b| {
        let t0 = Instant::now();
        let mut p = new_pipeline(MediaConfig::default(), t0);
        let mut k = 0u32;
        b.iter(|| {
            let now = t0 + FRAME * k;
            trunk_step(&mut p, k, now, &pcmu, &mut buf);
            p.handle_timeout(now);
            drain(&mut p);
            k += 1;
        })
    });
    g.bench_function("opus_to_pcmu", |b| {
        let t0 = Instant::now();
        let mut p = new_pipeline(MediaConfig::default(), t0);
        let mut k = 0u32;
        b.iter(|| {
            let now = t0 + FRAME * k;
            endpoint_step(&mut p, k, now, &opus);
            p.handle_timeout(now);
            drain(&mut p);
            k += 1;
        })
    });
    g.finish();

    c.bench_function("passthrough/pcmu", |b| {
        let t0 = Instant::now();
        let cfg = MediaConfig {
            endpoint: SideCodec {
                codec: Codec::Pcmu,
                pt: 0,
                dtmf_pt: Some(101),
                dtmf_clock: 8000,
            },
            ..MediaConfig::default()
        };
        let mut p = new_pipeline(cfg, t0);
        let mut k = 0u32;
        b.iter(|| {
            let now = t0 + FRAME * k;
            trunk_step(&mut p, k, now, &pcmu, &mut buf);
            drain(&mut p);
            k += 1;
        })
    });

    c.bench_function("jitter/push_pop", |b| {
        let mut j = JitterBuffer::new(JitterConfig::default());
        let mut k = 0u32;
        b.iter(|| {
            j.push(k as u16, k.wrapping_mul(160), 0, &pcmu[k as usize % FRAMES]);
            black_box(j.pop());
            k += 1;
        })
    });

    c.bench_function("calls/transcode_100", |b| {
        let t0 = Instant::now();
        let mut calls: Vec<MediaPipeline> = (0..100)
            .map(|i| {
                let cfg = MediaConfig {
                    trunk_ssrc: i,
                    endpoint_ssrc: 1000 + i,
                    ..MediaConfig::default()
                };
                new_pipeline(cfg, t0)
            })
            .collect();
        let mut k = 0u32;
        b.iter(|| {
            let now = t0 + FRAME * k;
            for p in calls.iter_mut() {
                trunk_step(p, k, now, &pcmu, &mut buf);
                endpoint_step(p, k, now, &opus);
                p.handle_timeout(now);
                drain(p);
            }
            k += 1;
        })
    });
}

fn raw_encoder(s: OpusSettings) -> Encoder {
    let mut e = Encoder::new(SampleRate::Hz8000, Channels::Mono, s.mode.application()).unwrap();
    e.set_complexity(s.complexity).unwrap();
    e.set_inband_fec(s.inband_fec).unwrap();
    e.set_packet_loss_perc(s.expected_loss_pct).unwrap();
    e.set_signal(Signal::Voice).unwrap();
    e.set_max_bandwidth(Bandwidth::Narrowband).unwrap();
    e.set_bitrate(
        s.bitrate
            .map_or(Bitrate::Auto, |b| Bitrate::BitsPerSecond(b as i32)),
    )
    .unwrap();
    e
}

/// Bare libopus (via audiopus) at the pipeline's settings: the codec floor.
fn bench_raw(c: &mut Criterion) {
    let pcm = speech();
    let s = MediaConfig::default().opus;
    let opus = browser_opus(&pcm);
    let mut g = c.benchmark_group("raw");
    g.bench_function("opus_encode_decode", |b| {
        let enc = raw_encoder(s);
        let mut dec = Decoder::new(SampleRate::Hz8000, Channels::Mono).unwrap();
        let mut pkt = [0u8; 400];
        let mut out = [0i16; 960];
        let mut k = 0usize;
        b.iter(|| {
            let n = enc
                .encode(&pcm[(k % FRAMES) * 160..(k % FRAMES + 1) * 160], &mut pkt)
                .unwrap();
            let p = Packet::try_from(&opus[k % FRAMES][..]).unwrap();
            black_box(
                dec.decode(Some(p), MutSignals::try_from(&mut out[..]).unwrap(), false)
                    .unwrap(),
            );
            black_box(n);
            k += 1;
        })
    });
    g.bench_function("opus_encode", |b| {
        let enc = raw_encoder(s);
        let mut pkt = [0u8; 400];
        let mut k = 0usize;
        b.iter(|| {
            black_box(
                enc.encode(&pcm[(k % FRAMES) * 160..(k % FRAMES + 1) * 160], &mut pkt)
                    .unwrap(),
            );
            k += 1;
        })
    });
    g.bench_function("opus_decode", |b| {
        let mut dec = Decoder::new(SampleRate::Hz8000, Channels::Mono).unwrap();
        let mut out = [0i16; 960];
        let mut k = 0usize;
        b.iter(|| {
            let p = Packet::try_from(&opus[k % FRAMES][..]).unwrap();
            black_box(
                dec.decode(Some(p), MutSignals::try_from(&mut out[..]).unwrap(), false)
                    .unwrap(),
            );
            k += 1;
        })
    });
    g.finish();
}

/// Round-robins `work` items for `rounds`, timing each call; returns per-item medians.
/// Interleaving exposes every item to the same machine load, so ratios between them
/// hold even on a busy shared machine where absolute times drift.
fn paired_medians(rounds: usize, work: &mut [&mut dyn FnMut()]) -> Vec<Duration> {
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); work.len()];
    for _ in 0..rounds {
        for (i, w) in work.iter_mut().enumerate() {
            let t = Instant::now();
            w();
            times[i].push(t.elapsed());
        }
    }
    times
        .into_iter()
        .map(|mut v| {
            v.sort_unstable();
            v[v.len() / 2]
        })
        .collect()
}

/// The same-run ratio for BENCHMARKS.md: pipeline frames (both directions) against
/// bare libopus encode+decode of the same audio, interleaved; plus encoder cost by
/// mode, complexity and FEC relative to the default.
fn paired() {
    let pcm = speech();
    let pcmu = pcmu_frames(&pcm);
    // The pipeline encodes what it decoded from PCMU: give raw libopus the same input.
    let decoded: Vec<i16> = pcmu
        .iter()
        .flat_map(|f| f.iter().map(|&c| Law::Mu.decode_sample(c)))
        .collect();
    let s = MediaConfig::default().opus;
    let opus = browser_opus(&decoded);
    let t0 = Instant::now();
    let mut up = new_pipeline(MediaConfig::default(), t0);
    let mut down = new_pipeline(MediaConfig::default(), t0);
    let (mut ku, mut kd) = (0u32, 0u32);
    let mut buf = [0u8; 200];
    let mut pcmu_to_opus = || {
        let now = t0 + FRAME * ku;
        trunk_step(&mut up, ku, now, &pcmu, &mut buf);
        up.handle_timeout(now);
        drain(&mut up);
        ku += 1;
    };
    let mut opus_to_pcmu = || {
        let now = t0 + FRAME * kd;
        endpoint_step(&mut down, kd, now, &opus);
        down.handle_timeout(now);
        drain(&mut down);
        kd += 1;
    };
    let enc = raw_encoder(s);
    let mut dec = Decoder::new(SampleRate::Hz8000, Channels::Mono).unwrap();
    let (mut pkt, mut out, mut kr) = ([0u8; 400], [0i16; 960], 0usize);
    let mut raw = || {
        let f = kr % FRAMES;
        black_box(
            enc.encode(&decoded[f * 160..(f + 1) * 160], &mut pkt)
                .unwrap(),
        );
        let p = Packet::try_from(&opus[f][..]).unwrap();
        black_box(
            dec.decode(Some(p), MutSignals::try_from(&mut out[..]).unwrap(), false)
                .unwrap(),
        );
        kr += 1;
    };
    let m = paired_medians(3000, &mut [&mut pcmu_to_opus, &mut opus_to_pcmu, &mut raw]);
    let pipe = m[0] + m[1];
    println!(
        "paired/medians: pcmu_to_opus {:?}, opus_to_pcmu {:?}, raw encode+decode {:?}; ratio {:.3}; \
         calls per core at 20 ms / (pcmu_to_opus + opus_to_pcmu): {:.0}",
        m[0],
        m[1],
        m[2],
        pipe.as_secs_f64() / m[2].as_secs_f64(),
        0.020 / pipe.as_secs_f64()
    );

    let levels: Vec<(OpusMode, u8, bool)> = [OpusMode::Celt, OpusMode::Silk]
        .iter()
        .flat_map(|&m| [0u8, 1, 3, 5, 8, 10].map(|c| (m, c)))
        .flat_map(|(m, c)| [(m, c, false), (m, c, true)])
        .collect();
    let mut encs: Vec<(Encoder, usize, [u8; 400])> = levels
        .iter()
        .map(|&(mode, complexity, inband_fec)| {
            (
                raw_encoder(OpusSettings {
                    mode,
                    complexity,
                    inband_fec,
                    ..s
                }),
                0,
                [0u8; 400],
            )
        })
        .collect();
    let mut closures: Vec<Box<dyn FnMut() + '_>> = encs
        .iter_mut()
        .map(|(e, k, pkt)| {
            let d = &decoded;
            Box::new(move || {
                let f = *k % FRAMES;
                black_box(e.encode(&d[f * 160..(f + 1) * 160], pkt).unwrap());
                *k += 1;
            }) as Box<dyn FnMut()>
        })
        .collect();
    let mut refs: Vec<&mut dyn FnMut()> = closures
        .iter_mut()
        .map(|b| &mut **b as &mut dyn FnMut())
        .collect();
    let m = paired_medians(1500, &mut refs);
    let base = levels
        .iter()
        .position(|&l| l == (s.mode, s.complexity, s.inband_fec))
        .unwrap_or(0);
    for (i, (mode, c, fec)) in levels.iter().enumerate() {
        println!(
            "paired/opus_encode {mode:?} c{c} fec_{}: {:?} ({:.2}x default)",
            if *fec { "on" } else { "off" },
            m[i],
            m[i].as_secs_f64() / m[base].as_secs_f64()
        );
    }
}

criterion_group!(benches, bench_pipeline, bench_raw);

fn main() {
    benches();
    paired();
    Criterion::default().configure_from_args().final_summary();
}
