//! Client transactions: INVITE (Timers A, B, D, M; ACK for non-2xx) and non-INVITE (E, F, K).

use super::*;
use crate::sip::transaction::{TxError, TxState};

#[test]
fn invite_udp_retransmits_on_timer_a_and_times_out_on_b() {
    let mut h = Harness::new();
    let tx = h
        .layer
        .send_request(h.now, invite("z9hG4bKa1"), udp())
        .unwrap();
    let sent = h.run_to(T1 * 64 - ms(1));
    assert_eq!(times(&sent), [0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert!(first_lines(&sent).iter().all(|l| l.starts_with("INVITE ")));
    assert!(h.events().is_empty());

    assert!(h.run_to(T1 * 64).is_empty());
    assert_eq!(
        h.events(),
        [TxEvent::Timeout { tx }, TxEvent::Terminated { tx }]
    );
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
    assert_eq!(h.layer.armed_timers(), 0);
}

#[test]
fn invite_provisional_stops_timer_a_and_b() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKa2");
    let tx = h.layer.send_request(h.now, inv.clone(), udp()).unwrap();
    h.run_to(ms(100));
    h.layer
        .handle_response(h.now, response(&inv, 180, Some("t1")), udp());
    assert!(
        matches!(&h.events()[..], [TxEvent::Response { tx: t, response }]
        if *t == tx && response.status_code.code() == 180)
    );
    assert_eq!(h.layer.state_of(tx), Some(TxState::Proceeding));
    // No more INVITEs; no Timer B while Proceeding (RFC 3261 §17.1.1.2).
    assert!(h.run_to(ms(120_000)).is_empty());
    assert!(h.events().is_empty());
    assert_eq!(h.layer.len(), 1);
}

#[test]
fn invite_non_2xx_final_is_acked_by_the_layer_and_ack_resent_on_retransmission() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKa3");
    let tx = h.layer.send_request(h.now, inv.clone(), udp()).unwrap();
    h.transmits();
    h.run_to(ms(700)); // one retransmission at 500
    h.transmits();
    let busy = response(&inv, 486, Some("uas9"));
    h.layer.handle_response(h.now, busy.clone(), udp());
    let acks = h.transmits();
    assert_eq!(acks.len(), 1);
    let ack = parse_request(&text(&acks[0]));
    assert_eq!(ack.method, rsip::Method::Ack);
    assert_eq!(ack.uri, inv.uri);
    let ack_text = text(&acks[0]);
    assert!(ack_text.contains("branch=z9hG4bKa3"), "{ack_text}");
    assert!(
        ack_text.contains("tag=uas9"),
        "To tag from the response: {ack_text}"
    );
    assert!(
        ack_text.contains("Route: <sip:edge.example.com;lr>"),
        "{ack_text}"
    );
    assert!(ack_text.contains("CSeq: 1 ACK"), "{ack_text}");
    assert!(!ack_text.contains("Contact:"), "{ack_text}");
    assert_eq!(acks[0].peer, udp());
    assert_eq!(
        h.events(),
        [TxEvent::Response {
            tx,
            response: busy.clone()
        }]
    );
    assert_eq!(h.layer.state_of(tx), Some(TxState::Completed));

    // A retransmitted 486: the same ACK again, nothing for the TU.
    h.layer.handle_response(h.now, busy, udp());
    assert_eq!(h.transmits(), acks);
    assert!(h.events().is_empty());

    // No more INVITE retransmissions; Timer D (32 s) ends it.
    let sent = h.run_to(ms(700 + 32_000 - 1));
    assert!(sent.is_empty());
    assert!(h.events().is_empty());
    h.run_to(ms(700 + 32_000));
    assert_eq!(h.events(), [TxEvent::Terminated { tx }]);
}

