//! SIP signaling micro-benchmarks: parsing, one transaction, and whole exchanges through the
//! sans-IO switchboard (no sockets). Run with
//! `cargo bench --bench sip -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use pstn_bridge::api::Metrics;
use pstn_bridge::call::switchboard::{LocalAddrs, Switchboard};
use pstn_bridge::sip::message::{Parsed, parse};
use pstn_bridge::sip::reply;
use pstn_bridge::sip::transaction::{TransactionLayer, TxConfig, TxEvent};
use pstn_bridge::sip::{Peer, Transport};

const CONFIG: &str = r#"
[sip]
bind_udp = "127.0.0.1:0"
advertised_host = "127.0.0.1"
max_transactions = 1000000
[http]
bind = "127.0.0.1:0"
[media]
bind_ip = "127.0.0.1"
advertised_ip = "127.0.0.1"
port_min = 20000
port_max = 29999
# No CPU samples reach a bench's switchboard: admission by load would run on its priors.
[admission]
max_cpu_percent = 0
[trunks.loopback]
addresses = ["127.0.0.0/8"]
destination = "127.0.0.1:5080"
numbers = ["+*"]
[apps.demo]
numbers = { "+14155550100" = "alice", "+14155550199" = "echo" }
trunks = ["loopback"]
"#;

const OFFER: &str = "v=0\r\no=sipp 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n";

/// Simulated time per iteration: transactions end (Timer J = 64*T1 = 32 s) after ~640
/// iterations, so the tables stay bounded however long criterion runs.
const STEP: Duration = Duration::from_millis(50);

fn request(method: &str, to: &str, n: u64, cseq: u32, to_tag: &str, body: &str) -> String {
    let ctype = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} sip:{to}@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{n}-{cseq}-{method}\r\n\
         From: sipp <sip:+14155551234@127.0.0.1:5061>;tag={n}SIPpTag00\r\n\
         To: <sip:{to}@127.0.0.1:5060>{to_tag}\r\n\
         Call-ID: {n}-bench@127.0.0.1\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:sipp@127.0.0.1:5061>\r\n\
         Max-Forwards: 70\r\n\
         Subject: Performance Test\r\n\
         {ctype}Content-Length: {len}\r\n\r\n{body}",
        len = body.len()
    )
}

fn peer() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: "127.0.0.1:5061".parse().expect("address"),
    }
}

fn bench_parse(c: &mut Criterion) {
    let invite = request("INVITE", "+14155550199", 1, 1, "", OFFER);
    let options = request("OPTIONS", "ping", 1, 1, "", "");
    c.bench_function("parse/invite", |b| {
        b.iter(|| parse(black_box(invite.as_bytes()), 65535).is_ok())
    });
    c.bench_function("parse/options", |b| {
        b.iter(|| parse(black_box(options.as_bytes()), 65535).is_ok())
    });
}

fn bench_transaction(c: &mut Criterion) {
    let mut layer = TransactionLayer::new(TxConfig {
        t1: Duration::from_millis(500),
        t2: Duration::from_secs(4),
        t4: Duration::from_secs(5),
        max_transactions: 1_000_000,
    });
    let mut now = Instant::now();
    let mut n = 0u64;
    c.bench_function("transaction/invite_404", |b| {
        b.iter(|| {
            n += 1;
            let text = request("INVITE", "+14155550111", n, 1, "", OFFER);
            let Ok(Parsed::Request(req)) = parse(text.as_bytes(), 65535) else {
                panic!("bench INVITE parses");
            };
            layer.handle_request(now, req, peer()).expect("taken");
            let Some(TxEvent::Request {
                tx: Some(tx),
                request,
                ..
            }) = layer.poll_event()
            else {
                panic!("new INVITE surfaces");
            };
            let resp = reply::response(&request, 404, "Not Found", Some("t"), "bench");
            layer
                .send_response(now, tx, reply::finish(resp, vec![], None))
                .expect("answered");
            while let Some(t) = layer.poll_transmit() {
                black_box(t);
            }
            now += STEP;
            if layer.poll_timeout().is_some_and(|t| t <= now) {
                layer.handle_timeout(now);
                while layer.poll_event().is_some() {}
                while layer.poll_transmit().is_some() {}
            }
        })
    });
    assert!(
        layer.len() < 10_000,
        "transaction table grew: {}",
        layer.len()
    );
}

struct Bench {
    core: Switchboard,
    now: Instant,
    n: u64,
}

impl Bench {
    fn new() -> Self {
        let cfg = pstn_bridge::config::load_str(CONFIG, "bench.toml", false).expect("config");
        let local = LocalAddrs {
            host: "127.0.0.1".into(),
            udp_port: Some(5060),
            tcp_port: None,
        };
        let now = Instant::now();
        Self {
            core: Switchboard::new(
                Arc::new(cfg),
                Arc::new(Metrics::new()),
                local,
                now,
                1_700_000_000,
            ),
            now,
            n: 0,
        }
    }

    /// Feeds one message and returns the status code and To tag of the last response sent.
    fn send(&mut self, text: &str) -> (u16, String) {
        self.core.handle_message(self.now, peer(), text.as_bytes());
        let mut last = (0, String::new());
        while let Some(t) = self.core.poll_transmit() {
            let s = std::str::from_utf8(&t.bytes).expect("utf-8");
            let code = s.get(8..11).and_then(|c| c.parse().ok()).unwrap_or(0);
            let tag = s
                .lines()
                .find(|l| l.starts_with("To:"))
                .and_then(|l| l.split(";tag=").nth(1))
                .unwrap_or("")
                .trim()
                .to_owned();
            last = (code, tag);
        }
        while self.core.poll_event().is_some() {}
        last
    }

    fn tick(&mut self) {
        self.now += STEP;
        if self.core.poll_timeout().is_some_and(|t| t <= self.now) {
            self.core.handle_timeout(self.now);
            while self.core.poll_transmit().is_some() {}
            while self.core.poll_event().is_some() {}
        }
    }
}

fn bench_switchboard(c: &mut Criterion) {
    let mut s = Bench::new();
    c.bench_function("switchboard/options", |b| {
        b.iter(|| {
            s.n += 1;
            let code = s.send(&request("OPTIONS", "ping", s.n, 1, "", "")).0;
            assert_eq!(code, 200);
            s.tick();
        })
    });
    c.bench_function("switchboard/invite_404", |b| {
        b.iter(|| {
            s.n += 1;
            let (code, tag) = s.send(&request("INVITE", "+14155550111", s.n, 1, "", OFFER));
            assert_eq!(code, 404);
            let ack = request("ACK", "+14155550111", s.n, 1, &format!(";tag={tag}"), "");
            s.send(&ack.replace("-1-ACK", "-1-INVITE"));
            s.tick();
        })
    });
    c.bench_function("switchboard/invite_echo", |b| {
        b.iter(|| {
            s.n += 1;
            let (code, tag) = s.send(&request("INVITE", "+14155550199", s.n, 1, "", OFFER));
            assert_eq!(code, 200);
            let to_tag = format!(";tag={tag}");
            s.send(&request("ACK", "+14155550199", s.n, 1, &to_tag, ""));
            let (code, _) = s.send(&request("BYE", "+14155550199", s.n, 2, &to_tag, ""));
            assert_eq!(code, 200);
            s.tick();
        })
    });
    assert_eq!(s.core.active_calls(), 0, "echo calls left open");
}

criterion_group!(benches, bench_parse, bench_transaction, bench_switchboard);
criterion_main!(benches);
