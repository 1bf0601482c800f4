//! Server transactions: retransmission absorption, Timers G, H, I, J, L and the 2xx/ACK wait.

use super::*;
use crate::sip::transaction::{TxError, TxState};

#[test]
fn retransmitted_invite_is_absorbed_and_last_provisional_replayed() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKs1");
    let tx = receive(&mut h, &inv, udp());
    let ringing = response(&inv, 180, Some("me"));
    h.layer
        .send_response(h.now, tx, response(&inv, 100, None))
        .unwrap();
    h.layer.send_response(h.now, tx, ringing.clone()).unwrap();
    assert_eq!(h.transmits().len(), 2);
    h.run_to(ms(500));
    h.layer.handle_request(h.now, inv.clone(), udp()).unwrap();
    assert!(
        h.events().is_empty(),
        "a retransmission is not a new request"
    );
    let replay = h.transmits();
    assert_eq!(replay.len(), 1);
    assert_eq!(replay[0].bytes, ringing.to_string().as_bytes());
    assert_eq!(h.layer.stats().absorbed_requests, 1);
    assert_eq!(h.layer.request_of(tx), Some(&inv));
}

#[test]
fn invite_gets_100_trying_after_200ms_of_silence() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKs2");
    let tx = receive(&mut h, &inv, udp());
    // A retransmission before anything was sent: absorbed, nothing to replay.
    h.layer.handle_request(h.now, inv.clone(), udp()).unwrap();
    assert!(h.transmits().is_empty());
    let sent = h.run_to(ms(1000));
    assert_eq!(times(&sent), [200]);
    assert_eq!(first_lines(&sent), ["SIP/2.0 100 Trying"]);
    let trying = text(&sent[0].1);
    assert!(trying.contains("branch=z9hG4bKs2") && trying.contains("CSeq: 1 INVITE"));
    // ... and a TU that answers in time sends no extra 100.
    let inv2 = invite("z9hG4bKs2b");
    let tx2 = receive(&mut h, &inv2, udp());
    h.layer
        .send_response(h.now, tx2, response(&inv2, 180, Some("x")))
        .unwrap();
    assert_eq!(h.run_to(ms(5000)).len(), 1);
    assert_eq!(h.layer.state_of(tx), Some(TxState::Proceeding));
}

#[test]
fn non_2xx_final_retransmits_on_timer_g_until_ack_then_timer_i() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKs3");
    let tx = receive(&mut h, &inv, udp());
    let busy = response(&inv, 486, Some("me"));
    h.layer.send_response(h.now, tx, busy.clone()).unwrap();
    let sent = h.run_to(ms(4000));
    assert_eq!(times(&sent), [0, 500, 1500, 3500]);
    assert!(
        sent.iter()
            .all(|(_, t)| t.bytes == busy.to_string().as_bytes())
    );
    // A retransmitted INVITE in Completed replays the final.
    h.layer.handle_request(h.now, inv.clone(), udp()).unwrap();
    let replay = h.run_to(ms(4000));
    assert_eq!(replay.len(), 1);
    assert_eq!(replay[0].1.bytes, busy.to_string().as_bytes());
    // The ACK (same branch) is absorbed.
    let ack = request("ACK", "z9hG4bKs3", "call-z9hG4bKs3", 1);
    h.layer.handle_request(h.now, ack.clone(), udp()).unwrap();
    h.layer.handle_request(h.now, ack, udp()).unwrap();
    assert!(h.events().is_empty());
    assert_eq!(h.layer.state_of(tx), Some(TxState::Confirmed));
    assert!(
        h.run_to(ms(4000 + 5000 - 1)).is_empty(),
        "no Timer G after ACK"
    );
    assert!(h.events().is_empty());
    h.run_to(ms(4000 + 5000)); // Timer I = T4
    assert_eq!(h.events(), [TxEvent::Terminated { tx }]);
}

#[test]
fn timer_h_gives_up_without_ack() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKs4");
    let tx = receive(&mut h, &inv, udp());
    h.layer
        .send_response(h.now, tx, response(&inv, 404, Some("me")))
        .unwrap();
    let sent = h.run_to(T1 * 64);
    assert_eq!(
        times(&sent),
        [
            0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(h.events(), [TxEvent::Terminated { tx }]);
    assert!(h.layer.is_empty());
}

#[test]
fn tcp_non_2xx_has_no_timer_g_and_ack_terminates_at_once() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKs5");
    let tx = receive(&mut h, &inv, tcp());
    h.layer
        .send_response(h.now, tx, response(&inv, 480, Some("me")))
        .unwrap();
    assert_eq!(h.run_to(ms(10_000)).len(), 1);
    let ack = request("ACK", "z9hG4bKs5", "call-z9hG4bKs5", 1);
    h.layer.handle_request(h.now, ack, tcp()).unwrap();
    assert_eq!(h.events(), [TxEvent::Terminated { tx }]);
}

