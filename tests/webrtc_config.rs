//! The `[media]` keys of the browser side: the shared UDP port, the ICE servers and the
//! Opus encoder.

use pstn_bridge::config::{EMBEDDED_DEFAULT, load_str};
use pstn_bridge::media::{OpusMode, OpusSettings};

#[test]
fn embedded_default_has_webrtc_keys() {
    let cfg = load_str(EMBEDDED_DEFAULT, "default", false).expect("default loads");
    assert_eq!(
        cfg.media.webrtc_port, 21000,
        "a fixed port operators can open in a firewall"
    );
    assert!(cfg.media.ice_servers.is_empty());
}

#[test]
fn webrtc_keys_are_checked() {
    let with = |from: &str, to: &str| {
        assert!(EMBEDDED_DEFAULT.contains(from), "{from}");
        load_str(&EMBEDDED_DEFAULT.replace(from, to), "t", false)
    };
    let ok = with(
        "ice_servers = []",
        "ice_servers = [\"stun:stun.example.net:3478\", \"turns:turn.example.net\"]",
    )
    .expect("valid ICE servers");
    assert_eq!(ok.media.ice_servers.len(), 2);
    let bad = with("ice_servers = []", "ice_servers = [\"http://x\"]").expect_err("bad scheme");
    assert_eq!(bad.key, "media.ice_servers");
    let clash = with("webrtc_port = 21000", "webrtc_port = 20002").expect_err("inside RTP range");
    assert_eq!(clash.key, "media.webrtc_port");
    let fixed = with("webrtc_port = 21000", "webrtc_port = 3479").expect("outside the range");
    assert_eq!(fixed.media.webrtc_port, 3479);
}

#[test]
fn opus_keys_become_the_encoder_settings_of_calls() {
    let cfg = load_str(EMBEDDED_DEFAULT, "default", false).expect("default loads");
    assert_eq!(
        cfg.media.opus(),
        OpusSettings::default(),
        "documented defaults"
    );
    assert_eq!(cfg.media.opus().mode, OpusMode::Celt);
    let text = EMBEDDED_DEFAULT
        .replace("opus_mode = \"celt\"", "opus_mode = \"silk\"")
        .replace("opus_complexity = 1", "opus_complexity = 4")
        .replace("opus_fec = true", "opus_fec = false");
    let silk = load_str(&text, "t", false)
        .expect("silk loads")
        .media
        .opus();
    assert_eq!(
        (silk.mode, silk.complexity, silk.inband_fec),
        (OpusMode::Silk, 4, false)
    );
    let bad = load_str(
        &EMBEDDED_DEFAULT.replace("opus_mode = \"celt\"", "opus_mode = \"mp3\""),
        "t",
        false,
    )
    .expect_err("unknown mode");
    assert_eq!(bad.key, "media.opus_mode");
}
