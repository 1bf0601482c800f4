//! `pstn-bridge-loadgen` against the real daemon on loopback, at a low rate: every mode
//! completes its calls with audio counted at both ends, and calls the daemon refuses are
//! reported as failures with their reason.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::{Daemon, TempDir, free_udp_port};

/// A daemon configuration for `endpoints` load endpoints, as `loadgen config` writes it.
fn config(endpoints: usize, carrier: u16, port_min: u16) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pstn-bridge-loadgen"))
        .args(["config", "--endpoints", &endpoints.to_string()])
        .args(["--sip", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .args(["--carrier", &format!("127.0.0.1:{carrier}")])
        .args(["--port-min", &port_min.to_string()])
        .args(["--port-max", &(port_min + 199).to_string()])
        .args(["--webrtc-port", "0"])
        .output()
        .expect("run loadgen config");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Runs the generator (its own view of the daemon's config: `loadgen_cfg`) and returns
/// its JSON result.
fn run(d: &Daemon, loadgen_cfg: &str, carrier: u16, mode: &str, calls: u32) -> Value {
    run_with(d, loadgen_cfg, carrier, mode, calls, &[])
}

fn run_with(
    d: &Daemon,
    loadgen_cfg: &str,
    carrier: u16,
    mode: &str,
    calls: u32,
    extra: &[&str],
) -> Value {
    let dir = TempDir::new("loadgen");
    let cfg = dir.0.join("load.toml");
    std::fs::write(&cfg, loadgen_cfg).expect("write config");
    let json = dir.0.join("out.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pstn-bridge-loadgen"))
        .args(["--daemon", &format!("http://{}", d.http)])
        .arg("--bridge-config")
        .arg(&cfg)
        .args(["--sip", &d.sip_udp.to_string()])
        .args(["--carrier", &format!("127.0.0.1:{carrier}")])
        // The generator's many media sockets take ephemeral ports; on their own loopback
        // address they cannot collide with media ports other tests' daemons bind.
        .args(["--media-ip", "127.0.0.2"])
        .args(["--mode", mode, "--calls", &calls.to_string()])
        .args(["--rate", "4", "--hold", "3", "--setup-timeout", "10"])
        .args(extra)
        .arg("--json")
        .arg(&json)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn loadgen");
    let end = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if std::time::Instant::now() > end {
            let _ = child.kill();
            panic!(
                "loadgen did not finish in 60 s; daemon log:\n{}",
                d.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "loadgen failed; daemon log:\n{}",
        d.log_text()
    );
    let text = std::fs::read_to_string(&json).expect("JSON written");
    serde_json::from_str(&text).expect("JSON parses")
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v:#}"))
}

/// Calls all completed, audio flowed both ways without loss, and the daemon's own
/// counters were read over the window.
fn assert_clean_media_run(v: &Value, calls: f64) {
    assert_eq!(num(v, "calls_ok"), calls, "{v:#}");
    assert_eq!(num(v, "calls_failed"), 0.0, "{v:#}");
    assert_eq!(num(v, "calls_measured"), calls, "{v:#}");
    // ~2.5 s of 50 packets/s per call reached each end.
    assert!(num(v, "carrier_packets") > calls * 80.0, "{v:#}");
    assert!(num(v, "endpoint_packets") > calls * 80.0, "{v:#}");
    assert!(num(v, "loss_percent") <= 1.0, "{v:#}");
    assert!(num(v, "daemon_cpu_percent") > 0.0, "{v:#}");
    assert!(num(v, "cpu_percent_per_call") > 0.0, "{v:#}");
    assert!(num(v, "setup_ms_p50") <= num(v, "setup_ms_p99"), "{v:#}");
    assert!(num(v, "media_ms_p99") > 0.0, "{v:#}");
    assert_eq!(num(v, "daemon_active_calls"), calls, "{v:#}");
}

#[test]
fn inbound_calls_transcoded_and_passed_through() {
    let carrier = free_udp_port("127.0.0.1");
    let cfg = config(3, carrier, 14000);
    let d = Daemon::start(&cfg);
    let v = run(&d, &cfg, carrier, "transcode", 3);
    assert_eq!(v["mode"], "transcode");
    assert_clean_media_run(&v, 3.0);
    // On a multi-threaded runtime (a generator machine's many cores) it measures the same.
    let v = run_with(&d, &cfg, carrier, "passthrough", 3, &["--threads", "2"]);
    assert_clean_media_run(&v, 3.0);
    assert_eq!(num(&v, "loadgen_threads"), 2.0, "{v:#}");
    // The daemon saw the calls the generator counted.
    let (_, metrics) = d.http_get("/metrics");
    assert!(
        metrics.contains("sip_requests_total{method=\"INVITE\"} 6"),
        "{metrics}"
    );
}

#[test]
fn zero_threads_is_refused_before_anything_starts() {
    let out = Command::new(env!("CARGO_BIN_EXE_pstn-bridge-loadgen"))
        .args(["--threads", "0"])
        .output()
        .expect("run loadgen");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--threads"), "{err}");
}

#[test]
fn outbound_calls_and_signaling_only_calls() {
    let carrier = free_udp_port("127.0.0.1");
    let cfg = config(3, carrier, 14200);
    let d = Daemon::start(&cfg);
    let v = run(&d, &cfg, carrier, "outbound", 3);
    assert_clean_media_run(&v, 3.0);
    let v = run(&d, &cfg, carrier, "signaling", 3);
    assert_eq!(num(&v, "calls_ok"), 3.0, "{v:#}");
    assert_eq!(
        num(&v, "carrier_packets"),
        0.0,
        "no audio in signaling mode: {v:#}"
    );
    assert!(num(&v, "setup_ms_p99") > 0.0, "{v:#}");
}

#[test]
fn refused_calls_are_reported_with_their_reason() {
    // The generator believes in 4 endpoints; the daemon knows only 2 of their DIDs.
    let carrier = free_udp_port("127.0.0.1");
    let daemon_cfg = config(2, carrier, 14400);
    let d = Daemon::start(&daemon_cfg);
    let secret_line = |c: &str| {
        c.lines()
            .find(|l| l.starts_with("secret"))
            .expect("secret")
            .to_owned()
    };
    let mut loadgen_cfg = config(4, carrier, 14400);
    loadgen_cfg = loadgen_cfg.replace(&secret_line(&loadgen_cfg), &secret_line(&daemon_cfg));
    let v = run(&d, &loadgen_cfg, carrier, "passthrough", 4);
    assert_eq!(num(&v, "calls_ok"), 2.0, "{v:#}");
    assert_eq!(num(&v, "calls_failed"), 2.0, "{v:#}");
    assert_eq!(v["failed_by_reason"]["sip 404"], 2, "{v:#}");
}
