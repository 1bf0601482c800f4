//! Per-call counters (plain data for the caller's `/metrics` and CDRs) and the RFC 3550
//! receive-side bookkeeping that produces them.

/// Counters for one received stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxCounters {
    /// Packets accepted (including duplicates and late ones).
    pub packets: u64,
    /// Payload bytes accepted.
    pub bytes: u64,
    /// Packets never received (RFC 3550 cumulative loss, summed over source restarts).
    pub lost: u64,
    /// Packets that arrived after their playout time.
    pub late: u64,
    /// Duplicate packets dropped.
    pub duplicates: u64,
    /// Interarrival jitter in microseconds (RFC 3550 estimator).
    pub jitter_us: u32,
    /// Source restarts seen (new SSRC, sequence or timestamp jump).
    pub restarts: u64,
}

/// Counters for one sent stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxCounters {
    /// Packets sent.
    pub packets: u64,
    /// Payload bytes sent.
    pub bytes: u64,
}

/// What the trunk's last RTCP report said about our stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoteReport {
    /// Fraction lost since its previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost.
    pub cumulative_lost: i32,
    /// Jitter it measured, in microseconds.
    pub jitter_us: u32,
    /// Round-trip time from LSR/DLSR, in microseconds (0 until known).
    pub rtt_us: u32,
}

/// All counters of one call's media; cheap to copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// RTP received from the trunk.
    pub trunk_rx: RxCounters,
    /// Frames received from the endpoint.
    pub endpoint_rx: RxCounters,
    /// RTP sent to the trunk.
    pub trunk_tx: TxCounters,
    /// Frames sent to the endpoint.
    pub endpoint_tx: TxCounters,
    /// Packets dropped by the source policy (RTP bleed).
    pub rejected_source: u64,
    /// Packets that failed to parse or carried an unknown payload type.
    pub malformed: u64,
    /// Frames synthesised by loss concealment (both directions).
    pub concealed: u64,
    /// DTMF digits relayed (both directions).
    pub dtmf_digits: u64,
    /// RTCP packets received from the trunk.
    pub rtcp_rx: u64,
    /// RTCP packets sent to the trunk.
    pub rtcp_tx: u64,
    /// Latest report about our stream from the trunk.
    pub remote: RemoteReport,
}

/// Classification of an arriving packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Next in line or within the window.
    Fresh,
    /// A new source: SSRC change, or a sequence or timestamp jump.
    Restart,
    /// Already seen.
    Duplicate,
}

/// Sequence jumps beyond this start a new stream.
const MAX_SEQ_JUMP: i64 = 1000;

/// RFC 3550 receive statistics for one stream.
#[derive(Debug, Clone)]
pub struct RxTracker {
    clock: u32,
    started: bool,
    ssrc: u32,
    base: u64,
    max: u64,
    max_ts: u32,
    window: u64,
    received: u64,
    lost_before: u64,
    expected_prior: u64,
    received_prior: u64,
    transit: Option<i64>,
    /// Jitter in timestamp units, scaled by 16 (RFC 3550 A.8).
    jitter16: u64,
    /// Counters exposed to the caller.
    pub counters: RxCounters,
}

impl RxTracker {
    /// A tracker for a stream with the given RTP clock rate.
    pub fn new(clock: u32) -> Self {
        Self {
            clock: clock.max(1),
            started: false,
            ssrc: 0,
            base: 0,
            max: 0,
            max_ts: 0,
            window: 0,
            received: 0,
            lost_before: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter16: 0,
            counters: RxCounters::default(),
        }
    }