#[test]
fn invite_accepted_passes_2xx_retransmissions_up_until_timer_m() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKa4");
    let tx = h.layer.send_request(h.now, inv.clone(), udp()).unwrap();
    h.transmits();
    let ok = response(&inv, 200, Some("uas1"));
    h.layer.handle_response(h.now, ok.clone(), udp());
    assert_eq!(
        h.events(),
        [TxEvent::Response {
            tx,
            response: ok.clone()
        }]
    );
    assert_eq!(h.layer.state_of(tx), Some(TxState::Accepted));
    assert!(
        h.transmits().is_empty(),
        "the UA, not the layer, ACKs a 2xx"
    );

    h.run_to(ms(500));
    h.layer.handle_response(h.now, ok.clone(), udp());
    // A 2xx from another fork surfaces too.
    let forked = response(&inv, 200, Some("uas2"));
    h.layer.handle_response(h.now, forked.clone(), udp());
    assert_eq!(
        h.events(),
        [
            TxEvent::Response {
                tx,
                response: ok.clone()
            },
            TxEvent::Response {
                tx,
                response: forked
            }
        ]
    );
    // A late non-2xx is ignored in Accepted.
    h.layer
        .handle_response(h.now, response(&inv, 486, Some("uas3")), udp());
    assert!(h.events().is_empty());
    assert!(h.transmits().is_empty());

    assert!(
        h.run_to(T1 * 64 - ms(1)).is_empty(),
        "no INVITE retransmissions"
    );
    assert!(h.events().is_empty());
    h.run_to(T1 * 64);
    assert_eq!(h.events(), [TxEvent::Terminated { tx }]);
    // After Timer M a 2xx matches nothing.
    h.layer.handle_response(h.now, ok, udp());
    assert!(h.events().is_empty());
    assert_eq!(h.layer.stats().dropped_responses, 1);
}

#[test]
fn invite_over_tcp_never_retransmits_and_timer_d_is_zero() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKa5");
    let tx = h.layer.send_request(h.now, inv.clone(), tcp()).unwrap();
    assert_eq!(h.run_to(T1 * 63).len(), 1);
    h.layer
        .handle_response(h.now, response(&inv, 503, Some("x")), tcp());
    let sent = h.transmits();
    assert_eq!(sent.len(), 1);
    assert!(text(&sent[0]).starts_with("ACK "));
    let events = h.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1], TxEvent::Terminated { tx });
    assert!(h.layer.is_empty());
}

#[test]
fn invite_over_tcp_still_times_out_on_timer_b() {
    let mut h = Harness::new();
    let tx = h
        .layer
        .send_request(h.now, invite("z9hG4bKa6"), tcp())
        .unwrap();
    let sent = h.run_to(T1 * 64);
    assert_eq!(times(&sent), [0]);
    assert_eq!(
        h.events(),
        [TxEvent::Timeout { tx }, TxEvent::Terminated { tx }]
    );
}

#[test]
fn non_invite_timer_e_caps_at_t2_and_timer_f_times_out() {
    let mut h = Harness::new();
    let req = request("OPTIONS", "z9hG4bKn1", "opt-1", 7);
    let tx = h.layer.send_request(h.now, req, udp()).unwrap();
    let sent = h.run_to(T1 * 64);
    assert_eq!(
        times(&sent),
        [
            0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(
        h.events(),
        [TxEvent::Timeout { tx }, TxEvent::Terminated { tx }]
    );
}

#[test]
fn non_invite_proceeding_retransmits_every_t2_and_timer_k_absorbs() {
    let mut h = Harness::new();
    let req = request("BYE", "z9hG4bKn2", "bye-1", 2);
    let tx = h.layer.send_request(h.now, req.clone(), udp()).unwrap();
    h.run_to(ms(100));
    h.transmits();
    h.layer
        .handle_response(h.now, response(&req, 100, None), udp());
    assert_eq!(h.layer.state_of(tx), Some(TxState::Proceeding));
    let sent = h.run_to(ms(9000));
    assert_eq!(times(&sent), [500, 4500, 8500]);
    let ok = response(&req, 200, Some("t"));
    h.layer.handle_response(h.now, ok.clone(), udp());
    h.layer.handle_response(h.now, ok.clone(), udp()); // retransmission: absorbed
    let events = h.events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1], TxEvent::Response { tx, response: ok });
    assert!(h.run_to(ms(9000 + 5000 - 1)).is_empty());
    assert!(h.events().is_empty());
    h.run_to(ms(9000 + 5000)); // Timer K = T4
    assert_eq!(h.events(), [TxEvent::Terminated { tx }]);
}

#[test]
fn non_invite_over_tcp_no_retransmission_and_timer_k_zero() {
    let mut h = Harness::new();
    let req = request("OPTIONS", "z9hG4bKn3", "opt-3", 1);
    let tx = h.layer.send_request(h.now, req.clone(), tcp()).unwrap();
    assert_eq!(h.run_to(ms(20_000)).len(), 1);
    h.layer
        .handle_response(h.now, response(&req, 200, Some("t")), tcp());
    assert_eq!(h.events().last(), Some(&TxEvent::Terminated { tx }));
    assert!(h.layer.is_empty());
}

