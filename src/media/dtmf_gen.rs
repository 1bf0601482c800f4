//! Generates RFC 4733 events that the application asks for (call automation
//! "send DTMF"): a marked start, updates every 50 ms, three end packets.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::dtmf::DtmfPayload;

/// Interval between updates of a running event.
const UPDATE: Duration = Duration::from_millis(50);

/// Interval between the three end packets.
const END_SPACING: Duration = Duration::from_millis(20);

/// Pause between the last end packet of one event and the start of the next queued one.
const GAP: Duration = Duration::from_millis(50);

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
    /// Events asked for while one was running (event, duration), sent in order.
    queued: VecDeque<(u8, Duration)>,
}

impl DtmfGen {
    /// A generator for a telephone-event clock rate.
    pub fn new(clock: u32) -> Self {
        Self {
            clock: clock.max(1),
            running: None,
            queued: VecDeque::new(),
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

    /// Starts an event at output timestamp `ts`, or queues it behind the one in progress.
    ///
    /// Fix: this used to replace the event in progress, so `sendDtmf "1#"` (all digits
    /// started at the same instant) put only the last digit on the wire and the others
    /// never got an end packet. Queued events follow in order, `GAP` apart.
    pub fn start(&mut self, now: Instant, event: u8, duration: Duration, ts: u32) {
        if self.running.is_some() {
            self.queued.push_back((event, duration));
            return;
        }
        self.begin(now, event, duration, ts);
    }

    /// Makes `event` the running one, its first packet due at `at`.
    fn begin(&mut self, at: Instant, event: u8, duration: Duration, ts: u32) {
        let units = duration.as_micros() as u64 * self.clock as u64 / 1_000_000;
        self.running = Some(Running {
            event,
            ts,
            total: units.clamp(1, u16::MAX as u64) as u16,
            start: at,
            next_at: at,
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
            let done = *r;
            self.running = None;
            if let Some((event, duration)) = self.queued.pop_front() {
                // The next event's timestamp follows the clock from the last one's start.
                let at = now + GAP;
                let units = at.saturating_duration_since(done.start).as_micros() as u64
                    * self.clock as u64
                    / 1_000_000;
                self.begin(at, event, duration, done.ts.wrapping_add(units as u32));
            }
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
        let ends: Vec<_> = got.iter().filter(move |p| p.payload.end).collect();
        assert_eq!(ends.len(), 3);
        assert!(ends.iter().all(|p| p.payload.duration == 960));
        assert_eq!(got.len(), 3 + 3, "start, 2 updates, 3 ends");
        assert!(!g.is_active());
    }

    #[test]
    fn events_started_together_are_sent_one_after_the_other() {
        let t0 = Instant::now();
        let mut g = DtmfGen::new(8000);
        g.start(t0, 1, Duration::from_millis(100), 1000);
        g.start(t0, 11, Duration::from_millis(100), 1000);
        let mut got = Vec::new();
        for ms in (0..1000).step_by(10) {
            while let Some(p) = g.poll(t0 + Duration::from_millis(ms)) {
                got.push(p);
            }
        }
        let ends = |e: u8| {
            got.iter()
                .filter(move |p| p.payload.end && p.payload.event == e)
        };
        assert_eq!(ends(1).count(), 3, "{got:?}");
        assert_eq!(ends(11).count(), 3, "{got:?}");
        let first_11 = got.iter().position(|p| p.payload.event == 11).expect("11");
        assert!(got[..first_11].iter().all(|p| p.payload.event == 1));
        assert!(got[first_11].marker && got[first_11].ts > 1000 + 800);
        assert!(!g.is_active());
    }
}
