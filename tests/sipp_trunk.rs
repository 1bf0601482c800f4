//! SIPp plays the carrier against the real daemon binary on loopback.

mod support;

use std::time::Duration;

use support::{Daemon, TempDir, describe, scenario, sipp};

/// A test config: trunk `carrier` admits 127.0.0.1 only; `with_credentials` adds a trunk
/// that authenticates by digest instead of address.
fn config(media_base: u16, with_credentials: bool) -> String {
    let creds = if with_credentials {
        "[trunks.authed]\ninbound_auth = { username = \"acme\", password = \"s3cret\" }\n"
    } else {
        ""
    };
    format!(
        r#"
[sip]
bind_udp = "127.0.0.1:0"
bind_tcp = "127.0.0.1:0"
advertised_host = "127.0.0.1"
digest_algorithms = ["MD5"]
[http]
bind = "127.0.0.1:0"
[media]
bind_ip = "127.0.0.1"
advertised_ip = "127.0.0.1"
port_min = {media_base}
port_max = {max}
rtp_timeout_s = 10
[trunks.carrier]
addresses = ["127.0.0.1/32"]
destination = "127.0.0.1:5080"
numbers = ["+*"]
trusted = true
{creds}
[apps.demo]
numbers = {{ "+14155550100" = "alice", "+14155550199" = "echo" }}
trunks = ["carrier"]
[apps.demo.roles.agent]
allow = ["+1*"]
deny = ["+1900*"]
default_caller_id = "+14155550100"
"#,
        max = media_base + 999
    )
}

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn options_is_answered_with_allow_and_supported() {
    let d = Daemon::start(&config(23000, false));
    let dir = TempDir::new("options");
    let sf = scenario("options.xml", &dir, &[]);
    let out = sipp(
        &sf,
        d.sip_udp,
        "127.0.0.1",
        &["-s", "+14155550199", "-m", "3"],
        LIMIT,
    );
    assert!(out.status.success(), "{}\n{}", describe(&out), d.log_text());
}

#[test]
fn refusals_not_a_did_offline_endpoint_unknown_source() {
    let d = Daemon::start(&config(24000, false));
    let dir = TempDir::new("refusals");
    for (code, did, ip) in [
        ("404", "+14155559999", "127.0.0.1"),
        ("480", "+14155550100", "127.0.0.1"),
        ("403", "+14155550199", "127.0.0.2"),
    ] {
        let sf = scenario(
            "invite_refused.xml",
            &dir,
            &[("CODE", code), ("EXTRA", "X-Test: 1")],
        );
        let out = sipp(&sf, d.sip_udp, ip, &["-s", did, "-m", "2"], LIMIT);
        assert!(
            out.status.success(),
            "expected {code} for {did} from {ip}: {}\n{}",
            describe(&out),
            d.log_text()
        );
    }
    let (code, metrics) = d.http_get("/metrics");
    assert_eq!(code, 200);
    assert!(
        metrics.contains("sip_responses_total{code=\"404\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sip_responses_total{code=\"403\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sip_requests_total{method=\"INVITE\"} 6"),
        "{metrics}"
    );
    assert!(
        metrics.contains("process_resident_memory_bytes"),
        "{metrics}"
    );
    assert!(metrics.contains("process_cpu_seconds_total"), "{metrics}");
}

#[test]
fn digest_authenticated_invite_from_an_unlisted_address() {
    let d = Daemon::start(&config(25000, true));
    let dir = TempDir::new("digest");
    let sf = scenario("digest_invite.xml", &dir, &[]);
    let out = sipp(
        &sf,
        d.sip_udp,
        "127.0.0.3",
        &[
            "-s",
            "+14155550199",
            "-m",
            "2",
            "-au",
            "acme",
            "-ap",
            "s3cret",
        ],
        LIMIT,
    );
    assert!(out.status.success(), "{}\n{}", describe(&out), d.log_text());
    let wrong = sipp(
        &sf,
        d.sip_udp,
        "127.0.0.3",
        &[
            "-s",
            "+14155550199",
            "-m",
            "1",
            "-au",
            "acme",
            "-ap",
            "nope",
        ],
        LIMIT,
    );
    assert!(
        !wrong.status.success(),
        "a wrong password must not get through"
    );
}

#[test]
fn reinvite_hold_and_session_refresh() {
    let d = Daemon::start(&config(26000, false));
    let dir = TempDir::new("reinvite");
    let sf = scenario("reinvite_refresh.xml", &dir, &[]);
    let out = sipp(
        &sf,
        d.sip_udp,
        "127.0.0.1",
        &["-s", "+14155550199", "-m", "2"],
        LIMIT,
    );
    assert!(out.status.success(), "{}\n{}", describe(&out), d.log_text());
}

#[test]
fn tcp_transport_answers_options() {
    let d = Daemon::start(&config(27000, false));
    let tcp = d.sip_tcp.expect("TCP listener");
    let dir = TempDir::new("tcp");
    let sf = scenario("options.xml", &dir, &[]);
    let out = sipp(
        &sf,
        tcp,
        "127.0.0.1",
        &["-s", "+14155550199", "-m", "3", "-t", "t1"],
        LIMIT,
    );
    assert!(out.status.success(), "{}\n{}", describe(&out), d.log_text());
}

