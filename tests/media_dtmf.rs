//! RFC 4733 DTMF relayed both ways, with payload-type and clock mapping, durations,
//! and end packets regenerated when the source loses them.

mod media_util;

use std::time::{Duration, Instant};

use media_util::*;
use pstn_bridge::media::wire::parse_rtp;
use pstn_bridge::media::{DtmfPayload, MediaConfig, MediaEvent, Side, SideCodec, event_code};

const DIGITS: &str = "0123456789*#";
const TRUNK_TE: u8 = 101;
const EP_TE: u8 = 110;

fn config() -> MediaConfig {
    let mut c = MediaConfig::default();
    c.endpoint = SideCodec {
        dtmf_pt: Some(EP_TE),
        dtmf_clock: 48_000,
        ..c.endpoint
    };
    c
}

/// The packets a sender emits for one digit: start, updates every 50 ms, 3 ends.
fn event_packets(event: u8, duration: u16, step: u16) -> Vec<DtmfPayload> {
    let mut v = Vec::new();
    let mut d = step;
    while d < duration {
        v.push(DtmfPayload {
            event,
            end: false,
            volume: 10,
            duration: d,
        });
        d += step;
    }
    for _ in 0..3 {
        v.push(DtmfPayload {
            event,
            end: true,
            volume: 10,
            duration,
        });
    }
    v
}

fn dtmf_events(outs: &[Out]) -> Vec<(Side, char, Duration)> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Event(MediaEvent::Dtmf {
                from,
                digit,
                duration,
            }) => Some((*from, *digit, *duration)),
            _ => None,
        })
        .collect()
}

#[test]
fn trunk_to_endpoint_all_digits_with_durations() {
    let t0 = Instant::now();
    let mut p = pipeline(config(), t0);
    let mut now = t0;
    let mut seq = 1000u16;
    let mut all = Vec::new();
    for (i, c) in DIGITS.chars().enumerate() {
        let ev = event_code(c).unwrap();
        let dur = 800 + 80 * i as u16; // 100 ms .. 188 ms at 8000 Hz
        let ts = 160_000 + i as u32 * 8000;
        for (k, pl) in event_packets(ev, dur, 400).iter().enumerate() {
            let pkt = rtp(TRUNK_TE, seq, ts, 42, k == 0, &pl.to_bytes());
            seq = seq.wrapping_add(1);
            p.handle_trunk_rtp(now, trunk_addr(), &pkt).unwrap();
            now += Duration::from_millis(50);
            p.handle_timeout(now);
            all.extend(drain(&mut p).0);
        }
        now += Duration::from_millis(300);
        p.handle_timeout(now);
        all.extend(drain(&mut p).0);
    }
    let want: Vec<_> = DIGITS
        .chars()
        .enumerate()
        .map(|(i, c)| {
            (
                Side::Trunk,
                c,
                Duration::from_micros((800 + 80 * i as u64) * 125),
            )
        })
        .collect();
    assert_eq!(dtmf_events(&all), want);
    // Relayed to the endpoint with its payload type, duration scaled to 48 kHz.
    let ends: Vec<_> = all
        .iter()
        .filter_map(|o| match o {
            Out::Endpoint {
                pt: EP_TE, payload, ..
            } => DtmfPayload::parse(payload),
            _ => None,
        })
        .filter(|p| p.end)
        .collect();
    assert_eq!(ends.len(), 3 * DIGITS.len());
    for (i, c) in DIGITS.chars().enumerate() {
        let e = ends[3 * i];
        assert_eq!(
            (e.event, e.duration),
            (event_code(c).unwrap(), (800 + 80 * i as u16) * 6)
        );
    }
    assert_eq!(p.stats().dtmf_digits, 12);
}

