use super::*;

fn invite(extra: &str, body: &str) -> String {
    format!(
        "INVITE sip:+14155550199@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-1\r\n\
         From: <sip:+14155551234@127.0.0.1>;tag=a\r\nTo: <sip:+14155550199@127.0.0.1>\r\nCall-ID: c1\r\n\
         CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{extra}\r\n{body}"
    )
}

fn parse_req(text: &str) -> Result<rsip::Request, Malformed> {
    match parse(text.as_bytes(), 65535) {
        Ok(Parsed::Request(r)) => Ok(r),
        Ok(Parsed::Response(_)) => panic!("parsed as a response"),
        Err(e) => Err(e),
    }
}

#[test]
fn compact_headers_are_expanded() {
    let text = "OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK-x\r\nf: <sip:x@y>;tag=1\r\nt: <sip:a@b>\r\ni: cid\r\nCSeq: 2 OPTIONS\r\nl: 0\r\n\r\n";
    let req = parse_req(text).ok().expect("valid");
    assert_eq!(req.call_id_header().expect("call-id").value(), "cid");
    assert!(req.via_header().is_ok());
}

#[test]
fn body_is_cut_at_content_length() {
    let req = parse_req(&invite("Content-Length: 4\r\n", "v=0\r\nrest"))
        .ok()
        .expect("valid");
    assert_eq!(req.body(), b"v=0\r");
}

#[test]
fn short_body_is_refused() {
    let err = parse_req(&invite("Content-Length: 40\r\n", "v=0\r\n")).expect_err("refused");
    assert_eq!(err.error, ParseError::BodyTooShort);
}

#[test]
fn folded_lines_are_joined() {
    let req = parse_req(&invite("Subject: one\r\n two\r\n", ""))
        .ok()
        .expect("valid");
    assert_eq!(
        header_value(&req.headers, "Subject"),
        None,
        "Subject is a typed header"
    );
    assert!(req.to_string().contains("Subject: one two"));
}

#[test]
fn missing_via_is_unanswerable_bad_from_is_answerable() {
    let no_via = "OPTIONS sip:a@b SIP/2.0\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n";
    let e = parse_req(no_via).expect_err("refused");
    assert_eq!(e.error, ParseError::BadVia);
    assert!(e.request.is_none());
    let mismatch = invite("", "").replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
    let e = parse_req(&mismatch).expect_err("refused");
    assert_eq!(e.error, ParseError::CSeqMethodMismatch);
    assert!(e.request.is_some());
}

#[test]
fn garbage_never_panics() {
    for text in [
        "",
        "\r\n\r\n",
        "garbage\r\n\r\n",
        "INVITE sip:x SIP/2.0\r\n\r\n",
        "SIP/2.0 200 OK\r\n\r\n",
        "INVITE sip:a@b SIP/2.0\r\nCSeq: x\r\n\r\n",
    ] {
        assert!(parse(text.as_bytes(), 65535).is_err(), "{text:?}");
    }
    let big = vec![b'a'; 70_000];
    assert!(matches!(
        parse(&big, 65535),
        Err(Malformed {
            error: ParseError::TooLarge,
            ..
        })
    ));
}

#[test]
fn option_tags_collects_all_headers() {
    let req = parse_req(&invite("Require: 100rel, Timer\r\nRequire: foo\r\n", ""))
        .ok()
        .expect("valid");
    assert_eq!(
        option_tags(&req.headers, "Require"),
        ["100rel", "timer", "foo"]
    );
}

#[test]
fn unknown_method_and_bad_uri_keep_the_head_to_answer_from() {
    let unknown = invite("", "").replace("INVITE sip:", "FROB sip:");
    let e = parse_req(&unknown).expect_err("refused");
    assert_eq!(e.error, ParseError::UnknownMethod);
    assert!(
        e.raw_head
            .as_deref()
            .is_some_and(|h| h.starts_with("FROB "))
    );
    let bad_uri = invite("", "").replace("sip:+14155550199@127.0.0.1 SIP", "sip:a@b:xyz SIP");
    let e = parse_req(&bad_uri).expect_err("refused");
    assert_eq!(e.error, ParseError::BadRequestUri);
    assert!(e.raw_head.is_some());
}

#[test]
fn a_header_line_without_a_name_is_refused() {
    for line in ["no colon here\r\n", ": empty name\r\n", "Bad Name: x\r\n"] {
        let e = parse_req(&invite(line, "")).expect_err(line);
        assert_eq!(e.error, ParseError::BadHeaderLine, "{line:?}");
    }
}

#[test]
fn request_parts_survive_the_piecewise_build() {
    let req = parse_req(&invite(
        "X-Custom: a: b\r\nContent-Type: application/sdp\r\nContent-Length: 3\r\n",
        "v=0",
    ))
    .ok()
    .expect("valid");
    assert_eq!(*req.method(), rsip::Method::Invite);
    assert_eq!(req.uri().to_string(), "sip:+14155550199@127.0.0.1");
    assert_eq!(header_value(&req.headers, "x-custom"), Some("a: b"));
    assert_eq!(req.body(), b"v=0");
    assert_eq!(
        req.cseq_header().unwrap().typed().unwrap().method,
        rsip::Method::Invite
    );
}

#[test]
fn top_via_is_checked_by_shape() {
    let with_via =
        |via: &str| invite("", "").replace("SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-1", via);
    for good in [
        "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-1",
        "SIP/2.0/TCP carrier.example;branch=z9hG4bK-1;rport",
        "SIP / 2.0 / UDP [2001:db8::1]:5060;branch=z9hG4bK-1",
        "SIP/2.0/UDP a.example, SIP/2.0/UDP %%bad",
    ] {
        assert!(parse_req(&with_via(good)).is_ok(), "{good}");
    }
    for bad in [
        "SIP/2.0/UDP",
        "SIP/2.0/UDP 10.0.0.1:port",
        "SIP/2.0/UDP 10.0.0.1:0",
        "HTTP/1.1/UDP 10.0.0.1",
        "SIP/2.0/UDP h%st;branch=x",
        "garbage",
    ] {
        let e = parse_req(&with_via(bad)).expect_err(bad);
        assert_eq!(e.error, ParseError::BadVia, "{bad}");
    }
}
