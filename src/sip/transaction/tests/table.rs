//! Table-level behaviour: CANCEL matching, the cap, malformed input, TU misuse.

use std::time::Duration;

use super::*;
use crate::sip::transaction::{TxConfig, TxError, TxId, TxState, cancel_for};

#[test]
fn cancel_gets_its_own_transaction_and_finds_its_invite() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKc1");
    let itx = receive(&mut h, &inv, udp());
    let cancel = request("CANCEL", "z9hG4bKc1", "call-z9hG4bKc1", 1);
    let ctx = receive(&mut h, &cancel, udp());
    assert_ne!(itx, ctx);
    assert_eq!(h.layer.find_invite_for_cancel(&cancel), Some(itx));
    let other_branch = request("CANCEL", "z9hG4bKc2", "call-z9hG4bKc1", 1);
    assert_eq!(h.layer.find_invite_for_cancel(&other_branch), None);
    let other_host = request_from("CANCEL", "z9hG4bKc1", "203.0.113.1:5060", "x", 1);
    assert_eq!(h.layer.find_invite_for_cancel(&other_host), None);
    // A retransmitted CANCEL matches the CANCEL transaction, not the INVITE.
    h.layer
        .send_response(h.now, ctx, response(&cancel, 200, Some("me")))
        .unwrap();
    h.layer
        .handle_request(h.now, cancel.clone(), udp())
        .unwrap();
    assert_eq!(
        first_lines(&h.run_to(ms(0))),
        ["SIP/2.0 200 OK", "SIP/2.0 200 OK"]
    );
    assert_eq!(h.layer.state_of(itx), Some(TxState::Proceeding));
    // A non-INVITE transaction is not a CANCEL target.
    let opt = request("OPTIONS", "z9hG4bKc3", "o", 1);
    receive(&mut h, &opt, udp());
    let c3 = request("CANCEL", "z9hG4bKc3", "o", 1);
    assert_eq!(h.layer.find_invite_for_cancel(&c3), None);
}

#[test]
fn table_cap_refuses_new_transactions_but_not_retransmissions() {
    let cfg = TxConfig {
        max_transactions: 2,
        ..TxConfig::default()
    };
    let mut h = Harness::with(cfg);
    let a = invite("z9hG4bKcap1");
    let tx = receive(&mut h, &a, udp());
    h.layer
        .send_request(h.now, request("OPTIONS", "z9hG4bKcap2", "o", 1), udp())
        .unwrap();
    assert_eq!(
        h.layer.handle_request(h.now, invite("z9hG4bKcap3"), udp()),
        Err(TxError::TooManyTransactions)
    );
    assert_eq!(
        TxError::TooManyTransactions.sip_status(),
        Some((503, "Service Unavailable"))
    );
    assert_eq!(
        h.layer
            .send_request(h.now, request("OPTIONS", "z9hG4bKcap4", "o", 2), udp()),
        Err(TxError::TooManyTransactions)
    );
    h.layer.handle_request(h.now, a.clone(), udp()).unwrap();
    // ACKs never need a slot.
    h.layer
        .handle_request(h.now, ack_2xx(&a, "z9hG4bKcap5"), udp())
        .unwrap();
    assert_eq!(h.layer.len(), 2);
    h.layer
        .send_response(h.now, tx, response(&a, 603, Some("me")))
        .unwrap();
    h.run_to(T1 * 64);
    assert!(h.layer.is_empty());
    h.events();
    receive(&mut h, &invite("z9hG4bKcap3"), udp());
}

