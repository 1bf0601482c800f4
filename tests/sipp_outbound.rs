//! The real binary places an outbound call (`pstn-bridge dial`) to a SIPp UAS that
//! challenges it: digest answered, ringing, answer, BYE.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::{TempDir, free_udp_port, require_tool, scenario};

fn config(carrier_port: u16, password: &str) -> String {
    format!(
        r#"
[sip]
bind_udp = "127.0.0.1:0"
advertised_host = "127.0.0.1"
[http]
bind = "127.0.0.1:0"
[media]
bind_ip = "127.0.0.1"
advertised_ip = "127.0.0.1"
port_min = 32000
port_max = 32099
[trunks.carrier]
addresses = ["127.0.0.1/32"]
destination = "127.0.0.1:{carrier_port}"
outbound_auth = {{ username = "bridge", password = "{password}" }}
numbers = ["+*"]
"#
    )
}

fn dial_against_uas(password: &str) -> (std::process::Output, std::process::Output) {
    require_tool("sipp");
    let dir = TempDir::new("outbound");
    let port = free_udp_port("127.0.0.1");
    let sf = scenario("uas_challenge.xml", &dir, &[]);
    let uas = Command::new("timeout")
        .args(["30", "sipp", "-sf"])
        .arg(&sf)
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "25s",
            "-timeout_error",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sipp uas");
    std::thread::sleep(Duration::from_millis(500));
    let cfg = dir.0.join("config.toml");
    std::fs::write(&cfg, config(port, password)).expect("write config");
    let dial = Command::new(env!("CARGO_BIN_EXE_pstn-bridge"))
        .arg("--config")
        .arg(&cfg)
        .args([
            "dial",
            "--trunk",
            "carrier",
            "--to",
            "+14155551234",
            "--from",
            "+14155550100",
            "--hold",
            "1",
            "--timeout",
            "10",
        ])
        .output()
        .expect("run dial");
    let uas = uas.wait_with_output().expect("sipp uas exit");
    (dial, uas)
}

#[test]
fn outbound_call_answers_the_challenge_and_hangs_up() {
    let (dial, uas) = dial_against_uas("trunkpass");
    let out = String::from_utf8_lossy(&dial.stdout);
    assert!(
        dial.status.success(),
        "dial: {out}\n{}",
        String::from_utf8_lossy(&dial.stderr)
    );
    assert!(out.contains("\"result\":\"answered\""), "{out}");
    assert!(out.contains("\"progress\":[180]"), "{out}");
    assert!(
        uas.status.success(),
        "sipp uas: {}",
        String::from_utf8_lossy(&uas.stdout)
    );
}

#[test]
fn wrong_credentials_fail_with_the_carriers_code() {
    let (dial, _uas) = dial_against_uas("wrong");
    let out = String::from_utf8_lossy(&dial.stdout);
    assert_eq!(
        dial.status.code(),
        Some(1),
        "{out}\n{}",
        String::from_utf8_lossy(&dial.stderr)
    );
    assert!(out.contains("\"code\":403"), "{out}");
}
