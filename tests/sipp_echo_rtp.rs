//! SIPp calls to the echo DID, each streaming one second of PCMU. A loopback capture
//! (dumpcap) shows what went to the bridge and what came back. Passthrough: every echoed
//! payload must be one that was sent on that call (sequence numbers and SSRC are the
//! bridge's own), and nearly all must come back. Transcoding (`media.echo_transcode`):
//! the audio went through Opus, so the returned tone is checked by its frequency.

mod support;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Daemon, TempDir, describe, require_tool, scenario, sipp};

const MEDIA_MIN: u16 = 31000;
const MEDIA_MAX: u16 = 31999;
const CALLS: usize = 100;
/// Transcoding runs use their own range so both tests can run at once.
const TRANSCODE_MIN: u16 = 16000;

fn config(transcode: bool, media_min: u16) -> String {
    let media_max = media_min + 999;
    format!(
        r#"
[sip]
bind_udp = "127.0.0.1:0"
advertised_host = "127.0.0.1"
[http]
bind = "127.0.0.1:0"
[media]
bind_ip = "127.0.0.1"
advertised_ip = "127.0.0.1"
port_min = {media_min}
port_max = {media_max}
echo_transcode = {transcode}
[trunks.carrier]
addresses = ["127.0.0.1/32"]
[apps.demo]
numbers = {{ "+14155550199" = "echo" }}
"#
    )
}

/// One second of PCMU whose every 160-byte packet is different.
fn audio() -> Vec<u8> {
    (0..8000u32)
        .map(|i| ((i * 7 + i / 160 * 13) % 251) as u8)
        .collect()
}

/// A 1 kHz tone in PCMU, one second.
fn tone_pcmu(hz: f64) -> Vec<u8> {
    (0..8000)
        .map(|i| {
            let x = (2.0 * std::f64::consts::PI * hz * f64::from(i) / 8000.0).sin() * 8000.0;
            linear_to_ulaw(x as i16)
        })
        .collect()
}

