//! RTCP sender/receiver reports (RFC 3550 §6.4) and SDES CNAME: written into caller
//! buffers, parsed without copying.

use super::MediaError;

/// One reception report block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportBlock {
    /// The SSRC this block reports on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub ext_max_seq: u32,
    /// Interarrival jitter, timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR received from that source.
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub dlsr: u32,
}

/// Sender information of an SR.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderInfo {
    /// NTP timestamp (64-bit fixed point).
    pub ntp: u64,
    /// RTP timestamp matching `ntp`.
    pub rtp_ts: u32,
    /// Packets sent.
    pub packets: u32,
    /// Payload octets sent.
    pub octets: u32,
}

/// An item found in a compound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpItem {
    /// A sender report's sender info.
    Sender {
        /// Sender SSRC.
        ssrc: u32,
        /// Its sender info.
        info: SenderInfo,
    },
    /// A report block (from an SR or RR).
    Block(ReportBlock),
    /// A BYE for this SSRC.
    Bye(u32),
}

const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_SDES: u8 = 202;
const PT_BYE: u8 = 203;

fn be32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(w)
}

fn block(b: &[u8]) -> ReportBlock {
    let lost = be32(b, 4) & 0x00FF_FFFF;
    // Sign-extend the 24-bit cumulative loss.
    let lost = ((lost << 8) as i32) >> 8;
    ReportBlock {
        ssrc: be32(b, 0),
        fraction_lost: b[4],
        cumulative_lost: lost,
        ext_max_seq: be32(b, 8),
        jitter: be32(b, 12),
        lsr: be32(b, 16),
        dlsr: be32(b, 20),
    }
}

/// Walks a compound RTCP packet, calling `on` for every SR sender info, report block and BYE.
pub fn parse(data: &[u8], mut on: impl FnMut(RtcpItem)) -> Result<(), MediaError> {
    let mut rest = data;
    if rest.len() < 8 {
        return Err(MediaError::MalformedRtcp);
    }
    while !rest.is_empty() {
        if rest.len() < 4 || rest[0] >> 6 != 2 {
            return Err(MediaError::MalformedRtcp);
        }
        let count = (rest[0] & 0x1F) as usize;
        let pt = rest[1];
        let len = (u16::from_be_bytes([rest[2], rest[3]]) as usize + 1) * 4;
        let pkt = rest.get(..len).ok_or(MediaError::MalformedRtcp)?;
        rest = &rest[len..];
        let blocks_at = match pt {
            PT_SR if len >= 28 => {
                let info = SenderInfo {
                    ntp: (be32(pkt, 8) as u64) << 32 | be32(pkt, 12) as u64,
                    rtp_ts: be32(pkt, 16),
                    packets: be32(pkt, 20),
                    octets: be32(pkt, 24),
                };
                on(RtcpItem::Sender {
                    ssrc: be32(pkt, 4),
                    info,
                });
                28
            }
            PT_RR if len >= 8 => 8,
            PT_BYE => {
                for i in 0..count {
                    if let Some(w) = pkt.get(4 + i * 4..8 + i * 4) {
                        on(RtcpItem::Bye(be32(w, 0)));
                    }
                }
                continue;
            }
            PT_SR | PT_RR => return Err(MediaError::MalformedRtcp),
            _ => continue,
        };
        for i in 0..count {
            let b = pkt
                .get(blocks_at + i * 24..blocks_at + (i + 1) * 24)
                .ok_or(MediaError::MalformedRtcp)?;
            on(RtcpItem::Block(block(b)));
        }
    }
    Ok(())
}

fn put32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Writes SR (with `sender`) or RR, with at most one report block, then SDES CNAME.
/// Returns the compound length.
pub fn write_report(
    buf: &mut [u8],
    ssrc: u32,
    sender: Option<SenderInfo>,
    block: Option<ReportBlock>,
    cname: &[u8],
) -> Result<usize, MediaError> {
    let cname = &cname[..cname.len().min(255)];
    let head = if sender.is_some() { 28 } else { 8 };
    let report_len = head + if block.is_some() { 24 } else { 0 };
    let sdes_len = (8 + 2 + cname.len() + 1).div_ceil(4) * 4;
    if buf.len() < report_len + sdes_len {
        return Err(MediaError::PayloadTooLarge(report_len + sdes_len));
    }
    buf[..report_len + sdes_len].fill(0);
    buf[0] = 0x80 | u8::from(block.is_some());
    buf[1] = if sender.is_some() { PT_SR } else { PT_RR };
    buf[2..4].copy_from_slice(&((report_len / 4 - 1) as u16).to_be_bytes());
    put32(buf, 4, ssrc);
    if let Some(s) = sender {
        put32(buf, 8, (s.ntp >> 32) as u32);
        put32(buf, 12, s.ntp as u32);
        put32(buf, 16, s.rtp_ts);
        put32(buf, 20, s.packets);
        put32(buf, 24, s.octets);
    }
    if let Some(b) = block {
        let at = head;
        put32(buf, at, b.ssrc);
        put32(
            buf,
            at + 4,
            (b.fraction_lost as u32) << 24 | (b.cumulative_lost as u32 & 0x00FF_FFFF),
        );
        put32(buf, at + 8, b.ext_max_seq);
        put32(buf, at + 12, b.jitter);
        put32(buf, at + 16, b.lsr);
        put32(buf, at + 20, b.dlsr);
    }
    let s = &mut buf[report_len..report_len + sdes_len];
    s[0] = 0x81;
    s[1] = PT_SDES;
    s[2..4].copy_from_slice(&((sdes_len / 4 - 1) as u16).to_be_bytes());
    put32(s, 4, ssrc);
    s[8] = 1;
    s[9] = cname.len() as u8;
    s[10..10 + cname.len()].copy_from_slice(cname);
    Ok(report_len + sdes_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sr_round_trip() {
        let mut buf = [0u8; 128];
        let sender = SenderInfo {
            ntp: 0x0102_0304_0506_0708,
            rtp_ts: 9,
            packets: 10,
            octets: 1600,
        };
        let b = ReportBlock {
            ssrc: 77,
            fraction_lost: 12,
            cumulative_lost: -3,
            ext_max_seq: 70000,
            jitter: 40,
            lsr: 0x0304_0506,
            dlsr: 65536,
        };
        let n = write_report(&mut buf, 5, Some(sender), Some(b), b"pstn-bridge").unwrap();
        assert_eq!(n % 4, 0);
        let mut items = Vec::new();
        parse(&buf[..n], |i| items.push(i)).unwrap();
        assert_eq!(
            items,
            vec![
                RtcpItem::Sender {
                    ssrc: 5,
                    info: sender
                },
                RtcpItem::Block(b)
            ]
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse(&[0x81, 201, 0, 0], |_| {}).is_err());
        assert!(parse(&[0x81, 201, 0, 1, 0, 0, 0, 0], |_| {}).is_err());
        assert!(parse(&[0x80, 200, 0, 1, 0, 0, 0, 0], |_| {}).is_err());
        let mut x = 7u32;
        for len in 0..120 {
            let b: Vec<u8> = (0..len)
                .map(|i| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    if i == 0 {
                        0x80 | (x >> 16) as u8 & 0x1F
                    } else {
                        (x >> 16) as u8
                    }
                })
                .collect();
            let _ = parse(&b, |_| {});
        }
    }
}
