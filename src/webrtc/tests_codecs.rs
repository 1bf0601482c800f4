//! Codec negotiation, demultiplexing two peers on one socket, and garbage input.

use std::time::Instant;

use str0m::format::Codec as SCodec;

use super::test_net::{BRIDGE, Browser, CHROME, Net, addr, cfg, frame};
use super::*;

/// The codecs of the answer's audio m-line, in its order.
fn answer_formats(answer: &str) -> Vec<String> {
    let m = answer
        .lines()
        .find(|l| l.starts_with("m=audio "))
        .expect("audio m-line");
    m.split_whitespace().skip(3).map(str::to_owned).collect()
}

fn answer_of(codecs: &[SCodec], cfg: &PeerConfig) -> Result<(WebRtcPeer, String), WebRtcError> {
    let now = Instant::now();
    let (_, offer) = Browser::offer(now, addr("192.0.2.10:50000"), codecs);
    WebRtcPeer::answer(now, &offer, cfg)
}

#[test]
fn g711_only_offer_negotiates_pcmu() {
    let (peer, answer) = answer_of(&[SCodec::PCMU, SCodec::PCMA], &cfg()).expect("answer");
    assert!(!answer.contains("m=audio 0 "), "{answer}");
    assert!(answer.contains("a=rtpmap:0 PCMU/8000"), "{answer}");
    assert!(answer.contains("a=ice-lite"), "{answer}");
    assert!(answer.contains("a=fingerprint:sha-256 "), "{answer}");
    assert!(answer.contains("UDP/TLS/RTP/SAVPF"), "{answer}");
    assert!(answer.contains("198.51.100.1 40000 typ host"), "{answer}");
    assert_eq!(peer.negotiated_codec(), Some(Codec::Pcmu));

    // And media flows in PCMU both ways.
    let mut net = Net::new(Instant::now());
    net.call("192.0.2.10:50000", &[SCodec::PCMU, SCodec::PCMA], &cfg());
    net.connect();
    for i in 0..10 {
        let now = net.now;
        net.browsers[0].send(now, SCodec::PCMU, 160 * i as u64, &frame(5, i, 160));
        let p = &mut net.bridges[0].peer;
        p.send_audio(now, Codec::Pcmu, 160 * i as u64, &frame(6, i, 160))
            .expect("out");
        assert!(matches!(
            p.send_audio(now, Codec::Opus, 0, &[0]),
            Err(WebRtcError::CodecNotNegotiated(Codec::Opus))
        ));
        net.run(4);
    }
    net.run(20);
    let up: Vec<_> = net.bridges[0]
        .audio()
        .iter()
        .map(|f| f.payload.to_vec())
        .collect();
    let down: Vec<_> = net.browsers[0]
        .media()
        .iter()
        .map(|d| d.data.to_vec())
        .collect();
    assert_eq!(up, (0..10).map(|i| frame(5, i, 160)).collect::<Vec<_>>());
    assert_eq!(down, (0..10).map(|i| frame(6, i, 160)).collect::<Vec<_>>());
}

#[test]
fn pcma_only_offer_negotiates_pcma() {
    let (peer, answer) = answer_of(&[SCodec::PCMA], &cfg()).expect("answer");
    assert_eq!(answer_formats(&answer)[0], "8");
    assert_eq!(peer.negotiated_codec(), Some(Codec::Pcma));
}

#[test]
fn preference_picks_passthrough_or_opus() {
    // Default: Opus first, G.711 kept as alternatives.
    let (peer, answer) = answer_of(&CHROME, &cfg()).expect("answer");
    assert_eq!(peer.negotiated_codec(), Some(Codec::Opus));
    let f = answer_formats(&answer);
    assert_eq!(&f[..3], ["111", "0", "8"]);

    // The trunk speaks PCMU: prefer it so the browser sends PCMU (no transcoding).
    let (peer, answer) = answer_of(&CHROME, &cfg().prefer(Codec::Pcmu)).expect("answer");
    assert_eq!(peer.negotiated_codec(), Some(Codec::Pcmu));
    assert_eq!(answer_formats(&answer)[0], "0");

    let (peer, _) = answer_of(&CHROME, &cfg().prefer(Codec::Pcma)).expect("answer");
    assert_eq!(peer.negotiated_codec(), Some(Codec::Pcma));

    // The browser, given a PCMU-first answer, sends PCMU on the wire.
    let mut net = Net::new(Instant::now());
    net.call("192.0.2.10:50000", &CHROME, &cfg().prefer(Codec::Pcmu));
    net.connect();
    assert_eq!(net.browsers[0].pt(SCodec::PCMU), 0.into());
}

