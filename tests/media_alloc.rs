//! Zero allocations per packet after warm-up, for passthrough and for transcoding.
//!
//! A counting global allocator counts allocations made on the test's own thread
//! while `COUNTING` is set. libopus's C `malloc` is not seen by Rust's allocator;
//! it allocates its state in `opus_*_create` (pipeline construction) and uses the
//! stack per frame. Checked once under valgrind: this whole test process made 657
//! heap allocations (C and Rust together) for its 20,400 packets and frames.

mod media_util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;

use media_util::*;
use pstn_bridge::media::wire::write_rtp;
use pstn_bridge::media::{Law, MediaConfig, MediaOutput, MediaPipeline, RtpHeader};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    let on = COUNTING.try_with(|c| c.get()).unwrap_or(false);
    if on {
        let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(p, l, n) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const WARM_UP: u32 = 200;
const PACKETS: u32 = 10_000;

/// Drives `packets` trunk packets (and the endpoint's looped-back frames) through `p`;
/// returns (allocations during the measured part, trunk packets out, endpoint frames out).
fn run(p: &mut MediaPipeline, t0: Instant) -> (u64, u64, u64) {
    let from = trunk_addr();
    let pcm: Vec<i16> = speech_like(160, 0.0);
    let mut payload = [0u8; 160];
    Law::Mu.encode(&pcm, &mut payload);
    let mut pkt = [0u8; 172];
    let mut echo = [0u8; 1500];
    let (mut trunk_out, mut ep_out) = (0u64, 0u64);
    for k in 0..WARM_UP + PACKETS {
        if k == WARM_UP {
            COUNTING.with(|c| c.set(true));
        }
        let now = t0 + FRAME * k;
        let h = RtpHeader {
            pt: 0,
            seq: k as u16,
            ts: k.wrapping_mul(160),
            ssrc: 7,
            marker: false,
        };
        let n = write_rtp(&mut pkt, &h, &payload).unwrap();
        p.handle_trunk_rtp(now, from, &pkt[..n]).unwrap();
        p.handle_timeout(now);
        let mut looped = None;
        loop {
            match p.poll_output() {
                MediaOutput::TrunkRtp(_) => trunk_out += 1,
                MediaOutput::EndpointMedia(f) => {
                    ep_out += 1;
                    echo[..f.payload.len()].copy_from_slice(f.payload);
                    looped = Some((f.pt, f.seq, f.timestamp, f.payload.len()));
                }
                MediaOutput::Timeout(_) => break,
                _ => {}
            }
        }
        if let Some((pt, seq, ts, len)) = looped {
            p.handle_endpoint_media(now, endpoint_frame(pt, seq, ts, false, &echo[..len]))
                .unwrap();
            loop {
                match p.poll_output() {
                    MediaOutput::TrunkRtp(_) => trunk_out += 1,
                    MediaOutput::Timeout(_) => break,
                    _ => {}
                }
            }
        }
    }
    COUNTING.with(|c| c.set(false));
    (ALLOCS.with(|a| a.replace(0)), trunk_out, ep_out)
}

#[test]
fn passthrough_and_transcoding_allocate_nothing_per_packet() {
    // The counter sees allocations on this thread.
    COUNTING.with(|c| c.set(true));
    let b = std::hint::black_box(Box::new(5u64));
    COUNTING.with(|c| c.set(false));
    drop(b);
    assert_eq!(ALLOCS.with(|a| a.replace(0)), 1);

    let t0 = Instant::now();
    let mut pass = pipeline(pcmu_config(), t0);
    assert!(pass.is_passthrough());
    let (allocs, trunk, ep) = run(&mut pass, t0);
    assert!(
        ep >= PACKETS as u64 && trunk >= PACKETS as u64,
        "forwarded {ep}/{trunk}"
    );
    assert_eq!(
        allocs, 0,
        "passthrough allocated {allocs} times in {PACKETS} packets"
    );

    let mut trans = pipeline(MediaConfig::default(), t0);
    assert!(!trans.is_passthrough());
    let (allocs, trunk, ep) = run(&mut trans, t0);
    assert!(
        ep >= PACKETS as u64 - 10 && trunk >= PACKETS as u64 - 10,
        "transcoded {ep}/{trunk}"
    );
    assert_eq!(
        allocs, 0,
        "transcoding allocated {allocs} times in {PACKETS} packets"
    );
    let s = trans.stats();
    assert_eq!(s.trunk_rx.packets, (WARM_UP + PACKETS) as u64);
}
