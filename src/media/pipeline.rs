//! `MediaPipeline`: one call's media, driven by packets and time, drained by `poll_output`.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use super::MediaError;
use super::config::MediaConfig;
use super::direction::{Direction, InPacket};
use super::output::{
    EndpointFrame, EventQueue, Kind, MediaEvent, MediaOutput, OUT_START_BYTES, OutQueue, Side,
};
use super::rtcp_session::RtcpSession;
use super::rtp::{self, RtpHeader};
use super::source::{SourceCheck, SourceGuard};
use super::stats::MediaStats;

/// Processing tick: one 20 ms frame per direction.
const TICK: Duration = Duration::from_millis(20);

/// Ticks a late pipeline catches up on; beyond that the clock skips ahead.
const MAX_CATCH_UP: u32 = 10;

/// Output slots: a tick emits at most a frame per side; RTCP reports and DTMF ends come
/// on top. Catching up stops while fewer than `TICK_ROOM` are free and resumes once the
/// owner has drained (the deadline stays due), so a burst needs no more slots.
const OUT_SLOTS: usize = 8;
const TICK_ROOM: usize = 4;

/// One call's media pipeline (sans-IO). See the module docs for the driving loop.
pub struct MediaPipeline {
    cfg: MediaConfig,
    epoch: Instant,
    source: SourceGuard,
    to_endpoint: Direction,
    to_trunk: Direction,
    out: OutQueue,
    events: EventQueue,
    next_tick: Option<Instant>,
    rtcp: RtcpSession,
    last_trunk_rx: Instant,
    timed_out: bool,
    stats: MediaStats,
}

