//! In-process tests over the simulated network of `test_net`: connection, media both ways,
//! DTMF, and every way a peer ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::Event;
use str0m::format::{Codec as SCodec, CodecExtra};

use super::test_net::{Browser, CHROME, Net, addr, cfg, frame};
use super::*;

#[test]
fn connects_and_carries_opus_and_pcmu_both_ways() {
    let mut net = Net::new(Instant::now());
    net.call("192.0.2.10:50000", &CHROME, &cfg());
    assert_eq!(net.bridges[0].peer.negotiated_codec(), Some(Codec::Opus));
    net.connect();
    assert!(net.bridges[0].peer.is_connected());

    // Browser -> bridge: 50 Opus frames, 20 ms apart.
    for i in 0..50 {
        let now = net.now;
        net.browsers[0].send(now, SCodec::Opus, 960 * i as u64, &frame(1, i, 60 + i % 7));
        net.run(4);
    }
    net.run(20);
    let got = net.bridges[0].audio();
    assert_eq!(got.len(), 50);
    for (i, f) in got.iter().enumerate() {
        assert_eq!(f.codec, Codec::Opus);
        assert_eq!(&f.payload[..], &frame(1, i, 60 + i % 7)[..]);
        assert_eq!(f.rtp_time - got[0].rtp_time, 960 * i as u64);
        assert_eq!(f.seq - got[0].seq, i as u64);
    }

    // Bridge -> browser: 50 PCMU frames of 160 bytes (G.711 passthrough from the trunk).
    for i in 0..50 {
        let (now, p) = (net.now, &mut net.bridges[0].peer);
        p.send_audio(now, Codec::Pcmu, 160 * i as u64, &frame(2, i, 160))
            .expect("pcmu out");
        net.run(4);
    }
    net.run(20);
    let got = net.browsers[0].media();
    assert_eq!(got.len(), 50);
    for (i, d) in got.iter().enumerate() {
        assert_eq!(d.params.spec().codec, SCodec::PCMU);
        assert_eq!(&d.data[..], &frame(2, i, 160)[..]);
    }

    // And the other way round: Opus to the browser, PCMU from it.
    for i in 0..20 {
        let now = net.now;
        let p = &mut net.bridges[0].peer;
        p.send_audio(now, Codec::Opus, 960 * i as u64, &frame(3, i, 80))
            .expect("opus out");
        net.browsers[0].send(now, SCodec::PCMU, 160 * i as u64, &frame(4, i, 160));
        net.run(4);
    }
    net.run(20);
    let opus: Vec<_> = net.browsers[0].media().into_iter().skip(50).collect();
    assert_eq!(opus.len(), 20);
    for (i, d) in opus.iter().enumerate() {
        assert_eq!(d.params.spec().codec, SCodec::Opus);
        assert_eq!(&d.data[..], &frame(3, i, 80)[..]);
    }
    let pcmu: Vec<_> = net.bridges[0].audio().into_iter().skip(50).collect();
    assert_eq!(pcmu.len(), 20);
    for (i, f) in pcmu.iter().enumerate() {
        assert_eq!((f.codec, f.pt), (Codec::Pcmu, 0));
        assert_eq!(f.payload, Arc::from(frame(4, i, 160)));
    }
}

#[test]
fn dtmf_both_ways_folds_repeats() {
    let mut net = Net::new(Instant::now());
    net.call("192.0.2.10:50000", &CHROME, &cfg());
    net.connect();
    for (k, digit) in [5u8, 11].into_iter().enumerate() {
        let now = net.now;
        net.browsers[0].send_dtmf(now, 48_000 * k as u64, digit);
        net.run(100);
    }
    let dtmf: Vec<DtmfEvent> = net.bridges[0]
        .events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::Dtmf(d) => Some(*d),
            _ => None,
        })
        .collect();
    let seen: Vec<_> = dtmf.iter().map(|d| (d.digit(), d.end)).collect();
    let expect = [(Some('5'), false), (Some('5'), true)];
    assert_eq!(
        seen,
        [expect[0], expect[1], (Some('#'), false), (Some('#'), true)]
    );
    assert_eq!(dtmf[1].duration, Duration::from_millis(100));

    let now = net.now;
    let p = &mut net.bridges[0].peer;
    p.send_dtmf(now, Codec::Opus, 0, 7, Duration::from_millis(100))
        .expect("dtmf out");
    assert!(matches!(
        p.send_dtmf(now, Codec::Opus, 0, 16, Duration::from_millis(100)),
        Err(WebRtcError::InvalidDtmf(16))
    ));
    net.run(100);
    let tele: Vec<_> = net.browsers[0]
        .media_all()
        .into_iter()
        .filter_map(|d| match d.codec_extra {
            CodecExtra::Tele(t) => Some(t),
            _ => None,
        })
        .collect();
    assert!(tele.iter().all(|t| t.event == 7));
    assert!(tele.last().is_some_and(|t| t.end));
}

#[test]
fn browser_close_surfaces_disconnected() {
    let mut net = Net::new(Instant::now());
    net.call("192.0.2.10:50000", &CHROME, &cfg());
    net.connect();
    net.browsers[0].rtc.close().expect("close");
    net.run(20);
    let b = &net.bridges[0];
    assert_eq!(b.disconnected(), Some(DisconnectReason::RemoteClosed));
    let ends = b
        .events
        .iter()
        .filter(|e| matches!(e, PeerEvent::Disconnected(_)));
    assert_eq!(ends.count(), 1);
    assert!(!b.peer.is_connected());
    let mut p = WebRtcPeer::answer(
        net.now,
        &Browser::offer(net.now, addr("192.0.2.9:1"), &CHROME).1,
        &cfg(),
    )
    .expect("fresh")
    .0;
    p.close();
    assert!(matches!(
        p.send_audio(net.now, Codec::Opus, 0, &[1]),
        Err(WebRtcError::Closed)
    ));
}

#[test]
fn local_close_surfaces_disconnected_and_reaches_browser() {
    let mut net = Net::new(Instant::now());
    net.call("192.0.2.10:50000", &CHROME, &cfg());
    net.connect();
    net.bridges[0].peer.close();
    net.run(20);
    assert_eq!(
        net.bridges[0].disconnected(),
        Some(DisconnectReason::LocalClosed)
    );
    assert!(
        net.browsers[0]
            .events
            .iter()
            .any(|e| matches!(e, Event::Closed))
    );
}

#[test]
fn lost_network_surfaces_ice_lost() {
    let mut net = Net::new(Instant::now());
    net.call("192.0.2.10:50000", &CHROME, &cfg());
    net.connect();
    net.up = false;
    // At most 60 simulated seconds.
    for _ in 0..12_000 {
        if net.bridges[0].disconnected().is_some() {
            break;
        }
        net.step();
    }
    assert_eq!(
        net.bridges[0].disconnected(),
        Some(DisconnectReason::IceLost)
    );
}
