//! Building responses to requests (RFC 3261 §8.2.6) and reading where to send them (§18.2.2).

use std::net::{IpAddr, SocketAddr};

use std::fmt::Write as _;

use rsip::prelude::*;

use super::transaction::{has_tag, parse_via, split_sent_by};
use super::{Peer, Transport};

/// A response to `req` with the given code and reason phrase: Via, From, To, Call-ID and
/// CSeq copied; `to_tag` added to To unless it already has one (not for 100 Trying).
pub fn response(
    req: &rsip::Request,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    server: &str,
) -> rsip::Response {
    let mut headers = rsip::Headers::default();
    for h in req.headers().iter() {
        match h {
            rsip::Header::Via(_)
            | rsip::Header::From(_)
            | rsip::Header::CallId(_)
            | rsip::Header::CSeq(_) => headers.push(h.clone()),
            rsip::Header::To(to) => headers.push(rsip::Header::To(with_to_tag(to, code, to_tag))),
            _ => {}
        }
    }
    headers.push(rsip::Header::Server(rsip::headers::Server::new(server)));
    rsip::Response {
        status_code: rsip::StatusCode::Other(code, reason.to_owned()),
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    }
}

fn with_to_tag(to: &rsip::headers::To, code: u16, to_tag: Option<&str>) -> rsip::headers::To {
    let (Some(tag), true) = (to_tag, code > 100) else {
        return to.clone();
    };
    let value = to.value();
    if has_tag(value) {
        return to.clone();
    }
    rsip::headers::To::new(format!("{value};tag={tag}"))
}

/// Appends headers and sets the body with its Content-Type; always writes Content-Length.
pub fn finish(
    mut resp: rsip::Response,
    extra: Vec<rsip::Header>,
    body: Option<(&str, Vec<u8>)>,
) -> rsip::Response {
    for h in extra {
        resp.headers.push(h);
    }
    if let Some((content_type, bytes)) = body {
        resp.headers
            .push(rsip::Header::ContentType(rsip::headers::ContentType::new(
                content_type,
            )));
        resp.body = bytes;
    }
    let len = resp.body.len();
    resp.headers.push(rsip::Header::ContentLength(
        rsip::headers::ContentLength::new(len.to_string()),
    ));
    resp
}

/// An extension header.
pub fn other(name: &str, value: impl Into<String>) -> rsip::Header {
    rsip::Header::Other(name.to_owned(), value.into())
}

/// Records the source of a request in its top Via (`received`, and `rport` when the client
/// asked for it, RFC 3581) and returns where responses go (§18.2.2): the source address over
/// reliable transports or with rport, else the received address and the sent-by port.
pub fn stamp_via_and_route(req: &mut rsip::Request, source: Peer) -> Peer {
    let Some(via) = req.headers.iter_mut().find_map(|h| match h {
        rsip::Header::Via(v) => Some(v),
        _ => None,
    }) else {
        return source;
    };
    let raw = via.value();
    // Only the top entry of a comma-separated Via is ours to stamp.
    let (top, others) = raw.split_at(raw.find(',').unwrap_or(raw.len()));
    let Some((host, port)) = parse_via(top).and_then(|v| split_sent_by(v.sent_by)) else {
        return source;
    };
    let sent_by_port = port.unwrap_or(5060);
    let sent_by_ip: Option<IpAddr> = host.parse().ok();
    let is_rport = |p: &str| p.trim().eq_ignore_ascii_case("rport");
    let wants_rport = top.split(';').skip(1).any(is_rport);
    let add_received = sent_by_ip != Some(source.addr.ip()) || wants_rport;
    let mut stamped = String::with_capacity(raw.len() + 40);
    for (i, param) in top.split(';').enumerate() {
        let received = param
            .trim()
            .get(..9)
            .is_some_and(|n| n.eq_ignore_ascii_case("received="));
        if i > 0 && (is_rport(param) || (add_received && received)) {
            continue;
        }
        if i > 0 {
            stamped.push(';');
        }
        stamped.push_str(param);
    }
    if add_received {
        let _ = write!(stamped, ";received={}", source.addr.ip());
    }
    if wants_rport {
        let _ = write!(stamped, ";rport={}", source.addr.port());
    }
    stamped.push_str(others);
    *via = rsip::headers::Via::new(stamped);
    if source.transport == Transport::Tcp || wants_rport {
        source
    } else {
        Peer {
            transport: source.transport,
            addr: SocketAddr::new(source.addr.ip(), sent_by_port),
        }
    }
}

/// A response built from a raw header block (for requests rsip cannot represent, such as
/// unknown methods): Via, From, To, Call-ID and CSeq lines copied, a To tag added.
pub fn raw_response(
    head: &str,
    code: u16,
    reason: &str,
    to_tag: &str,
    server: &str,
) -> Option<String> {
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    let mut have = [false; 5];
    for line in head.lines().skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let idx = ["via", "from", "to", "call-id", "cseq"]
            .iter()
            .position(|n| name.trim().eq_ignore_ascii_case(n));
        let Some(i) = idx else { continue };
        have[i] = true;
        if i == 2 && !value.contains("tag=") {
            out.push_str(&format!(
                "{}:{};tag={to_tag}\r\n",
                name.trim(),
                value.trim_end()
            ));
        } else {
            out.push_str(line.trim_end());
            out.push_str("\r\n");
        }
    }
    if have.iter().any(|h| !h) {
        return None;
    }
    out.push_str(&format!("Server: {server}\r\nContent-Length: 0\r\n\r\n"));
    Some(out)
}

#[cfg(test)]
#[path = "reply_tests.rs"]
mod tests;
