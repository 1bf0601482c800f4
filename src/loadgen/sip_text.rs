//! The carrier's SIP messages: received ones (parsed, plus raw header lines to copy into
//! replies) and the hand-written requests and responses it sends.

use std::net::SocketAddr;

use crate::sip::message::{Parsed, parse};

/// A SIP message received from the bridge (also the in-process tests' carrier).
pub struct SipMsg {
    parsed: Parsed,
    /// The datagram as text, for copying headers and for diagnostics.
    pub raw: String,
}

impl SipMsg {
    /// `None` when the datagram is not SIP the bridge could have sent.
    pub fn parse(data: &[u8]) -> Option<SipMsg> {
        let parsed = parse(data, 65535).ok()?;
        let raw = String::from_utf8_lossy(data).into_owned();
        Some(SipMsg { parsed, raw })
    }

    pub fn status(&self) -> Option<u16> {
        match &self.parsed {
            Parsed::Response(r) => Some(r.status_code().code()),
            Parsed::Request(_) => None,
        }
    }

    pub fn method(&self) -> Option<rsip::Method> {
        match &self.parsed {
            Parsed::Request(r) => Some(*r.method()),
            Parsed::Response(_) => None,
        }
    }

    pub fn body(&self) -> &[u8] {
        match &self.parsed {
            Parsed::Request(r) => r.body(),
            Parsed::Response(r) => r.body(),
        }
    }

    /// Every header line named `name` (case-insensitive), as written.
    pub fn headers(&self, name: &str) -> Vec<&str> {
        let head = self.raw.split("\r\n\r\n").next().unwrap_or("");
        let named = |l: &&str| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        };
        head.lines().skip(1).filter(named).collect()
    }

    /// The first header line named `name`, or an empty string.
    pub fn header(&self, name: &str) -> &str {
        self.headers(name).first().copied().unwrap_or("")
    }

    /// A header's value (after the colon), trimmed.
    pub fn value(&self, name: &str) -> &str {
        let line = self.header(name);
        line.split_once(':').map_or("", |(_, v)| v.trim())
    }

    /// The method named in CSeq: which request a response answers.
    pub fn cseq_method(&self) -> &str {
        self.value("CSeq").split_whitespace().nth(1).unwrap_or("")
    }

    /// The user part of the To URI (the dialled number of an INVITE).
    pub fn to_user(&self) -> Option<&str> {
        let to = self.value("To");
        let after = to.split_once("sip:")?.1;
        after.split(['@', ';', '>']).next()
    }

    /// The URI in Contact (`<...>` stripped), where in-dialog requests go.
    pub fn contact_uri(&self) -> Option<String> {
        let c = self.value("Contact");
        let uri = match (c.find('<'), c.find('>')) {
            (Some(a), Some(b)) if a < b => &c[a + 1..b],
            _ => c.split(';').next()?,
        };
        (!uri.is_empty()).then(|| uri.to_owned())
    }

    /// The RTP address in the SDP body (`c=` and `m=audio`).
    pub fn media_addr(&self) -> Option<SocketAddr> {
        let sdp = std::str::from_utf8(self.body()).ok()?;
        let ip = sdp.lines().find_map(|l| l.strip_prefix("c=IN IP4 "))?;
        let port = sdp.lines().find_map(|l| l.strip_prefix("m=audio "))?;
        let port = port.split(' ').next()?;
        format!("{}:{}", ip.trim(), port).parse().ok()
    }
}

/// The carrier side of one call's SIP dialog, enough to write its requests.
pub struct Dialog {
    pub call_id: String,
    /// Our own address (Via, Contact).
    pub me: SocketAddr,
    /// From and To lines as they go in our requests.
    pub from: String,
    pub to: String,
    /// Request-URI of in-dialog requests.
    pub target: String,
}

impl Dialog {
    /// A request of ours; `branch` makes its Via branch unique.
    pub fn request(
        &self,
        method: &str,
        cseq: u32,
        branch: &str,
        extra: &str,
        body: &str,
    ) -> String {
        format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-{branch};rport\r\n{from}\r\n{to}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContact: <sip:loadgen@{me}>\r\nMax-Forwards: 70\r\n{extra}Content-Length: {len}\r\n\r\n{body}",
            target = self.target,
            me = self.me,
            from = self.from,
            to = self.to,
            cid = self.call_id,
            len = body.len(),
        )
    }
}

/// A response to `req` (its Vias, From, Call-ID, CSeq; `to_tag` added to To when absent).
pub fn response(code: &str, req: &SipMsg, me: SocketAddr, to_tag: &str, body: &str) -> String {
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    let mut to = req.header("To").to_owned();
    if !to.contains("tag=") {
        to.push_str(";tag=");
        to.push_str(to_tag);
    }
    format!(
        "SIP/2.0 {code}\r\n{via}\r\n{from}\r\n{to}\r\n{cid}\r\n{cseq}\r\nContact: <sip:loadgen@{me}>\r\n{ct}Content-Length: {len}\r\n\r\n{body}",
        via = req.headers("Via").join("\r\n"),
        from = req.header("From"),
        cid = req.header("Call-ID"),
        cseq = req.header("CSeq"),
        len = body.len()
    )
}

/// A PCMU offer or answer for an RTP socket at `rtp`.
pub fn pcmu_sdp(rtp: SocketAddr, session: u64) -> String {
    format!(
        "v=0\r\no=loadgen {session} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
        ip = rtp.ip(),
        port = rtp.port()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:+19995550001@127.0.0.1:5090 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK0\r\nFrom: <sip:+19990000000@127.0.0.1>;tag=a\r\nTo: <sip:+19995550001@127.0.0.1:5090>\r\nCall-ID: x@y\r\nCSeq: 7 INVITE\r\nContact: <sip:bridge@127.0.0.1:5060;transport=udp>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: 62\r\n\r\nv=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 20002 RTP/AVP 0\r\na=sendrecv\r\n";

    #[test]
    fn reads_what_the_carrier_needs() {
        let m = SipMsg::parse(INVITE.as_bytes()).expect("parses");
        assert_eq!(m.method(), Some(rsip::Method::Invite));
        assert_eq!(m.to_user(), Some("+19995550001"));
        assert_eq!(m.cseq_method(), "INVITE");
        assert_eq!(
            m.contact_uri().as_deref(),
            Some("sip:bridge@127.0.0.1:5060;transport=udp")
        );
        assert_eq!(m.media_addr(), Some("127.0.0.1:20002".parse().unwrap()));
        let me = "127.0.0.1:5090".parse().unwrap();
        let ok = response("200 OK", &m, me, "t1", "");
        let r = SipMsg::parse(ok.as_bytes()).expect("response parses");
        assert_eq!(r.status(), Some(200));
        assert_eq!(r.headers("Via").len(), 2);
        assert!(r.value("To").ends_with(";tag=t1"));
        assert_eq!(r.cseq_method(), "INVITE");
    }

    #[test]
    fn garbage_is_not_a_message() {
        assert!(SipMsg::parse(b"\x80\x00 not sip").is_none());
    }
}
