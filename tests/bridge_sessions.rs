//! Endpoint sessions against the in-process daemon (peers of `bridge_inprocess`): several
//! sessions of one endpoint ringing, the WebSocket lost mid-call, DTMF toward the phone.
//! Every wait is bounded by a deadline that fails the test with a message; nothing is
//! asserted by sleeping.

// Shared with bridge_inprocess.rs; this file does not use every helper.
#[allow(dead_code)]
mod bridge_peers;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bridge_peers::browser::Browser;
use bridge_peers::carrier::{SipMsg, SipUa, carrier_sdp};
use bridge_peers::daemon::{Daemon, Ws, daemon, daemon_with};
use bridge_peers::{DID, Heard, deadline};
use serde_json::json;
use str0m::format::Codec;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout_at};

/// The telephone-event payload type the carrier offers.
const TE_PT: u8 = 101;

/// A PCMU SDP for the carrier's RTP socket that also offers telephone-event/8000 as `TE_PT`.
fn carrier_sdp_dtmf(rtp: SocketAddr) -> String {
    format!(
        "v=0\r\no=carrier 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 {TE_PT}\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:{TE_PT} telephone-event/8000\r\na=fmtp:{TE_PT} 0-16\r\na=ptime:20\r\n",
        ip = rtp.ip(),
        port = rtp.port()
    )
}

/// A call the carrier placed and `ws` answered: the browser runs (ICE, DTLS, a tone) until
/// `stop`, the carrier has its 200 and has ACKed it.
struct Answered {
    call_id: String,
    ok: SipMsg,
    uri: String,
    stop: watch::Sender<bool>,
    browser: JoinHandle<()>,
}

impl Answered {
    /// Stops the browser (before the call ends: str0m's writer is gone once the bridge
    /// closes its side); a browser task that panicked fails the test with its message.
    /// Returns the 200, the request URI and the callId for the rest of the call.
    async fn finish(self) -> (SipMsg, String, String) {
        let _ = self.stop.send(true);
        if let Err(e) = self.browser.await {
            std::panic::resume_unwind(e.into_panic());
        }
        (self.ok, self.uri, self.call_id)
    }
}

/// `ws`, rung with `call_id`, answers with a str0m offer and starts the browser; the
/// carrier gets 200 and ACKs.
async fn answer_inbound(d: &Daemon, ua: &SipUa, ws: &mut Ws, call_id: &str) -> Answered {
    let (mut browser, offer) = Browser::offer(&[Codec::Opus, Codec::PCMU]).await;
    ws.send(json!({"type": "answer", "callId": call_id, "sdp": offer}))
        .await;
    let answer = ws.expect("sdp", deadline(5)).await;
    assert_eq!(answer["callId"], call_id, "sdp for another call");
    browser.accept(answer["sdp"].as_str().expect("sdp"));
    let stop = watch::channel(false).0;
    let heard = Arc::new(Mutex::new(Heard::default()));
    let browser = tokio::spawn(browser.run(440.0, heard, stop.subscribe()));
    let (ok, _) = ua
        .recv("200 to INVITE", deadline(10), |m| {
            m.status().is_some_and(|s| s >= 200) && m.header("CSeq").contains("INVITE")
        })
        .await;
    assert_eq!(
        ok.status(),
        Some(200),
        "INVITE not answered 200:\n{}",
        ok.raw
    );
    let uri = format!("sip:{DID}@{}", d.sip());
    ua.send(d.sip(), &ua.request("ACK", &uri, 1, &ok)).await;
    Answered {
        call_id: call_id.to_owned(),
        ok,
        uri,
        stop,
        browser,
    }
}