#[test]
fn layer_retransmits_2xx_until_ack_which_surfaces_for_the_dialog() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKs6");
    let tx = receive(&mut h, &inv, udp());
    let ok = response(&inv, 200, Some("me"));
    h.layer.send_response(h.now, tx, ok.clone()).unwrap();
    assert_eq!(h.layer.state_of(tx), Some(TxState::Accepted));
    // The first ACK is lost: the 2xx goes out again on T1, 2T1, ...
    let sent = h.run_to(ms(3600));
    assert_eq!(times(&sent), [0, 500, 1500, 3500]);
    assert!(
        sent.iter()
            .all(|(_, t)| t.bytes == ok.to_string().as_bytes())
    );

    let ack = ack_2xx(&inv, "z9hG4bKack6");
    h.layer.handle_request(h.now, ack.clone(), udp()).unwrap();
    assert_eq!(
        h.events(),
        [TxEvent::Request {
            tx: None,
            request: ack.clone(),
            peer: udp()
        }]
    );
    // An INVITE retransmission is absorbed without replay in Accepted (RFC 6026).
    h.layer.handle_request(h.now, inv.clone(), udp()).unwrap();
    assert!(h.events().is_empty());
    // ACK retransmissions still surface: the dialog owns them.
    h.layer.handle_request(h.now, ack.clone(), udp()).unwrap();
    assert_eq!(h.events().len(), 1);
    assert!(h.run_to(T1 * 64 - ms(1)).is_empty(), "no 2xx after the ACK");
    h.run_to(T1 * 64); // Timer L
    assert_eq!(h.events(), [TxEvent::Terminated { tx }], "no AckTimeout");
}

#[test]
fn no_ack_for_2xx_gives_ack_timeout() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKs7");
    let tx = receive(&mut h, &inv, udp());
    h.layer
        .send_response(h.now, tx, response(&inv, 200, Some("me")))
        .unwrap();
    let sent = h.run_to(T1 * 64);
    assert_eq!(
        times(&sent),
        [
            0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(
        h.events(),
        [TxEvent::AckTimeout { tx }, TxEvent::Terminated { tx }]
    );
    // A late ACK still reaches the dialog.
    let ack = ack_2xx(&inv, "z9hG4bKlate");
    h.layer.handle_request(h.now, ack, udp()).unwrap();
    assert!(matches!(
        &h.events()[..],
        [TxEvent::Request { tx: None, .. }]
    ));
}

#[test]
fn tcp_2xx_is_not_retransmitted_but_ack_is_still_awaited() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKs8");
    let tx = receive(&mut h, &inv, tcp());
    h.layer
        .send_response(h.now, tx, response(&inv, 200, Some("me")))
        .unwrap();
    assert_eq!(times(&h.run_to(T1 * 64)), [0]);
    assert_eq!(
        h.events(),
        [TxEvent::AckTimeout { tx }, TxEvent::Terminated { tx }]
    );
}

#[test]
fn ack_reusing_the_invite_branch_in_accepted_goes_to_the_dialog() {
    let mut h = Harness::new();
    let inv = invite("z9hG4bKs9");
    let tx = receive(&mut h, &inv, udp());
    h.layer
        .send_response(h.now, tx, response(&inv, 200, Some("me")))
        .unwrap();
    let ack = request("ACK", "z9hG4bKs9", "call-z9hG4bKs9", 1);
    h.layer.handle_request(h.now, ack, udp()).unwrap();
    assert!(matches!(
        &h.events()[..],
        [TxEvent::Request { tx: None, .. }]
    ));
    assert_eq!(times(&h.run_to(T1 * 64)), [0]);
    assert_eq!(h.events(), [TxEvent::Terminated { tx }]);
}

#[test]
fn non_invite_server_replays_and_lingers_on_timer_j() {
    let mut h = Harness::new();
    let req = request("OPTIONS", "z9hG4bKo1", "opt", 3);
    let tx = receive(&mut h, &req, udp());
    h.layer.handle_request(h.now, req.clone(), udp()).unwrap();
    assert!(
        h.transmits().is_empty(),
        "Trying: absorbed, nothing to replay"
    );
    assert_eq!(h.layer.state_of(tx), Some(TxState::Trying));
    h.layer
        .send_response(h.now, tx, response(&req, 100, None))
        .unwrap();
    h.layer.handle_request(h.now, req.clone(), udp()).unwrap();
    assert_eq!(
        first_lines(&h.run_to(ms(0))),
        ["SIP/2.0 100 Trying", "SIP/2.0 100 Trying"]
    );
    h.layer
        .send_response(h.now, tx, response(&req, 200, Some("me")))
        .unwrap();
    h.layer.handle_request(h.now, req.clone(), udp()).unwrap();
    assert_eq!(
        first_lines(&h.run_to(ms(0))),
        ["SIP/2.0 200 OK", "SIP/2.0 200 OK"]
    );
    assert_eq!(
        h.layer.send_response(h.now, tx, response(&req, 500, None)),
        Err(TxError::InvalidState("final response already sent"))
    );
    assert!(h.events().is_empty());
    assert!(
        h.run_to(T1 * 64 - ms(1)).is_empty(),
        "no retransmission of its own"
    );
    h.run_to(T1 * 64);
    assert_eq!(h.events(), [TxEvent::Terminated { tx }]);
}

#[test]
fn non_invite_server_over_tcp_ends_with_the_final() {
    let mut h = Harness::new();
    let req = request("BYE", "z9hG4bKo2", "c", 3);
    let tx = receive(&mut h, &req, tcp());
    h.layer
        .send_response(h.now, tx, response(&req, 200, Some("me")))
        .unwrap();
    assert_eq!(h.events(), [TxEvent::Terminated { tx }]);
    assert_eq!(
        h.layer.send_response(h.now, tx, response(&req, 200, None)),
        Err(TxError::UnknownTransaction)
    );
}
