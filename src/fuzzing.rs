//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and the stable corpus test
//! (`tests/fuzz_corpus.rs`): each takes arbitrary bytes and must never panic (DESIGN rule 5).
//! Results are discarded; only panics (and, under the fuzzer, sanitizer findings) matter.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::Metrics;
use crate::call::switchboard::{LocalAddrs, Switchboard};
use crate::config::NationalFormat;
use crate::policy::{E164, NumberPattern};
use crate::sip::digest::{Challenge, Credentials};
use crate::sip::{Peer, Transport};

/// Message size limit used by the targets (the default `sip.max_message_bytes`).
pub const MAX_MESSAGE: usize = 65535;

/// `sip::message::parse` on one datagram.
pub fn sip_message(data: &[u8]) {
    let _ = crate::sip::message::parse(data, MAX_MESSAGE);
}

/// `sip::framing::next_frame` on a stream buffer, splitting it the way the TCP driver does;
/// every frame found must lie inside the buffer.
pub fn sip_framing(data: &[u8]) {
    let mut rest = data;
    while let Ok(Some(n)) = crate::sip::framing::next_frame(rest, MAX_MESSAGE) {
        assert!(
            n > 0 && n <= rest.len(),
            "frame of {n} bytes in a {} byte buffer",
            rest.len()
        );
        rest = &rest[n..];
    }
}

/// `call::sdp::parse_offer` on a body.
pub fn sdp_offer(data: &[u8]) {
    let _ = crate::call::sdp::parse_offer(data);
}

/// Digest `WWW-Authenticate` and `Authorization` header values; what parses must also
/// survive formatting.
pub fn digest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Challenge::parse(text) {
        let _ = c.to_string();
    }
    if let Ok(c) = Credentials::parse(text) {
        let _ = c.to_string();
    }
}

/// E.164 parsing, international and with a NANP trunk's national rules, plus number patterns.
pub fn e164(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let nanp = NationalFormat {
        country_code: "1".into(),
        length: 10,
        trunk_prefix: Some("1".into()),
        international_prefix: Some("011".into()),
    };
    for n in [E164::parse(text), E164::parse_with(text, Some(&nanp))]
        .into_iter()
        .flatten()
    {
        // A parsed number must parse again to itself.
        assert_eq!(E164::parse(n.as_str()).ok().as_ref(), Some(&n));
    }
    let _ = NumberPattern::parse(text);
}

/// The signaling core's fuzzing configuration: one trunk by address, one by credentials,
/// a DID to an endpoint and one to the echo service, a tiny port range.
pub const SWITCHBOARD_CONFIG: &str = r#"
[sip]
bind_udp = "127.0.0.1:0"
advertised_host = "192.0.2.1"
realm = "fuzz"
digest_algorithms = ["SHA-256", "MD5"]
session_expires_s = 120
min_se_s = 90
max_transactions = 64
[http]
bind = "127.0.0.1:0"
[media]
bind_ip = "127.0.0.1"
advertised_ip = "192.0.2.1"
port_min = 20000
port_max = 20003
[trunks.carrier]
addresses = ["10.1.0.0/16"]
destination = "10.1.0.1:5060"
numbers = ["+*"]
[trunks.authed]
inbound_auth = { username = "acme", password = "s3cret" }
[apps.demo]
numbers = { "+14155550100" = "alice", "+14155550199" = "echo" }
trunks = ["carrier", "authed"]
"#;

/// A trunk address (in `10.1.0.0/16`) and an address no trunk admits.
pub const TRUNK: &str = "10.1.2.3:5060";
pub const STRANGER: &str = "198.51.100.9:5060";

/// Builds a fresh switchboard from [`SWITCHBOARD_CONFIG`].
pub fn new_switchboard(now: Instant) -> Switchboard {
    // Invariant: SWITCHBOARD_CONFIG is a constant checked by the corpus test.
    let cfg = crate::config::load_str(SWITCHBOARD_CONFIG, "fuzz.toml", false)
        .expect("SWITCHBOARD_CONFIG is valid");
    let local = LocalAddrs {
        host: "192.0.2.1".into(),
        udp_port: Some(5060),
        tcp_port: Some(5060),
    };
    Switchboard::new(
        Arc::new(cfg),
        Arc::new(Metrics::new()),
        local,
        now,
        1_700_000_000,
    )
}

/// A script of steps separated by NUL bytes, each step one of:
/// - `@<decimal ms>`: advance time by that much (capped at 70 s), firing due timers;
/// - `!<message>`: a UDP datagram from [`STRANGER`];
/// - `~<message>`: a TCP frame from [`TRUNK`];
/// - `<message>`: a UDP datagram from [`TRUNK`].
///
/// After each step every transmit and event is drained. At the end the core ends all calls
/// and runs its timers out; its tables must then be empty.
pub fn switchboard(data: &[u8]) {
    let mut now = Instant::now();
    let mut core = new_switchboard(now);
    // Invariant: only called with the TRUNK and STRANGER constants, which are addresses.
    let addr = |s: &str| -> SocketAddr { s.parse().expect("constant address") };
    let udp = |a| Peer {
        transport: Transport::Udp,
        addr: addr(a),
    };
    for step in data.split(|b| *b == 0) {
        match step.first() {
            Some(b'@') => {
                let ms = std::str::from_utf8(&step[1..])
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .unwrap_or(0)
                    .min(70_000);
                now = run_timers(&mut core, now, now + Duration::from_millis(ms));
            }
            Some(b'!') => core.handle_message(now, udp(STRANGER), &step[1..]),
            Some(b'~') => {
                let peer = Peer {
                    transport: Transport::Tcp,
                    addr: addr(TRUNK),
                };
                core.handle_message(now, peer, &step[1..]);
            }
            Some(_) => core.handle_message(now, udp(TRUNK), step),
            None => {}
        }
        drain(&mut core);
    }
    core.end_all_calls(now);
    drain(&mut core);
    // Everything ends within Timer B/F/H/J/L/M (64*T1) plus session timers.
    let end = now + Duration::from_secs(3600);
    run_timers(&mut core, now, end);
    assert_eq!(core.active_calls(), 0, "calls left after end_all_calls");
}

/// Fires every timer due up to `end`; returns `end`.
fn run_timers(core: &mut Switchboard, mut now: Instant, end: Instant) -> Instant {
    // Bounded: a core that keeps re-arming a timer at the same instant must not hang us.
    for _ in 0..100_000 {
        let Some(t) = core.poll_timeout().filter(|t| *t <= end) else {
            break;
        };
        now = t.max(now);
        core.handle_timeout(now);
        drain(core);
    }
    end
}

fn drain(core: &mut Switchboard) {
    while core.poll_transmit().is_some() {}
    while core.poll_event().is_some() {}
}