#[test]
fn endpoint_to_trunk_all_digits_with_durations() {
    let t0 = Instant::now();
    let mut p = pipeline(config(), t0);
    let mut now = t0;
    let mut seq = 7u16;
    let mut all = Vec::new();
    for (i, c) in DIGITS.chars().enumerate() {
        let ev = event_code(c).unwrap();
        let dur = 4800 + 480 * i as u16; // 100 ms .. 188 ms at 48000 Hz
        let ts = 960_000 + i as u32 * 48_000;
        for (k, pl) in event_packets(ev, dur, 2400).iter().enumerate() {
            let bytes = pl.to_bytes();
            p.handle_endpoint_media(now, endpoint_frame(EP_TE, seq, ts, k == 0, &bytes))
                .unwrap();
            seq = seq.wrapping_add(1);
            now += Duration::from_millis(50);
            p.handle_timeout(now);
            all.extend(drain(&mut p).0);
        }
        now += Duration::from_millis(300);
        p.handle_timeout(now);
        all.extend(drain(&mut p).0);
    }
    let want: Vec<_> = DIGITS
        .chars()
        .enumerate()
        .map(|(i, c)| {
            (
                Side::Endpoint,
                c,
                Duration::from_micros((4800 + 480 * i as u64) * 1_000_000 / 48_000),
            )
        })
        .collect();
    assert_eq!(dtmf_events(&all), want);
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    for o in &all {
        if let Out::Trunk(b) = o {
            let (h, pl) = parse_rtp(b).unwrap();
            if h.pt == TRUNK_TE {
                let d = DtmfPayload::parse(pl).unwrap();
                if h.marker {
                    starts.push(d.event);
                }
                if d.end {
                    ends.push((h.ts, d));
                }
            }
        }
    }
    let codes: Vec<u8> = DIGITS.chars().map(|c| event_code(c).unwrap()).collect();
    assert_eq!(starts, codes, "one marked start packet per digit");
    assert_eq!(ends.len(), 36);
    for (i, chunk) in ends.chunks(3).enumerate() {
        assert!(
            chunk.iter().all(|(ts, _)| *ts == chunk[0].0),
            "ends share the event timestamp"
        );
        assert_eq!(chunk[0].1.duration, 800 + 80 * i as u16, "scaled to 8 kHz");
    }
}

#[test]
fn lost_end_is_regenerated_once_after_timeout() {
    let t0 = Instant::now();
    let mut p = pipeline(config(), t0);
    let mut now = t0;
    for (k, d) in [400u16, 800, 1200].iter().enumerate() {
        let pl = DtmfPayload {
            event: 5,
            end: false,
            volume: 10,
            duration: *d,
        };
        p.handle_trunk_rtp(
            now,
            trunk_addr(),
            &rtp(TRUNK_TE, k as u16, 8000, 1, k == 0, &pl.to_bytes()),
        )
        .unwrap();
        now += Duration::from_millis(50);
    }
    let (outs, _) = drain(&mut p);
    assert!(dtmf_events(&outs).is_empty());
    // No end packet arrives; the deadline is 250 ms after the last packet.
    let mut all = Vec::new();
    for _ in 0..20 {
        now += Duration::from_millis(20);
        p.handle_timeout(now);
        all.extend(drain(&mut p).0);
    }
    assert_eq!(
        dtmf_events(&all),
        vec![(Side::Trunk, '5', Duration::from_millis(150))]
    );
    let ends = all
        .iter()
        .filter(|o| {
            matches!(o, Out::Endpoint { pt: EP_TE, payload, .. }
            if DtmfPayload::parse(payload).is_some_and(|d| d.end && d.duration == 7200))
        })
        .count();
    assert_eq!(ends, 3);
    // The source's late end is not relayed again.
    let late = DtmfPayload {
        event: 5,
        end: true,
        volume: 10,
        duration: 1600,
    };
    p.handle_trunk_rtp(
        now,
        trunk_addr(),
        &rtp(TRUNK_TE, 3, 8000, 1, false, &late.to_bytes()),
    )
    .unwrap();
    let (outs, _) = drain(&mut p);
    assert!(
        outs.iter()
            .all(|o| !matches!(o, Out::Endpoint { pt: EP_TE, .. }))
    );
    assert!(dtmf_events(&outs).is_empty());
}

