//! Admission by measured load: new calls are refused (503 with Retry-After) while the
//! daemon's CPU use, measured over the last sample period, plus the expected cost of the
//! calls admitted since, would pass a share of the cores it may run on. Calls already in
//! progress keep their CPU, so they keep their media.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct LoadGovernor {
    /// Highest admitted load as a share of the cores (0 disables the rule).
    max: f64,
    retry_after: Duration,
    cores: f64,
    last: Option<(Instant, f64)>,
    /// Measured over the last sample period, as a share of the cores.
    load: f64,
    /// Estimated share taken by one call in progress.
    per_call: f64,
    admitted_since_sample: u32,
}

/// Shortest period a sample is measured over; shorter gaps are folded into the next.
const MIN_PERIOD: Duration = Duration::from_millis(200);

impl LoadGovernor {
    pub fn new(max_cpu_percent: u8, retry_after_s: u32) -> Self {
        Self {
            max: f64::from(max_cpu_percent) / 100.0,
            retry_after: Duration::from_secs(u64::from(retry_after_s)),
            cores: 1.0,
            last: None,
            load: 0.0,
            per_call: 0.0,
            admitted_since_sample: 0,
        }
    }

    /// The process's total CPU time (seconds) at `now`, the cores it may run on, and the
    /// calls in progress.
    pub fn handle_sample(
        &mut self,
        now: Instant,
        cpu_seconds: f64,
        cores: usize,
        active_calls: usize,
    ) {
        self.cores = cores.max(1) as f64;
        let Some((at, cpu)) = self.last else {
            self.last = Some((now, cpu_seconds));
            return;
        };
        let period = now.saturating_duration_since(at);
        if period < MIN_PERIOD {
            return;
        }
        let load = ((cpu_seconds - cpu) / period.as_secs_f64() / self.cores).max(0.0);
        self.load = load;
        if active_calls > 0 {
            let sample = load / active_calls as f64;
            // Smoothed: one busy period (a burst of set-ups) does not swing it alone.
            self.per_call = if self.per_call == 0.0 {
                sample
            } else {
                0.7 * self.per_call + 0.3 * sample
            };
        }
        self.last = Some((now, cpu_seconds));
        self.admitted_since_sample = 0;
    }

    /// Admits one more call, or says when to retry.
    pub fn admit(&mut self) -> Result<(), Duration> {
        if self.max <= 0.0 {
            return Ok(());
        }
        if self.expected(self.admitted_since_sample + 1) > self.max {
            return Err(self.retry_after);
        }
        self.admitted_since_sample += 1;
        Ok(())
    }

    /// Load expected with `more` calls beyond the last sample, as a share of the cores.
    fn expected(&self, more: u32) -> f64 {
        self.load + f64::from(more) * self.per_call
    }

    /// The load as last measured plus calls admitted since, in percent (for /metrics).
    pub fn percent(&self) -> f64 {
        self.expected(self.admitted_since_sample) * 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(t0: Instant, s: f64) -> Instant {
        t0 + Duration::from_secs_f64(s)
    }

    #[test]
    fn admits_until_measured_load_plus_new_calls_reaches_the_limit() {
        let t0 = Instant::now();
        let mut g = LoadGovernor::new(80, 5);
        g.handle_sample(t0, 10.0, 1, 0);
        // Nothing measured yet: calls are admitted.
        assert!(g.admit().is_ok());
        // 100 calls used 0.5 s of CPU in 1 s: 0.5 % each.
        g.handle_sample(secs(t0, 1.0), 10.5, 1, 100);
        assert!((g.percent() - 50.0).abs() < 1e-9);
        let admitted = std::iter::from_fn(|| g.admit().ok()).take(1000).count();
        // (80 - 50) / 0.5 = 60 more calls fit (59 or 60 by rounding).
        assert!((59..=60).contains(&admitted), "{admitted}");
        assert_eq!(g.admit(), Err(Duration::from_secs(5)));
        assert!(g.percent() <= 80.0);
    }

    #[test]
    fn a_new_sample_replaces_the_estimate() {
        let t0 = Instant::now();
        let mut g = LoadGovernor::new(80, 5);
        g.handle_sample(t0, 0.0, 1, 0);
        g.handle_sample(secs(t0, 1.0), 0.9, 1, 100);
        assert!(g.admit().is_err(), "90 % > 80 %");
        // Calls ended: load fell to 20 %.
        g.handle_sample(secs(t0, 2.0), 1.1, 1, 25);
        assert!(g.admit().is_ok());
    }

    #[test]
    fn load_is_a_share_of_the_cores_available() {
        let t0 = Instant::now();
        let mut g = LoadGovernor::new(80, 5);
        g.handle_sample(t0, 0.0, 2, 0);
        // 1.2 CPU-seconds per second on 2 cores is 60 %.
        g.handle_sample(secs(t0, 1.0), 1.2, 2, 60);
        assert!((g.percent() - 60.0).abs() < 1e-9);
        assert!(g.admit().is_ok());
    }

    #[test]
    fn disabled_rule_admits_everything_and_short_gaps_wait() {
        let t0 = Instant::now();
        let mut off = LoadGovernor::new(0, 5);
        off.handle_sample(t0, 0.0, 1, 0);
        off.handle_sample(secs(t0, 1.0), 1.0, 1, 10);
        assert!(off.admit().is_ok());
        let mut g = LoadGovernor::new(80, 5);
        g.handle_sample(t0, 0.0, 1, 0);
        g.handle_sample(secs(t0, 0.05), 0.05, 1, 10);
        assert_eq!(g.percent(), 0.0, "a 50 ms gap is not a measurement");
    }
}
