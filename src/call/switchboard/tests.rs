//! The signaling core on simulated time: requests in as text, responses out as text.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::config::load_str;

const CONFIG: &str = r#"
[sip]
bind_udp = "127.0.0.1:0"
advertised_host = "192.0.2.1"
realm = "test"
digest_algorithms = ["MD5"]
session_expires_s = 120
min_se_s = 90
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
trunks = ["carrier"]
"#;

const CARRIER: &str = "10.1.2.3:5060";
const STRANGER: &str = "198.51.100.9:5060";

pub(super) struct Harness {
    pub core: Switchboard,
    pub now: Instant,
}

impl Harness {
    pub fn new() -> Self {
        let cfg = Arc::new(load_str(CONFIG, "test.toml", false).expect("test config is valid"));
        let local = LocalAddrs {
            host: "192.0.2.1".into(),
            udp_port: Some(5060),
            tcp_port: None,
        };
        let now = Instant::now();
        Self {
            core: Switchboard::new(cfg, Arc::new(Metrics::new()), local, now, 1_700_000_000),
            now,
        }
    }

    pub fn send(&mut self, from: &str, text: &str) -> Vec<String> {
        let peer = Peer {
            transport: Transport::Udp,
            addr: from.parse().expect("test address"),
        };
        self.core.handle_message(self.now, peer, text.as_bytes());
        self.out()
    }

    pub fn advance(&mut self, by: Duration) -> Vec<String> {
        let end = self.now + by;
        let mut out = Vec::new();
        while let Some(t) = self.core.poll_timeout().filter(|t| *t <= end) {
            self.now = t.max(self.now);
            self.core.handle_timeout(self.now);
            out.extend(self.out());
        }
        self.now = end;
        out
    }

    pub fn out(&mut self) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(t) = self.core.poll_transmit() {
            v.push(String::from_utf8_lossy(&t.bytes).into_owned());
        }
        v
    }

    pub fn events(&mut self) -> Vec<SwitchEvent> {
        std::iter::from_fn(|| self.core.poll_event()).collect()
    }
}

fn request(method: &str, to: &str, branch: &str, extra: &str, body: &str) -> String {
    format!(
        "{method} sip:{to}@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.2.3:5060;branch={branch}\r\n\
         From: \"Bob\" <sip:+14155551234@10.1.2.3>;tag=from1\r\nTo: <sip:{to}@192.0.2.1>{extra_to}\r\n\
         Call-ID: call-{branch}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n\
         Contact: <sip:+14155551234@10.1.2.3:5060>\r\n{extra}Content-Length: {len}\r\n\r\n{body}",
        extra_to = "",
        len = body.len(),
    )
}

const OFFER: &str = "v=0\r\no=c 1 1 IN IP4 10.1.2.3\r\ns=-\r\nc=IN IP4 10.1.2.3\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