#[test]
fn healthz_and_sigterm_drain() {
    let mut d = Daemon::start(&config(28000, false));
    assert_eq!(d.http_get("/healthz").0, 200);
    let status = d
        .signal("TERM")
        .expect("daemon exits on SIGTERM with no calls");
    assert!(status.success(), "{status:?}\n{}", d.log_text());
    assert!(d.log_text().contains("draining"), "{}", d.log_text());
}

#[test]
fn privacy_id_with_pai_reaches_routing_as_unknown_caller() {
    let d = Daemon::start(&config(29000, false));
    let dir = TempDir::new("privacy");
    let pai = "P-Asserted-Identity: \"Bob\" <sip:+14155551234@127.0.0.1;user=phone>";
    let hidden = scenario(
        "invite_refused.xml",
        &dir,
        &[("CODE", "480"), ("EXTRA", &format!("{pai}\r\nPrivacy: id"))],
    );
    let out = sipp(
        &hidden,
        d.sip_udp,
        "127.0.0.1",
        &["-s", "+14155550100", "-m", "1"],
        LIMIT,
    );
    assert!(out.status.success(), "{}", describe(&out));
    let shown = scenario(
        "invite_refused.xml",
        &dir,
        &[("CODE", "480"), ("EXTRA", pai)],
    );
    let out = sipp(
        &shown,
        d.sip_udp,
        "127.0.0.1",
        &["-s", "+14155550100", "-m", "1"],
        LIMIT,
    );
    assert!(out.status.success(), "{}", describe(&out));
    let log = d.log_text();
    let routed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("inbound call routed"))
        .collect();
    assert_eq!(routed.len(), 2, "{log}");
    assert!(
        routed[0].contains("caller=unknown caller_name=unknown"),
        "{}",
        routed[0]
    );
    assert!(
        routed[1].contains("caller=+1415*****34 caller_name=Bob"),
        "{}",
        routed[1]
    );
}

#[test]
fn sigterm_refuses_new_calls_and_lets_active_ones_finish() {
    let mut d = Daemon::start(&config(22000, false));
    let dir = TempDir::new("drain");
    let active = long_echo_call(&d, &dir, 3000);
    std::thread::sleep(Duration::from_millis(1000));
    d.send_signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(d.http_get("/healthz").0, 503, "not ready while draining");
    let refused = scenario(
        "invite_refused.xml",
        &dir,
        &[("CODE", "503"), ("EXTRA", "X-Test: 1")],
    );
    let out = sipp(
        &refused,
        d.sip_udp,
        "127.0.0.1",
        &["-s", "+14155550199", "-m", "1"],
        LIMIT,
    );
    assert!(
        out.status.success(),
        "new call while draining: {}",
        describe(&out)
    );
    let first = active.join().expect("sipp thread");
    assert!(
        first.status.success(),
        "the active call finishes normally: {}",
        describe(&first)
    );
    let status = d
        .wait_exit(Duration::from_secs(10))
        .expect("daemon exits once drained");
    assert!(status.success(), "{}", d.log_text());
    assert!(
        d.log_text().contains("drained: no active calls"),
        "{}",
        d.log_text()
    );
}

#[test]
fn sigint_ends_active_calls_at_once() {
    let mut d = Daemon::start(&config(30000, false));
    let dir = TempDir::new("sigint");
    let active = long_echo_call(&d, &dir, 5000);
    std::thread::sleep(Duration::from_millis(1000));
    let status = d.signal("INT").expect("daemon exits on SIGINT");
    assert!(status.success(), "{}", d.log_text());
    assert!(
        d.log_text().contains("call ended") && d.log_text().contains("sub_code=50302"),
        "{}",
        d.log_text()
    );
    // SIPp's call was ended by our BYE, which its scenario does not expect.
    let first = active.join().expect("sipp thread");
    assert!(
        !first.status.success(),
        "the call was cut: {}",
        describe(&first)
    );
}

/// Starts one echo call that streams silence and holds `hold_ms` before its BYE; the handle
/// yields SIPp's result.
fn long_echo_call(
    d: &Daemon,
    dir: &TempDir,
    hold_ms: u32,
) -> std::thread::JoinHandle<std::process::Output> {
    let audio = dir.0.join("silence.pcmu");
    std::fs::write(&audio, vec![0xffu8; 1600]).expect("audio");
    let hold = hold_ms.to_string();
    let call = scenario(
        "echo_rtp.xml",
        dir,
        &[
            ("AUDIO", audio.to_str().expect("utf-8")),
            ("HOLD_MS", &hold),
        ],
    );
    let target = d.sip_udp;
    let args = ["-s", "+14155550199", "-m", "1", "-mi", "127.0.0.1"];
    std::thread::spawn(move || sipp(&call, target, "127.0.0.1", &args, LIMIT))
}