#[test]
fn malformed_requests_are_errors_not_panics() {
    let mut h = Harness::new();
    let cases: &[(&str, &str)] = &[
        (
            "missing Via",
            "OPTIONS sip:a@b SIP/2.0\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n",
        ),
        (
            "missing Via branch",
            "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h:5060\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n",
        ),
        (
            "malformed Via",
            "OPTIONS sip:a@b SIP/2.0\r\nVia: garbage\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n",
        ),
        (
            "missing Call-ID",
            "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCSeq: 1 OPTIONS\r\n\r\n",
        ),
        (
            "missing or malformed CSeq",
            "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: one OPTIONS\r\n\r\n",
        ),
        (
            "CSeq method differs from request method",
            "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 BYE\r\n\r\n",
        ),
        (
            "missing From or To",
            "BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 BYE\r\n\r\n",
        ),
        (
            "missing Call-ID",
            "ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCSeq: 1 ACK\r\n\r\n",
        ),
    ];
    for (why, text) in cases {
        let req = parse_request(text);
        assert_eq!(
            h.layer.handle_request(h.now, req.clone(), udp()),
            Err(TxError::InvalidRequest(why)),
            "{why}"
        );
        assert!(h.layer.find_invite_for_cancel(&req).is_none());
        assert!(matches!(
            h.layer.send_request(h.now, req, udp()),
            Err(TxError::InvalidRequest(_))
        ));
    }
    assert!(h.layer.is_empty());
    assert!(h.events().is_empty() && h.transmits().is_empty());
    // Responses with no Via or CSeq are dropped.
    let resp = rsip::Response::try_from("SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
    h.layer.handle_response(h.now, resp, udp());
    assert_eq!(h.layer.stats().dropped_responses, 1);
}

#[test]
fn send_response_validates_state_and_code() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKv1");
    let tx = receive(&mut h, &inv, udp());
    let mut weird = response(&inv, 180, None);
    weird.status_code = rsip::StatusCode::from(99);
    assert!(matches!(
        h.layer.send_response(h.now, tx, weird),
        Err(TxError::InvalidResponse(_))
    ));
    h.layer
        .send_response(h.now, tx, response(&inv, 486, Some("me")))
        .unwrap();
    assert_eq!(
        h.layer
            .send_response(h.now, tx, response(&inv, 200, Some("me"))),
        Err(TxError::InvalidState("final response already sent"))
    );
    assert_eq!(
        h.layer
            .send_response(h.now, TxId(999), response(&inv, 200, None)),
        Err(TxError::UnknownTransaction)
    );
    // In Accepted, the TU may send another 2xx; it replaces the one retransmitted.
    let inv2 = invite("z9hG4bKv2");
    let tx2 = receive(&mut h, &inv2, udp());
    h.layer
        .send_response(h.now, tx2, response(&inv2, 200, Some("a")))
        .unwrap();
    h.layer
        .send_response(h.now, tx2, response(&inv2, 200, Some("b")))
        .unwrap();
    h.transmits();
    let sent = h.run_to(ms(500));
    assert!(text(&sent.last().unwrap().1).contains("tag=b"));
    assert!(
        h.layer
            .send_response(h.now, tx2, response(&inv2, 180, None))
            .is_err()
    );
}

#[test]
fn transport_error_fails_a_waiting_client_and_ends_any_transaction() {
    let mut h = Harness::new();
    let tx = h
        .layer
        .send_request(h.now, invite("z9hG4bKte1"), tcp())
        .unwrap();
    h.layer.handle_transport_error(tx).unwrap();
    assert_eq!(
        h.events(),
        [TxEvent::Timeout { tx }, TxEvent::Terminated { tx }]
    );
    let req = request("OPTIONS", "z9hG4bKte2", "o", 1);
    let stx = receive(&mut h, &req, tcp());
    h.layer.handle_transport_error(stx).unwrap();
    assert_eq!(h.events(), [TxEvent::Terminated { tx: stx }]);
    assert_eq!(
        h.layer.handle_transport_error(stx),
        Err(TxError::UnknownTransaction)
    );
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
}

#[test]
fn cancel_for_copies_what_section_9_1_requires() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKcf1");
    let itx = h.layer.send_request(h.now, inv.clone(), udp()).unwrap();
    let cancel = cancel_for(&inv).unwrap();
    assert_eq!(cancel.method, rsip::Method::Cancel);
    assert_eq!(cancel.uri, inv.uri);
    let text = cancel.to_string();
    for needle in [
        "branch=z9hG4bKcf1",
        "CSeq: 1 CANCEL",
        "Call-ID: call-z9hG4bKcf1",
        "Route: <sip:edge.example.com;lr>",
        "tag=f1",
    ] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    // It round-trips through the parser and runs as its own client transaction.
    let reparsed = parse_request(&text);
    let ctx = h.layer.send_request(h.now, reparsed, udp()).unwrap();
    assert_ne!(ctx, itx);
    // ... which the far end matches to its INVITE.
    let mut far = Harness::new();
    let far_itx = receive(&mut far, &inv, udp());
    assert_eq!(far.layer.find_invite_for_cancel(&cancel), Some(far_itx));
}

