//! Outbound legs on simulated time, with the carrier played by hand-written responses.

use std::time::Duration;

use super::tests::{Harness, status};
use super::*;

const CARRIER: &str = "10.1.0.1:5060";

fn place(h: &mut Harness) -> (LegId, String) {
    let call = OutboundCall {
        trunk: "carrier".into(),
        to: "+14155551234".into(),
        from_user: "+14155550100".into(),
        from_display: None,
        from_host: None,
        privacy_id: false,
        pai: Some("+14155550100".into()),
        sdp: crate::call::sdp::offer("192.0.2.1:20000".parse().expect("addr"), 1, 1).into_bytes(),
    };
    let leg = h.core.place_call(h.now, call).expect("placed");
    let out = h.out();
    assert_eq!(out.len(), 1);
    assert!(
        out[0].starts_with("INVITE sip:+14155551234@10.1.0.1:5060"),
        "{}",
        out[0]
    );
    assert!(out[0].contains("P-Asserted-Identity: <sip:+14155550100@192.0.2.1;user=phone>"));
    (leg, out[0].clone())
}

/// A response to `req` from the carrier: Via/From/Call-ID/CSeq copied, To tagged.
fn answer(req: &str, code: u16, extra: &str, body: &str) -> String {
    let line = |name: &str| {
        req.lines()
            .find(|l| l.starts_with(name))
            .map(|l| format!("{l}\r\n"))
            .unwrap_or_default()
    };
    let to = line("To:").trim_end().to_owned();
    let to = if to.contains("tag=") {
        to
    } else {
        format!("{to};tag=carrier1")
    };
    format!(
        "SIP/2.0 {code} Whatever\r\n{}{}{to}\r\n{}{}Contact: <sip:gw@10.1.0.1:5060>\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        line("Via:"),
        line("From:"),
        line("Call-ID:"),
        line("CSeq:"),
        body.len()
    )
}

fn leg_events(h: &mut Harness) -> Vec<LegEvent> {
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            SwitchEvent::Leg { event, .. } => Some(event),
            _ => None,
        })
        .collect()
}

#[test]
fn reliable_ringing_is_pracked_then_answer_is_acked_and_carrier_bye_ends() {
    let mut h = Harness::new();
    let (_, invite) = place(&mut h);
    let ringing = answer(&invite, 180, "Require: 100rel\r\nRSeq: 7\r\n", "");
    let out = h.send(CARRIER, &ringing);
    assert!(
        out.iter()
            .any(|m| m.starts_with("PRACK ") && m.contains("RAck: 7 1 INVITE")),
        "{out:?}"
    );
    assert_eq!(
        leg_events(&mut h),
        [LegEvent::Progress {
            code: 180,
            sdp: None
        }]
    );
    // A retransmitted reliable 180 is not surfaced twice.
    h.send(CARRIER, &ringing);
    assert!(leg_events(&mut h).is_empty());
    let ok = answer(&invite, 200, "", "v=0\r\n");
    let out = h.send(CARRIER, &ok);
    assert!(
        out.iter()
            .any(|m| m.starts_with("ACK sip:gw@10.1.0.1:5060")),
        "{out:?}"
    );
    assert_eq!(
        leg_events(&mut h),
        [LegEvent::Answered {
            sdp: b"v=0\r\n".to_vec()
        }]
    );
    // The carrier hangs up.
    let from_tag = invite
        .lines()
        .find(|l| l.starts_with("From:"))
        .and_then(|l| l.split("tag=").nth(1))
        .expect("tag");
    let call_id = invite
        .lines()
        .find(|l| l.starts_with("Call-ID:"))
        .expect("call-id");
    let bye = format!(
        "BYE sip:+14155550100@192.0.2.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.0.1:5060;branch=z9hG4bK-cb1\r\n\
         From: <sip:+14155551234@10.1.0.1>;tag=carrier1\r\nTo: <sip:+14155550100@192.0.2.1>;tag={from_tag}\r\n\
         {call_id}\r\nCSeq: 5 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    let out = h.send(CARRIER, &bye);
    assert_eq!(status(&out[0]), 200, "{}", out[0]);
    assert_eq!(leg_events(&mut h), [LegEvent::Ended { by_remote: true }]);
    assert_eq!(h.core.active_legs(), 0);
}

#[test]
fn busy_and_timeout_fail_the_leg() {
    let mut h = Harness::new();
    let (_, invite) = place(&mut h);
    let out = h.send(CARRIER, &answer(&invite, 486, "", ""));
    assert!(
        out.iter().any(|m| m.starts_with("ACK ")),
        "non-2xx is ACKed by the transaction"
    );
    assert!(matches!(
        leg_events(&mut h)[..],
        [LegEvent::Failed { code: 486, .. }]
    ));
    place(&mut h);
    h.advance(Duration::from_secs(40));
    assert!(matches!(
        leg_events(&mut h)[..],
        [LegEvent::Failed { code: 408, .. }]
    ));
}

#[test]
fn cancel_after_ringing_sends_cancel() {
    let mut h = Harness::new();
    let (leg, invite) = place(&mut h);
    h.send(
        CARRIER,
        &answer(&invite, 183, "Content-Type: application/sdp\r\n", "v=0\r\n"),
    );
    assert_eq!(
        leg_events(&mut h),
        [LegEvent::Progress {
            code: 183,
            sdp: Some(b"v=0\r\n".to_vec())
        }]
    );
    h.core.cancel_leg(h.now, leg);
    let out = h.out();
    assert!(
        out.iter()
            .any(|m| m.starts_with("CANCEL sip:+14155551234@10.1.0.1:5060")),
        "{out:?}"
    );
    h.send(CARRIER, &answer(&invite, 487, "", ""));
    assert!(matches!(
        leg_events(&mut h)[..],
        [LegEvent::Failed { code: 487, .. }]
    ));
}

#[test]
fn challenge_without_credentials_fails_with_401() {
    let mut h = Harness::new();
    let (_, invite) = place(&mut h);
    let www = "WWW-Authenticate: Digest realm=\"c\", nonce=\"n\", algorithm=MD5\r\n";
    h.send(CARRIER, &answer(&invite, 401, www, ""));
    assert!(matches!(
        leg_events(&mut h)[..],
        [LegEvent::Failed { code: 401, .. }]
    ));
}

#[test]
fn hold_and_resume_an_answered_leg_by_reinvite() {
    let mut h = Harness::new();
    let (leg, invite) = place(&mut h);
    h.send(CARRIER, &answer(&invite, 200, "", "v=0\r\n"));
    h.events();
    assert!(h.core.hold_leg(h.now, leg, true));
    let out = h.out();
    let reinvite = out
        .iter()
        .find(|m| m.starts_with("INVITE "))
        .expect("re-INVITE sent");
    assert!(
        reinvite.contains("a=sendonly") && reinvite.contains("CSeq: 2 INVITE"),
        "{reinvite}"
    );
    assert!(
        reinvite.contains("tag=carrier1"),
        "inside the dialog: {reinvite}"
    );
    let out = h.send(CARRIER, &answer(reinvite, 200, "", "v=0\r\n"));
    assert!(
        out.iter()
            .any(|m| m.starts_with("ACK ") && m.contains("CSeq: 2 ACK")),
        "{out:?}"
    );
    assert!(h.core.hold_leg(h.now, leg, false));
    let out = h.out();
    let resume = out
        .iter()
        .find(|m| m.starts_with("INVITE "))
        .expect("resume re-INVITE");
    assert!(
        resume.contains("a=sendrecv") && resume.contains("CSeq: 3 INVITE"),
        "{resume}"
    );
}
