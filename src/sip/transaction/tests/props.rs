//! Property: any interleaving of peer input, TU actions and time keeps the table consistent:
//! events name live transactions, each ends once, timers never leak, output always parses.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;

use super::*;
use crate::sip::transaction::TxState;

#[derive(Clone, Debug)]
enum Op {
    Send { invite: bool, tcp: bool },
    Receive { n: u8, kind: u8, tcp: bool },
    Answer { pick: u8, code: u16 },
    PeerAnswer { pick: u8, code: u16, tag: bool },
    Advance { ms: u32 },
    TransportError { pick: u8 },
}

fn code() -> impl Strategy<Value = u16> {
    prop::sample::select(vec![
        99u16, 100, 180, 183, 200, 202, 302, 404, 486, 487, 503, 603, 700,
    ])
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<bool>(), any::<bool>()).prop_map(|(invite, tcp)| Op::Send { invite, tcp }),
        (0u8..6, 0u8..5, any::<bool>()).prop_map(|(n, kind, tcp)| Op::Receive { n, kind, tcp }),
        (any::<u8>(), code()).prop_map(|(pick, code)| Op::Answer { pick, code }),
        (any::<u8>(), code(), any::<bool>()).prop_map(|(pick, code, tag)| Op::PeerAnswer {
            pick,
            code,
            tag
        }),
        (0u32..40_000).prop_map(|ms| Op::Advance { ms }),
        any::<u8>().prop_map(|pick| Op::TransportError { pick }),
    ]
}

/// Peer-side request `n` of `kind`: INVITE, OPTIONS, CANCEL, ACK (INVITE's branch), ACK (2xx).
fn peer_request(n: u8, kind: u8) -> rsip::Request {
    let branch = format!("z9hG4bKp{n}");
    let call = format!("c{n}");
    match kind {
        0 => request("INVITE", &branch, &call, 1),
        1 => request("OPTIONS", &branch, &call, 1),
        2 => request("CANCEL", &branch, &call, 1),
        3 => request("ACK", &branch, &call, 1),
        _ => request("ACK", &format!("z9hG4bKa{n}"), &call, 1),
    }
}

#[derive(Default)]
struct Model {
    clients: Vec<(TxId, rsip::Request)>,
    servers: Vec<(TxId, rsip::Request)>,
    live: HashSet<TxId>,
    ended: HashSet<TxId>,
    is_client: HashMap<TxId, bool>,
}

impl Model {
    fn created(&mut self, tx: TxId, client: bool) {
        assert!(self.is_client.insert(tx, client).is_none(), "id reused");
        self.live.insert(tx);
    }

    fn check(&mut self, h: &mut Harness) {
        for t in h.transmits() {
            assert!(rsip::SipMessage::try_from(t.bytes.clone()).is_ok(), "{t:?}");
        }
        for ev in h.events() {
            match ev {
                TxEvent::Request {
                    tx: Some(tx),
                    request,
                    ..
                } => {
                    self.created(tx, false);
                    self.servers.push((tx, request));
                }
                TxEvent::Request {
                    tx: None, request, ..
                } => {
                    assert_eq!(request.method, rsip::Method::Ack);
                }
                TxEvent::Response { tx, .. } | TxEvent::Timeout { tx } => {
                    assert!(self.live.contains(&tx) && self.is_client[&tx]);
                }
                TxEvent::AckTimeout { tx } => {
                    assert!(self.live.contains(&tx) && !self.is_client[&tx]);
                }
                TxEvent::Terminated { tx } => {
                    assert!(self.live.remove(&tx), "terminated twice or unknown");
                    self.ended.insert(tx);
                }
            }
        }
        assert_eq!(h.layer.len(), self.live.len());
    }
}

fn pick<T: Clone>(items: &[T], i: u8) -> Option<T> {
    (!items.is_empty()).then(|| items[i as usize % items.len()].clone())
}

