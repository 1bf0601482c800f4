//! Prometheus metrics: SIP traffic by method and code, live calls and transactions, and the
//! standard process metrics (`process_cpu_seconds_total`, `process_resident_memory_bytes`).

use prometheus::{Encoder, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    pub sip_requests: IntCounterVec,
    pub sip_responses: IntCounterVec,
    pub sip_dropped: IntCounterVec,
    pub active_calls: IntGauge,
    pub active_transactions: IntGauge,
    /// The admission rule's view of CPU load, in percent of the usable cores.
    pub cpu_load_percent: prometheus::Gauge,
    pub rtp_packets: IntCounterVec,
    pub media_packets: IntCounterVec,
    pub media_bytes: IntCounterVec,
    pub media_lost: IntCounterVec,
    pub media_late: IntCounterVec,
    pub media_rejected: IntCounterVec,
    /// Inbound calls: INVITE received to 200 OK sent (for endpoint calls this includes the
    /// time the endpoint took to answer).
    pub inbound_answer_seconds: prometheus::Histogram,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, label: &str| {
            let c = IntCounterVec::new(Opts::new(name, help), &[label])
                .expect("static metric definition is valid");
            registry
                .register(Box::new(c.clone()))
                .expect("metric names are unique");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("static metric definition is valid");
            registry
                .register(Box::new(g.clone()))
                .expect("metric names are unique");
            g
        };
        let m = Self {
            sip_requests: counter(
                "sip_requests_total",
                "SIP requests received, by method.",
                "method",
            ),
            sip_responses: counter(
                "sip_responses_total",
                "SIP responses sent, by status code.",
                "code",
            ),
            sip_dropped: counter(
                "sip_dropped_total",
                "SIP messages dropped unanswered, by reason.",
                "reason",
            ),
            rtp_packets: counter(
                "rtp_packets_total",
                "RTP packets handled, by direction.",
                "direction",
            ),
            media_packets: counter(
                "media_packets_total",
                "Media packets of ended calls, by stream.",
                "stream",
            ),
            media_bytes: counter(
                "media_bytes_total",
                "Media payload bytes of ended calls, by stream.",
                "stream",
            ),
            media_lost: counter(
                "media_lost_packets_total",
                "Packets lost on receive, by stream.",
                "stream",
            ),
            media_late: counter(
                "media_late_packets_total",
                "Packets that arrived too late to play, by stream.",
                "stream",
            ),
            media_rejected: counter(
                "media_rejected_packets_total",
                "Packets dropped: wrong source or malformed.",
                "reason",
            ),
            active_calls: gauge("active_calls", "Calls in progress."),
            active_transactions: gauge("sip_active_transactions", "Live SIP transactions."),
            cpu_load_percent: {
                let g = prometheus::Gauge::new(
                    "cpu_load_percent",
                    "Measured CPU load plus calls admitted since, in percent of usable cores.",
                )
                .expect("valid metric");
                let _ = registry.register(Box::new(g.clone()));
                g
            },
            inbound_answer_seconds: {
                let h = prometheus::Histogram::with_opts(
                    prometheus::HistogramOpts::new(
                        "inbound_answer_seconds",
                        "Inbound calls: INVITE received to 200 OK sent, including the endpoint's answer time.",
                    )
                    .buckets(vec![
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    ]),
                )
                .expect("valid metric");
                let _ = registry.register(Box::new(h.clone()));
                h
            },
            registry,
        };
        #[cfg(target_os = "linux")]
        if let Ok(pc) = super::process_metrics::ProcessMetrics::new() {
            // Registration can only fail if names clash, which they do not.
            let _ = m.registry.register(Box::new(pc));
        }
        m
    }

    /// Adds one ended call's media counters to the totals.
    pub fn add_call_media(&self, s: &crate::media::MediaStats) {
        for (stream, packets, bytes) in [
            ("trunk_rx", s.trunk_rx.packets, s.trunk_rx.bytes),
            ("endpoint_rx", s.endpoint_rx.packets, s.endpoint_rx.bytes),
            ("trunk_tx", s.trunk_tx.packets, s.trunk_tx.bytes),
            ("endpoint_tx", s.endpoint_tx.packets, s.endpoint_tx.bytes),
        ] {
            self.media_packets
                .with_label_values(&[stream])
                .inc_by(packets);
            self.media_bytes.with_label_values(&[stream]).inc_by(bytes);
        }
        for (stream, rx) in [("trunk_rx", &s.trunk_rx), ("endpoint_rx", &s.endpoint_rx)] {
            self.media_lost.with_label_values(&[stream]).inc_by(rx.lost);
            self.media_late.with_label_values(&[stream]).inc_by(rx.late);
        }
        self.media_rejected
            .with_label_values(&["source"])
            .inc_by(s.rejected_source);
        self.media_rejected
            .with_label_values(&["malformed"])
            .inc_by(s.malformed);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
