use super::*;

/// An INVITE from a carrier through two proxies (three Record-Route entries).
const CARRIER_INVITE: &str = "INVITE sip:+15551234567@bridge.example:5060;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 69\r\n\
Record-Route: <sip:p2.carrier.example;lr>, <sip:p1.carrier.example;lr;ftag=1928301774>\r\n\
Record-Route: <sip:edge.carrier.example:5070;lr>\r\n\
From: \"Alice, Inc\" <sip:+15550001111@carrier.example;user=phone>;tag=1928301774\r\n\
To: <sip:+15551234567@bridge.example;user=phone>\r\n\
Call-ID: a84b4c76e66710@pc33.carrier.example\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:+15550001111@192.0.2.10:5060>\r\n\
Content-Length: 0\r\n\r\n";

/// Our INVITE to a carrier.
const OUR_INVITE: &str = "INVITE sip:+15557654321@carrier.example SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.5:5060;branch=z9hG4bKout1\r\n\
Max-Forwards: 70\r\n\
From: <sip:+15551234567@bridge.example>;tag=ours1\r\n\
To: <sip:+15557654321@carrier.example>\r\n\
Call-ID: out-call-1@bridge.example\r\n\
CSeq: 20 INVITE\r\n\
Contact: <sip:bridge@198.51.100.5:5060>\r\n\
Content-Length: 0\r\n\r\n";

fn response(status: u16, to_tag: Option<&str>, rr: &[&str], contact: &str) -> Response {
    let tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let rr: String = rr
        .iter()
        .map(|r| format!("Record-Route: {r}\r\n"))
        .collect();
    let raw = format!(
        "SIP/2.0 {status} Whatever\r\n\
Via: SIP/2.0/UDP 198.51.100.5:5060;branch=z9hG4bKout1\r\n{rr}\
From: <sip:+15551234567@bridge.example>;tag=ours1\r\n\
To: <sip:+15557654321@carrier.example>{tag}\r\n\
Call-ID: out-call-1@bridge.example\r\n\
CSeq: 20 INVITE\r\n\
Contact: {contact}\r\n\
Content-Length: 0\r\n\r\n"
    );
    Response::try_from(raw.as_str()).unwrap()
}

fn req(raw: &str) -> Request {
    Request::try_from(raw).unwrap()
}

fn header_values(r: &Request, name: &str) -> Vec<String> {
    r.headers
        .iter()
        .map(|h| h.to_string())
        .filter_map(|s| s.strip_prefix(&format!("{name}: ")).map(str::to_owned))
        .collect()
}

fn uas_dialog() -> Dialog {
    let contact = Uri::try_from("sip:bridge@198.51.100.5:5060").unwrap();
    Dialog::uas(&req(CARRIER_INVITE), "uas-tag", contact).unwrap()
}

/// A request from the carrier in the UAS dialog.
fn carrier_request(method: &str, seq: u32, contact: Option<&str>) -> Request {
    let contact = contact
        .map(|c| format!("Contact: {c}\r\n"))
        .unwrap_or_default();
    req(&format!(
        "{method} sip:bridge@198.51.100.5:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK{seq}\r\n\
From: <sip:+15550001111@carrier.example>;tag=1928301774\r\n\
To: <sip:+15551234567@bridge.example>;tag=uas-tag\r\n\
Call-ID: a84b4c76e66710@pc33.carrier.example\r\n\
CSeq: {seq} {method}\r\n{contact}\
Content-Length: 0\r\n\r\n"
    ))
}

