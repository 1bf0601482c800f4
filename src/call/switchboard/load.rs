//! Admission by measured load: new calls are refused (503 with Retry-After) while the
//! daemon's CPU use would pass a share of the cores it may run on. Calls already in
//! progress keep their CPU, so they keep their media.
//!
//! A call costs CPU twice: once to set up (ICE, DTLS handshake, SDP) and then steadily
//! while its media flows. Each half-second sample fits both costs to what was measured
//! (recursive least squares, forgetting old samples): load ≈ steady × calls in progress +
//! set-up × calls admitted per second. A new call is admitted when the load it would bring,
//! with the calls already admitted in this period, stays under the limit; load the model
//! does not explain (anything else the daemon does) is added on top.

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
    /// The part of `load` the cost model does not explain (never below 0).
    unexplained: f64,
    period: f64,
    calls: usize,
    admitted_since_sample: u32,
    cost: CostModel,
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
            unexplained: 0.0,
            period: 0.5,
            calls: 0,
            admitted_since_sample: 0,
            cost: CostModel::new(),
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
            self.calls = active_calls;
            return;
        };
        let period = now.saturating_duration_since(at);
        if period < MIN_PERIOD {
            return;
        }
        let period = period.as_secs_f64();
        let load = ((cpu_seconds - cpu) / period / self.cores).max(0.0);
        let x = [
            (self.calls + active_calls) as f64 / 2.0,
            f64::from(self.admitted_since_sample) / period,
        ];
        self.cost.update(x, load);
        self.unexplained = (load - self.cost.predict(x)).max(0.0);
        self.load = load;
        self.period = period;
        self.calls = active_calls;
        self.last = Some((now, cpu_seconds));
        self.admitted_since_sample = 0;
    }

    /// Admits one more call beside the `active_calls` in progress now, or says when to retry.
    pub fn admit(&mut self, active_calls: usize) -> Result<(), Duration> {
        if self.max <= 0.0 {
            return Ok(());
        }
        // The model decides, but a core measured past the limit takes no new call
        // whatever the model says (its estimate of set-up cost may lag a fast ramp).
        let admitted = self.admitted_since_sample + 1;
        if self.load > self.max || self.expected(admitted, active_calls + 1) > self.max {
            return Err(self.retry_after);
        }
        self.admitted_since_sample = admitted;
        Ok(())
    }

    /// Load expected in this period with `admitted` calls admitted in it so far and `calls`
    /// in progress (counted now, so short calls that already ended cost nothing), as a
    /// share of the cores.
    fn expected(&self, admitted: u32, calls: usize) -> f64 {
        let n = f64::from(admitted);
        let x = [calls as f64, n / self.period];
        self.cost.predict(x) + self.unexplained
    }

    /// The load expected now, in percent (for /metrics).
    pub fn percent(&self) -> f64 {
        self.expected(self.admitted_since_sample, self.calls) * 100.0
    }
}

/// load ≈ steady × calls + set-up × admissions per second, fitted by recursive least
/// squares with forgetting; both costs kept at or above zero.
#[derive(Debug)]
struct CostModel {
    theta: [f64; 2],
    p: [[f64; 2]; 2],
}

/// Forgetting factor: a sample's weight halves after about 14 samples (7 s).
const FORGET: f64 = 0.95;
/// Initial (and largest) uncertainty of each cost.
const P0: f64 = 1e-3;

impl CostModel {
    /// Starts from costs measured on a 2-core VM (`BENCHMARKS.md`, "Load"): 0.3 % of a
    /// core per call, 5 ms per set-up; the first samples correct them.
    fn new() -> Self {
        Self {
            theta: [0.003, 0.005],
            p: [[P0, 0.0], [0.0, P0]],
        }
    }

    fn predict(&self, x: [f64; 2]) -> f64 {
        self.theta[0] * x[0] + self.theta[1] * x[1]
    }

