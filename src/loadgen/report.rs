//! The result of a run: one JSON object and one markdown row.

use std::collections::BTreeMap;

use serde::Serialize;

use super::http::Sample;
use super::stats::percentile;
use super::{Measure, Mode, RunArgs};

#[derive(Debug, Serialize)]
pub struct Report {
    pub mode: Mode,
    pub calls: usize,
    pub rate: f64,
    pub hold_s: f64,
    pub endpoints: usize,
    pub calls_ok: usize,
    pub calls_failed: usize,
    pub failed_by_reason: BTreeMap<String, usize>,
    /// Calls up during the measuring window (all set up, none hung up yet).
    pub calls_measured: usize,
    pub window_s: Option<f64>,
    /// Daemon CPU over the window, in percent of one core.
    pub daemon_cpu_percent: Option<f64>,
    pub cpu_percent_per_call: Option<f64>,
    /// 100 / cpu_percent_per_call: calls one core would carry at this run's per-call cost.
    /// An extrapolation: the cost per call falls as load rises (wake-ups amortize), so
    /// what a core holds is measured by running near it (`benches/capacity.sh`).
    pub calls_per_core: Option<f64>,
    /// Daemon RSS growth from before the run to the end of the window, per call.
    pub rss_bytes_per_call: Option<f64>,
    pub daemon_rss_bytes: f64,
    /// The daemon's `active_calls` at the end of the window (its own count of `calls_measured`).
    pub daemon_active_calls: Option<f64>,
    /// Daemon CPU over the whole run per call placed (set-up, media, teardown), in ms.
    pub cpu_ms_per_call: f64,
    /// Daemon CPU averaged over the whole run (set-ups included), percent of one core.
    pub daemon_cpu_percent_run: f64,
    /// Audio packets received by the carrier and by the endpoints.
    pub carrier_packets: u64,
    pub endpoint_packets: u64,
    /// Packets lost over packets expected, both ends together.
    pub loss_percent: f64,
    pub carrier_loss_percent: f64,
    pub endpoint_loss_percent: f64,
    pub carrier_jitter_ms: f64,
    pub endpoint_jitter_ms: f64,
    pub carrier_jitter_ms_max: f64,
    pub endpoint_jitter_ms_max: f64,
    /// Inbound: INVITE → 200 OK. Outbound: startPhoneCall → Connected.
    pub setup_ms_p50: Option<f64>,
    pub setup_ms_p99: Option<f64>,
    /// Answer → first audio at the endpoint.
    pub media_ms_p50: Option<f64>,
    pub media_ms_p99: Option<f64>,
    /// The generator's own CPU over the window, in percent of one core (up to
    /// `loadgen_threads` × 100): near that ceiling the generator, not the daemon, was the
    /// limit.
    pub loadgen_cpu_percent: Option<f64>,
    pub loadgen_threads: u16,
    pub loadgen_late_frames: u64,
    pub sip_retransmits: u64,
    /// CPU time the generator's host lost to other virtual machines over the run
    /// ("steal", percent of all its CPU time): on a VM, a run with more than a few
    /// percent measured a slowed machine. `None` off Linux.
    pub host_steal_percent: Option<f64>,
}

pub const MARKDOWN_HEADER: &str = "| mode | calls ok/failed | rate /s | hold s | calls up | daemon CPU % | CPU %/call | calls/core at this cost | RSS/call KiB | loss % | jitter ms carrier/endpoint | set-up p50/p99 ms | media p99 ms | loadgen CPU % |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