impl std::fmt::Debug for MediaPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaPipeline")
            .field("cfg", &self.cfg)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl MediaPipeline {
    /// Builds a pipeline (all allocation happens here). `wallclock` is the wall time
    /// at `now`, used only for RTCP NTP timestamps.
    pub fn new(cfg: MediaConfig, now: Instant, wallclock: SystemTime) -> Result<Self, MediaError> {
        cfg.validate()?;
        let to_endpoint = Direction::new(Side::Trunk, &cfg)?;
        let to_trunk = Direction::new(Side::Endpoint, &cfg)?;
        Ok(Self {
            source: SourceGuard::new(cfg.source),
            next_tick: (!cfg.passthrough()).then_some(now + TICK),
            rtcp: RtcpSession::new(now, wallclock, cfg.rtcp_interval),
            cfg,
            epoch: now,
            to_endpoint,
            to_trunk,
            out: OutQueue::new(OUT_SLOTS),
            events: EventQueue::new(),
            last_trunk_rx: now,
            timed_out: false,
            stats: MediaStats::default(),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &MediaConfig {
        &self.cfg
    }

    /// True when RTP is forwarded without transcoding.
    pub fn is_passthrough(&self) -> bool {
        self.cfg.passthrough()
    }

    /// Where to send trunk RTP: the SDP address, or the latched one once known.
    pub fn trunk_remote(&self) -> Option<SocketAddr> {
        self.source.remote()
    }

    /// Replaces the trunk source policy (after a re-INVITE changed the address).
    pub fn set_source_policy(&mut self, policy: super::SourcePolicy) {
        self.source.set_policy(policy);
    }

    /// Changes the RTP inactivity timeout (e.g. `None` while the trunk holds the call).
    pub fn set_rtp_timeout(&mut self, now: Instant, timeout: Option<Duration>) {
        // Capped at a day, as `MediaConfig::validate` requires.
        self.cfg.rtp_timeout = timeout.map(|t| t.min(Duration::from_secs(86_400)));
        self.last_trunk_rx = now;
        self.timed_out = false;
    }

    /// Sends a DTMF digit of our own toward `to` (RFC 4733: start, updates every
    /// 50 ms, three ends); audio in that direction pauses meanwhile. Drive it with
    /// `handle_timeout` at the returned timeouts as usual.
    pub fn send_dtmf(
        &mut self,
        now: Instant,
        to: Side,
        digit: char,
        duration: Duration,
    ) -> Result<(), MediaError> {
        let event = super::dtmf::event_code(digit).ok_or(MediaError::NotADigit)?;
        let duration = duration.clamp(Duration::from_millis(40), Duration::from_secs(5));
        let d = match to {
            Side::Trunk => &mut self.to_trunk,
            Side::Endpoint => &mut self.to_endpoint,
        };
        d.start_dtmf(now, event, duration)?;
        d.on_dtmf_timeout(now, &mut self.out, &mut self.events);
        Ok(())
    }

    /// Current counters.
    pub fn stats(&self) -> MediaStats {
        let mut s = self.stats;
        for (rx, d) in [
            (&mut s.trunk_rx, &self.to_endpoint),
            (&mut s.endpoint_rx, &self.to_trunk),
        ] {
            *rx = d.rx.counters;
            let jb = d.jb.stats();
            rx.late += jb.late;
            rx.duplicates += jb.duplicates;
        }
        s.trunk_tx = self.to_trunk.tx.counters;
        s.endpoint_tx = self.to_endpoint.tx.counters;
        s.concealed = self.to_endpoint.concealed + self.to_trunk.concealed;
        s.dtmf_digits = self.to_endpoint.digits + self.to_trunk.digits;
        s
    }

    fn units(&self, now: Instant, clock: u32) -> u32 {
        let ns = now.saturating_duration_since(self.epoch).as_nanos() as u64;
        (ns / 1000 * clock as u64 / 1_000_000) as u32
    }

    /// An RTP (or RTCP-muxed) datagram from the trunk.
    pub fn handle_trunk_rtp(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<(), MediaError> {
        if rtp::is_rtcp(data) {
            return self.handle_trunk_rtcp(now, from, data);
        }
        match self.source.check_rtp(from) {
            SourceCheck::Accept => {}
            SourceCheck::Latched(a) => self.events.push(MediaEvent::SourceLatched(a)),
            SourceCheck::Reject => {
                self.stats.rejected_source += 1;
                return Err(MediaError::UnexpectedSource);
            }
        }
        let (hdr, payload) = rtp::parse(data).inspect_err(|_| self.stats.malformed += 1)?;
        self.last_trunk_rx = now;
        self.timed_out = false;
        let arrival = self.units(now, self.cfg.trunk.codec.clock());
        let p = InPacket {
            hdr,
            payload,
            arrival,
        };
        let r = self
            .to_endpoint
            .on_packet(now, p, &mut self.out, &mut self.events);
        if r.is_err() {
            self.stats.malformed += 1;
        }
        r
    }

    /// An RTCP datagram from the trunk.
    pub fn handle_trunk_rtcp(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<(), MediaError> {
        if !self.source.check_rtcp(from) {
            self.stats.rejected_source += 1;
            return Err(MediaError::UnexpectedSource);
        }
        self.stats.rtcp_rx += 1;
        let ours = self.to_trunk.tx.ssrc();
        let remote = self
            .rtcp
            .on_packet(now, data, ours)
            .inspect_err(|_| self.stats.malformed += 1)?;
        if let Some(r) = remote {
            self.stats.remote = r;
        }
        Ok(())
    }

    /// A frame received from the endpoint (after str0m's depacketisation).
    pub fn handle_endpoint_media(
        &mut self,
        now: Instant,
        frame: EndpointFrame<'_>,
    ) -> Result<(), MediaError> {
        let clock = self.cfg.endpoint.codec.clock();
        let hdr = RtpHeader {
            pt: frame.pt,
            seq: frame.seq,
            ts: frame.timestamp,
            ssrc: 0,
            marker: frame.marker,
        };
        let p = InPacket {
            hdr,
            payload: frame.payload,
            arrival: self.units(now, clock),
        };
        let r = self
            .to_trunk
            .on_packet(now, p, &mut self.out, &mut self.events);
        if r.is_err() {
            self.stats.malformed += 1;
        }
        r
    }

    /// Advances time: playout ticks, DTMF end regeneration, RTCP, RTP timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(mut t) = self.next_tick {
            if t <= now {
                // Far behind (a stalled task): skip the clock ahead instead of bursting.
                let due = (now.duration_since(t).as_millis() / TICK.as_millis()) as u32 + 1;
                if due > MAX_CATCH_UP {
                    let skip = due - MAX_CATCH_UP;
                    self.to_endpoint.tx.skip(skip);
                    self.to_trunk.tx.skip(skip);
                    t += TICK * skip;
                }
            }
            while t <= now && self.out.free() >= TICK_ROOM {
                self.to_endpoint.on_tick(t, &mut self.out);
                self.to_trunk.on_tick(t, &mut self.out);
                t += TICK;
            }
            self.next_tick = Some(t);
        }
        self.to_endpoint
            .on_dtmf_timeout(now, &mut self.out, &mut self.events);
        self.to_trunk
            .on_dtmf_timeout(now, &mut self.out, &mut self.events);
        if now >= self.rtcp.next {
            self.send_rtcp(now);
        }
        if let Some(limit) = self.cfg.rtp_timeout {
            let silent = now.saturating_duration_since(self.last_trunk_rx);
            if !self.timed_out && silent >= limit {
                self.timed_out = true;
                self.events.push(MediaEvent::RtpTimeout { after: silent });
            }
        }
    }

    fn send_rtcp(&mut self, now: Instant) {
        let Some(slot) = self.out.push(OUT_START_BYTES) else {
            return;
        };
        slot.kind = Kind::TrunkRtcp;
        let r = self.rtcp.report(
            now,
            &self.to_trunk.tx,
            &mut self.to_endpoint.rx,
            self.cfg.cname.as_bytes(),
            &mut slot.data,
        );
        match r {
            Ok(n) => {
                slot.len = n;
                self.stats.rtcp_tx += 1;
            }
            Err(_) => self.out.unpush(),
        }
    }

    fn next_deadline(&self) -> Instant {
        let mut d = self.rtcp.next;
        let mut take = |t: Option<Instant>| {
            if let Some(t) = t {
                d = d.min(t);
            }
        };
        take(self.next_tick);
        take(self.to_endpoint.deadline());
        take(self.to_trunk.deadline());
        if !self.timed_out {
            take(self.cfg.rtp_timeout.map(|l| self.last_trunk_rx + l));
        }
        d
    }

    /// Next output; call until it returns [`MediaOutput::Timeout`].
    pub fn poll_output(&mut self) -> MediaOutput<'_> {
        if let Some(e) = self.events.pop() {
            return MediaOutput::Event(e);
        }
        let deadline = self.next_deadline();
        match self.out.pop() {
            None => MediaOutput::Timeout(deadline),
            Some(s) => {
                let data = &s.data[..s.len];
                match s.kind {
                    Kind::TrunkRtp => MediaOutput::TrunkRtp(data),
                    Kind::TrunkRtcp => MediaOutput::TrunkRtcp(data),
                    Kind::Endpoint => MediaOutput::EndpointMedia(EndpointFrame {
                        pt: s.pt,
                        timestamp: s.ts,
                        seq: s.seq,
                        marker: s.marker,
                        payload: data,
                    }),
                }
            }
        }
    }
}
