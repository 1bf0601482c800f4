//! Pipeline behaviour on simulated time: RTP inactivity timeout, strict source and
//! latching, stream continuity across a far-end restart, RTCP SR/RR with RTT.

mod media_util;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use media_util::*;
use pstn_bridge::media::wire::{parse_rtcp, parse_rtp, write_report};
use pstn_bridge::media::{
    MediaConfig, MediaError, MediaEvent, MediaPipeline, ReportBlock, RtcpItem, Side, SourcePolicy,
};

fn events(outs: &[Out]) -> Vec<MediaEvent> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Event(e) => Some(*e),
            _ => None,
        })
        .collect()
}

#[test]
fn rtp_timeout_fires_once_on_simulated_time() {
    let t0 = Instant::now();
    let cfg = MediaConfig {
        rtp_timeout: Some(Duration::from_secs(3)),
        ..pcmu_config()
    };
    let mut p = pipeline(cfg, t0);
    let mut now = t0;
    for k in 0..50u16 {
        p.handle_trunk_rtp(
            now,
            trunk_addr(),
            &rtp(0, k, k as u32 * 160, 1, false, &[0xFF; 160]),
        )
        .unwrap();
        now += FRAME;
    }
    let last = now - FRAME;
    // Follow the pipeline's own timeouts, as a driver would.
    let mut fired = Vec::new();
    let (_, mut next) = drain(&mut p);
    while next < t0 + Duration::from_secs(20) {
        p.handle_timeout(next);
        let (outs, n) = drain(&mut p);
        for e in events(&outs) {
            if let MediaEvent::RtpTimeout { after } = e {
                fired.push((next, after));
            }
        }
        assert!(n >= next, "time went back");
        next = n.max(next + Duration::from_millis(1));
    }
    assert_eq!(fired.len(), 1, "{fired:?}");
    let (at, after) = fired[0];
    assert!(at >= last + Duration::from_secs(3), "fired early");
    assert!(at <= last + Duration::from_secs(3) + Duration::from_millis(1));
    assert!(after >= Duration::from_secs(3));
    // Media resuming re-arms it.
    p.handle_trunk_rtp(
        next,
        trunk_addr(),
        &rtp(0, 50, 8000, 1, false, &[0xFF; 160]),
    )
    .unwrap();
    let (_, n) = drain(&mut p);
    assert!(n <= next + Duration::from_secs(3));
}

#[test]
fn strict_source_rejects_bleed_and_latching_locks_port() {
    let t0 = Instant::now();
    let sdp: SocketAddr = "192.0.2.10:4000".parse().unwrap();
    let cfg = MediaConfig {
        source: SourcePolicy::Strict(sdp),
        ..pcmu_config()
    };
    let mut p = pipeline(cfg, t0);
    let evil: SocketAddr = "203.0.113.5:4000".parse().unwrap();
    let pkt = rtp(0, 1, 160, 1, false, &[0xFF; 160]);
    assert!(matches!(
        p.handle_trunk_rtp(t0, evil, &pkt),
        Err(MediaError::UnexpectedSource)
    ));
    assert!(drain(&mut p).0.is_empty());
    p.handle_trunk_rtp(t0, sdp, &pkt).unwrap();
    assert_eq!(
        drain(&mut p)
            .0
            .iter()
            .filter(|o| matches!(o, Out::Endpoint { .. }))
            .count(),
        1
    );
    assert_eq!(p.stats().rejected_source, 1);

    // Latching: the first packet from the SDP IP fixes the port.
    let ip = sdp.ip();
    p.set_source_policy(SourcePolicy::LatchFromIp(ip));
    let nat: SocketAddr = SocketAddr::new(ip, 31_000);
    p.handle_trunk_rtp(t0, nat, &rtp(0, 2, 320, 1, false, &[0xFF; 160]))
        .unwrap();
    assert!(events(&drain(&mut p).0).contains(&MediaEvent::SourceLatched(nat)));
    assert_eq!(p.trunk_remote(), Some(nat));
    let other_port = SocketAddr::new(ip, 31_002);
    assert!(
        p.handle_trunk_rtp(t0, other_port, &rtp(0, 3, 480, 1, false, &[0xFF; 160]))
            .is_err()
    );
    assert_eq!(p.stats().rejected_source, 2);
}