fn run(ops: Vec<Op>) {
    let mut h = Harness::new();
    let mut m = Model::default();
    let mut next_branch = 0u32;
    for op in ops {
        match op {
            Op::Send { invite, tcp: t } => {
                next_branch += 1;
                let branch = format!("z9hG4bKc{next_branch}");
                let method = if invite { "INVITE" } else { "OPTIONS" };
                let req = request(method, &branch, &format!("cc{next_branch}"), 1);
                let peer = if t { tcp() } else { udp() };
                let tx = h.layer.send_request(h.now, req.clone(), peer).unwrap();
                m.created(tx, true);
                m.clients.push((tx, req));
            }
            Op::Receive { n, kind, tcp: t } => {
                let peer = if t { tcp() } else { udp() };
                h.layer
                    .handle_request(h.now, peer_request(n, kind), peer)
                    .unwrap();
            }
            Op::Answer { pick: i, code } => {
                if let Some((tx, req)) = pick(&m.servers, i) {
                    let tag = (code > 100).then_some("uas");
                    let mut resp = response(&req, code.clamp(100, 699), tag);
                    resp.status_code = rsip::StatusCode::from(code);
                    let _ = h.layer.send_response(h.now, tx, resp);
                }
            }
            Op::PeerAnswer { pick: i, code, tag } => {
                if let Some((_, req)) = pick(&m.clients, i) {
                    let mut resp = response(&req, code.clamp(100, 699), tag.then_some("t"));
                    resp.status_code = rsip::StatusCode::from(code);
                    h.layer.handle_response(h.now, resp, udp());
                }
            }
            Op::Advance { ms: d } => {
                let target = h.now - h.start + ms(u64::from(d));
                h.run_to(target);
            }
            Op::TransportError { pick: i } => {
                if let Some((tx, _)) = pick(&m.clients, i) {
                    let _ = h.layer.handle_transport_error(tx);
                }
            }
        }
        m.check(&mut h);
    }
    // Long after: only transactions waiting on someone else's final response remain,
    // and they hold no timers.
    let end = h.now - h.start + ms(3_600_000);
    h.run_to(end);
    m.check(&mut h);
    assert_eq!(h.layer.poll_timeout(), None);
    for tx in &m.live {
        let state = h.layer.state_of(*tx).unwrap();
        let ok = if m.is_client[tx] {
            state == TxState::Proceeding // INVITE client: no Timer B after a 1xx
        } else {
            matches!(state, TxState::Trying | TxState::Proceeding)
        };
        assert!(ok, "{tx} stuck in {state:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn random_interleavings_keep_the_table_consistent(ops in prop::collection::vec(op(), 1..60)) {
        run(ops);
    }
}

/// A request whose Via, CSeq and Call-ID values are arbitrary text (built directly, so the
/// rsip parser's own checks do not shield the layer).
fn hostile_request(method: rsip::Method, via: &str, cseq: &str, call: &str) -> rsip::Request {
    use rsip::Header;
    use rsip::headers::{self, UntypedHeader};
    let mut req = invite("z9hG4bKh");
    req.method = method;
    req.headers
        .retain(|h| !matches!(h, Header::Via(_) | Header::CSeq(_) | Header::CallId(_)));
    req.headers.push(Header::Via(headers::Via::new(via)));
    req.headers.push(Header::CSeq(headers::CSeq::new(cseq)));
    req.headers.push(Header::CallId(headers::CallId::new(call)));
    req
}

fn method() -> impl Strategy<Value = rsip::Method> {
    prop::sample::select(rsip::Method::all())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn hostile_header_values_never_panic(
        m in method(),
        via in prop_oneof![
            ".*",
            "SIP */ *2\\.0 */ *(UDP|TCP) +[a-z0-9.:\\[\\]]{0,12}( *; *[a-z]{0,7} *(= *[a-zA-Z0-9]{0,9})?){0,3}(,.*)?",
        ],
        cseq in prop_oneof![".*", "[0-9]{0,11} +[A-Za-z]{0,9}"],
        call in ".{0,8}",
    ) {
        let req = hostile_request(m, &via, &cseq, &call);
        let mut h = Harness::new();
        let received = h.layer.handle_request(h.now, req.clone(), udp());
        let _ = h.layer.find_invite_for_cancel(&req);
        let sent = h.layer.send_request(h.now, req.clone(), tcp());
        let mut resp = response(&invite("z9hG4bKh"), 200, None);
        resp.headers = req.headers.clone();
        h.layer.handle_response(h.now, resp, udp());
        if let Ok(tx) = sent {
            let _ = crate::sip::transaction::cancel_for(h.layer.request_of(tx).unwrap());
        }
        h.run_to(ms(3_600_000));
        let events = h.events();
        if received.is_err() {
            let surfaced = events.iter().any(|e| matches!(e, TxEvent::Request { .. }));
            prop_assert!(!surfaced, "a refused request surfaced");
        }
    }
}
