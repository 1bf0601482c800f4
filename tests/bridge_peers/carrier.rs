//! The carrier: a tiny SIP UA on a plain UDP socket, and an RTP stream.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use str0m::format::Codec;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout_at};

use super::tone::{tone, ulaw_decode, ulaw_encode};
use super::{DID, Heard, PHONE};

/// A SIP UA on a plain UDP socket: hand-written requests and responses, parsed replies.
pub struct SipUa {
    sock: UdpSocket,
    pub addr: SocketAddr,
}

/// A received message: the load generator's parsed SIP with its raw text.
pub use pstn_bridge::loadgen::sip_text::SipMsg;

impl SipUa {
    pub async fn bind() -> SipUa {
        let sock = UdpSocket::bind("127.0.0.1:0").await.expect("sip socket");
        let addr = sock.local_addr().expect("addr");
        SipUa { sock, addr }
    }

    pub async fn send(&self, to: SocketAddr, text: &str) {
        self.sock
            .send_to(text.as_bytes(), to)
            .await
            .expect("sip send");
    }

    /// The next message that `want` accepts (others are skipped: retransmissions, 100).
    pub async fn recv(
        &self,
        what: &str,
        until: Instant,
        want: impl Fn(&SipMsg) -> bool,
    ) -> (SipMsg, SocketAddr) {
        let mut buf = vec![0u8; 65535];
        loop {
            let (n, from) = match timeout_at(until, self.sock.recv_from(&mut buf)).await {
                Ok(r) => r.expect("sip recv"),
                Err(_) => panic!("SIP UA: no {what} in time"),
            };
            let Some(msg) = SipMsg::parse(&buf[..n]) else {
                let raw = String::from_utf8_lossy(&buf[..n]);
                panic!("unparseable SIP from the bridge:\n{raw}")
            };
            if want(&msg) {
                return (msg, from);
            }
        }
    }

    /// An INVITE from `PHONE` to `DID` at `bridge`, offering `sdp`.
    pub fn invite(&self, bridge: SocketAddr, sdp: &str) -> String {
        format!(
            "INVITE sip:{DID}@{bridge} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK-INVITE-1;rport\r\nFrom: \"Line check\" <sip:{PHONE}@{a}>;tag=ua1\r\nTo: <sip:{DID}@{bridge}>\r\nCall-ID: inproc-inbound@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:{PHONE}@{a}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            a = self.addr,
            len = sdp.len()
        )
    }

    /// A body-less request of ours (ACK, BYE) inside the dialog `ok` established.
    pub fn request(&self, method: &str, uri: &str, cseq: u32, ok: &SipMsg) -> String {
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK-{method}-{cseq};rport\r\n{from}\r\n{to}\r\n{cid}\r\nCSeq: {cseq} {method}\r\nContact: <sip:{PHONE}@{a}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            a = self.addr,
            from = ok.header("From"),
            to = ok.header("To"),
            cid = ok.header("Call-ID"),
        )
    }

    /// A response to `req` (its Vias, From, Call-ID, CSeq; our To tag).
    pub fn response(&self, code: &str, req: &SipMsg, body: &str) -> String {
        let ct = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        let mut to = req.header("To").to_owned();
        if !to.contains("tag=") {
            to.push_str(";tag=uas1");
        }
        format!(
            "SIP/2.0 {code}\r\n{via}\r\n{from}\r\n{to}\r\n{cid}\r\n{cseq}\r\nContact: <sip:{a}>\r\n{ct}Content-Length: {len}\r\n\r\n{body}",
            via = req.headers("Via").join("\r\n"),
            from = req.header("From"),
            cid = req.header("Call-ID"),
            cseq = req.header("CSeq"),
            a = self.addr,
            len = body.len()
        )
    }
}

/// A PCMU-only SDP for the carrier's RTP socket.
pub fn carrier_sdp(rtp: SocketAddr) -> String {
    format!(
        "v=0\r\no=carrier 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n",
        ip = rtp.ip(),
        port = rtp.port()
    )
}

/// The carrier's RTP: sends a PCMU tone at `hz` every 20 ms to `to` and decodes the PCMU
/// that comes back into `heard`, until `stop` turns true.
pub async fn carrier_rtp(
    sock: UdpSocket,
    to: SocketAddr,
    hz: f64,
    heard: Arc<Mutex<Heard>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut next = Instant::now();
    let mut buf = vec![0u8; 2000];
    for seq in 0u16.. {
        if *stop.borrow() {
            return;
        }
        let mut pkt = vec![0x80, 0x00];
        pkt.extend_from_slice(&seq.to_be_bytes());
        pkt.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        pkt.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        let pcm = tone(hz, usize::from(seq) * 160, 160);
        pkt.extend(pcm.iter().map(|&x| ulaw_encode(x)));
        let _ = sock.send_to(&pkt, to).await;
        next += Duration::from_millis(20);
        while Instant::now() < next {
            tokio::select! {
                got = sock.recv_from(&mut buf) => {
                    let Ok((n, _)) = got else { continue };
                    // PCMU (PT 0) only; RTCP and events are skipped.
                    if n > 12 && buf[0] >> 6 == 2 && buf[1] & 0x7f == 0 {
                        let mut h = heard.lock().expect("lock");
                        h.codecs.push(Codec::PCMU);
                        h.pcm.extend(buf[12..n].iter().map(|&u| ulaw_decode(u)));
                    }
                }
                _ = sleep_until(next) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