#[test]
fn uas_dialog_from_carrier_invite() {
    let mut d = uas_dialog();
    assert_eq!(
        d.id(),
        &DialogId {
            call_id: "a84b4c76e66710@pc33.carrier.example".into(),
            local_tag: "uas-tag".into(),
            remote_tag: "1928301774".into(),
        }
    );
    assert_eq!(d.state(), DialogState::Early);
    d.confirm();
    assert_eq!(d.state(), DialogState::Confirmed);
    assert_eq!(
        d.remote_target().to_string(),
        "sip:+15550001111@192.0.2.10:5060"
    );
    let hosts: Vec<String> = d
        .route_set()
        .iter()
        .map(|r| r.uri.host().to_string())
        .collect();
    assert_eq!(
        hosts,
        [
            "p2.carrier.example",
            "p1.carrier.example",
            "edge.carrier.example"
        ]
    );
    assert_eq!(
        d.next_hop().unwrap().to_string(),
        "sip:p2.carrier.example;lr"
    );

    let start = d.local_cseq();
    assert!(start < 0x8000_0000);
    let bye = d.make_request(
        Method::Bye,
        "198.51.100.5",
        5060,
        Transport::Udp,
        "z9hG4bKbye",
    );
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(bye.uri.to_string(), "sip:+15550001111@192.0.2.10:5060");
    assert_eq!(
        header_values(&bye, "Route"),
        [
            "<sip:p2.carrier.example;lr>",
            "<sip:p1.carrier.example;lr;ftag=1928301774>",
            "<sip:edge.carrier.example:5070;lr>"
        ]
    );
    assert_eq!(
        header_values(&bye, "Via"),
        ["SIP/2.0/UDP 198.51.100.5:5060;branch=z9hG4bKbye"]
    );
    assert_eq!(
        bye.cseq_header().unwrap().seq().unwrap(),
        start.wrapping_add(1)
    );
    assert!(header_values(&bye, "Contact").is_empty());

    // The serialized request parses back; the carrier sees the mirrored dialog id.
    let parsed = req(&bye.to_string());
    let theirs = dialog_id_of_request(&parsed).unwrap();
    assert_eq!(theirs.local_tag, "1928301774");
    assert_eq!(theirs.remote_tag, "uas-tag");
    let from = parsed.from_header().unwrap().typed().unwrap();
    assert_eq!(
        from.uri.to_string(),
        "sip:+15551234567@bridge.example;user=phone"
    );
    let to = parsed.to_header().unwrap().typed().unwrap();
    assert_eq!(to.display_name.as_deref(), Some("\"Alice, Inc\""));

    let reinvite = d.make_request(
        Method::Invite,
        "2001:db8::5",
        5060,
        Transport::Tcp,
        "z9hG4bKr",
    );
    assert_eq!(
        reinvite.cseq_header().unwrap().seq().unwrap(),
        start.wrapping_add(2)
    );
    assert_eq!(
        header_values(&reinvite, "Contact"),
        ["<sip:bridge@198.51.100.5:5060>"]
    );
    assert_eq!(
        header_values(&reinvite, "Via"),
        ["SIP/2.0/TCP [2001:db8::5]:5060;branch=z9hG4bKr"]
    );
}

#[test]
fn uac_dialog_early_then_confirmed_with_reversed_routes() {
    let invite = req(OUR_INVITE);
    let ringing = response(
        180,
        Some("far1"),
        &["<sip:a.example;lr>, <sip:b.example;lr>"],
        "<sip:uas@203.0.113.9>",
    );
    let mut d = Dialog::uac(&invite, &ringing).unwrap();
    assert_eq!(d.state(), DialogState::Early);
    assert_eq!(d.id().local_tag, "ours1");
    assert_eq!(d.id().remote_tag, "far1");
    let hosts: Vec<String> = d
        .route_set()
        .iter()
        .map(|r| r.uri.host().to_string())
        .collect();
    assert_eq!(hosts, ["b.example", "a.example"]);
    assert_eq!(d.remote_target().to_string(), "sip:uas@203.0.113.9");

    // The 2xx recomputes the route set and target and confirms.
    let ok = response(
        200,
        Some("far1"),
        &["<sip:c.example;lr>", "<sip:a.example;lr>"],
        "<sip:uas@203.0.113.10>",
    );
    d.handle_response(&ok).unwrap();
    assert_eq!(d.state(), DialogState::Confirmed);
    let hosts: Vec<String> = d
        .route_set()
        .iter()
        .map(|r| r.uri.host().to_string())
        .collect();
    assert_eq!(hosts, ["a.example", "c.example"]);
    assert_eq!(d.remote_target().to_string(), "sip:uas@203.0.113.10");

    let ack = d.make_ack(20, "198.51.100.5", 5060, Transport::Udp, "z9hG4bKack");
    assert_eq!(
        ack.cseq_header().unwrap().typed().unwrap(),
        (20, Method::Ack).into()
    );
    assert_eq!(ack.uri.to_string(), "sip:uas@203.0.113.10");
    let bye = d.make_request(
        Method::Bye,
        "198.51.100.5",
        5060,
        Transport::Udp,
        "z9hG4bKb",
    );
    assert_eq!(bye.cseq_header().unwrap().seq().unwrap(), 21);
    assert_eq!(dialog_id_of_response(&ok).as_ref(), Some(d.id()));

    let gone = response(481, Some("far1"), &[], "<sip:uas@203.0.113.10>");
    d.handle_response(&gone).unwrap();
    assert_eq!(d.state(), DialogState::Terminated);
}

#[test]
fn uac_confirmed_directly_and_refused_statuses() {
    let invite = req(OUR_INVITE);
    let ok = response(200, Some("far2"), &[], "<sip:uas@203.0.113.9>");
    let d = Dialog::uac(&invite, &ok).unwrap();
    assert_eq!(d.state(), DialogState::Confirmed);
    assert!(d.route_set().is_empty());
    assert_eq!(d.next_hop().unwrap().to_string(), "sip:uas@203.0.113.9");

    let trying = response(100, Some("x"), &[], "<sip:uas@203.0.113.9>");
    assert_eq!(
        Dialog::uac(&invite, &trying).unwrap_err(),
        DialogError::NotDialogCreating(100)
    );
    let busy = response(486, Some("x"), &[], "<sip:uas@203.0.113.9>");
    assert_eq!(
        Dialog::uac(&invite, &busy).unwrap_err(),
        DialogError::NotDialogCreating(486)
    );
    let untagged = response(180, None, &[], "<sip:uas@203.0.113.9>");
    assert_eq!(
        Dialog::uac(&invite, &untagged).unwrap_err(),
        DialogError::MissingRemoteTag
    );
}