#[test]
fn degenerate_timer_config_neither_hangs_nor_panics() {
    for (t1, t2, t4) in [
        (Duration::ZERO, Duration::ZERO, Duration::ZERO),
        (Duration::MAX, Duration::MAX, Duration::MAX),
        (ms(500), ms(1), ms(0)),
    ] {
        let cfg = TxConfig {
            t1,
            t2,
            t4,
            max_transactions: 10,
        };
        let mut h = Harness::with(cfg);
        let tx = h
            .layer
            .send_request(h.now, invite("z9hG4bKd1"), udp())
            .unwrap();
        let req = request("OPTIONS", "z9hG4bKd2", "o", 1);
        let stx = receive(&mut h, &req, udp());
        h.layer
            .send_response(h.now, stx, response(&req, 200, Some("x")))
            .unwrap();
        h.run_to(Duration::from_secs(400 * 3600));
        let events = h.events();
        assert!(events.contains(&TxEvent::Timeout { tx }), "{events:?}");
        assert!(h.layer.is_empty());
    }
}

/// Scale check, not a benchmark: 5 000 concurrent calls through INVITE → 200 → ACK and
/// a BYE each, with every timer run out. Quadratic behaviour would show up as minutes.
#[test]
fn many_concurrent_transactions_drain_cleanly() {
    let mut h = Harness::new();
    let n = 5_000u32;
    let mut invites = Vec::new();
    for i in 0..n {
        let inv = request("INVITE", &format!("z9hG4bKi{i}"), &format!("call{i}"), 1);
        h.layer.handle_request(h.now, inv.clone(), udp()).unwrap();
        invites.push(inv);
    }
    let ids: Vec<TxId> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            TxEvent::Request { tx, .. } => tx,
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), n as usize);
    for (tx, inv) in ids.iter().zip(&invites) {
        h.layer
            .send_response(h.now, *tx, response(inv, 200, Some("me")))
            .unwrap();
    }
    h.run_to(ms(600)); // one 2xx retransmission each
    for (i, inv) in invites.iter().enumerate() {
        h.layer
            .handle_request(h.now, ack_2xx(inv, &format!("z9hG4bKa{i}")), udp())
            .unwrap();
        let bye = request("BYE", &format!("z9hG4bKb{i}"), &format!("call{i}"), 2);
        h.layer.send_request(h.now, bye, udp()).unwrap();
    }
    assert_eq!(h.layer.len(), 2 * n as usize);
    h.run_to(ms(600) + T1 * 64);
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
}

#[test]
fn stateless_503_for_a_full_table() {
    let cfg = TxConfig {
        max_transactions: 0,
        ..TxConfig::default()
    };
    let mut h = Harness::with(cfg);
    let inv = invite("z9hG4bKst1");
    let err = h
        .layer
        .handle_request(h.now, inv.clone(), udp())
        .unwrap_err();
    let (code, _) = err.sip_status().unwrap();
    let resp = crate::sip::transaction::response_to(&inv, code.into(), Some("lb1"));
    h.layer.send_stateless(udp(), resp.to_string().into());
    let sent = h.transmits();
    let text = text(&sent[0]);
    assert!(text.starts_with("SIP/2.0 503 "), "{text}");
    for needle in [
        "branch=z9hG4bKst1",
        "tag=lb1",
        "CSeq: 1 INVITE",
        "Content-Length: 0",
    ] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    // It parses, and a tag is not added twice.
    let parsed = rsip::Response::try_from(text.as_str()).unwrap();
    let in_dialog = parse_request(&inv.to_string().replace(
        "To: <sip:+15551234567@pstn.example.com>\r\n",
        "To: <sip:+15551234567@pstn.example.com>;tag=old\r\n",
    ));
    let again = crate::sip::transaction::response_to(&in_dialog, 200.into(), Some("new"));
    let again = again.to_string();
    assert!(
        again.contains("tag=old") && !again.contains("tag=new"),
        "{again}"
    );
    assert_eq!(parsed.status_code.code(), 503);
}

#[test]
fn the_layer_can_move_between_tasks() {
    fn send<T: Send + Sync>() {}
    send::<crate::sip::transaction::TransactionLayer>();
    send::<TxEvent>();
}
