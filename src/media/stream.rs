//! Our outgoing RTP stream toward one side: a fixed SSRC and sequence/timestamp
//! rewriting so the far end sees one continuous stream across source changes.

use std::time::Instant;

use super::stats::TxCounters;

/// Sequence and timestamp state of one outgoing stream.
#[derive(Debug, Clone)]
pub struct TxStream {
    ssrc: u32,
    clock: u32,
    frame_ts: u32,
    /// Next sequence number for generated packets; highest sent + 1.
    next_seq: u16,
    /// Timestamp clock for generated (transcoded) frames; advances every tick.
    gen_ts: u32,
    /// Passthrough mapping: out = in + offset.
    seq_off: u16,
    ts_off: u32,
    mapped: bool,
    last_ts: u32,
    last_sent: Option<Instant>,
    marker: bool,
    /// Packets and bytes sent.
    pub counters: TxCounters,
}

impl TxStream {
    /// A stream with our SSRC; initial sequence and timestamp derive from it.
    pub fn new(ssrc: u32, clock: u32, frame_ts: u32) -> Self {
        let ts0 = ssrc.rotate_left(11) ^ 0x1F2E_3D4C;
        Self {
            ssrc,
            clock: clock.max(1),
            frame_ts: frame_ts.max(1),
            next_seq: (ssrc >> 16) as u16 ^ 0x2A5C,
            gen_ts: ts0,
            seq_off: 0,
            ts_off: 0,
            mapped: false,
            last_ts: ts0,
            last_sent: None,
            marker: true,
            counters: TxCounters::default(),
        }
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The latest timestamp sent (for RTCP SR).
    pub fn last_ts(&self) -> u32 {
        self.last_ts
    }

    /// Advances the generated clock by one tick.
    pub fn tick(&mut self) {
        self.gen_ts = self.gen_ts.wrapping_add(self.frame_ts);
    }

    /// Advances the generated clock by `n` ticks (late timer).
    pub fn skip(&mut self, n: u32) {
        self.gen_ts = self.gen_ts.wrapping_add(self.frame_ts.wrapping_mul(n));
        self.marker = true;
    }

    /// The generated clock now.
    pub fn gen_ts(&self) -> u32 {
        self.gen_ts
    }

    /// Marks a discontinuity: the next packet carries the marker bit.
    pub fn gap(&mut self) {
        self.marker = true;
    }

    /// Header fields for a generated packet at `ts`: (seq, marker).
    pub fn next_generated(&mut self, now: Instant, ts: u32) -> (u16, bool) {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        self.last_ts = ts;
        self.last_sent = Some(now);
        (seq, std::mem::take(&mut self.marker))
    }

    /// Re-anchors the passthrough mapping on a new input stream so output continues
    /// from the last packet sent, with the timestamp advanced by the wall-clock gap.
    pub fn rebase(&mut self, now: Instant, in_seq: u16, in_ts: u32) {
        let elapsed = match self.last_sent {
            Some(t) => {
                let units = now.saturating_duration_since(t).as_micros() as u64 * self.clock as u64
                    / 1_000_000;
                // Whole frames, at least one.
                ((units / self.frame_ts as u64).max(1) * self.frame_ts as u64) as u32
            }
            None => 0,
        };
        self.seq_off = self.next_seq.wrapping_sub(in_seq);
        self.ts_off = self.last_ts.wrapping_add(elapsed).wrapping_sub(in_ts);
        self.mapped = true;
        self.marker = true;
    }

    /// Maps an input timestamp (passthrough).
    pub fn map_ts(&self, in_ts: u32) -> u32 {
        in_ts.wrapping_add(self.ts_off)
    }

    /// Header fields for a passthrough packet: (seq, ts, marker).
    pub fn map(
        &mut self,
        now: Instant,
        in_seq: u16,
        in_ts: u32,
        in_marker: bool,
    ) -> (u16, u32, bool) {
        if !self.mapped {
            self.rebase(now, in_seq, in_ts);
        }
        let seq = in_seq.wrapping_add(self.seq_off);
        let ts = self.map_ts(in_ts);
        if seq.wrapping_sub(self.next_seq) < 0x8000 {
            self.next_seq = seq.wrapping_add(1);
            self.last_ts = ts;
            self.last_sent = Some(now);
        }
        (seq, ts, in_marker | std::mem::take(&mut self.marker))
    }

    /// A sequence number for a packet we insert into a passthrough stream (a
    /// regenerated DTMF end); later input is shifted so numbering stays gap-free.
    pub fn insert(&mut self) -> u16 {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        self.seq_off = self.seq_off.wrapping_add(1);
        seq
    }

    /// Counts a sent packet.
    pub fn count(&mut self, payload: usize) {
        self.counters.packets += 1;
        self.counters.bytes += payload as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn passthrough_stays_continuous_across_source_change() {
        let t0 = Instant::now();
        let mut s = TxStream::new(1234, 8000, 160);
        let (a, ta, m) = s.map(t0, 100, 5000, false);
        assert!(m);
        let (b, tb, m) = s.map(t0 + Duration::from_millis(20), 101, 5160, false);
        assert_eq!((b, tb.wrapping_sub(ta), m), (a.wrapping_add(1), 160, false));
        // New source after 1 s of hold: seq continues, timestamp follows the wall clock.
        s.rebase(t0 + Duration::from_millis(1020), 9, 777);
        let (c, tc, m) = s.map(t0 + Duration::from_millis(1020), 9, 777, false);
        assert_eq!((c, tc.wrapping_sub(tb), m), (b.wrapping_add(1), 8000, true));
        assert_eq!(s.insert(), c.wrapping_add(1));
        let (d, _, _) = s.map(t0 + Duration::from_millis(1040), 10, 937, false);
        assert_eq!(d, c.wrapping_add(2));
    }
}