#[test]
fn strict_route_puts_first_route_in_request_uri() {
    let invite = req(OUR_INVITE);
    let ok = response(
        200,
        Some("far"),
        &[
            "<sip:loose.example;lr>",
            "<sip:strict.example;maddr=10.0.0.1>",
        ],
        "<sip:uas@203.0.113.9>",
    );
    let mut d = Dialog::uac(&invite, &ok).unwrap();
    let bye = d.make_request(
        Method::Bye,
        "198.51.100.5",
        5060,
        Transport::Udp,
        "z9hG4bKs",
    );
    assert_eq!(bye.uri.to_string(), "sip:strict.example;maddr=10.0.0.1");
    assert_eq!(
        header_values(&bye, "Route"),
        ["<sip:loose.example;lr>", "<sip:uas@203.0.113.9>"]
    );
    assert_eq!(d.next_hop().unwrap().host().to_string(), "strict.example");
}

#[test]
fn remote_cseq_must_not_go_backwards() {
    let mut d = uas_dialog();
    d.confirm();
    d.handle_remote_request(&carrier_request("ACK", 314159, None))
        .unwrap();
    d.handle_remote_request(&carrier_request("INFO", 314160, None))
        .unwrap();
    d.handle_remote_request(&carrier_request("INFO", 314160, None))
        .unwrap();
    let err = d
        .handle_remote_request(&carrier_request("INFO", 314158, None))
        .unwrap_err();
    assert_eq!(
        err,
        DialogError::CSeqOutOfOrder {
            last: 314160,
            got: 314158
        }
    );
    assert_eq!(err.status(), 500);
    d.handle_remote_request(&carrier_request("UPDATE", 400000, None))
        .unwrap();
    let err = d
        .handle_remote_request(&carrier_request("INFO", 314161, None))
        .unwrap_err();
    assert!(matches!(err, DialogError::CSeqOutOfOrder { .. }));
    assert_eq!(d.state(), DialogState::Confirmed);
    d.handle_remote_request(&carrier_request("BYE", 400001, None))
        .unwrap();
    assert_eq!(d.state(), DialogState::Terminated);
}

#[test]
fn target_refresh_only_on_invite_and_update() {
    let mut d = uas_dialog();
    d.handle_remote_request(&carrier_request(
        "INFO",
        314160,
        Some("<sip:elsewhere@192.0.2.99>"),
    ))
    .unwrap();
    assert_eq!(
        d.remote_target().to_string(),
        "sip:+15550001111@192.0.2.10:5060"
    );
    d.handle_remote_request(&carrier_request(
        "INVITE",
        314161,
        Some("<sip:moved@192.0.2.11:5080>"),
    ))
    .unwrap();
    assert_eq!(d.remote_target().to_string(), "sip:moved@192.0.2.11:5080");
    d.handle_remote_request(&carrier_request(
        "UPDATE",
        314162,
        Some("<sip:again@192.0.2.12>"),
    ))
    .unwrap();
    assert_eq!(d.remote_target().to_string(), "sip:again@192.0.2.12");
    let bye = d.make_request(Method::Bye, "h", 5060, Transport::Udp, "b");
    assert_eq!(bye.uri.to_string(), "sip:again@192.0.2.12");
}

#[test]
fn foreign_or_malformed_requests_are_refused() {
    let mut d = uas_dialog();
    let other = carrier_request("INFO", 314160, None)
        .to_string()
        .replace("tag=uas-tag", "tag=nope");
    assert_eq!(
        d.handle_remote_request(&req(&other)).unwrap_err(),
        DialogError::WrongDialog
    );
    let no_tag = CARRIER_INVITE.replace("CSeq: 314159", "CSeq: 314160");
    assert_eq!(dialog_id_of_request(&req(&no_tag)), None);
    assert_eq!(
        d.handle_remote_request(&req(&no_tag)).unwrap_err().status(),
        481
    );

    let contact = Uri::try_from("sip:b@h").unwrap();
    let no_contact = CARRIER_INVITE.replace("Contact: <sip:+15550001111@192.0.2.10:5060>\r\n", "");
    let err = Dialog::uas(&req(&no_contact), "t", contact.clone()).unwrap_err();
    assert_eq!(err, DialogError::BadHeader("Contact"));
    let bad_cseq = CARRIER_INVITE.replace("CSeq: 314159 INVITE", "CSeq: x INVITE");
    let err = Dialog::uas(&req(&bad_cseq), "t", contact).unwrap_err();
    assert_eq!(err, DialogError::BadHeader("CSeq"));
}
