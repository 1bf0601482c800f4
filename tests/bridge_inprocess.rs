//! The daemon in-process on loopback, with a str0m peer playing the browser and a small SIP
//! UA playing the carrier: calls bridged both ways, audio checked by frequency (a tone sent
//! on one side is found at its frequency on the other). Every wait is a bounded loop with a
//! deadline that fails the test with a message; nothing is asserted by sleeping.

mod bridge_peers;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bridge_peers::browser::Browser;
use bridge_peers::carrier::{SipMsg, SipUa, carrier_rtp, carrier_sdp};
use bridge_peers::daemon::{Ws, daemon};
use bridge_peers::tone::{check_tone, tone, ulaw_decode, ulaw_encode};
use bridge_peers::{DID, Heard, PHONE, STEP, deadline};
use serde_json::json;
use str0m::format::Codec;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::Instant;

/// Tones: the carrier sends 1000 Hz, the browser 440 Hz.
const CARRIER_HZ: f64 = 1000.0;
const BROWSER_HZ: f64 = 440.0;
/// Audio each side must hear before the check (8 kHz samples: 1.5 s).
const HEARD: usize = 12_000;

/// Media running both ways; `hear` waits until both sides have heard enough.
struct Media {
    browser: Arc<Mutex<Heard>>,
    carrier: Arc<Mutex<Heard>>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Media {
    fn new() -> Media {
        Media {
            browser: Arc::default(),
            carrier: Arc::default(),
            stop: watch::channel(false).0,
            tasks: vec![],
        }
    }

    /// Starts the browser's loop (ICE, DTLS, then its tone).
    fn browser(&mut self, b: Browser) {
        let heard = Arc::clone(&self.browser);
        let task = b.run(BROWSER_HZ, heard, self.stop.subscribe());
        self.tasks.push(tokio::spawn(task));
    }

    /// Starts the carrier's RTP toward the bridge's `to`.
    fn carrier(&mut self, rtp: UdpSocket, to: SocketAddr) {
        let (heard, stop) = (Arc::clone(&self.carrier), self.stop.subscribe());
        let task = carrier_rtp(rtp, to, CARRIER_HZ, heard, stop);
        self.tasks.push(tokio::spawn(task));
    }

    /// Waits (bounded) until each side heard `HEARD` samples beyond the first half second,
    /// stops both, and returns the last `HEARD` samples each heard plus the browser's codec.
    async fn hear(self, until: Instant) -> (Vec<i16>, Vec<i16>, Codec) {
        let need = HEARD + 4000;
        let heard = |h: &Mutex<Heard>| h.lock().expect("lock").pcm.len();
        let failed = loop {
            let (b, c) = (heard(&self.browser), heard(&self.carrier));
            if b >= need && c >= need {
                break None;
            }
            if self.tasks.iter().any(|t| t.is_finished()) || Instant::now() >= until {
                break Some(format!(
                    "audio did not flow: browser heard {b} samples, carrier {c} (need {need})"
                ));
            }
            tokio::time::sleep(STEP).await;
        };
        let _ = self.stop.send(true);
        for t in self.tasks {
            // A task that panicked fails the test with its own message.
            if let Err(e) = t.await {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        if let Some(why) = failed {
            panic!("{why}");
        }
        let tail = |h: &Mutex<Heard>| {
            let h = h.lock().expect("lock");
            h.pcm[h.pcm.len() - HEARD..].to_vec()
        };
        let codec = self.browser.lock().expect("lock").codecs[0];
        (tail(&self.browser), tail(&self.carrier), codec)
    }
}

/// Both tones found where they belong, with the wrong tone refused on the same signal.
fn assert_tones(browser: &[i16], carrier: &[i16], label: &str) {
    let b = check_tone(browser, CARRIER_HZ).unwrap_or_else(|e| panic!("browser: {e}"));
    let c = check_tone(carrier, BROWSER_HZ).unwrap_or_else(|e| panic!("carrier: {e}"));
    println!(
        "{label}: browser heard peak {} Hz, {:.1} dB margin; carrier heard peak {} Hz, {:.1} dB margin",
        b.peak_hz,
        10.0 * b.margin.log10(),
        c.peak_hz,
        10.0 * c.margin.log10()
    );
    assert!((b.peak_hz - CARRIER_HZ).abs() <= 20.0, "browser peak {b:?}");
    assert!((c.peak_hz - BROWSER_HZ).abs() <= 20.0, "carrier peak {c:?}");
    assert!(
        check_tone(browser, BROWSER_HZ).is_err(),
        "browser: 440 Hz found in 1000 Hz audio"
    );
    assert!(
        check_tone(carrier, CARRIER_HZ).is_err(),
        "carrier: 1000 Hz found in 440 Hz audio"
    );
}

// ---------------------------------------------------------------------------------------
// Tests

#[test]
fn frequency_check_refuses_the_wrong_tone() {
    let a = tone(CARRIER_HZ, 0, HEARD);
    let b = tone(BROWSER_HZ, 0, HEARD);
    assert!(check_tone(&a, CARRIER_HZ).is_ok());
    assert!(check_tone(&b, BROWSER_HZ).is_ok());
    // Negative controls, one per direction: the other side's tone does not pass.
    assert!(check_tone(&a, BROWSER_HZ).is_err());
    assert!(check_tone(&b, CARRIER_HZ).is_err());
    // Through G.711 and back the tone survives; silence does not pass.
    let through: Vec<i16> = a.iter().map(|&x| ulaw_decode(ulaw_encode(x))).collect();
    assert!(check_tone(&through, CARRIER_HZ).is_ok());
    assert!(check_tone(&vec![0; HEARD], CARRIER_HZ).is_err());
}

/// The browser offers what Chromium does: the bridge answers PCMU (passthrough).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_call_rings_the_browser_and_carries_tones_both_ways() {
    let codec = inbound_call(&[Codec::Opus, Codec::PCMU], 15_000, None).await;
    assert_eq!(codec, Codec::PCMU);
}

/// An Opus-only browser: the bridge transcodes between Opus and the trunk's PCMU.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_call_to_an_opus_only_browser_is_transcoded() {
    let codec = inbound_call(&[Codec::Opus], 15_200, None).await;
    assert_eq!(codec, Codec::Opus);
}

/// Another process holds the first port of the media range: the bridge never advertises
/// it and the call connects on the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_media_port_held_elsewhere_is_skipped() {
    let held = std::net::UdpSocket::bind("127.0.0.1:15600").expect("hold the first port");
    let codec = inbound_call(&[Codec::PCMU], 15_600, Some(15_600)).await;
    assert_eq!(codec, Codec::PCMU);
    drop(held);
}

