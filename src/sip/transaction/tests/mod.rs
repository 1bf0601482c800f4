//! Simulated-time tests of the transaction layer; messages are parsed from text.

mod client;
mod props;
mod server;
mod table;

use std::time::{Duration, Instant};

use rsip::Header;

use super::{TransactionLayer, TxConfig, TxEvent, TxId};
use crate::sip::{Peer, Transmit, Transport};

pub(super) const T1: Duration = Duration::from_millis(500);

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(super) fn udp() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: "198.51.100.7:5060".parse().unwrap(),
    }
}

pub(super) fn tcp() -> Peer {
    Peer {
        transport: Transport::Tcp,
        addr: "198.51.100.7:5060".parse().unwrap(),
    }
}

/// A request as a carrier would send it.
pub(super) fn request(method: &str, branch: &str, call: &str, seq: u32) -> rsip::Request {
    request_from(method, branch, "198.51.100.7:5060", call, seq)
}

pub(super) fn request_from(
    method: &str,
    branch: &str,
    sent_by: &str,
    call: &str,
    seq: u32,
) -> rsip::Request {
    let text = format!(
        "{method} sip:+15551234567@pstn.example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP {sent_by};rport;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         Route: <sip:edge.example.com;lr>\r\n\
         From: \"Alice\" <sip:+15557654321@carrier.example>;tag=f1\r\n\
         To: <sip:+15551234567@pstn.example.com>\r\n\
         Call-ID: {call}\r\n\
         CSeq: {seq} {method}\r\n\
         Contact: <sip:carrier@198.51.100.7:5060>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    parse_request(&text)
}

pub(super) fn parse_request(text: &str) -> rsip::Request {
    match rsip::SipMessage::try_from(text).expect("test message parses") {
        rsip::SipMessage::Request(r) => r,
        rsip::SipMessage::Response(_) => panic!("not a request"),
    }
}

pub(super) fn invite(branch: &str) -> rsip::Request {
    request("INVITE", branch, &format!("call-{branch}"), 1)
}

/// An ACK for a 2xx: a new branch, the INVITE's Call-ID and CSeq number.
pub(super) fn ack_2xx(invite: &rsip::Request, branch: &str) -> rsip::Request {
    let call = super::key::call_id(&invite.headers).unwrap();
    let (seq, _) = super::key::cseq(&invite.headers).unwrap();
    request("ACK", branch, call, seq)
}

/// A response to `req`, as text through the parser, with `to_tag` added to To.
pub(super) fn response(req: &rsip::Request, code: u16, to_tag: Option<&str>) -> rsip::Response {
    let mut text = format!("SIP/2.0 {code} Whatever\r\n");
    for h in req.headers.iter() {
        match h {
            Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => {
                text.push_str(&format!("{h}\r\n"));
            }
            Header::To(_) => match to_tag {
                Some(tag) => text.push_str(&format!("{h};tag={tag}\r\n")),
                None => text.push_str(&format!("{h}\r\n")),
            },
            _ => {}
        }
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    match rsip::SipMessage::try_from(text.as_str()).expect("test response parses") {
        rsip::SipMessage::Response(r) => r,
        rsip::SipMessage::Request(_) => panic!("not a response"),
    }
}

/// A layer plus a simulated clock.
pub(super) struct Harness {
    pub layer: TransactionLayer,
    pub start: Instant,
    pub now: Instant,
}

impl Harness {
    pub fn new() -> Self {
        Self::with(TxConfig::default())
    }

    pub fn with(cfg: TxConfig) -> Self {
        let start = Instant::now();
        Self {
            layer: TransactionLayer::new(cfg),
            start,
            now: start,
        }
    }

    /// Time since the start, in milliseconds.
    pub fn at(&self) -> u64 {
        (self.now - self.start).as_millis() as u64
    }

    /// Fires every timer up to `start + t`, recording when (ms since start) each transmit
    /// left; leaves the clock at `t`.
    pub fn run_to(&mut self, t: Duration) -> Vec<(u64, Transmit)> {
        let end = self.start + t;
        let mut sent = self.drain_at();
        while let Some(at) = self.layer.poll_timeout() {
            if at > end {
                break;
            }
            assert!(at >= self.now, "timer in the past");
            self.now = at;
            self.layer.handle_timeout(at);
            sent.extend(self.drain_at());
        }
        self.now = end;
        sent
    }

    fn drain_at(&mut self) -> Vec<(u64, Transmit)> {
        let at = self.at();
        std::iter::from_fn(|| self.layer.poll_transmit())
            .map(|t| (at, t))
            .collect()
    }

    pub fn transmits(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.layer.poll_transmit()).collect()
    }

    pub fn events(&mut self) -> Vec<TxEvent> {
        std::iter::from_fn(|| self.layer.poll_event()).collect()
    }
}

pub(super) fn text(t: &Transmit) -> String {
    String::from_utf8_lossy(&t.bytes).into_owned()
}

pub(super) fn times(sent: &[(u64, Transmit)]) -> Vec<u64> {
    sent.iter().map(|(at, _)| *at).collect()
}

/// The request line or status line of each transmit.
pub(super) fn first_lines(sent: &[(u64, Transmit)]) -> Vec<String> {
    sent.iter()
        .map(|(_, t)| text(t).lines().next().unwrap_or_default().to_owned())
        .collect()
}

/// Receives `req` and returns the new server transaction.
pub(super) fn receive(h: &mut Harness, req: &rsip::Request, peer: Peer) -> TxId {
    h.layer.handle_request(h.now, req.clone(), peer).unwrap();
    match &h.events()[..] {
        [
            TxEvent::Request {
                tx: Some(tx),
                request,
                peer: p,
            },
        ] => {
            assert_eq!(request, req);
            assert_eq!(*p, peer);
            *tx
        }
        other => panic!("expected one new request, got {other:?}"),
    }
}
