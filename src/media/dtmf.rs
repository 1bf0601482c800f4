//! RFC 4733 telephone-events: payload codec and a one-direction relay that maps
//! timestamps and clock rates and regenerates end packets the source lost.

use std::time::{Duration, Instant};

/// One telephone-event payload (4 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPayload {
    /// Event code: 0-9, 10 = `*`, 11 = `#`, 12-15 = A-D.
    pub event: u8,
    /// End bit.
    pub end: bool,
    /// Volume in -dBm0 (0..=63).
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

impl DtmfPayload {
    /// Parses the first event of a payload.
    pub fn parse(p: &[u8]) -> Option<Self> {
        let b = p.get(..4)?;
        Some(Self {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// Serialises into 4 bytes.
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        let e = if self.end { 0x80 } else { 0 };
        [self.event, e | (self.volume & 0x3F), d[0], d[1]]
    }
}

/// The character for a DTMF event code.
pub fn digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// The event code for a DTMF character.
pub fn event_code(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        _ => None,
    }
}

/// A packet to send on the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfOut {
    /// Output RTP timestamp (event start).
    pub ts: u32,
    /// Mapped payload.
    pub payload: DtmfPayload,
    /// Marker bit (first packet of an event).
    pub marker: bool,
    /// Times to send it (3 for a regenerated end).
    pub repeat: u8,
}

/// A completed digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// The digit.
    pub digit: char,
    /// Its duration.
    pub duration: Duration,
}

/// What one received event packet produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Step {
    /// End of a previous event that never got its end packet.
    pub regen: Option<(DtmfOut, Finished)>,
    /// This packet, mapped.
    pub forward: Option<DtmfOut>,
    /// This packet finished a digit.
    pub finished: Option<Finished>,
}

#[derive(Debug, Clone, Copy)]
struct Active {
    in_ts: u32,
    out_ts: u32,
    payload: DtmfPayload,
    last_at: Instant,
}

/// Relays one direction's telephone-events.
#[derive(Debug, Clone)]
pub struct DtmfRelay {
    in_clock: u32,
    out_clock: u32,
    end_timeout: Duration,
    active: Option<Active>,
    /// Input timestamp of the last finished event, and whether we regenerated its end.
    done: Option<(u32, u32, bool)>,
}

impl DtmfRelay {
    /// A relay between the given telephone-event clock rates.
    pub fn new(in_clock: u32, out_clock: u32, end_timeout: Duration) -> Self {
        Self {
            in_clock: in_clock.max(1),
            out_clock: out_clock.max(1),
            end_timeout,
            active: None,
            done: None,
        }
    }

    /// True while an event is in progress (audio in this direction is suppressed).
    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// When `handle_timeout` must run to regenerate a lost end.
    pub fn deadline(&self) -> Option<Instant> {
        self.active.map(|a| a.last_at + self.end_timeout)
    }

    fn scale(&self, d: u16) -> u16 {
        (d as u64 * self.out_clock as u64 / self.in_clock as u64).min(u16::MAX as u64) as u16
    }

    fn finished(&self, p: DtmfPayload) -> Option<Finished> {
        Some(Finished {
            digit: digit(p.event)?,
            duration: Duration::from_micros(p.duration as u64 * 1_000_000 / self.in_clock as u64),
        })
    }

    fn regenerate(&mut self) -> Option<(DtmfOut, Finished)> {
        let a = self.active.take()?;
        self.done = Some((a.in_ts, a.out_ts, true));
        let payload = DtmfPayload {
            end: true,
            duration: self.scale(a.payload.duration),
            ..a.payload
        };
        let out = DtmfOut {
            ts: a.out_ts,
            payload,
            marker: false,
            repeat: 3,
        };
        Some((out, self.finished(a.payload)?))
    }

    /// Handles one received event packet; `new_out_ts` is the output timestamp a new
    /// event would start at.
    pub fn on_packet(&mut self, now: Instant, in_ts: u32, p: DtmfPayload, new_out_ts: u32) -> Step {
        let mut step = Step::default();
        if let Some((ts, out_ts, regenerated)) = self.done
            && ts == in_ts
        {
            // A straggler or a retransmitted end of a finished event.
            if p.end && !regenerated {
                step.forward = Some(self.map(out_ts, p, false));
            }
            return step;
        }
        let out_ts = match self.active {
            Some(a) if a.in_ts == in_ts => a.out_ts,
            Some(_) => {
                step.regen = self.regenerate();
                new_out_ts
            }
            None => new_out_ts,
        };
        let marker = self.active.is_none();
        step.forward = Some(self.map(out_ts, p, marker));
        if p.end {
            self.active = None;
            self.done = Some((in_ts, out_ts, false));
            step.finished = self.finished(p);
        } else {
            self.active = Some(Active {
                in_ts,
                out_ts,
                payload: p,
                last_at: now,
            });
        }
        step
    }

    fn map(&self, out_ts: u32, p: DtmfPayload, marker: bool) -> DtmfOut {
        DtmfOut {
            ts: out_ts,
            payload: DtmfPayload {
                duration: self.scale(p.duration),
                ..p
            },
            marker,
            repeat: 1,
        }
    }

    /// Regenerates the end of an event whose packets stopped.
    pub fn on_timeout(&mut self, now: Instant) -> Option<(DtmfOut, Finished)> {
        match self.deadline() {
            Some(d) if now >= d => self.regenerate(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip_and_digits() {
        let p = DtmfPayload {
            event: 11,
            end: true,
            volume: 10,
            duration: 1600,
        };
        assert_eq!(DtmfPayload::parse(&p.to_bytes()), Some(p));
        assert_eq!(DtmfPayload::parse(&[1, 2, 3]), None);
        for c in "0123456789*#ABCD".chars() {
            assert_eq!(event_code(c).and_then(digit), Some(c));
        }
    }

    #[test]
    fn regenerates_lost_end_once() {
        let t0 = Instant::now();
        let mut r = DtmfRelay::new(8000, 48000, Duration::from_millis(200));
        let p = DtmfPayload {
            event: 5,
            end: false,
            volume: 10,
            duration: 400,
        };
        let s = r.on_packet(t0, 1000, p, 7777);
        assert_eq!(
            s.forward.map(|o| (o.ts, o.payload.duration, o.marker)),
            Some((7777, 2400, true))
        );
        assert!(r.on_timeout(t0 + Duration::from_millis(100)).is_none());
        let (out, fin) = r.on_timeout(t0 + Duration::from_millis(200)).unwrap();
        assert!(out.payload.end && out.repeat == 3);
        assert_eq!(fin.digit, '5');
        assert_eq!(fin.duration, Duration::from_millis(50));
        // A late end for the same event is dropped.
        let late = r.on_packet(t0, 1000, DtmfPayload { end: true, ..p }, 0);
        assert_eq!(late, Step::default());
    }
}