/// The carrier calls the DID, the browser (offering `codecs`) answers, tones flow both
/// ways, the carrier hangs up. Returns the codec the browser received. The bridge's SDP
/// must not name `held_port`.
async fn inbound_call(codecs: &[Codec], media_base: u16, held_port: Option<u16>) -> Codec {
    let d = daemon("127.0.0.1:9".parse().expect("addr"), media_base).await;
    let mut ws = Ws::login(&d).await;
    let ua = SipUa::bind().await;
    let rtp = UdpSocket::bind("127.0.0.1:0").await.expect("rtp");
    let rtp_addr = rtp.local_addr().expect("addr");

    // The carrier calls the DID.
    ua.send(d.sip(), &ua.invite(d.sip(), &carrier_sdp(rtp_addr)))
        .await;

    // The browser rings, answers with its offer, gets the bridge's answer.
    let ring = ws.expect("incomingCall", deadline(5)).await;
    assert_eq!(ring["callerId"]["number"], PHONE);
    assert_eq!(ring["to"], DID);
    let call_id = ring["callId"].as_str().expect("callId").to_owned();
    let (mut browser, offer) = Browser::offer(codecs).await;
    ws.send(json!({"type": "answer", "callId": call_id, "sdp": offer}))
        .await;
    let answer = ws.expect("sdp", deadline(5)).await;
    browser.accept(answer["sdp"].as_str().expect("sdp"));

    // ICE/DTLS run while the carrier waits for 180 then 200, ACKs and starts its RTP.
    let mut media = Media::new();
    media.browser(browser);
    let until = deadline(10);
    let (ringing, _) = ua
        .recv("180", until, |m| m.status().is_some_and(|s| s >= 180))
        .await;
    assert_eq!(ringing.status(), Some(180), "{}", ringing.raw);
    let (ok, _) = ua.recv("200", until, |m| m.status() == Some(200)).await;
    assert!(
        ok.raw.contains("PCMU/8000"),
        "200 does not answer PCMU:\n{}",
        ok.raw
    );
    let uri = format!("sip:{DID}@{}", d.sip());
    ua.send(d.sip(), &ua.request("ACK", &uri, 1, &ok)).await;
    let bridge_rtp = ok.media_addr().expect("media address in SDP");
    assert_ne!(
        Some(bridge_rtp.port()),
        held_port,
        "a held port was advertised"
    );
    media.carrier(rtp, bridge_rtp);

    let (browser_pcm, carrier_pcm, codec) = media.hear(deadline(10)).await;
    assert_tones(
        &browser_pcm,
        &carrier_pcm,
        &format!("inbound, browser received {codec:?}"),
    );
    ws.wait_state("Connected", deadline(5)).await;

    // The carrier hangs up.
    ua.send(d.sip(), &ua.request("BYE", &uri, 2, &ok)).await;
    let (bye_ok, _) = ua
        .recv("200 to BYE", deadline(5), |m| {
            m.status().is_some() && m.header("CSeq").contains("BYE")
        })
        .await;
    assert_eq!(bye_ok.status(), Some(200), "{}", bye_ok.raw);
    let ended = ws.expect("callEnded", deadline(5)).await;
    assert_eq!(ended["callId"], call_id.as_str());
    assert_eq!(ended["callEndReason"], json!({"code": 0, "subCode": 1}));
    d.stop().await;
    codec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_call_from_the_browser_reaches_the_carrier_and_carries_tones_both_ways() {
    let uas = SipUa::bind().await;
    let d = daemon(uas.addr, 15_100).await;
    let mut ws = Ws::login(&d).await;
    let rtp = UdpSocket::bind("127.0.0.1:0").await.expect("rtp");
    let rtp_addr = rtp.local_addr().expect("addr");

    // The browser dials; the bridge accepts and answers its offer at once.
    let (mut browser, offer) = Browser::offer(&[Codec::Opus, Codec::PCMU]).await;
    let start = json!({"type": "startPhoneCall", "requestId": "r1", "number": PHONE, "sdp": offer});
    ws.send(start).await;
    let accepted = ws.expect("callAccepted", deadline(5)).await;
    assert_eq!(accepted["requestId"], "r1");
    let call_id = accepted["callId"].as_str().expect("callId").to_owned();
    let answer = ws.expect("sdp", deadline(5)).await;
    assert_eq!(answer["callId"], call_id.as_str());
    browser.accept(answer["sdp"].as_str().expect("sdp"));
    let mut media = Media::new();
    media.browser(browser);

    // The carrier's UAS rings, answers with PCMU, gets the ACK, starts its RTP.
    let is = |m: rsip::Method| move |msg: &SipMsg| msg.method() == Some(m);
    let (invite, bridge) = uas
        .recv("INVITE", deadline(5), is(rsip::Method::Invite))
        .await;
    assert!(invite.header("To").contains(PHONE), "{}", invite.raw);
    assert!(
        invite.raw.contains("PCMU/8000"),
        "no PCMU offered:\n{}",
        invite.raw
    );
    uas.send(bridge, &uas.response("180 Ringing", &invite, ""))
        .await;
    ws.wait_state("Ringing", deadline(5)).await;
    let ok = uas.response("200 OK", &invite, &carrier_sdp(rtp_addr));
    uas.send(bridge, &ok).await;
    uas.recv("ACK", deadline(5), is(rsip::Method::Ack)).await;
    media.carrier(rtp, invite.media_addr().expect("media address in SDP"));
    ws.wait_state("Connected", deadline(5)).await;

    let (browser_pcm, carrier_pcm, codec) = media.hear(deadline(10)).await;
    assert_eq!(codec, Codec::PCMU);
    assert_tones(
        &browser_pcm,
        &carrier_pcm,
        "outbound, browser received PCMU",
    );

    // The browser hangs up: the carrier gets a BYE.
    ws.send(json!({"type": "hangUp", "callId": call_id})).await;
    let (bye, from) = uas.recv("BYE", deadline(5), is(rsip::Method::Bye)).await;
    uas.send(from, &uas.response("200 OK", &bye, "")).await;
    let ended = ws.expect("callEnded", deadline(5)).await;
    assert_eq!(ended["callId"], call_id.as_str());
    assert_eq!(ended["callEndReason"], json!({"code": 0, "subCode": 0}));
    println!(
        "outbound: states {:?}, ended {}",
        ws.states(),
        ended["callEndReason"]
    );
    d.stop().await;
}