impl Report {
    pub(super) fn new(
        args: &RunArgs,
        endpoints: usize,
        before: Sample,
        after: Sample,
        m: Measure,
    ) -> Report {
        let outcomes = &m.finished;
        let ok: Vec<_> = outcomes.iter().filter(|o| o.failure.is_none()).collect();
        let mut failed_by_reason = BTreeMap::new();
        for o in outcomes {
            if let Some(f) = &o.failure {
                *failed_by_reason.entry(f.clone()).or_insert(0) += 1;
            }
        }
        let sum = |f: &dyn Fn(&super::call::Outcome) -> u64| outcomes.iter().map(f).sum::<u64>();
        let c_exp = sum(&|o| o.carrier.expected());
        let c_lost = sum(&|o| o.carrier.lost());
        let e_exp = sum(&|o| o.endpoint.expected());
        let e_lost = sum(&|o| o.endpoint.lost());
        let pct = |lost: u64, exp: u64| {
            if exp == 0 {
                0.0
            } else {
                lost as f64 * 100.0 / exp as f64
            }
        };
        let with_media: Vec<_> = outcomes.iter().filter(|o| o.carrier.received > 1).collect();
        let mean = |f: &dyn Fn(&super::call::Outcome) -> f64| {
            let n = with_media.len().max(1) as f64;
            with_media.iter().map(|o| f(o)).fold(0.0, |a, b| a + b) / n
        };
        let max =
            |f: &dyn Fn(&super::call::Outcome) -> f64| outcomes.iter().map(f).fold(0.0, f64::max);
        let mut setup: Vec<f64> = ok.iter().filter_map(|o| o.setup_ms).collect();
        let mut media: Vec<f64> = ok.iter().filter_map(|o| o.media_ms).collect();
        let w = m.window.as_ref();
        let window_s = w.map(|w| (w.end.at - w.start.at).as_secs_f64());
        let daemon_cpu_percent =
            w.map(|w| (w.end.cpu_seconds - w.start.cpu_seconds) * 100.0 / window_s.unwrap_or(1.0));
        let per_call = w
            .filter(|w| w.calls_up > 0)
            .and_then(|w| Some(daemon_cpu_percent? / w.calls_up as f64));
        let rss_per_call = w
            .filter(|w| w.calls_up > 0)
            .map(|w| (w.end.rss_bytes - before.rss_bytes) / w.calls_up as f64);
        Report {
            mode: args.mode,
            calls: args.calls,
            rate: args.rate,
            hold_s: args.hold,
            endpoints,
            calls_ok: ok.len(),
            calls_failed: outcomes.len() - ok.len(),
            failed_by_reason,
            calls_measured: w.map_or(0, |w| w.calls_up),
            window_s,
            daemon_cpu_percent,
            cpu_percent_per_call: per_call,
            calls_per_core: per_call.filter(|p| *p > 0.0).map(|p| 100.0 / p),
            rss_bytes_per_call: rss_per_call,
            daemon_rss_bytes: after.rss_bytes,
            daemon_active_calls: w.map(|w| w.end.active_calls),
            cpu_ms_per_call: (after.cpu_seconds - before.cpu_seconds) * 1000.0 / args.calls as f64,
            daemon_cpu_percent_run: (after.cpu_seconds - before.cpu_seconds) * 100.0
                / (after.at - before.at).as_secs_f64().max(1e-3),
            carrier_packets: sum(&|o| o.carrier.received),
            endpoint_packets: sum(&|o| o.endpoint.received),
            loss_percent: pct(c_lost + e_lost, c_exp + e_exp),
            carrier_loss_percent: pct(c_lost, c_exp),
            endpoint_loss_percent: pct(e_lost, e_exp),
            carrier_jitter_ms: mean(&|o| o.carrier.jitter_ms()),
            endpoint_jitter_ms: mean(&|o| o.endpoint.jitter_ms()),
            carrier_jitter_ms_max: max(&|o| o.carrier.jitter_ms()),
            endpoint_jitter_ms_max: max(&|o| o.endpoint.jitter_ms()),
            setup_ms_p50: percentile(&mut setup, 50.0),
            setup_ms_p99: percentile(&mut setup, 99.0),
            media_ms_p50: percentile(&mut media, 50.0),
            media_ms_p99: percentile(&mut media, 99.0),
            loadgen_cpu_percent: w.and_then(|w| Some(w.own_cpu_seconds * 100.0 / window_s?)),
            loadgen_threads: args.threads,
            loadgen_late_frames: outcomes.iter().map(|o| o.late_frames).sum(),
            sip_retransmits: outcomes.iter().map(|o| u64::from(o.sip_retransmits)).sum(),
            host_steal_percent: None,
        }
    }