#[test]
fn opus_answers_ask_the_browser_for_narrowband() {
    let (_, answer) = answer_of(&CHROME, &cfg()).expect("answer");
    let fmtp = answer
        .lines()
        .find(|l| l.starts_with("a=fmtp:111 "))
        .expect("Opus fmtp");
    assert!(
        fmtp.contains("useinbandfec=1"),
        "str0m's own keys kept: {fmtp}"
    );
    assert!(
        fmtp.ends_with(";maxplaybackrate=8000;sprop-maxcapturerate=8000"),
        "{fmtp}"
    );
    assert_eq!(answer.matches("maxplaybackrate").count(), 1, "{answer}");

    // The browser (str0m here) takes the edited answer and negotiates Opus.
    let mut net = Net::new(Instant::now());
    net.call("192.0.2.10:50000", &CHROME, &cfg());
    net.connect();
    assert_eq!(net.browsers[0].pt(SCodec::Opus), 111.into());

    // No Opus in the answer, nothing added.
    let (_, answer) = answer_of(&[SCodec::PCMU], &cfg()).expect("answer");
    assert!(!answer.contains("maxplaybackrate"), "{answer}");
}

#[test]
fn narrowband_parameters_get_an_fmtp_line_when_the_answer_has_none() {
    let sdp = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\na=sendrecv\r\n";
    assert_eq!(
        super::peer::opus_narrowband(sdp, 111),
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n\
         a=fmtp:111 maxplaybackrate=8000;sprop-maxcapturerate=8000\r\na=sendrecv\r\n"
    );
}

#[test]
fn offers_without_a_usable_codec_or_audio_are_refused() {
    let only_pcmu = PeerConfig {
        codecs: vec![Codec::Pcmu],
        ..cfg()
    };
    let r = answer_of(&[SCodec::Opus], &only_pcmu);
    assert!(matches!(r, Err(WebRtcError::NoCommonCodec)), "{r:?}");
    let now = Instant::now();
    let r = WebRtcPeer::answer(now, "v=0\r\nbogus", &cfg());
    assert!(matches!(r, Err(WebRtcError::Sdp(_))), "{r:?}");
    let r = WebRtcPeer::answer(now, "", &cfg());
    assert!(r.is_err());
    let bad_host = PeerConfig::new(addr("0.0.0.0:40000"));
    let r = answer_of(&CHROME, &bad_host);
    assert!(matches!(r, Err(WebRtcError::Candidate(_))), "{r:?}");
}

#[test]
fn accepts_routes_two_peers_on_one_socket() {
    let mut net = Net::new(Instant::now());
    net.call("192.0.2.10:50000", &CHROME, &cfg());
    net.call("192.0.2.20:50000", &CHROME, &cfg().prefer(Codec::Pcmu));
    net.connect();
    // Every browser datagram went to its own peer, never to the other or nowhere.
    assert!(net.routed.len() >= 4, "{}", net.routed.len());
    for (from, to) in &net.routed {
        assert_eq!(Some(*from), *to);
    }
    // Each peer takes only its own browser's datagrams, STUN included.
    let a = &net.bridges[0].peer;
    let b = &net.bridges[1].peer;
    let stun = stun_binding_like();
    assert!(!a.accepts(addr("192.0.2.99:1"), &stun));
    assert!(!b.accepts(addr("192.0.2.99:1"), &stun));

    for i in 0..20 {
        let now = net.now;
        net.browsers[0].send(now, SCodec::Opus, 960 * i as u64, &frame(7, i, 50));
        net.browsers[1].send(now, SCodec::PCMU, 160 * i as u64, &frame(8, i, 160));
        net.run(4);
    }
    net.run(20);
    let a: Vec<_> = net.bridges[0]
        .audio()
        .iter()
        .map(|f| f.payload.to_vec())
        .collect();
    let b: Vec<_> = net.bridges[1]
        .audio()
        .iter()
        .map(|f| f.payload.to_vec())
        .collect();
    assert_eq!(a, (0..20).map(|i| frame(7, i, 50)).collect::<Vec<_>>());
    assert_eq!(b, (0..20).map(|i| frame(8, i, 160)).collect::<Vec<_>>());
    assert!(
        net.bridges[1]
            .audio()
            .iter()
            .all(|f| f.codec == Codec::Pcmu)
    );
    for (from, to) in &net.routed {
        assert_eq!(Some(*from), *to);
    }
}