#[test]
fn responses_match_on_branch_and_cseq_method() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKm1");
    let tx = h.layer.send_request(h.now, inv.clone(), udp()).unwrap();
    // CANCEL shares the INVITE's branch but is its own transaction.
    let cancel = request("CANCEL", "z9hG4bKm1", "call-z9hG4bKm1", 1);
    let ctx = h.layer.send_request(h.now, cancel.clone(), udp()).unwrap();
    assert_ne!(tx, ctx);
    h.layer
        .handle_response(h.now, response(&cancel, 200, Some("u")), udp());
    h.layer
        .handle_response(h.now, response(&inv, 487, Some("u")), udp());
    let events = h.events();
    assert!(matches!(&events[0], TxEvent::Response { tx: t, response }
        if *t == ctx && response.status_code.code() == 200));
    assert!(matches!(&events[1], TxEvent::Response { tx: t, response }
        if *t == tx && response.status_code.code() == 487));
    // Unknown branch, and a BYE response on the INVITE's branch: dropped and counted.
    h.layer
        .handle_response(h.now, response(&invite("z9hG4bKother"), 200, None), udp());
    let bye = request("BYE", "z9hG4bKm1", "call-z9hG4bKm1", 2);
    h.layer
        .handle_response(h.now, response(&bye, 200, None), udp());
    assert_eq!(h.layer.stats().dropped_responses, 2);
}

#[test]
fn send_request_rejects_bad_requests() {
    let mut h = Harness::new();
    let no_cookie = request("OPTIONS", "1234", "c", 1);
    assert_eq!(
        h.layer.send_request(h.now, no_cookie, udp()),
        Err(TxError::InvalidRequest(
            "top Via branch must start with z9hG4bK"
        ))
    );
    let ack = request("ACK", "z9hG4bKx", "c", 1);
    assert!(matches!(
        h.layer.send_request(h.now, ack, udp()),
        Err(TxError::InvalidRequest(_))
    ));
    let req = request("OPTIONS", "z9hG4bKdup", "c", 1);
    h.layer.send_request(h.now, req.clone(), udp()).unwrap();
    assert_eq!(
        h.layer.send_request(h.now, req, udp()),
        Err(TxError::DuplicateTransaction)
    );
    let tx = h
        .layer
        .send_request(h.now, invite("z9hG4bKc"), udp())
        .unwrap();
    let ok = response(&invite("z9hG4bKc"), 200, None);
    assert_eq!(
        h.layer.send_response(h.now, tx, ok),
        Err(TxError::InvalidState("not a server transaction"))
    );
    assert_eq!(h.layer.len(), 2);
}

#[test]
fn cancelled_invite_without_final_gives_up_after_64_t1() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKq1");
    let tx = h.layer.send_request(h.now, inv.clone(), udp()).unwrap();
    h.layer
        .handle_response(h.now, response(&inv, 180, Some("u")), udp());
    h.run_to(ms(60_000)); // ringing for a minute: no Timer B in Proceeding
    assert_eq!(h.layer.state_of(tx), Some(TxState::Proceeding));
    let cancel = crate::sip::transaction::cancel_for(&inv).unwrap();
    let ctx = h.layer.send_request(h.now, cancel.clone(), udp()).unwrap();
    h.layer
        .handle_response(h.now, response(&cancel, 200, Some("u")), udp());
    h.events();
    // No 487 ever arrives: the INVITE transaction is given up 64*T1 after the CANCEL.
    h.run_to(ms(60_000) + T1 * 64 - ms(1));
    assert!(
        h.events()
            .iter()
            .all(|e| !matches!(e, TxEvent::Timeout { tx: t } if *t == tx))
    );
    h.run_to(ms(60_000) + T1 * 64);
    let events = h.events();
    assert!(events.contains(&TxEvent::Timeout { tx }), "{events:?}");
    assert!(events.contains(&TxEvent::Terminated { tx }), "{events:?}");
    assert_eq!(
        h.layer.state_of(ctx),
        None,
        "the CANCEL ended on Timer K long before"
    );
    assert!(h.layer.is_empty());
}
