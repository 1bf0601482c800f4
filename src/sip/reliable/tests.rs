use super::*;

const T1: Duration = Duration::from_millis(500);

fn provisional(status: u16, extra: &str, body: &str) -> Response {
    let raw = format!(
        "SIP/2.0 {status} Ringing\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds\r\n\
From: <sip:+15550001111@carrier.example>;tag=1928301774\r\n\
To: <sip:+15551234567@bridge.example>;tag=uas1\r\n\
Call-ID: a84b4c76e66710@pc33.carrier.example\r\n\
CSeq: 314159 INVITE\r\n{extra}\
Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    Response::try_from(raw.as_str()).unwrap()
}

fn headers(raw: &str) -> Headers {
    let req = format!("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n{raw}\r\n");
    rsip::Request::try_from(req.as_str()).unwrap().headers
}

fn transmitted(out: Option<ReliableOutput>) -> Response {
    match out {
        Some(ReliableOutput::Transmit(r)) => r,
        other => panic!("expected a transmission, got {other:?}"),
    }
}

#[test]
fn option_tag_lists() {
    assert!(supports_100rel(&headers(
        "Supported: timer, 100REL , replaces\r\n"
    )));
    assert!(supports_100rel(&headers("k: 100rel\r\n")));
    assert!(!supports_100rel(&headers(
        "Supported: 100relx\r\nRequire: 100rel\r\n"
    )));
    assert!(requires_100rel(&headers(
        "Require: timer\r\nRequire: 100rel\r\n"
    )));
    assert!(!requires_100rel(&headers(
        "Require: replaces\r\nSupported: 100rel\r\n"
    )));
}

#[test]
fn stamps_require_and_consecutive_rseq() {
    let t0 = Instant::now();
    let mut rp = ReliableProvisionals::with_initial_rseq(T1, 776656);
    let sent = rp
        .send(t0, provisional(180, "Require: timer\r\n", ""))
        .unwrap();
    assert!(requires_100rel(&sent.headers));
    assert!(is_reliable(&sent));
    assert_eq!(make_rack(&sent).as_deref(), Some("776656 314159 INVITE"));
    let require: Vec<String> = sent
        .headers
        .iter()
        .map(|h| h.to_string())
        .filter(|h| h.starts_with("Require"))
        .collect();
    assert_eq!(require, ["Require: timer, 100rel"]);
    assert_eq!(
        rp.handle_prack("776656 314159 INVITE"),
        PrackOutcome::Acknowledged
    );
    let second = rp.send(t0, provisional(183, "", "")).unwrap();
    assert_eq!(make_rack(&second).as_deref(), Some("776657 314159 INVITE"));

    let trying = provisional(100, "", "");
    assert_eq!(rp.send(t0, trying.clone()), Some(trying));
    let random = ReliableProvisionals::new(T1)
        .send(t0, provisional(180, "", ""))
        .unwrap();
    let rseq: u32 = make_rack(&random)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..0x8000_0000).contains(&rseq));
}

#[test]
fn retransmits_with_doubling_interval_until_64_t1() {
    let t0 = Instant::now();
    let mut rp = ReliableProvisionals::with_initial_rseq(T1, 1);
    let first = rp.send(t0, provisional(180, "", "")).unwrap();
    let mut at = Vec::new();
    let mut now = t0;
    while let Some(next) = rp.poll_timeout() {
        assert!(next >= now);
        now = next;
        match rp.poll_output(now) {
            Some(ReliableOutput::Transmit(r)) => {
                assert_eq!(r, first);
                at.push((now - t0).as_millis());
            }
            Some(ReliableOutput::Expired) => at.push(u128::MAX),
            None => panic!("woken for nothing at {:?}", now - t0),
        }
    }
    assert_eq!(at, [500, 1500, 3500, 7500, 15500, 31500, u128::MAX]);
    assert_eq!(now - t0, 64 * T1);
    assert!(rp.is_expired());
    assert_eq!(rp.poll_output(now + T1), None);
    assert_eq!(rp.send(now, provisional(183, "", "")), None);
}