/// The carrier calls the DID; returns the callId `ws` was rung with.
async fn ring(d: &Daemon, ua: &SipUa, sdp: &str, ws: &mut Ws) -> String {
    ua.send(d.sip(), &ua.invite(d.sip(), sdp)).await;
    let is_final = |m: &SipMsg| m.status().is_some_and(|s| s >= 300);
    let ring = tokio::select! {
        v = ws.expect("incomingCall", deadline(5)) => v,
        (m, _) = ua.recv("a final response instead of ringing", deadline(6), is_final) => {
            panic!("the bridge answered the INVITE instead of ringing:\n{}", m.raw)
        }
    };
    assert_eq!(ring["to"], DID);
    ring["callId"].as_str().expect("callId").to_owned()
}

/// The carrier hangs up the call `ok` answered: it gets 200 to its BYE, `ws` gets `callEnded {0, 1}`.
async fn carrier_hangs_up(
    d: &Daemon,
    ua: &SipUa,
    ws: &mut Ws,
    ok: &SipMsg,
    uri: &str,
    call_id: &str,
) {
    ua.send(d.sip(), &ua.request("BYE", uri, 2, ok)).await;
    let (bye_ok, _) = ua
        .recv("response to BYE", deadline(5), |m| {
            m.status().is_some() && m.header("CSeq").contains("BYE")
        })
        .await;
    assert_eq!(bye_ok.status(), Some(200), "{}", bye_ok.raw);
    let ended = ws.expect("callEnded", deadline(5)).await;
    assert_eq!(ended["callId"], call_id);
    assert_eq!(ended["callEndReason"], json!({"code": 0, "subCode": 1}));
}

// ---------------------------------------------------------------------------------------
// Tests

/// Two sessions of `alice` ring with the same call; A answers, B is told the call was
/// answered elsewhere; the carrier's BYE ends A's call normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_ring_and_the_first_answer_wins() {
    let d = daemon("127.0.0.1:9".parse().expect("addr"), 15_300).await;
    let mut a = Ws::login(&d).await;
    let mut b = Ws::login(&d).await;
    let ua = SipUa::bind().await;
    let rtp = UdpSocket::bind("127.0.0.1:0").await.expect("rtp");

    let call_id = ring(
        &d,
        &ua,
        &carrier_sdp(rtp.local_addr().expect("addr")),
        &mut a,
    )
    .await;
    let ring_b = b.expect("incomingCall", deadline(5)).await;
    assert_eq!(
        ring_b["callId"], call_id,
        "the two sessions were rung with different calls"
    );

    let call = answer_inbound(&d, &ua, &mut a, &call_id).await;
    let ended = b.expect("callEnded", deadline(5)).await;
    assert_eq!(ended["callId"], call_id.as_str());
    assert_eq!(
        ended["callEndReason"],
        json!({"code": 0, "subCode": 2}),
        "session B: {ended}"
    );

    let (ok, uri, call_id) = call.finish().await;
    carrier_hangs_up(&d, &ua, &mut a, &ok, &uri, &call_id).await;
    d.stop().await;
}

/// The answering session's WebSocket goes away mid-call: after the grace period (1 s here)
/// the bridge sends the carrier a BYE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_lost_mid_call_ends_the_call_after_the_grace_period() {
    let uas = "127.0.0.1:9".parse().expect("addr");
    let d = daemon_with(uas, 15_400, "signaling_grace_s = 1").await;
    let mut ws = Ws::login(&d).await;
    let ua = SipUa::bind().await;
    let rtp = UdpSocket::bind("127.0.0.1:0").await.expect("rtp");

    let call_id = ring(
        &d,
        &ua,
        &carrier_sdp(rtp.local_addr().expect("addr")),
        &mut ws,
    )
    .await;
    let call = answer_inbound(&d, &ua, &mut ws, &call_id).await;
    ws.wait_state("Connected", deadline(10)).await;

    // The tab goes away: its WebSocket and its media.
    drop(ws);
    call.finish().await;
    let is_bye = |m: &SipMsg| m.method() == Some(rsip::Method::Bye);
    let (bye, from) = ua
        .recv("BYE after the WebSocket closed", deadline(10), is_bye)
        .await;
    assert!(
        bye.header("Call-ID").contains("inproc-inbound"),
        "BYE for another dialog:\n{}",
        bye.raw
    );
    assert_eq!(
        bye.headers("Content-Length").len(),
        1,
        "BYE with other than one Content-Length:\n{}",
        bye.raw
    );
    ua.send(from, &ua.response("200 OK", &bye, "")).await;
    d.stop().await;
}