    fn update(&mut self, x: [f64; 2], y: f64) {
        let p = self.p;
        let px = [
            p[0][0] * x[0] + p[0][1] * x[1],
            p[1][0] * x[0] + p[1][1] * x[1],
        ];
        let denom = FORGET + x[0] * px[0] + x[1] * px[1];
        if !denom.is_finite() || denom <= 0.0 {
            return;
        }
        let gain = [px[0] / denom, px[1] / denom];
        let err = y - self.predict(x);
        for (theta, g) in self.theta.iter_mut().zip(gain) {
            *theta = (*theta + g * err).max(0.0);
        }
        for (row, (p_row, g)) in self.p.iter_mut().zip(p.iter().zip(gain)) {
            for (cell, (p_cell, px_j)) in row.iter_mut().zip(p_row.iter().zip(px)) {
                *cell = (p_cell - g * px_j) / FORGET;
            }
        }
        // Without new information in a direction its uncertainty would grow without end
        // (no set-ups for a while): keep it bounded so one sample cannot swing the model.
        for i in 0..2 {
            self.p[i][i] = self.p[i][i].clamp(0.0, P0);
        }
        let bound = (self.p[0][0] * self.p[1][1]).sqrt();
        let off = self.p[0][1].clamp(-bound, bound);
        self.p[0][1] = off;
        self.p[1][0] = off;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A simulated daemon on one core: each call in progress costs `steady` of the core,
    /// each set-up `setup` core-seconds, plus `base`; `rate` calls per second are offered
    /// for `seconds`, each held `hold` seconds. Returns (admitted, refused, peak load).
    fn simulate(
        g: &mut LoadGovernor,
        load: (f64, f64, f64),
        rate: f64,
        hold: f64,
        seconds: f64,
    ) -> (u32, u32, f64) {
        let (steady, setup, base) = load;
        let t0 = Instant::now();
        let (mut admitted, mut refused, mut peak) = (0u32, 0u32, 0f64);
        let mut ends: Vec<f64> = Vec::new();
        let (mut cpu, mut offered) = (0.0, 0.0);
        g.handle_sample(t0, cpu, 1, 0);
        let mut t = 0.0;
        while t < seconds {
            let before = ends.len() as f64;
            let mut new = 0;
            offered += rate * 0.5;
            while offered >= 1.0 {
                offered -= 1.0;
                ends.retain(|e| *e > t);
                match g.admit(ends.len()) {
                    Ok(()) => {
                        new += 1;
                        ends.push(t + hold);
                    }
                    Err(_) => refused += 1,
                }
            }
            admitted += new;
            t += 0.5;
            ends.retain(|e| *e > t);
            let avg = (before + ends.len() as f64) / 2.0;
            let period_load = base + steady * avg + setup * f64::from(new) / 0.5;
            peak = peak.max(period_load);
            cpu += period_load * 0.5;
            g.handle_sample(t0 + Duration::from_secs_f64(t), cpu, 1, ends.len());
        }
        (admitted, refused, peak)
    }

    #[test]
    fn ramp_of_transcoded_calls_stops_near_the_limit_without_overshoot() {
        let mut g = LoadGovernor::new(85, 5);
        // 0.7 % of a core per call, 5 ms to set one up, 50 calls/s offered for 20 s.
        let (admitted, refused, peak) = simulate(&mut g, (0.007, 0.005, 0.01), 50.0, 1e6, 20.0);
        assert!(refused > 0, "capacity was crossed");
        assert!(peak <= 0.95, "peak load {peak}");
        let steady = 0.01 + 0.007 * f64::from(admitted);
        assert!(
            (0.70..=0.90).contains(&steady),
            "{admitted} calls: {steady}"
        );
    }

    #[test]
    fn set_up_cost_alone_does_not_refuse_a_rate_the_core_can_carry() {
        let mut g = LoadGovernor::new(85, 5);
        // Signaling only: 4.7 ms per set-up at 100 calls/s is 47 % of the core.
        let (admitted, refused, peak) = simulate(&mut g, (0.0, 0.0047, 0.01), 100.0, 2.0, 20.0);
        assert_eq!(refused, 0, "admitted {admitted}, peak {peak}");
        // Twice that rate does not fit: some are refused, and the load stays bounded.
        let mut g = LoadGovernor::new(85, 5);
        let (_, refused, peak) = simulate(&mut g, (0.0, 0.0047, 0.01), 250.0, 2.0, 20.0);
        assert!(refused > 0);
        assert!(peak <= 1.0, "peak load {peak}");
    }

    #[test]
    fn short_cheap_calls_are_not_counted_as_held() {
        let mut g = LoadGovernor::new(85, 5);
        // Echo-test calls: 0.2 ms to set up, over before the next sample, 1,000 per second
        // (20 % of the core). Only the first period, on the priors, refuses some.
        let (admitted, refused, peak) = simulate(&mut g, (0.003, 0.0002, 0.01), 1000.0, 0.0, 20.0);
        assert!(refused <= 500, "admitted {admitted}, refused {refused}");
        assert!(peak <= 0.85, "peak load {peak}");
    }

    #[test]
    fn load_the_model_cannot_explain_refuses_calls() {
        let mut g = LoadGovernor::new(85, 5);
        // Something else keeps the core 90 % busy: after the first sample nothing fits.
        let (admitted, refused, _) = simulate(&mut g, (0.007, 0.005, 0.9), 10.0, 60.0, 5.0);
        assert!(admitted <= 5, "{admitted} admitted");
        assert!(refused >= 40, "{refused} refused");
    }

    #[test]
    fn load_is_a_share_of_the_cores_available() {
        let t0 = Instant::now();
        let mut g = LoadGovernor::new(80, 5);
        g.handle_sample(t0, 0.0, 2, 60);
        // 1.2 CPU-seconds per second on 2 cores is 60 %.
        g.handle_sample(t0 + Duration::from_secs(1), 1.2, 2, 60);
        assert!((g.percent() - 60.0).abs() < 1e-6, "{}", g.percent());
        assert!(g.admit(60).is_ok());
    }

    #[test]
    fn disabled_rule_admits_everything_and_short_gaps_wait() {
        let t0 = Instant::now();
        let mut off = LoadGovernor::new(0, 5);
        off.handle_sample(t0, 0.0, 1, 0);
        off.handle_sample(t0 + Duration::from_secs(1), 1.0, 1, 10);
        assert!(off.admit(10).is_ok());
        let mut g = LoadGovernor::new(80, 5);
        g.handle_sample(t0, 0.0, 1, 0);
        g.handle_sample(t0 + Duration::from_millis(50), 0.05, 1, 10);
        assert_eq!(g.percent(), 0.0, "a 50 ms gap is not a measurement");
    }
}