#[test]
fn prack_stops_retransmission() {
    let t0 = Instant::now();
    let mut rp = ReliableProvisionals::with_initial_rseq(T1, 10);
    rp.send(t0, provisional(180, "", "")).unwrap();
    assert_eq!(rp.poll_output(t0 + T1 / 2), None);
    transmitted(rp.poll_output(t0 + T1));
    assert_eq!(rp.handle_prack("11 314159 INVITE"), PrackOutcome::NoMatch);
    assert_eq!(rp.handle_prack("10 314158 INVITE"), PrackOutcome::NoMatch);
    assert_eq!(rp.handle_prack("10 314159 BYE"), PrackOutcome::NoMatch);
    for bad in [
        "",
        "10",
        "10 314159",
        "x 314159 INVITE",
        "10 314159 INVITE extra",
        "10 -1 INVITE",
    ] {
        assert_eq!(rp.handle_prack(bad), PrackOutcome::Malformed, "{bad:?}");
    }
    assert_eq!(
        rp.handle_prack(" 10  314159\tINVITE "),
        PrackOutcome::Acknowledged
    );
    assert_eq!(rp.handle_prack("10 314159 INVITE"), PrackOutcome::NoMatch);
    assert_eq!(rp.poll_timeout(), None);
    assert_eq!(rp.poll_output(t0 + 64 * T1), None);
    assert!(!rp.is_expired());
}

#[test]
fn later_provisionals_wait_for_the_prack() {
    let t0 = Instant::now();
    let mut rp = ReliableProvisionals::with_initial_rseq(T1, 100);
    rp.send(t0, provisional(180, "", "")).unwrap();
    assert!(rp.may_send_2xx());
    let sdp = "v=0\r\n";
    assert_eq!(
        rp.send(
            t0,
            provisional(183, "Content-Type: application/sdp\r\n", sdp)
        ),
        None
    );
    assert!(!rp.may_send_2xx());
    // The 183 is not sent while the 180 is outstanding.
    transmitted(rp.poll_output(t0 + T1));
    assert_eq!(
        rp.handle_prack("100 314159 INVITE"),
        PrackOutcome::Acknowledged
    );
    let now = t0 + T1 + T1 / 5;
    assert!(rp.poll_timeout().unwrap() <= now);
    let r183 = transmitted(rp.poll_output(now));
    assert_eq!(r183.status_code.code(), 183);
    assert_eq!(make_rack(&r183).as_deref(), Some("101 314159 INVITE"));
    assert_eq!(rp.poll_timeout(), Some(now + T1));
    assert!(!rp.may_send_2xx());
    assert_eq!(
        rp.handle_prack("101 314159 INVITE"),
        PrackOutcome::Acknowledged
    );
    assert!(rp.may_send_2xx());
    assert_eq!(rp.poll_output(now + T1), None);

    rp.send(now, provisional(180, "", "")).unwrap();
    rp.send(now, provisional(181, "", ""))
        .ok_or(())
        .unwrap_err();
    rp.finish();
    assert_eq!(rp.poll_timeout(), None);
    assert_eq!(rp.handle_prack("102 314159 INVITE"), PrackOutcome::NoMatch);
}

#[test]
fn uac_accepts_in_order_and_drops_retransmissions() {
    let rel = |rseq: u32| provisional(180, &format!("Require: 100rel\r\nRSeq: {rseq}\r\n"), "");
    let mut uac = UacReliableState::default();
    assert!(uac.accept(&provisional(180, "", "")));
    assert_eq!(make_rack(&provisional(180, "", "")), None);
    assert_eq!(make_rack(&provisional(180, "RSeq: 5\r\n", "")), None);
    assert_eq!(
        make_rack(&provisional(180, "Require: 100rel\r\nRSeq: x\r\n", "")),
        None
    );
    assert_eq!(make_rack(&rel(5)).as_deref(), Some("5 314159 INVITE"));
    assert!(uac.accept(&rel(5)));
    assert!(!uac.accept(&rel(5)));
    assert!(!uac.accept(&rel(7)));
    assert!(!uac.accept(&rel(4)));
    assert!(uac.accept(&rel(6)));
    assert!(uac.accept(&rel(7)));
    assert!(uac.accept(&provisional(183, "", "")));
}