/// G.711 µ-law encoding (ITU-T G.711), written out here so the test does not trust the
/// code under test.
fn linear_to_ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    let mut x = i32::from(sample);
    let sign = if x < 0 { 0x80 } else { 0 };
    if x < 0 {
        x = -x;
    }
    x = (x + BIAS).min(0x7FFF);
    let exponent = (7 - (x.leading_zeros() as i32 - 17)).clamp(0, 7);
    let mantissa = (x >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

fn ulaw_to_linear(u: u8) -> f64 {
    let u = !u;
    let sign = u & 0x80;
    let exponent = i32::from((u >> 4) & 0x07);
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    f64::from(if sign != 0 { -magnitude } else { magnitude })
}

/// Energy of `signal` at `hz` (Goertzel), for 8 kHz samples.
fn goertzel(signal: &[f64], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for x in signal {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// Runs `calls` SIPp echo calls streaming `audio` while dumpcap records the media range.
fn capture_echo_calls(
    transcode: bool,
    media_min: u16,
    calls: usize,
    audio: &[u8],
) -> Vec<UdpPacket> {
    require_tool("dumpcap");
    let d = Daemon::start(&config(transcode, media_min));
    let dir = TempDir::new("echo-rtp");
    let audio_path = dir.0.join("audio.pcmu");
    std::fs::write(&audio_path, audio).expect("write audio");
    let pcap = dir.0.join("rtp.pcap");
    let filter = format!("udp portrange {media_min}-{}", media_min + 999);
    let mut capture = Command::new("dumpcap")
        .args(["-q", "-P", "-i", "lo", "-f", &filter, "-w"])
        .arg(&pcap)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dumpcap");
    // dumpcap creates the file once it is capturing.
    let start = Instant::now();
    while !pcap.exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let audio_arg = audio_path.to_str().expect("utf-8 path").to_owned();
    let sf = scenario(
        "echo_rtp.xml",
        &dir,
        &[("AUDIO", &audio_arg), ("HOLD_MS", "1500")],
    );
    let calls = calls.to_string();
    let args = [
        "-s",
        "+14155550199",
        "-m",
        &calls,
        "-r",
        "25",
        "-l",
        "60",
        "-mi",
        "127.0.0.1",
    ];
    let out = sipp(&sf, d.sip_udp, "127.0.0.1", &args, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(capture.id().to_string())
        .status();
    let _ = capture.wait();
    assert!(out.status.success(), "{}\n{}", describe(&out), d.log_text());
    let packets = read_pcap(&std::fs::read(&pcap).expect("capture file"));
    // Ended calls' media counters reach the /metrics totals.
    let sent = packets
        .iter()
        .filter(|p| (media_min..=media_min + 999).contains(&p.dst_port))
        .count() as u64;
    let (_, metrics) = d.http_get("/metrics");
    let total = metrics
        .lines()
        .find_map(|l| l.strip_prefix("media_packets_total{stream=\"trunk_rx\"} "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    assert!(
        total * 10 >= sent * 9,
        "media_packets_total trunk_rx {total}, captured {sent}:\n{metrics}"
    );
    packets
}

#[test]
fn hundred_echo_calls_get_their_rtp_back() {
    let packets = capture_echo_calls(false, MEDIA_MIN, CALLS, &audio());
    let (sent, back) = flows(&packets, MEDIA_MIN..=MEDIA_MAX);
    let total_sent: usize = sent.values().map(|s| s.len()).sum();
    let total_back: usize = back.values().map(|s| s.len()).sum();
    assert!(
        sent.len() >= CALLS,
        "RTP flows seen: {} (expected {CALLS})",
        sent.len()
    );
    assert!(total_sent >= CALLS * 45, "packets sent: {total_sent}");
    for (flow, packets) in &back {
        let Some(origin) = sent.get(flow) else {
            panic!("bridge sent RTP on flow {flow:?} that carried nothing to it");
        };
        let origin: HashSet<&Rtp> = origin.iter().collect();
        for pkt in packets {
            assert!(
                origin.contains(pkt),
                "an echoed payload on {flow:?} differs from everything sent"
            );
        }
    }
    let ratio = total_back as f64 / total_sent as f64;
    eprintln!(
        "echo: {total_sent} RTP packets sent on {} calls, {total_back} came back ({:.2}%)",
        sent.len(),
        ratio * 100.0
    );
    assert!(ratio >= 0.98, "only {:.2}% of RTP came back", ratio * 100.0);
}

#[test]
fn transcoding_echo_returns_the_tone_through_opus() {
    const TONE: f64 = 1000.0;
    let calls = 10;
    let packets = capture_echo_calls(true, TRANSCODE_MIN, calls, &tone_pcmu(TONE));
    let (sent, back) = flows(&packets, TRANSCODE_MIN..=TRANSCODE_MIN + 999);
    assert!(sent.len() >= calls, "flows: {}", sent.len());
    let total_sent: usize = sent.values().map(|s| s.len()).sum();
    let total_back: usize = back.values().map(|s| s.len()).sum();
    eprintln!("transcoding echo: {total_sent} packets sent, {total_back} came back");
    // The transcoder sends a frame every 20 ms for the whole call, silence included.
    assert!(
        total_back as f64 >= total_sent as f64 * 0.9,
        "{total_back} of {total_sent} came back"
    );
    for (flow, packets) in &back {
        let pcm: Vec<f64> = packets
            .iter()
            .flatten()
            .map(|b| ulaw_to_linear(*b))
            .collect();
        let at = goertzel(&pcm, TONE);
        for other in [500.0, 1500.0, 2000.0, 3000.0] {
            let e = goertzel(&pcm, other);
            assert!(
                at > 20.0 * e,
                "flow {flow:?}: {TONE} Hz energy {at:.3e} not dominant over {other} Hz ({e:.3e})"
            );
        }
    }
    // Negative control: the same check on an unrelated tone must fail.
    let wrong: Vec<f64> = tone_pcmu(700.0)
        .iter()
        .map(|b| ulaw_to_linear(*b))
        .collect();
    assert!(goertzel(&wrong, TONE) < 20.0 * goertzel(&wrong, 700.0));
}

/// (bridge port, SIPp port)
type Flow = (u16, u16);
/// An RTP payload (the bytes after the 12-byte header).
type Rtp = Vec<u8>;

/// Splits captured RTP into what SIPp sent to each bridge port and what came back.
fn flows(
    packets: &[UdpPacket],
    bridge: std::ops::RangeInclusive<u16>,
) -> (HashMap<Flow, Vec<Rtp>>, HashMap<Flow, Vec<Rtp>>) {
    let mut sent: HashMap<Flow, Vec<Rtp>> = HashMap::new();
    let mut back: HashMap<Flow, Vec<Rtp>> = HashMap::new();
    for p in packets {
        if p.payload.len() <= 12 || p.payload[0] >> 6 != 2 || (200..=204).contains(&p.payload[1]) {
            continue; // not RTP (RTCP packet types 200-204)
        }
        let body = p.payload[12..].to_vec();
        if bridge.contains(&p.dst_port) {
            sent.entry((p.dst_port, p.src_port)).or_default().push(body);
        } else {
            back.entry((p.src_port, p.dst_port)).or_default().push(body);
        }
    }
    (sent, back)
}

struct UdpPacket {
    src_port: u16,
    dst_port: u16,
    payload: Vec<u8>,
}

/// Classic pcap (as `dumpcap -P` writes), Ethernet or Linux-cooked link, IPv4 UDP only.
fn read_pcap(data: &[u8]) -> Vec<UdpPacket> {
    assert!(data.len() >= 24, "capture file too short");
    let le = data[0..4] == [0xd4, 0xc3, 0xb2, 0xa1] || data[0..4] == [0x4d, 0x3c, 0xb2, 0xa1];
    let u32_at = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let link = u32_at(&data[20..24]);
    let link_len = match link {
        1 => 14,
        113 => 16,
        0 => 4,
        other => panic!("unexpected pcap link type {other}"),
    };
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let incl = u32_at(&data[at + 8..at + 12]) as usize;
        let frame = &data[(at + 16).min(data.len())..(at + 16 + incl).min(data.len())];
        at += 16 + incl;
        let Some(ip) = frame.get(link_len..) else {
            continue;
        };
        if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 17 {
            continue;
        }
        let _src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let Some(udp) = ip.get(ihl..) else { continue };
        if udp.len() < 8 {
            continue;
        }
        out.push(UdpPacket {
            src_port: u16::from_be_bytes([udp[0], udp[1]]),
            dst_port: u16::from_be_bytes([udp[2], udp[3]]),
            payload: udp[8..].to_vec(),
        });
    }
    out
}