    /// The SSRC of the current source.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    fn restart(&mut self, ssrc: u32, seq: u16, ts: u32) {
        if self.started {
            self.lost_before += self.lost();
            self.counters.restarts += 1;
        }
        self.started = true;
        self.ssrc = ssrc;
        self.base = 1 << 32 | seq as u64;
        self.max = self.base;
        self.max_ts = ts;
        self.window = 1;
        self.received = 0;
        self.expected_prior = 0;
        self.received_prior = 0;
        self.transit = None;
    }

    /// Records an arrival; `arrival` is the local clock in this stream's timestamp units.
    pub fn on_packet(
        &mut self,
        arrival: u32,
        ssrc: u32,
        seq: u16,
        ts: u32,
        bytes: usize,
    ) -> Arrival {
        self.counters.packets += 1;
        self.counters.bytes += bytes as u64;
        let delta = seq.wrapping_sub(self.max as u16) as i16 as i64;
        let ts_jump = (ts.wrapping_sub(self.max_ts) as i32).unsigned_abs() > self.clock * 5;
        let mut kind = Arrival::Fresh;
        if !self.started || ssrc != self.ssrc || delta.abs() > MAX_SEQ_JUMP || ts_jump {
            self.restart(ssrc, seq, ts);
            kind = Arrival::Restart;
        } else {
            let ext = (self.max as i64 + delta) as u64;
            if ext > self.max {
                let shift = ext - self.max;
                self.window = if shift >= 64 { 0 } else { self.window << shift };
                self.window |= 1;
                self.max = ext;
                self.max_ts = ts;
            } else {
                let back = self.max - ext;
                if back < 64 {
                    if self.window & (1 << back) != 0 {
                        self.counters.duplicates += 1;
                        return Arrival::Duplicate;
                    }
                    self.window |= 1 << back;
                }
            }
        }
        self.received += 1;
        let transit = arrival.wrapping_sub(ts) as i32 as i64;
        if let Some(prev) = self.transit {
            let d = (transit - prev).unsigned_abs();
            if d < self.clock as u64 {
                // J += (|D| - J) / 16, kept scaled by 16.
                self.jitter16 = self.jitter16 + d - ((self.jitter16 + 8) >> 4);
            }
        }
        self.transit = Some(transit);
        self.counters.jitter_us = (self.jitter() as u64 * 1_000_000 / self.clock as u64) as u32;
        self.counters.lost = self.lost_before + self.lost();
        kind
    }

    fn expected(&self) -> u64 {
        if self.started {
            self.max + 1 - self.base
        } else {
            0
        }
    }

    fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }

    /// Jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        (self.jitter16 >> 4) as u32
    }

    /// Builds the RFC 3550 report-block fields and advances the interval:
    /// (fraction lost, cumulative lost, extended highest sequence, jitter).
    pub fn report(&mut self) -> (u8, u32, u32, u32) {
        let expected = self.expected();
        let exp_int = expected - self.expected_prior;
        let rec_int = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_int = exp_int.saturating_sub(rec_int);
        let fraction = (lost_int << 8).checked_div(exp_int).unwrap_or(0).min(255) as u8;
        let cum = self.lost().min(0x7F_FFFF) as u32;
        let ext_max = (self.max - (1 << 32)) as u32;
        (fraction, cum, ext_max, self.jitter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_loss_duplicates_and_restart() {
        let mut t = RxTracker::new(8000);
        for s in [10u16, 11, 13, 13, 14] {
            t.on_packet(s as u32 * 160, 1, s, s as u32 * 160, 160);
        }
        assert_eq!(t.counters.duplicates, 1);
        assert_eq!(t.counters.lost, 1);
        let (frac, cum, max, _) = t.report();
        assert_eq!((frac, cum, max), (51, 1, 14));
        assert_eq!(t.on_packet(0, 2, 500, 0, 160), Arrival::Restart);
        assert_eq!(t.counters.lost, 1);
        assert_eq!(t.counters.restarts, 1);
    }

    #[test]
    fn jitter_ignores_timestamp_jump() {
        let mut t = RxTracker::new(8000);
        for i in 0..50u32 {
            let jit = if i % 2 == 0 { 0 } else { 80 };
            t.on_packet(i * 160 + jit, 1, i as u16, i * 160, 160);
        }
        let j = t.jitter();
        assert!(j > 30 && j < 90, "{j}");
        t.on_packet(50 * 160, 1, 50, 50 * 160 + 8000 * 100, 160);
        assert!(t.jitter() < 100);
    }
}