#[test]
fn garbage_from_the_trunk_never_panics() {
    let t0 = Instant::now();
    for cfg in [pcmu_config(), MediaConfig::default()] {
        let mut p = pipeline(cfg, t0);
        let mut x = 99u32;
        for len in 0..400usize {
            let mut b: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (x >> 16) as u8
                })
                .collect();
            if len > 1 {
                b[0] = 0x80 | (b[0] & 0x3F);
                b[1] &= if len % 3 == 0 { 0x7F } else { 0xFF };
                if len % 5 == 0 {
                    b[1] = 0; // PCMU with random payload
                }
            }
            let _ = p.handle_trunk_rtp(t0, trunk_addr(), &b);
            let _ = p.handle_trunk_rtcp(t0, trunk_addr(), &b);
            let _ = p.handle_endpoint_media(t0, endpoint_frame(111, len as u16, 0, false, &b));
            p.handle_timeout(t0 + FRAME * len as u32);
            drain(&mut p);
        }
    }
}

/// After a re-INVITE the trunk restarts with a new SSRC, sequence and timestamp:
/// the endpoint still sees one stream with consecutive numbers.
#[test]
fn passthrough_stream_is_continuous_across_far_end_restart() {
    let t0 = Instant::now();
    let mut p = pipeline(pcmu_config(), t0);
    let mut got = Vec::new();
    let mut now = t0;
    for k in 0..20u16 {
        p.handle_trunk_rtp(
            now,
            trunk_addr(),
            &rtp(0, 500 + k, 1000 + k as u32 * 160, 0xAAAA, false, &[1; 160]),
        )
        .unwrap();
        got.extend(drain(&mut p).0);
        now += FRAME;
    }
    now += Duration::from_millis(400); // hold/re-INVITE gap
    for k in 0..20u16 {
        p.handle_trunk_rtp(
            now,
            trunk_addr(),
            &rtp(
                0,
                40_000 + k,
                9_999_999 + k as u32 * 160,
                0xBBBB,
                false,
                &[2; 160],
            ),
        )
        .unwrap();
        got.extend(drain(&mut p).0);
        now += FRAME;
    }
    let frames: Vec<_> = got
        .iter()
        .filter_map(|o| match o {
            Out::Endpoint {
                seq, ts, marker, ..
            } => Some((*seq, *ts, *marker)),
            _ => None,
        })
        .collect();
    assert_eq!(frames.len(), 40);
    for w in frames.windows(2) {
        assert_eq!(w[1].0, w[0].0.wrapping_add(1), "sequence continuous");
    }
    let gap = frames[20].1.wrapping_sub(frames[19].1);
    assert_eq!(gap, 160 * 21, "timestamp follows the 420 ms wall-clock gap");
    assert!(frames[20].2, "marker on the new talkspurt");
    assert!(events(&got).contains(&MediaEvent::StreamRestarted { side: Side::Trunk }));
    assert_eq!(p.stats().trunk_rx.restarts, 1);
}

#[test]
fn transcoded_stream_to_trunk_has_one_ssrc_and_steady_clock() {
    let t0 = Instant::now();
    let mut p = pipeline(MediaConfig::default(), t0);
    let mut enc = pstn_bridge::media::OpusEncoder::new(Default::default()).unwrap();
    let pcm = speech_like(160 * 60, 0.3);
    let mut pkts = Vec::new();
    for k in 0..60usize {
        let now = t0 + FRAME * k as u32;
        let mut buf = [0u8; 400];
        let n = enc.encode(&pcm[k * 160..(k + 1) * 160], &mut buf).unwrap();
        // The endpoint restarts its stream half-way (new sequence and timestamp base).
        let (seq, ts) = if k < 30 {
            (k as u16, k as u32 * 960)
        } else {
            (9000 + k as u16, 5_000_000 + k as u32 * 960)
        };
        p.handle_endpoint_media(now, endpoint_frame(111, seq, ts, false, &buf[..n]))
            .unwrap();
        p.handle_timeout(now);
        pkts.extend(drain(&mut p).0.into_iter().filter_map(|o| match o {
            Out::Trunk(b) => Some(parse_rtp(&b).unwrap().0),
            _ => None,
        }));
    }
    assert!(pkts.len() >= 50, "{}", pkts.len());
    assert!(
        pkts.iter()
            .all(|h| h.ssrc == MediaConfig::default().trunk_ssrc && h.pt == 0)
    );
    for w in pkts.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1));
        assert_eq!(w[1].ts.wrapping_sub(w[0].ts) % 160, 0);
        assert!(
            w[1].ts.wrapping_sub(w[0].ts) <= 160 * 3,
            "no timestamp jump"
        );
    }
}

