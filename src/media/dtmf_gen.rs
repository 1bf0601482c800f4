//! Generates RFC 4733 events that the application asks for (call automation
//! "send DTMF"): a marked start, updates every 50 ms, three end packets.

use std::time::{Duration, Instant};

use super::dtmf::DtmfPayload;

/// Interval between updates of a running event.
const UPDATE: Duration = Duration::from_millis(50);

/// Interval between the three end packets.
const END_SPACING: Duration = Duration::from_millis(20);

/// Volume sent, in -dBm0.
const VOLUME: u8 = 10;

#[derive(Debug, Clone, Copy)]
struct Running {
    event: u8,
    ts: u32,
    total: u16,
    start: Instant,
    next_at: Instant,
    started: bool,
    ends_sent: u8,
}

/// One packet to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenPacket {
    /// Event timestamp (the start of the event).
    pub ts: u32,
    /// Payload.
    pub payload: DtmfPayload,
    /// Marker (first packet).
    pub marker: bool,
}

/// Event generator for one outgoing stream.
#[derive(Debug, Clone)]
pub struct DtmfGen {
    clock: u32,
    running: Option<Running>,
}

impl DtmfGen {
    /// A generator for a telephone-event clock rate.
    pub fn new(clock: u32) -> Self {
        Self {
            clock: clock.max(1),
            running: None,
        }
    }

    /// True while an event is being sent.
    pub fn is_active(&self) -> bool {
        self.running.is_some()
    }

    /// When the next packet is due.
    pub fn deadline(&self) -> Option<Instant> {
        self.running.map(|r| r.next_at)
    }

    /// Starts an event at output timestamp `ts`; replaces one in progress.
    pub fn start(&mut self, now: Instant, event: u8, duration: Duration, ts: u32) {
        let units = duration.as_micros() as u64 * self.clock as u64 / 1_000_000;
        self.running = Some(Running {
            event,
            ts,
            total: units.clamp(1, u16::MAX as u64) as u16,
            start: now,
            next_at: now,
            started: false,
            ends_sent: 0,
        });
    }

    /// The packet due at `now`, if any (call until `None`).
    pub fn poll(&mut self, now: Instant) -> Option<GenPacket> {
        let r = self.running.as_mut()?;
        if now < r.next_at {
            return None;
        }
        let elapsed = now.saturating_duration_since(r.start).as_micros() as u64 * self.clock as u64
            / 1_000_000;
        let marker = !r.started;
        r.started = true;
        let mut payload = DtmfPayload {
            event: r.event,
            end: false,
            volume: VOLUME,
            duration: elapsed.min(r.total as u64) as u16,
        };
        if elapsed < r.total as u64 {
            r.next_at = now + UPDATE;
        } else {
            payload.end = true;
            payload.duration = r.total;
            r.ends_sent += 1;
            r.next_at = now + END_SPACING;
        }
        let packet = GenPacket {
            ts: r.ts,
            payload,
            marker,
        };
        if r.ends_sent >= 3 {
            self.running = None;
        }
        Some(packet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_updates_and_three_ends() {
        let t0 = Instant::now();
        let mut g = DtmfGen::new(8000);
        g.start(t0, 3, Duration::from_millis(120), 4242);
        let mut got = Vec::new();
        for ms in (0..400).step_by(10) {
            while let Some(p) = g.poll(t0 + Duration::from_millis(ms)) {
                got.push(p);
            }
        }
        assert!(got[0].marker && got[1..].iter().all(|p| !p.marker));
        assert!(got.iter().all(|p| p.ts == 4242 && p.payload.event == 3));
        let ends: Vec<_> = got.iter().filter(|p| p.payload.end).collect();
        assert_eq!(ends.len(), 3);
        assert!(ends.iter().all(|p| p.payload.duration == 960));
        assert_eq!(got.len(), 3 + 3, "start, 2 updates, 3 ends");
        assert!(!g.is_active());
    }
}