/// Passthrough (PCMU both sides): audio and relayed events keep one gap-free
/// sequence, including regenerated end packets.
#[test]
fn passthrough_dtmf_keeps_sequence_continuous() {
    let t0 = Instant::now();
    let mut p = pipeline(pcmu_config(), t0);
    let mut now = t0;
    let mut seq = 100u16;
    let mut send = |p: &mut pstn_bridge::media::MediaPipeline, now, pt, ts, payload: &[u8]| {
        p.handle_trunk_rtp(now, trunk_addr(), &rtp(pt, seq, ts, 3, false, payload))
            .unwrap();
        seq += 1;
    };
    let mut outs = Vec::new();
    for k in 0..5u32 {
        send(&mut p, now, 0, k * 160, &[0xFF; 160]);
        now += FRAME;
    }
    // A digit whose end packets are all lost, then audio again.
    for d in [160u16, 320, 480] {
        send(
            &mut p,
            now,
            TRUNK_TE,
            800,
            &DtmfPayload {
                event: 1,
                end: false,
                volume: 10,
                duration: d,
            }
            .to_bytes(),
        );
        now += FRAME;
    }
    outs.extend(drain(&mut p).0);
    now += Duration::from_millis(300);
    p.handle_timeout(now);
    outs.extend(drain(&mut p).0);
    for k in 0..5u32 {
        send(&mut p, now, 0, 2000 + k * 160, &[0xFF; 160]);
        now += FRAME;
    }
    outs.extend(drain(&mut p).0);
    let seqs: Vec<u16> = outs
        .iter()
        .filter_map(|o| match o {
            Out::Endpoint { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(
        seqs.len(),
        5 + 3 + 3 + 5,
        "audio, event, regenerated ends, audio"
    );
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0].wrapping_add(1), "{seqs:?}");
    }
    assert_eq!(
        dtmf_events(&outs),
        vec![(Side::Trunk, '1', Duration::from_millis(60))]
    );
}

/// The application sends a digit to the trunk while the endpoint talks: RFC 4733
/// start, updates and three ends go out, and transcoded audio pauses meanwhile.
#[test]
fn application_sends_digit_to_trunk() {
    let t0 = Instant::now();
    let mut p = pipeline(config(), t0);
    let mut enc = pstn_bridge::media::OpusEncoder::new(Default::default()).unwrap();
    let pcm = media_util::speech_like(160, 0.0);
    let mut opus = [0u8; 400];
    let n = enc.encode(&pcm, &mut opus).unwrap();
    let mut packets = Vec::new();
    for k in 0..40u32 {
        let now = t0 + FRAME * k;
        p.handle_endpoint_media(
            now,
            endpoint_frame(111, k as u16, k * 960, false, &opus[..n]),
        )
        .unwrap();
        if k == 10 {
            p.send_dtmf(now, Side::Trunk, '#', Duration::from_millis(100))
                .unwrap();
        }
        p.handle_timeout(now);
        for o in drain(&mut p).0 {
            if let Out::Trunk(b) = o {
                let (h, pl) = parse_rtp(&b).unwrap();
                packets.push((k, h, pl.to_vec()));
            }
        }
    }
    let dtmf: Vec<_> = packets
        .iter()
        .filter(|(_, h, _)| h.pt == TRUNK_TE)
        .collect();
    assert!(dtmf[0].1.marker);
    let ends: Vec<_> = dtmf
        .iter()
        .map(|(_, _, pl)| DtmfPayload::parse(pl).unwrap())
        .filter(|d| d.end)
        .collect();
    assert_eq!(ends.len(), 3);
    assert!(ends.iter().all(|d| d.event == 11 && d.duration == 800));
    assert!(dtmf.iter().all(|(_, h, _)| h.ts == dtmf[0].1.ts));
    let (first, last) = (dtmf[0].0, dtmf[dtmf.len() - 1].0);
    assert!(
        packets
            .iter()
            .all(|(k, h, _)| h.pt == TRUNK_TE || *k < first || *k > last),
        "no audio while the digit plays"
    );
    for w in packets.windows(2) {
        assert_eq!(w[1].1.seq, w[0].1.seq.wrapping_add(1));
    }
    assert!(matches!(
        p.send_dtmf(t0, Side::Trunk, 'x', Duration::from_millis(100)),
        Err(pstn_bridge::media::MediaError::NotADigit)
    ));
}
