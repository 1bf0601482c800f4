//! The standard `process_*` metrics read from `/proc/self`. The prometheus crate's own
//! process collector truncates CPU time to whole seconds, too coarse for CPU per call.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Counter, Gauge, Opts};

pub struct ProcessMetrics {
    cpu: Counter,
    rss: Gauge,
    threads: Gauge,
    open_fds: Gauge,
    descs: Vec<Desc>,
}

impl ProcessMetrics {
    pub fn new() -> prometheus::Result<Self> {
        let cpu = Counter::with_opts(Opts::new(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        ))?;
        let rss = Gauge::with_opts(Opts::new(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
        ))?;
        let threads = Gauge::with_opts(Opts::new("process_threads", "Number of OS threads."))?;
        let open_fds = Gauge::with_opts(Opts::new(
            "process_open_fds",
            "Number of open file descriptors.",
        ))?;
        let mut descs = Vec::new();
        for c in [&cpu as &dyn Collector, &rss, &threads, &open_fds] {
            descs.extend(c.desc().into_iter().cloned());
        }
        Ok(Self {
            cpu,
            rss,
            threads,
            open_fds,
            descs,
        })
    }

    fn refresh(&self) {
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            let (cpu, threads) = parse_stat(&stat);
            let seen = self.cpu.get();
            if cpu > seen {
                self.cpu.inc_by(cpu - seen);
            }
            self.threads.set(threads);
        }
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            self.rss.set(parse_rss(&status));
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(dir.count() as f64);
        }
    }
}

impl Collector for ProcessMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.refresh();
        let mut out = self.cpu.collect();
        out.extend(self.rss.collect());
        out.extend(self.threads.collect());
        out.extend(self.open_fds.collect());
        out
    }
}

/// This process's CPU time (user + system) in seconds, if `/proc` tells.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    Some(parse_stat(&stat).0)
}

/// CPU seconds (utime + stime, USER_HZ = 100) and threads from `/proc/self/stat`.
fn parse_stat(stat: &str) -> (f64, f64) {
    // The command name may hold spaces and ')': fields are counted after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ((num(11) + num(12)) / 100.0, num(17))
}

/// `VmRSS` from `/proc/self/status`, in bytes.
fn parse_rss(status: &str) -> f64 {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"));
    let kb = line.and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok());
    kb.unwrap_or(0.0) * 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_formats() {
        let stat =
            "4242 (pstn) bridge) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 7 0 100 0";
        assert_eq!(parse_stat(stat), (12.9, 7.0));
        assert_eq!(parse_rss("Name:\tx\nVmRSS:\t  2048 kB\n"), 2_097_152.0);
    }

    #[test]
    fn exposes_live_values() {
        let m = ProcessMetrics::new().expect("metrics");
        let families = m.collect();
        let names: Vec<_> = families.iter().map(|f| f.name().to_owned()).collect();
        assert_eq!(names[0], "process_cpu_seconds_total");
        assert!(m.rss.get() > 0.0, "RSS read");
        assert!(m.threads.get() >= 1.0);
    }
}
