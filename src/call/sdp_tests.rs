use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sdp");

/// Golden pairs: `NAME.sdp` offered by a carrier, `NAME.answer.sdp` is our exact answer
/// from 203.0.113.5:20000 (session id 7, version from the file).
#[test]
fn golden_offer_answer_pairs() {
    for (name, version) in [
        ("carrier_offer_pcma_first", 1),
        ("carrier_hold_sendonly", 2),
    ] {
        let offer = std::fs::read(format!("{FIXTURES}/{name}.sdp")).expect("fixture");
        let expected =
            std::fs::read_to_string(format!("{FIXTURES}/{name}.answer.sdp")).expect("fixture");
        let parsed = parse_offer(&offer).expect(name);
        let got = answer(
            &parsed,
            "203.0.113.5:20000".parse().expect("addr"),
            7,
            version,
        );
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn first_supported_codec_wins_and_dtmf_found() {
    let offer = std::fs::read(format!("{FIXTURES}/carrier_offer_pcma_first.sdp")).expect("fixture");
    let o = parse_offer(&offer).expect("offer");
    assert_eq!((o.codec, o.pt, o.dtmf_pt), (G711::Pcma, 8, Some(101)));
    assert_eq!(o.remote, "192.0.2.10:30000".parse().expect("addr"));
}

#[test]
fn refusals() {
    let base = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n";
    let cases = [
        (
            "m=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n",
            SdpError::NoCommonCodec,
        ),
        ("m=audio 4000 RTP/SAVP 0\r\n", SdpError::UnsupportedProfile),
        ("m=video 4000 RTP/AVP 96\r\n", SdpError::NoAudio),
        ("m=audio 0 RTP/AVP 0\r\n", SdpError::NoAudio),
    ];
    for (m, err) in cases {
        assert_eq!(
            parse_offer(format!("{base}{m}").as_bytes()),
            Err(err),
            "{m}"
        );
    }
    assert_eq!(parse_offer(b"nonsense"), Err(SdpError::Unparsable));
}

#[test]
fn old_style_hold_reads_as_sendonly() {
    let sdp = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    assert_eq!(
        parse_offer(sdp.as_bytes()).expect("offer").direction,
        Direction::SendOnly
    );
}

#[test]
fn our_offer_parses_as_pcmu_with_dtmf() {
    let o = offer("192.0.2.1:20000".parse().expect("addr"), 1, 1);
    let parsed = parse_offer(o.as_bytes()).expect("own offer parses");
    assert_eq!(
        (parsed.codec, parsed.dtmf_pt, parsed.remote.port()),
        (G711::Pcmu, Some(101), 20000)
    );
}
