//! What one end of a call received: packets, loss from sequence numbers, and RFC 3550
//! interarrival jitter; and percentiles over calls.

use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct RxStats {
    pub received: u64,
    /// Extended sequence numbers of the first and highest packet.
    first: Option<u64>,
    highest: u64,
    /// Last packet's arrival and RTP time in seconds, for jitter.
    last: Option<(Instant, f64)>,
    /// RFC 3550 §6.4.1 running estimate, in seconds.
    jitter_s: f64,
}

impl RxStats {
    /// One packet: extended sequence number, RTP timestamp in seconds, arrival time.
    pub fn record(&mut self, seq: u64, rtp_time_s: f64, arrival: Instant) {
        self.received += 1;
        match self.first {
            None => {
                self.first = Some(seq);
                self.highest = seq;
            }
            Some(first) => {
                self.first = Some(first.min(seq));
                self.highest = self.highest.max(seq);
            }
        }
        if let Some((at, ts)) = self.last {
            let transit_change = arrival.duration_since(at).as_secs_f64() - (rtp_time_s - ts);
            self.jitter_s += (transit_change.abs() - self.jitter_s) / 16.0;
        }
        self.last = Some((arrival, rtp_time_s));
    }

    /// Packets the sequence numbers say were sent between the first and highest received.
    pub fn expected(&self) -> u64 {
        self.first.map_or(0, |f| self.highest - f + 1)
    }

    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }

    pub fn jitter_ms(&self) -> f64 {
        self.jitter_s * 1000.0
    }
}

/// Extends 16-bit RTP sequence numbers into a monotonic count.
#[derive(Debug, Default, Clone)]
pub struct SeqExtender {
    last: Option<u64>,
}

impl SeqExtender {
    pub fn extend(&mut self, seq: u16) -> u64 {
        let ext = match self.last {
            None => u64::from(seq) + (1 << 16),
            Some(last) => {
                let cycle = last & !0xffff;
                let candidates = [cycle.wrapping_sub(1 << 16), cycle, cycle + (1 << 16)];
                let pick = candidates
                    .iter()
                    .map(|c| c + u64::from(seq))
                    .min_by_key(|c| c.abs_diff(last));
                pick.unwrap_or(last)
            }
        };
        self.last = Some(self.last.map_or(ext, |l| l.max(ext)));
        ext
    }
}

/// Nearest-rank percentile of `values` (sorted here); `None` when empty.
pub fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn counts_loss_from_gaps_and_reordering() {
        let t0 = Instant::now();
        let mut s = RxStats::default();
        for seq in [10u64, 11, 13, 12, 15] {
            s.record(seq, seq as f64 * 0.02, t0 + Duration::from_millis(seq * 20));
        }
        assert_eq!(s.expected(), 6);
        assert_eq!(s.received, 5);
        assert_eq!(s.lost(), 1);
    }

    #[test]
    fn jitter_is_zero_for_a_steady_stream_and_grows_with_wobble() {
        let t0 = Instant::now();
        let mut steady = RxStats::default();
        let mut wobbly = RxStats::default();
        for i in 0..200u64 {
            let ts = i as f64 * 0.02;
            steady.record(i, ts, t0 + Duration::from_millis(i * 20));
            let wobble = if i % 2 == 0 { 0 } else { 10 };
            wobbly.record(i, ts, t0 + Duration::from_millis(i * 20 + wobble));
        }
        assert!(steady.jitter_ms() < 0.001, "{}", steady.jitter_ms());
        // Every transit change is 10 ms: the estimate converges to 10 ms.
        assert!(
            (wobbly.jitter_ms() - 10.0).abs() < 0.5,
            "{}",
            wobbly.jitter_ms()
        );
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut x = SeqExtender::default();
        let a = x.extend(65534);
        let b = x.extend(65535);
        let c = x.extend(0);
        let d = x.extend(65535); // late packet from before the wrap
        assert_eq!((b - a, c - b), (1, 1));
        assert_eq!(d, b);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut v, 50.0), Some(50.0));
        assert_eq!(percentile(&mut v, 99.0), Some(99.0));
        assert_eq!(percentile(&mut [], 99.0), None);
        assert_eq!(percentile(&mut [7.0], 99.0), Some(7.0));
    }
}
