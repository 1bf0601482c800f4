//! Zero-copy RTP parsing and writing into caller buffers (over `rtp-types`).

use super::MediaError;

/// The RTP header fields the pipeline uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Payload type (7 bits).
    pub pt: u8,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub ts: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Marker bit.
    pub marker: bool,
}

/// Parses `data` as RTP; the payload excludes CSRCs, extension and padding.
pub fn parse(data: &[u8]) -> Result<(RtpHeader, &[u8]), MediaError> {
    let p = rtp_types::RtpPacket::parse(data).map_err(|_| MediaError::MalformedRtp)?;
    let h = RtpHeader {
        pt: p.payload_type(),
        seq: p.sequence_number(),
        ts: p.timestamp(),
        ssrc: p.ssrc(),
        marker: p.marker_bit(),
    };
    let (off, len) = (p.payload_offset(), p.payload_len());
    // rtp-types validated offset + len against data.len(); `get` keeps this panic-free anyway.
    let payload = data.get(off..off + len).ok_or(MediaError::MalformedRtp)?;
    Ok((h, payload))
}

/// True when `data` looks like RTCP multiplexed on the RTP port (RFC 5761: PT 192..=223).
pub fn is_rtcp(data: &[u8]) -> bool {
    data.len() >= 8 && data[0] >> 6 == 2 && (192..=223).contains(&data[1])
}

/// Size of the fixed header the pipeline writes (no CSRC, no extension).
pub const HEADER_LEN: usize = 12;

/// Writes a 12-byte header and `payload` into `buf`; returns the packet length.
pub fn write(buf: &mut [u8], h: &RtpHeader, payload: &[u8]) -> Result<usize, MediaError> {
    rtp_types::RtpPacketBuilder::<&[u8], &[u8]>::new()
        .payload_type(h.pt & 0x7F)
        .sequence_number(h.seq)
        .timestamp(h.ts)
        .ssrc(h.ssrc)
        .marker_bit(h.marker)
        .payload(payload)
        .write_into(buf)
        .map_err(|_| MediaError::PayloadTooLarge(payload.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let h = RtpHeader {
            pt: 0,
            seq: 65535,
            ts: 0xdead_beef,
            ssrc: 42,
            marker: true,
        };
        let mut buf = [0u8; 64];
        let n = write(&mut buf, &h, &[1, 2, 3]).unwrap();
        assert_eq!(n, 15);
        let (h2, p) = parse(&buf[..n]).unwrap();
        assert_eq!((h2, p), (h, &[1u8, 2, 3][..]));
        assert!(!is_rtcp(&buf[..n]));
        assert!(write(&mut buf[..13], &h, &[1, 2, 3]).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u32 = 1;
        for len in 0..200usize {
            let mut b = vec![0u8; len];
            for v in b.iter_mut() {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                *v = (x >> 16) as u8;
            }
            if len > 0 {
                b[0] = 0x80 | (b[0] & 0x3F);
            }
            let _ = parse(&b);
            let _ = is_rtcp(&b);
        }
    }
}