    pub fn markdown_row(&self) -> String {
        let f = |v: Option<f64>, d: usize| v.map_or("–".to_owned(), |v| format!("{v:.d$}"));
        format!(
            "| {mode} | {ok}/{failed} | {rate} | {hold} | {up} | {cpu} | {per} | {core} | {rss} | {loss:.3} | {cj:.2}/{ej:.2} | {s50}/{s99} | {m99} | {lg} |",
            mode = serde_json::to_value(self.mode)
                .map_or(String::new(), |v| v.as_str().unwrap_or("").to_owned()),
            ok = self.calls_ok,
            failed = self.calls_failed,
            rate = self.rate,
            hold = self.hold_s,
            up = self.calls_measured,
            cpu = f(self.daemon_cpu_percent, 1),
            per = f(self.cpu_percent_per_call, 3),
            core = f(self.calls_per_core, 0),
            rss = f(self.rss_bytes_per_call.map(|b| b / 1024.0), 0),
            loss = self.loss_percent,
            cj = self.carrier_jitter_ms,
            ej = self.endpoint_jitter_ms,
            s50 = f(self.setup_ms_p50, 1),
            s99 = f(self.setup_ms_p99, 1),
            m99 = f(self.media_ms_p99, 1),
            lg = f(self.loadgen_cpu_percent, 1),
        )
    }
}

/// The host's (steal, total) CPU ticks over all CPUs, from the first line of /proc/stat.
pub fn host_cpu_ticks() -> Option<(u64, u64)> {
    parse_cpu_line(std::fs::read_to_string("/proc/stat").ok()?.lines().next()?)
}

/// `cpu  user nice system idle iowait irq softirq steal guest guest_nice`; guest time is
/// already inside user and nice, so it is not added to the total.
fn parse_cpu_line(line: &str) -> Option<(u64, u64)> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = fields
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let steal = *v.get(7)?;
    Some((steal, v.iter().sum()))
}

/// Steal between two readings of [`host_cpu_ticks`], in percent of all CPU time.
pub fn steal_percent(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> Option<f64> {
    let ((s0, t0), (s1, t1)) = (before?, after?);
    let total = t1.checked_sub(t0).filter(|t| *t > 0)?;
    Some(s1.saturating_sub(s0) as f64 * 100.0 / total as f64)
}

/// This process's CPU time (user + system), in seconds; 0 where `/proc` cannot tell.
pub fn own_cpu_seconds() -> f64 {
    crate::api::process_metrics::cpu_seconds().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn steal_is_read_from_the_cpu_line() {
        let a = super::parse_cpu_line("cpu  100 0 50 800 10 0 5 35 7 0").expect("parsed");
        assert_eq!(a, (35, 1000));
        let b = (45, 1100);
        assert_eq!(super::steal_percent(Some(a), Some(b)), Some(10.0));
        assert_eq!(
            super::steal_percent(Some(a), Some(a)),
            None,
            "no time passed"
        );
        assert_eq!(
            super::parse_cpu_line("cpu0 1 2 3 4 5 6 7 8"),
            None,
            "one CPU's line"
        );
        assert_eq!(super::parse_cpu_line("cpu 1 2 3"), None, "too short");
        assert!(super::host_cpu_ticks().is_some(), "this test runs on Linux");
    }

    #[test]
    fn own_cpu_time_grows_with_work() {
        let a = super::own_cpu_seconds();
        let mut x = 0u64;
        let until = std::time::Instant::now() + std::time::Duration::from_millis(300);
        while std::time::Instant::now() < until {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        assert!(super::own_cpu_seconds() > a, "busy loop not counted");
    }
}