pub(super) fn status(msg: &str) -> u16 {
    msg.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn to_tag(msg: &str) -> String {
    let to = msg
        .lines()
        .find(|l| l.starts_with("To:"))
        .expect("To header");
    to.split("tag=").nth(1).expect("to tag").trim().to_owned()
}

#[test]
fn options_from_trunk_gets_allow_and_supported() {
    let mut h = Harness::new();
    let out = h.send(
        CARRIER,
        &request("OPTIONS", "+14155550199", "z9hG4bK-o1", "", ""),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(status(&out[0]), 200);
    assert!(out[0].contains("Allow: INVITE, ACK, BYE, CANCEL, OPTIONS"));
    assert!(out[0].contains("Supported: timer"));
}

#[test]
fn stranger_is_challenged_when_a_trunk_uses_credentials() {
    let mut h = Harness::new();
    let out = h.send(
        STRANGER,
        &request("INVITE", "+14155550199", "z9hG4bK-s1", "", OFFER),
    );
    assert_eq!(status(&out[0]), 401);
    assert!(out[0].contains("WWW-Authenticate: Digest"));
}

#[test]
fn digest_authenticated_invite_reaches_the_echo() {
    let mut h = Harness::new();
    let out = h.send(
        STRANGER,
        &request("INVITE", "+14155550199", "z9hG4bK-d1", "", OFFER),
    );
    let www = out[0]
        .lines()
        .find(|l| l.starts_with("WWW-Authenticate:"))
        .expect("challenge");
    let challenge =
        crate::sip::digest::Challenge::parse(www.trim_start_matches("WWW-Authenticate:").trim())
            .expect("parse");
    let creds = crate::sip::digest::respond(
        &challenge,
        "INVITE",
        "sip:+14155550199@192.0.2.1",
        "acme",
        "s3cret",
        "abc",
        1,
    );
    let auth = format!("Authorization: {creds}\r\n");
    let out = h.send(
        STRANGER,
        &request("INVITE", "+14155550199", "z9hG4bK-d2", &auth, OFFER),
    );
    assert_eq!(status(&out[0]), 200, "{}", out[0]);
    let bad = crate::sip::digest::respond(
        &challenge,
        "INVITE",
        "sip:+14155550199@192.0.2.1",
        "acme",
        "wrong",
        "abc",
        1,
    );
    let out = h.send(
        STRANGER,
        &request(
            "INVITE",
            "+14155550199",
            "z9hG4bK-d3",
            &format!("Authorization: {bad}\r\n"),
            OFFER,
        ),
    );
    assert_eq!(status(&out[0]), 403);
}

#[test]
fn refusals_by_policy_and_protocol() {
    let mut h = Harness::new();
    let cases: [(&str, String, u16); 7] = [
        (
            "bad Request-URI",
            request("INVITE", "+14155550199", "z9hG4bK-r0", "", OFFER)
                .replace("sip:+14155550199@192.0.2.1 SIP", "sip:a@b:xyz SIP"),
            400,
        ),
        (
            "not a DID",
            request("INVITE", "+14155559999", "z9hG4bK-r1", "", OFFER),
            404,
        ),
        (
            "endpoint offline",
            request("INVITE", "+14155550100", "z9hG4bK-r2", "", OFFER),
            480,
        ),
        (
            "unknown method",
            request("FROBNICATE", "+14155550199", "z9hG4bK-r3", "", ""),
            501,
        ),
        (
            "Max-Forwards 0",
            request("INVITE", "+14155550199", "z9hG4bK-r4", "", OFFER)
                .replace("Max-Forwards: 70", "Max-Forwards: 0"),
            483,
        ),
        (
            "unsupported Require",
            request(
                "INVITE",
                "+14155550199",
                "z9hG4bK-r5",
                "Require: foo\r\n",
                OFFER,
            ),
            420,
        ),
        (
            "BYE outside a dialog",
            request("BYE", "+14155550199", "z9hG4bK-r6", "", ""),
            481,
        ),
    ];
    for (what, msg, code) in cases {
        let out = h.send(CARRIER, &msg);
        assert_eq!(out.len(), 1, "{what}");
        assert_eq!(status(&out[0]), code, "{what}: {}", out[0]);
    }
    let bad_ack = request("ACK", "+14155550199", "z9hG4bK-r7", "", "")
        .replace("sip:+14155550199@192.0.2.1 SIP", "sip:a@b:xyz SIP");
    assert!(
        h.send(CARRIER, &bad_ack).is_empty(),
        "an ACK is never answered"
    );
    assert!(h.events().is_empty(), "no call started");
}

#[test]
fn malformed_request_gets_400_and_garbage_is_dropped() {
    let mut h = Harness::new();
    let bad = request("INVITE", "+14155550199", "z9hG4bK-m1", "", "")
        .replace("CSeq: 1 INVITE", "CSeq: x INVITE");
    let out = h.send(CARRIER, &bad);
    assert_eq!(status(&out[0]), 400);
    assert!(h.send(CARRIER, "\u{1}\u{2}garbage\r\n\r\n").is_empty());
}

#[test]
fn echo_call_answer_ack_bye() {
    let mut h = Harness::new();
    let invite = request("INVITE", "+14155550199", "z9hG4bK-e1", "", OFFER);
    let out = h.send(CARRIER, &invite);
    assert_eq!(status(&out[0]), 200);
    assert!(out[0].contains("m=audio 20000 RTP/AVP 0 101"));
    let ev = h.events();
    assert!(
        matches!(&ev[0], SwitchEvent::EchoStart { offer, .. } if offer.remote.to_string() == "10.1.2.3:30000")
    );
    // A retransmitted INVITE is absorbed; the 200 goes out again, no second call.
    let again = h.send(CARRIER, &invite);
    assert!(again.iter().all(|m| status(m) == 200));
    assert!(h.events().is_empty());
    let answered = h.core.metrics.inbound_answer_seconds.get_sample_count();
    assert_eq!(answered, 1, "the answer is timed once");
    let tag = to_tag(&out[0]);
    let in_dialog = |method: &str, branch: &str, cseq: u32| {
        request(method, "+14155550199", branch, "", "")
            .replace(
                "To: <sip:+14155550199@192.0.2.1>",
                &format!("To: <sip:+14155550199@192.0.2.1>;tag={tag}"),
            )
            .replace("Call-ID: call-", "Call-ID: call-z9hG4bK-e1")
            .replace(&format!("call-z9hG4bK-e1{branch}"), "call-z9hG4bK-e1")
            .replace(
                &format!("CSeq: 1 {method}"),
                &format!("CSeq: {cseq} {method}"),
            )
    };
    h.send(CARRIER, &in_dialog("ACK", "z9hG4bK-e2", 1));
    assert_eq!(h.core.active_calls(), 1);
    let out = h.send(CARRIER, &in_dialog("BYE", "z9hG4bK-e3", 2));
    assert_eq!(status(&out[0]), 200, "{}", out[0]);
    let ev = h.events();
    assert!(ev.iter().any(
        |e| matches!(e, SwitchEvent::CallEnded { reason, .. } if *reason == reasons::REMOTE_HANGUP)
    ));
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn lost_ack_retransmits_200_then_ends_with_bye() {
    let mut h = Harness::new();
    let out = h.send(
        CARRIER,
        &request("INVITE", "+14155550199", "z9hG4bK-a1", "", OFFER),
    );
    assert_eq!(status(&out[0]), 200);
    let resent = h.advance(Duration::from_millis(600));
    assert!(
        resent.iter().any(|m| status(m) == 200),
        "200 retransmitted at T1"
    );
    let later = h.advance(Duration::from_secs(40));
    assert!(
        later.iter().any(|m| m.starts_with("BYE ")),
        "BYE after 64*T1 without ACK"
    );
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn session_not_refreshed_ends_with_bye() {
    let mut h = Harness::new();
    let se = "Supported: timer\r\nSession-Expires: 120;refresher=uac\r\n";
    let out = h.send(
        CARRIER,
        &request("INVITE", "+14155550199", "z9hG4bK-t1", se, OFFER),
    );
    assert_eq!(status(&out[0]), 200);
    assert!(
        out[0].contains("Session-Expires: 120;refresher=uac"),
        "{}",
        out[0]
    );
    let tag = to_tag(&out[0]);
    let ack = request("ACK", "+14155550199", "z9hG4bK-t2", "", "")
        .replace(
            "To: <sip:+14155550199@192.0.2.1>",
            &format!("To: <sip:+14155550199@192.0.2.1>;tag={tag}"),
        )
        .replace("call-z9hG4bK-t2", "call-z9hG4bK-t1");
    h.send(CARRIER, &ack);
    let early = h.advance(Duration::from_secs(60));
    assert!(!early.iter().any(|m| m.starts_with("BYE ")));
    let late = h.advance(Duration::from_secs(60));
    assert!(
        late.iter().any(|m| m.starts_with("BYE ")),
        "expired session is ended"
    );
    assert!(h.events().iter().any(|e| matches!(e, SwitchEvent::CallEnded { reason, .. } if *reason == reasons::SESSION_EXPIRED)));
}

#[test]
fn draining_refuses_new_calls() {
    let mut h = Harness::new();
    h.core.start_drain();
    let out = h.send(
        CARRIER,
        &request("INVITE", "+14155550199", "z9hG4bK-x1", "", OFFER),
    );
    assert_eq!(status(&out[0]), 503);
    assert!(out[0].contains("Retry-After"));
}

#[test]
fn at_capacity_new_calls_are_refused_and_calls_in_progress_are_kept() {
    let mut h = Harness::new();
    let invite = |n: u32| {
        request(
            "INVITE",
            "+14155550199",
            &format!("z9hG4bK-c{n}"),
            "",
            OFFER,
        )
        .replace("call-z9hG4bK", &format!("cap{n}-z9hG4bK"))
    };
    let out = h.send(CARRIER, &invite(1));
    assert_eq!(status(out.last().expect("answer")), 200, "{out:?}");
    // One call took 90 % of the only core in the last second: over the 85 % default.
    h.core.handle_load_sample(h.now, 100.0, 1);
    h.core
        .handle_load_sample(h.now + Duration::from_secs(1), 100.9, 1);
    let out = h.send(CARRIER, &invite(2));
    assert_eq!(status(&out[0]), 503, "{out:?}");
    assert!(out[0].contains("at capacity"), "{}", out[0]);
    assert!(out[0].contains("Retry-After: 5"), "{}", out[0]);
    assert_eq!(h.core.active_calls(), 1, "the call in progress is kept");
    assert!(
        h.core.admit_load().is_err(),
        "endpoint calls are refused too"
    );
    // A request that would not become a call gets its own answer, not 503.
    let unknown = request("INVITE", "+14155550111", "z9hG4bK-c9", "", OFFER)
        .replace("call-z9hG4bK", "cap9-z9hG4bK");
    let out = h.send(CARRIER, &unknown);
    assert_eq!(status(out.last().expect("answer")), 404, "{out:?}");
    // Load fell to 5 %: calls are admitted again.
    h.core
        .handle_load_sample(h.now + Duration::from_secs(2), 100.95, 1);
    let out = h.send(CARRIER, &invite(3));
    assert_eq!(status(out.last().expect("answer")), 200, "{out:?}");
}

mod endpoint_calls {
    use super::*;

    fn ringing_call(h: &mut Harness, branch: &str, extra: &str) -> (CallId, String) {
        h.core.set_endpoint_online("demo", "alice", true);
        let invite = request("INVITE", "+14155550100", branch, extra, OFFER);
        let out = h.send(CARRIER, &invite);
        assert!(out.is_empty(), "no final answer while ringing: {out:?}");
        let ev = h.events();
        let Some(SwitchEvent::IncomingCall {
            call,
            endpoint,
            caller,
            ..
        }) = ev.into_iter().next()
        else {
            panic!("incoming call event")
        };
        assert_eq!(endpoint, "alice");
        assert_eq!(caller.number.as_deref(), Some("+14155551234"));
        (call, invite)
    }

    #[test]
    fn ring_then_answer_sends_180_and_200_with_sdp() {
        let mut h = Harness::new();
        let (call, _) = ringing_call(&mut h, "z9hG4bK-p1", "Require: 100rel\r\n");
        h.core.ring_call(h.now, &call);
        let out = h.out();
        assert_eq!(status(&out[0]), 180);
        assert!(
            out[0].contains("RSeq:"),
            "reliable when the carrier requires 100rel"
        );
        assert!(h.core.answer_call(h.now, &call));
        let out = h.out();
        assert_eq!(status(&out[0]), 200);
        assert!(out[0].contains("m=audio 20000 RTP/AVP 0 101"));
        assert_eq!(h.core.active_calls(), 1);
        assert_eq!(h.core.pending_calls(), 0);
    }

    #[test]
    fn prack_for_the_reliable_180_is_answered() {
        let mut h = Harness::new();
        let (call, invite) = ringing_call(&mut h, "z9hG4bK-pr1", "Require: 100rel\r\n");
        h.core.ring_call(h.now, &call);
        let ringing = h.out().remove(0);
        let rseq = ringing
            .lines()
            .find_map(|l| l.strip_prefix("RSeq: "))
            .expect("RSeq")
            .trim()
            .to_owned();
        let tag = to_tag(&ringing);
        let prack = |branch: &str, rack: &str| {
            invite
                .replace("INVITE sip:", "PRACK sip:")
                .replace("CSeq: 1 INVITE", "CSeq: 2 PRACK")
                .replace("z9hG4bK-pr1", branch)
                .replace(
                    &format!("Call-ID: call-{branch}"),
                    "Call-ID: call-z9hG4bK-pr1",
                )
                .replace(
                    "To: <sip:+14155550100@192.0.2.1>",
                    &format!("To: <sip:+14155550100@192.0.2.1>;tag={tag}"),
                )
                .replace(OFFER, "")
                .replace(
                    &format!("Content-Length: {}", OFFER.len()),
                    &format!("RAck: {rack}\r\nContent-Length: 0"),
                )
        };
        let out = h.send(CARRIER, &prack("z9hG4bK-pr2", &format!("{rseq} 1 INVITE")));
        assert_eq!(status(&out[0]), 200, "{}", out[0]);
        let later = h.advance(Duration::from_secs(5));
        assert!(
            !later.iter().any(|m| status(m) == 180),
            "no retransmission after PRACK: {later:?}"
        );
        let out = h.send(CARRIER, &prack("z9hG4bK-pr3", "999999 1 INVITE"));
        assert_eq!(status(&out[0]), 481, "{}", out[0]);
    }

    #[test]
    fn reliable_180_is_retransmitted_until_prack_or_the_call_is_refused() {
        let mut h = Harness::new();
        let (call, _) = ringing_call(&mut h, "z9hG4bK-rt1", "Require: 100rel\r\n");
        h.core.ring_call(h.now, &call);
        assert_eq!(status(&h.out()[0]), 180);
        let again = h.advance(Duration::from_millis(600));
        assert!(
            again
                .iter()
                .any(|m| status(m) == 180 && m.contains("RSeq:")),
            "180 retransmitted at T1: {again:?}"
        );
        let end = h.advance(Duration::from_secs(40));
        assert!(
            end.iter().any(|m| status(m) == 500),
            "no PRACK in 64*T1: the INVITE is refused 5xx"
        );
        assert!(h.events().iter().any(
            |e| matches!(e, SwitchEvent::CallEnded { reason, .. } if *reason == reasons::NO_PRACK)
        ));
        assert_eq!(h.core.pending_calls(), 0);
    }

    #[test]
    fn carrier_cancel_while_ringing_gets_487() {
        let mut h = Harness::new();
        let (_, invite) = ringing_call(&mut h, "z9hG4bK-p2", "");
        let cancel = invite
            .replace("INVITE sip:", "CANCEL sip:")
            .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL")
            .replace(OFFER, "")
            .replace(
                &format!("Content-Length: {}", OFFER.len()),
                "Content-Length: 0",
            );
        let out = h.send(CARRIER, &cancel);
        let codes: Vec<u16> = out.iter().map(|m| status(m)).collect();
        assert!(codes.contains(&200) && codes.contains(&487), "{codes:?}");
        assert!(h.events().iter().any(|e| matches!(e, SwitchEvent::CallEnded { reason, .. } if *reason == reasons::CALLER_CANCELLED)));
        assert_eq!(h.core.pending_calls(), 0);
    }

    #[test]
    fn rejection_uses_the_given_code_and_frees_the_port() {
        let mut h = Harness::new();
        for branch in ["z9hG4bK-p3", "z9hG4bK-p4", "z9hG4bK-p5"] {
            let (call, _) = ringing_call(&mut h, branch, "");
            h.core.reject_call(h.now, &call, 486);
            assert_eq!(status(&h.out()[0]), 486);
        }
        // The test range has two ports: three rejected calls prove they are released.
        assert_eq!(h.core.pending_calls(), 0);
    }
}

#[test]
fn hold_and_resume_an_answered_inbound_call_by_reinvite() {
    let mut h = Harness::new();
    let invite = request("INVITE", "+14155550199", "z9hG4bK-h1", "", OFFER);
    let out = h.send(CARRIER, &invite);
    let tag = to_tag(&out[0]);
    let id = match h.events().into_iter().next() {
        Some(SwitchEvent::EchoStart { call, .. }) => call,
        other => panic!("echo call expected, got {other:?}"),
    };
    assert!(!h.core.hold_call(h.now, &id, true), "not before the ACK");
    let ack = request("ACK", "+14155550199", "z9hG4bK-h2", "", "")
        .replace(
            "To: <sip:+14155550199@192.0.2.1>",
            &format!("To: <sip:+14155550199@192.0.2.1>;tag={tag}"),
        )
        .replace("call-z9hG4bK-h2", "call-z9hG4bK-h1");
    h.send(CARRIER, &ack);
    assert!(h.core.hold_call(h.now, &id, true));
    let out = h.out();
    let reinvite = out
        .iter()
        .find(|m| m.starts_with("INVITE sip:+14155551234@10.1.2.3:5060"))
        .expect("re-INVITE to the Contact");
    assert!(
        reinvite.contains("a=sendonly") && reinvite.contains("m=audio 20000 RTP/AVP 0 101"),
        "{reinvite}"
    );
    let ok = format!(
        "SIP/2.0 200 OK\r\n{}\r\n{}\r\n{}\r\n{}\r\n{}\r\nContact: <sip:+14155551234@10.1.2.3:5060>\r\nContent-Length: 0\r\n\r\n",
        reinvite
            .lines()
            .find(|l| l.starts_with("Via:"))
            .expect("via"),
        reinvite
            .lines()
            .find(|l| l.starts_with("From:"))
            .expect("from"),
        reinvite.lines().find(|l| l.starts_with("To:")).expect("to"),
        reinvite
            .lines()
            .find(|l| l.starts_with("Call-ID:"))
            .expect("call-id"),
        reinvite
            .lines()
            .find(|l| l.starts_with("CSeq:"))
            .expect("cseq"),
    );
    let out = h.send(CARRIER, &ok);
    assert!(out.iter().any(|m| m.starts_with("ACK ")), "{out:?}");
    assert!(h.core.hold_call(h.now, &id, false));
    assert!(
        h.out()
            .iter()
            .any(|m| m.starts_with("INVITE ") && m.contains("a=sendrecv"))
    );
}
