//! Property tests: no byte string panics a parser or the pipeline, and RTP/RTCP
//! written by the pipeline parse back to the same fields. (The corpus-style
//! counterpart of a cargo-fuzz target.)

mod media_util;

use std::time::Instant;

use media_util::*;
use proptest::prelude::*;
use pstn_bridge::media::wire::{parse_rtcp, parse_rtp, write_report, write_rtp};
use pstn_bridge::media::{DtmfPayload, MediaConfig, ReportBlock, RtcpItem, RtpHeader, SenderInfo};

proptest! {
    #[test]
    fn rtp_round_trip(pt in 0u8..128, seq: u16, ts: u32, ssrc: u32, marker: bool,
                      payload in proptest::collection::vec(any::<u8>(), 0..1400)) {
        let h = RtpHeader { pt, seq, ts, ssrc, marker };
        let mut buf = [0u8; 1500];
        let n = write_rtp(&mut buf, &h, &payload).unwrap();
        let (h2, p2) = parse_rtp(&buf[..n]).unwrap();
        prop_assert_eq!(h2, h);
        prop_assert_eq!(p2, &payload[..]);
    }

    #[test]
    fn rtcp_round_trip(ssrc: u32, ntp: u64, rtp_ts: u32, packets: u32, octets: u32,
                       b_ssrc: u32, fraction: u8, lost in -0x80_0000i32..0x80_0000, ext: u32,
                       jitter: u32, lsr: u32, dlsr: u32, sr: bool) {
        let info = SenderInfo { ntp, rtp_ts, packets, octets };
        let block = ReportBlock { ssrc: b_ssrc, fraction_lost: fraction, cumulative_lost: lost,
                                  ext_max_seq: ext, jitter, lsr, dlsr };
        let mut buf = [0u8; 200];
        let n = write_report(&mut buf, ssrc, sr.then_some(info), Some(block), b"cname").unwrap();
        let mut items = Vec::new();
        parse_rtcp(&buf[..n], |i| items.push(i)).unwrap();
        let mut want = Vec::new();
        if sr {
            want.push(RtcpItem::Sender { ssrc, info });
        }
        want.push(RtcpItem::Block(block));
        prop_assert_eq!(items, want);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300),
                                   rtp_like: bool) {
        let mut data = data;
        if rtp_like && data.len() >= 12 {
            data[0] = 0x80 | (data[0] & 0x3F);
        }
        let _ = parse_rtp(&data);
        let _ = parse_rtcp(&data, |_| {});
        let _ = DtmfPayload::parse(&data);
        let t0 = Instant::now();
        for cfg in [pcmu_config(), MediaConfig::default()] {
            let mut p = pipeline(cfg, t0);
            let _ = p.handle_trunk_rtp(t0, trunk_addr(), &data);
            let _ = p.handle_trunk_rtcp(t0, trunk_addr(), &data);
            let pt = data.first().map_or(111, |b| b & 0x7F);
            let _ = p.handle_endpoint_media(t0, endpoint_frame(pt, 1, 960, false, &data));
            for k in 1..4u32 {
                p.handle_timeout(t0 + FRAME * k);
                drain(&mut p);
            }
        }
    }
}
