//! 100 SIPp calls to the echo DID, each streaming one second of PCMU. A loopback capture
//! (dumpcap) shows what went to the bridge and what came back; every echoed packet must be
//! one that was sent on that call, and nearly all must come back.

mod support;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Daemon, TempDir, describe, require_tool, scenario, sipp};

const MEDIA_MIN: u16 = 38000;
const MEDIA_MAX: u16 = 38999;
const CALLS: usize = 100;

fn config() -> String {
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
port_min = {MEDIA_MIN}
port_max = {MEDIA_MAX}
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

#[test]
fn hundred_echo_calls_get_their_rtp_back() {
    require_tool("dumpcap");
    let d = Daemon::start(&config());
    let dir = TempDir::new("echo-rtp");
    let audio_path = dir.0.join("tone.pcmu");
    std::fs::write(&audio_path, audio()).expect("write audio");
    let pcap = dir.0.join("rtp.pcap");
    let mut capture = Command::new("dumpcap")
        .args([
            "-q",
            "-P",
            "-i",
            "lo",
            "-f",
            &format!("udp portrange {MEDIA_MIN}-{MEDIA_MAX}"),
            "-w",
        ])
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
    let sf = scenario(
        "echo_rtp.xml",
        &dir,
        &[
            ("AUDIO", audio_path.to_str().expect("utf-8 path")),
            ("HOLD_MS", "1500"),
        ],
    );
    let out = sipp(
        &sf,
        d.sip_udp,
        "127.0.0.1",
        &[
            "-s",
            "+14155550199",
            "-m",
            &CALLS.to_string(),
            "-r",
            "25",
            "-l",
            "60",
            "-mi",
            "127.0.0.1",
        ],
        Duration::from_secs(60),
    );
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(capture.id().to_string())
        .status();
    let _ = capture.wait();
    assert!(out.status.success(), "{}\n{}", describe(&out), d.log_text());

    let packets = read_pcap(&std::fs::read(&pcap).expect("capture file"));
    // Flows keyed by (bridge port, SIPp port): what SIPp sent and what the bridge returned.
    let mut sent: HashMap<Flow, HashSet<Rtp>> = HashMap::new();
    let mut back: HashMap<Flow, Vec<Rtp>> = HashMap::new();
    for p in &packets {
        if p.payload.len() < 12 {
            continue;
        }
        let seq = u16::from_be_bytes([p.payload[2], p.payload[3]]);
        let body = p.payload[12..].to_vec();
        if (MEDIA_MIN..=MEDIA_MAX).contains(&p.dst_port) {
            sent.entry((p.dst_port, p.src_port))
                .or_default()
                .insert((seq, body));
        } else {
            back.entry((p.src_port, p.dst_port))
                .or_default()
                .push((seq, body));
        }
    }
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
        for pkt in packets {
            assert!(
                origin.contains(pkt),
                "echoed packet seq {} on {flow:?} differs from what was sent",
                pkt.0
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

/// (bridge port, SIPp port)
type Flow = (u16, u16);
/// (sequence number, payload)
type Rtp = (u16, Vec<u8>);

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