#[test]
fn rtcp_reports_both_ways_with_rtt() {
    let t0 = Instant::now();
    let mut p = pipeline(pcmu_config(), t0);
    let mut now = t0;
    let mut sr = None;
    for k in 0..60u16 {
        if k != 30 {
            // One packet lost.
            p.handle_trunk_rtp(
                now,
                trunk_addr(),
                &rtp(0, k, k as u32 * 160, 0x1234, false, &[0xFF; 160]),
            )
            .unwrap();
        }
        p.handle_endpoint_media(
            now,
            endpoint_frame(0, k, k as u32 * 160, false, &[0xFF; 160]),
        )
        .unwrap();
        p.handle_timeout(now);
        for o in drain(&mut p).0 {
            if let Out::Rtcp(b) = o {
                sr = Some((now, b));
            }
        }
        now += FRAME;
    }
    let (sent_at, sr) = sr.expect("an RTCP report within the first second");
    let mut items = Vec::new();
    parse_rtcp(&sr, |i| items.push(i)).unwrap();
    let ours = MediaConfig::default().trunk_ssrc;
    let (ntp, block) = match items.as_slice() {
        [RtcpItem::Sender { ssrc, info }, RtcpItem::Block(b)] => {
            assert_eq!(*ssrc, ours);
            assert!(info.packets >= 45);
            (info.ntp, *b)
        }
        other => panic!("unexpected report {other:?}"),
    };
    assert_eq!(block.ssrc, 0x1234);
    assert!(block.cumulative_lost <= 1);

    // The trunk answers 100 ms later with an RR quoting our SR; it held it 40 ms.
    let rr_block = ReportBlock {
        ssrc: ours,
        fraction_lost: 26,
        cumulative_lost: 3,
        ext_max_seq: 60,
        jitter: 80,
        lsr: (ntp >> 16) as u32,
        dlsr: 65536 * 40 / 1000,
    };
    let mut buf = [0u8; 128];
    let n = write_report(&mut buf, 0x1234, None, Some(rr_block), b"carrier").unwrap();
    p.handle_trunk_rtcp(
        sent_at + Duration::from_millis(100),
        trunk_addr(),
        &buf[..n],
    )
    .unwrap();
    let r = p.stats().remote;
    assert_eq!(
        (r.fraction_lost, r.cumulative_lost, r.jitter_us),
        (26, 3, 10_000)
    );
    assert!((59_000..=61_000).contains(&r.rtt_us), "rtt {} us", r.rtt_us);
    assert_eq!(p.stats().rtcp_rx, 1);
}

#[test]
fn a_stalled_pipeline_catches_up_without_dropping_output() {
    let t0 = Instant::now();
    let mut p = pipeline(MediaConfig::default(), t0);
    let mut enc = pstn_bridge::media::OpusEncoder::new(Default::default()).unwrap();
    let pcm = speech_like(160 * 40, 0.7);
    let mut sent = 0;
    let mut send = |p: &mut MediaPipeline, k: usize| {
        let mut buf = [0u8; 400];
        let n = enc.encode(&pcm[k * 160..(k + 1) * 160], &mut buf).unwrap();
        let now = t0 + FRAME * k as u32;
        p.handle_endpoint_media(
            now,
            endpoint_frame(111, k as u16, k as u32 * 960, false, &buf[..n]),
        )
        .unwrap();
    };
    // Steady start: 10 frames in, ticking as they come.
    for k in 0..10 {
        send(&mut p, k);
        p.handle_timeout(t0 + FRAME * k as u32);
        sent += count_trunk(&drain(&mut p).0);
    }
    // The task stalls for 10 ticks while 10 more frames queue up, then runs again: every
    // due tick plays, though 10 ticks' output is more than the output ring holds at once.
    for k in 10..20 {
        send(&mut p, k);
    }
    let now = t0 + FRAME * 19;
    let mut caught_up = 0;
    loop {
        p.handle_timeout(now);
        let (outs, next) = drain(&mut p);
        caught_up += count_trunk(&outs);
        if next > now {
            break;
        }
    }
    assert_eq!(
        caught_up, 10,
        "one trunk frame per due tick (before: {sent})"
    );
}

fn count_trunk(outs: &[Out]) -> usize {
    outs.iter().filter(|o| matches!(o, Out::Trunk(_))).count()
}

#[test]
fn large_packets_pass_through_whole() {
    let t0 = Instant::now();
    let mut p = pipeline(pcmu_config(), t0);
    // 120 ms of G.711 in one packet: more than an output slot holds at first.
    for (k, len) in [(0u16, 160usize), (1, 960), (2, 160)] {
        let payload = vec![0x55 ^ k as u8; len];
        let now = t0 + FRAME * u32::from(k);
        p.handle_trunk_rtp(
            now,
            trunk_addr(),
            &rtp(0, k, u32::from(k) * 160, 7, false, &payload),
        )
        .unwrap();
        let to_endpoint: Vec<usize> = drain(&mut p)
            .0
            .iter()
            .filter_map(|o| match o {
                Out::Endpoint { payload, .. } => Some(payload.len()),
                _ => None,
            })
            .collect();
        assert_eq!(to_endpoint, [len], "packet {k}");
    }
}
