use std::net::SocketAddr;

use rsip::prelude::*;

use super::*;

fn request_with_via(via: &str) -> rsip::Request {
    let text = format!(
        "OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@b>;tag=1\r\n\
         To: <sip:ping@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    rsip::Request::try_from(text.as_str()).expect("request")
}

fn stamp(via: &str, transport: Transport, source: &str) -> (String, Peer) {
    let mut req = request_with_via(via);
    let source = Peer {
        transport,
        addr: source.parse::<SocketAddr>().unwrap(),
    };
    let to = stamp_via_and_route(&mut req, source);
    (req.via_header().unwrap().value().to_owned(), to)
}

#[test]
fn rport_is_filled_and_the_reply_goes_to_the_source() {
    let (via, to) = stamp(
        "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKa;rport",
        Transport::Udp,
        "192.0.2.1:6000",
    );
    assert_eq!(
        via,
        "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKa;received=192.0.2.1;rport=6000"
    );
    assert_eq!(to.addr, "192.0.2.1:6000".parse().unwrap());
}

#[test]
fn matching_sent_by_is_left_alone_and_its_port_is_used() {
    let (via, to) = stamp(
        "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKb",
        Transport::Udp,
        "192.0.2.1:6000",
    );
    assert_eq!(via, "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKb");
    assert_eq!(to.addr, "192.0.2.1:5070".parse().unwrap());
}

#[test]
fn a_different_host_gets_received_and_the_default_port() {
    let (via, to) = stamp(
        "SIP/2.0/UDP carrier.example;branch=z9hG4bKc;received=10.9.9.9",
        Transport::Udp,
        "192.0.2.1:6000",
    );
    assert_eq!(
        via,
        "SIP/2.0/UDP carrier.example;branch=z9hG4bKc;received=192.0.2.1"
    );
    assert_eq!(to.addr, "192.0.2.1:5060".parse().unwrap());
}

#[test]
fn only_the_top_entry_of_a_via_list_is_stamped() {
    let (via, _) = stamp(
        "SIP/2.0/UDP a.example:5060;branch=z9hG4bK1;rport, SIP/2.0/UDP b.example;branch=z9hG4bK2",
        Transport::Udp,
        "192.0.2.1:6000",
    );
    assert_eq!(
        via,
        "SIP/2.0/UDP a.example:5060;branch=z9hG4bK1;received=192.0.2.1;rport=6000, \
         SIP/2.0/UDP b.example;branch=z9hG4bK2"
    );
}

#[test]
fn ipv6_sent_by_and_tcp_route() {
    let (via, to) = stamp(
        "SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bKd",
        Transport::Udp,
        "[2001:db8::1]:7000",
    );
    assert_eq!(via, "SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bKd");
    assert_eq!(to.addr, "[2001:db8::1]:5062".parse().unwrap());
    let (_, to) = stamp(
        "SIP/2.0/TCP 10.0.0.1:5070;branch=z9hG4bKe",
        Transport::Tcp,
        "192.0.2.1:40000",
    );
    assert_eq!(to.addr, "192.0.2.1:40000".parse().unwrap());
}

#[test]
fn to_tag_is_added_once() {
    let to = |v: &str| rsip::headers::To::new(v);
    let tagged = with_to_tag(&to("<sip:+14155550100@host>"), 404, Some("xy"));
    assert_eq!(tagged.value(), "<sip:+14155550100@host>;tag=xy");
    let kept = with_to_tag(&to("\"A\" <sip:a@h;tag=uri>;TAG=old"), 200, Some("xy"));
    assert_eq!(kept.value(), "\"A\" <sip:a@h;tag=uri>;TAG=old");
    // A `tag` URI parameter inside <> is not the header's tag.
    let inside = with_to_tag(&to("<sip:a@h;tag=uri>"), 486, Some("xy"));
    assert_eq!(inside.value(), "<sip:a@h;tag=uri>;tag=xy");
    let bare = with_to_tag(&to("sip:a@h;tag=t1"), 486, Some("xy"));
    assert_eq!(bare.value(), "sip:a@h;tag=t1");
    let trying = with_to_tag(&to("<sip:a@h>"), 100, Some("xy"));
    assert_eq!(trying.value(), "<sip:a@h>");
    // rsip reads the added tag back.
    assert_eq!(
        tagged.typed().unwrap().tag().map(|t| t.value().to_owned()),
        Some("xy".to_owned())
    );
}
