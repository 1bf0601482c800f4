//! Jitter buffer under reorder, loss, duplicates, a timestamp jump, a sequence jump
//! and a flood: correct order, counted drops, bounded depth.

mod media_util;

use std::time::Instant;

use media_util::*;
use pstn_bridge::media::{JitterBuffer, JitterConfig, MediaConfig, Pop, Pushed};

fn jb() -> JitterBuffer {
    JitterBuffer::new(JitterConfig {
        capacity: 32,
        min_delay: 2,
        max_delay: 12,
        ..JitterConfig::default()
    })
}

/// Pops `n` times; returns the first payload byte of each frame, `None` for a gap.
fn play(j: &mut JitterBuffer, n: usize) -> Vec<Option<u8>> {
    (0..n)
        .map(|_| match j.pop() {
            Pop::Frame(f) => Some(f.payload[0]),
            Pop::Missing { .. } => None,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

/// Real-time model: one arrival (or none) and one pop per 20 ms tick, then a few
/// ticks to drain. Returns what played, skipping the initial buffering.
fn realtime(j: &mut JitterBuffer, arrivals: &[Option<(u16, u32)>]) -> Vec<Option<u8>> {
    let mut played = Vec::new();
    for a in arrivals.iter().chain([None, None, None].iter()) {
        if let Some((s, ts)) = a {
            j.push(*s, *ts, 0, &[*s as u8]);
        }
        match j.pop() {
            Pop::Frame(f) => played.push(Some(f.payload[0])),
            Pop::Missing { .. } => played.push(None),
            Pop::Buffering | Pop::Empty => {}
        }
    }
    played
}

#[test]
fn reorder_within_window_plays_in_order() {
    let mut j = jb();
    let order: Vec<_> = [0u16, 2, 1, 3, 5, 4, 6, 7]
        .iter()
        .map(|&s| Some((s, s as u32 * 160)))
        .collect();
    assert_eq!(
        realtime(&mut j, &order),
        (0..8).map(Some).collect::<Vec<_>>()
    );
    assert_eq!(j.stats().late, 0);
}

#[test]
fn loss_is_reported_with_the_next_frame_for_fec() {
    let mut j = jb();
    for s in [0u16, 1, 3] {
        j.push(s, 0, 0, &[s as u8]);
    }
    assert!(matches!(j.pop(), Pop::Frame(_)));
    assert!(matches!(j.pop(), Pop::Frame(_)));
    j.push(4, 0, 0, &[4]);
    match j.pop() {
        Pop::Missing { next: Some(f) } => assert_eq!(f.payload, &[3]),
        other => panic!("expected a gap, got {other:?}"),
    }
    assert_eq!(play(&mut j, 2), vec![Some(3), Some(4)]);
    assert_eq!(j.stats().missing, 1);
}

#[test]
fn duplicates_and_late_packets_are_dropped_and_counted() {
    let mut j = jb();
    for s in 0u16..3 {
        j.push(s, 0, 0, &[s as u8]);
    }
    assert_eq!(j.push(2, 0, 0, &[99]), Pushed::Duplicate);
    assert_eq!(play(&mut j, 2), vec![Some(0), Some(1)]);
    assert_eq!(j.push(1, 0, 0, &[98]), Pushed::Late);
    j.push(3, 0, 0, &[3]);
    assert_eq!(play(&mut j, 2), vec![Some(2), Some(3)]);
    let s = j.stats();
    assert_eq!((s.duplicates, s.late), (1, 1));
}

#[test]
fn timestamp_jump_does_not_disturb_playout() {
    let mut j = jb();
    let arrivals: Vec<_> = (0u16..10)
        .map(|s| {
            Some((
                s,
                if s < 5 {
                    s as u32 * 160
                } else {
                    0x8000_0000 + s as u32 * 160
                },
            ))
        })
        .collect();
    assert_eq!(
        realtime(&mut j, &arrivals),
        (0..10).map(Some).collect::<Vec<_>>()
    );
    assert_eq!(j.stats().resyncs, 0);
}

#[test]
fn sequence_jump_resyncs_instead_of_growing() {
    let mut j = jb();
    for s in 0u16..5 {
        j.push(s, 0, 0, &[s as u8]);
    }
    assert_eq!(j.push(30_000, 0, 0, &[7]), Pushed::Resynced);
    assert!(j.depth() <= 1);
    j.push(30_001, 0, 0, &[8]);
    assert_eq!(play(&mut j, 2), vec![Some(7), Some(8)]);
}

#[test]
fn flood_stays_bounded() {
    let mut j = jb();
    for s in 0..5000u32 {
        j.push(s as u16, s * 160, 0, &[s as u8]);
        assert!(j.depth() <= 32, "depth {} at {s}", j.depth());
        if s % 10 == 0 {
            let _ = j.pop();
        }
    }
    let s = j.stats();
    assert!(s.dropped > 4000, "dropped {}", s.dropped);
    // Back at a steady rate, playout drops the excess down to the target.
    for s in 5000u32..5040 {
        j.push(s as u16, s * 160, 0, &[s as u8]);
        let _ = j.pop();
    }
    assert!(j.depth() <= j.target() as u64 + 2, "depth {}", j.depth());
}

#[test]
fn underrun_grows_target_then_quiet_period_shrinks_it() {
    let mut j = jb();
    j.push(0, 0, 0, &[0]);
    j.push(1, 0, 0, &[1]);
    let t0 = j.target();
    play(&mut j, 2);
    assert!(matches!(j.pop(), Pop::Empty));
    assert_eq!(j.target(), t0 + 1);
    for s in 2u16..600 {
        j.push(s, 0, 0, &[s as u8]);
        let _ = j.pop();
    }
    assert_eq!(j.target(), t0);
}

/// Through the pipeline: reordered, duplicated and lost trunk packets, and a
/// timestamp jump, still give one endpoint frame per tick with counted drops.
#[test]
fn pipeline_counts_and_conceals() {
    let t0 = Instant::now();
    let mut p = pipeline(MediaConfig::default(), t0);
    let payload = [0xD5u8; 160];
    let mut sent = 0;
    let mut frames = 0;
    let order: Vec<u16> = (0..200u16)
        .flat_map(|s| match s % 10 {
            3 => vec![s + 1, s], // swap with the next one
            4 => vec![],         // (already sent)
            7 => vec![s, s],     // duplicate
            9 => vec![],         // lost
            _ => vec![s],
        })
        .collect();
    for (k, s) in order.iter().enumerate() {
        let now = t0 + FRAME * k as u32;
        let ts = if *s < 100 {
            *s as u32 * 160
        } else {
            900_000 + *s as u32 * 160
        };
        p.handle_trunk_rtp(now, trunk_addr(), &rtp(0, *s, ts, 5, false, &payload))
            .unwrap();
        sent += 1;
        p.handle_timeout(now);
        frames += drain(&mut p)
            .0
            .iter()
            .filter(|o| matches!(o, Out::Endpoint { .. }))
            .count();
    }
    let s = p.stats();
    assert_eq!(s.trunk_rx.packets, sent);
    assert!(s.trunk_rx.duplicates >= 20, "{:?}", s.trunk_rx);
    // The timestamp jump at 100 starts a new stream (RFC 3550 counting per stream):
    // 99 and 199 sit at stream ends and cannot be known lost; 18 of the 20 are.
    assert_eq!(s.trunk_rx.restarts, 1);
    assert_eq!(s.trunk_rx.lost, 18);
    assert!(s.concealed >= 15, "concealed {}", s.concealed);
    assert!(
        frames as u64 >= sent - 30,
        "{frames} frames for {sent} packets"
    );
}