/// A well-formed STUN binding request header with a username nobody issued.
fn stun_binding_like() -> Vec<u8> {
    let user = b"nobody:nobody";
    let mut attr = vec![0x00, 0x06, 0x00, user.len() as u8];
    attr.extend_from_slice(user);
    attr.extend_from_slice(&[0, 0, 0]);
    let mut m = vec![0x00, 0x01];
    m.extend_from_slice(&(attr.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
    m.extend_from_slice(&[7; 12]);
    m.extend_from_slice(&attr);
    m
}

/// Deterministic pseudo-random bytes (xorshift).
fn noise(seed: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed as u8
        })
        .collect()
}

#[test]
fn garbage_datagrams_never_panic() {
    let mut net = Net::new(Instant::now());
    net.call("192.0.2.10:50000", &CHROME, &cfg());
    let browser = net.browsers[0].addr;
    let stranger = addr("203.0.113.5:9");
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    let feed = |net: &mut Net, seed: &mut u64| {
        for round in 0..300usize {
            let mut d = noise(seed, round % 200);
            // Steer the first byte into each demux class: STUN, DTLS, RTP/RTCP, other.
            if let Some(first) = d.first_mut() {
                *first = [0u8, 1, 20, 22, 23, 128, 129, 200, 255][round % 9];
            }
            if round % 5 == 0 && d.len() >= 8 {
                d[4..8].copy_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
            }
            for from in [browser, stranger] {
                let now = net.now;
                let p = &mut net.bridges[0].peer;
                let _ = p.accepts(from, &d);
                let _ = p.handle_datagram(now, from, addr(BRIDGE), &d);
                while let PeerOutput::Transmit(_) | PeerOutput::Event(_) = p.poll_output() {}
            }
        }
    };
    feed(&mut net, &mut seed);
    net.connect();
    feed(&mut net, &mut seed);
    let stun = stun_binding_like();
    for cut in 0..stun.len() {
        let now = net.now;
        let _ = net.bridges[0]
            .peer
            .handle_datagram(now, browser, addr(BRIDGE), &stun[..cut]);
    }
    // Still connected, still carrying audio.
    net.run(10);
    assert!(
        net.bridges[0].peer.is_connected(),
        "{:?}",
        net.bridges[0].events.last()
    );
    for i in 0..5 {
        let now = net.now;
        net.browsers[0].send(now, SCodec::Opus, 960 * i as u64, &frame(9, i, 40));
        net.run(4);
    }
    net.run(20);
    let got: Vec<_> = net.bridges[0]
        .audio()
        .iter()
        .map(|f| f.payload.to_vec())
        .collect();
    assert_eq!(got, (0..5).map(|i| frame(9, i, 40)).collect::<Vec<_>>());
}

/// A Chromium-shaped offer (golden fixture): Opus, RED, G722, PCMU, PCMA, CN and
/// telephone-event at 48 and 8 kHz, actpass, a host candidate.
const CHROMIUM_OFFER: &str = include_str!("../../tests/fixtures/webrtc/chromium_audio_offer.sdp");

#[test]
fn answers_a_chromium_offer() {
    let now = Instant::now();
    let (peer, answer) = WebRtcPeer::answer(now, CHROMIUM_OFFER, &cfg()).expect("answer");
    assert_eq!(peer.negotiated_codec(), Some(Codec::Opus));
    // Opus, then G.711, and the browser's own telephone-event payload types.
    assert_eq!(answer_formats(&answer), ["111", "0", "8", "110", "126"]);
    for line in [
        "a=ice-lite",
        "a=mid:0",
        "a=rtpmap:110 telephone-event/48000",
        "a=rtpmap:126 telephone-event/8000",
        "198.51.100.1 40000 typ host",
    ] {
        assert!(answer.contains(line), "{line} missing from\n{answer}");
    }
    assert!(
        !answer.contains("G722") && !answer.contains("red/"),
        "{answer}"
    );

    let (peer, answer) =
        WebRtcPeer::answer(now, CHROMIUM_OFFER, &cfg().prefer(Codec::Pcmu)).expect("answer");
    assert_eq!(peer.negotiated_codec(), Some(Codec::Pcmu));
    assert_eq!(answer_formats(&answer)[0], "0");
    // A datagram from a stranger is not this peer's.
    assert!(!peer.accepts(addr("203.0.113.1:1"), &stun_binding_like()));
}