/// `sendDtmf "1#"` on a connected call: the carrier's RTP socket receives RFC 4733 events
/// 1 and 11 with the end bit, on the payload type it offered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dtmf_from_the_browser_reaches_the_carrier_as_rfc4733_events() {
    let d = daemon("127.0.0.1:9".parse().expect("addr"), 15_500).await;
    let mut ws = Ws::login(&d).await;
    let ua = SipUa::bind().await;
    let rtp = UdpSocket::bind("127.0.0.1:0").await.expect("rtp");

    let sdp = carrier_sdp_dtmf(rtp.local_addr().expect("addr"));
    let call_id = ring(&d, &ua, &sdp, &mut ws).await;
    let call = answer_inbound(&d, &ua, &mut ws, &call_id).await;
    assert!(
        call.ok.raw.contains("telephone-event/8000"),
        "the bridge's 200 does not accept telephone-event:\n{}",
        call.ok.raw
    );
    ws.wait_state("Connected", deadline(10)).await;

    ws.send(json!({"type": "sendDtmf", "callId": call_id, "digits": "1#"}))
        .await;
    let ended = carrier_events(
        &rtp,
        call.ok.media_addr().expect("media address in SDP"),
        deadline(10),
    )
    .await;
    assert!(
        ended.contains(&1) && ended.contains(&11),
        "events ended at the carrier: {ended:?} (want 1 and 11)"
    );
    assert!(
        ended.iter().position(|&e| e == 1) < ended.iter().position(|&e| e == 11),
        "events out of order: {ended:?}"
    );

    let (ok, uri, call_id) = call.finish().await;
    carrier_hangs_up(&d, &ua, &mut ws, &ok, &uri, &call_id).await;
    d.stop().await;
}

/// Runs the carrier's RTP (PCMU silence every 20 ms to `to`) and collects, in order, the
/// telephone-event codes received with the end bit, until 1 and 11 have ended or `until`.
async fn carrier_events(sock: &UdpSocket, to: SocketAddr, until: Instant) -> Vec<u8> {
    let mut ended: Vec<u8> = vec![];
    let mut other_pts = std::collections::BTreeSet::new();
    let mut buf = vec![0u8; 2000];
    let mut next = Instant::now();
    for seq in 0u16.. {
        if ended.contains(&1) && ended.contains(&11) || Instant::now() >= until {
            break;
        }
        let mut pkt = vec![0x80, 0x00];
        pkt.extend_from_slice(&seq.to_be_bytes());
        pkt.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        pkt.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        pkt.extend([0xffu8; 160]);
        let _ = sock.send_to(&pkt, to).await;
        next += Duration::from_millis(20);
        while Instant::now() < next {
            tokio::select! {
                got = timeout_at(next, sock.recv_from(&mut buf)) => {
                    let Ok(Ok((n, _))) = got else { continue };
                    if n < 16 || buf[0] >> 6 != 2 {
                        continue;
                    }
                    let pt = buf[1] & 0x7f;
                    if pt == TE_PT {
                        let (event, end) = (buf[12], buf[13] & 0x80 != 0);
                        if end && ended.last() != Some(&event) {
                            ended.push(event);
                        }
                    } else {
                        other_pts.insert(pt);
                    }
                }
                _ = sleep_until(next) => {}
            }
        }
    }
    println!("carrier: events ended {ended:?}, other payload types {other_pts:?}");
    ended
}
