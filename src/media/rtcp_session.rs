//! RTCP bookkeeping toward the trunk: NTP time, the last SR heard (for LSR/DLSR),
//! building our SR/RR, and turning the trunk's reports into loss, jitter and RTT.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::MediaError;
use super::rtcp::{self, ReportBlock, RtcpItem, SenderInfo};
use super::stats::{RemoteReport, RxTracker};
use super::stream::TxStream;

/// Seconds from 1900 (NTP) to 1970 (Unix).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// RTT values above this (in 1/65536 s, ~16 s) are clock nonsense and ignored.
const MAX_RTT_UNITS: u32 = 1 << 20;

fn ntp_of(t: SystemTime) -> u64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() + NTP_UNIX_OFFSET;
    let frac = ((d.subsec_nanos() as u64) << 32) / 1_000_000_000;
    secs << 32 | frac
}

/// RTCP state of one call's trunk leg.
#[derive(Debug, Clone)]
pub(super) struct RtcpSession {
    epoch: Instant,
    ntp_epoch: u64,
    last_sr: Option<(u32, Instant)>,
    interval: Duration,
    /// When the next report is due.
    pub next: Instant,
}

impl RtcpSession {
    /// The first report goes out after at most a second.
    pub fn new(now: Instant, wallclock: SystemTime, interval: Duration) -> Self {
        Self {
            epoch: now,
            ntp_epoch: ntp_of(wallclock),
            last_sr: None,
            interval,
            next: now + interval.min(Duration::from_secs(1)),
        }
    }

    fn ntp(&self, now: Instant) -> u64 {
        let d = now.saturating_duration_since(self.epoch);
        let frac = ((d.subsec_nanos() as u64) << 32) / 1_000_000_000;
        self.ntp_epoch.wrapping_add(d.as_secs() << 32 | frac)
    }

    /// Parses a compound packet from the trunk; returns its report on our SSRC `ours`.
    pub fn on_packet(
        &mut self,
        now: Instant,
        data: &[u8],
        ours: u32,
    ) -> Result<Option<RemoteReport>, MediaError> {
        let a = (self.ntp(now) >> 16) as u32;
        let mut last_sr = self.last_sr;
        let mut remote = None;
        rtcp::parse(data, |item| match item {
            RtcpItem::Sender { info, .. } => last_sr = Some(((info.ntp >> 16) as u32, now)),
            RtcpItem::Block(b) if b.ssrc == ours => {
                let units = a.wrapping_sub(b.lsr).wrapping_sub(b.dlsr);
                let rtt_us = if b.lsr != 0 && units < MAX_RTT_UNITS {
                    ((units as u64 * 1_000_000) >> 16) as u32
                } else {
                    0
                };
                remote = Some(RemoteReport {
                    fraction_lost: b.fraction_lost,
                    cumulative_lost: b.cumulative_lost,
                    jitter_us: (b.jitter as u64 * 1_000_000 / 8000) as u32,
                    rtt_us,
                });
            }
            _ => {}
        })?;
        self.last_sr = last_sr;
        Ok(remote)
    }

    /// Writes our SR (or RR before we have sent anything) with a block on the trunk's
    /// stream into `buf`, and schedules the next report.
    pub fn report(
        &mut self,
        now: Instant,
        tx: &TxStream,
        rx: &mut RxTracker,
        cname: &[u8],
        buf: &mut [u8],
    ) -> Result<usize, MediaError> {
        self.next = now + self.interval;
        let sender = (tx.counters.packets > 0).then(|| SenderInfo {
            ntp: self.ntp(now),
            rtp_ts: tx.last_ts(),
            packets: tx.counters.packets as u32,
            octets: tx.counters.bytes as u32,
        });
        let block = (rx.counters.packets > 0).then(|| {
            let (fraction_lost, cum, ext_max_seq, jitter) = rx.report();
            let (lsr, dlsr) = match self.last_sr {
                Some((lsr, at)) => {
                    let d = now.saturating_duration_since(at);
                    (lsr, (((d.as_micros() as u64) << 16) / 1_000_000) as u32)
                }
                None => (0, 0),
            };
            ReportBlock {
                ssrc: rx.ssrc(),
                fraction_lost,
                cumulative_lost: cum as i32,
                ext_max_seq,
                jitter,
                lsr,
                dlsr,
            }
        });
        rtcp::write_report(buf, tx.ssrc(), sender, block, cname)
    }
}
