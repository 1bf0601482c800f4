//! Adaptive, bounded jitter buffer keyed by RTP sequence number.
//!
//! Storage is a fixed ring of slots allocated once. Playout runs one frame per `pop`;
//! the target depth grows on underrun, follows the measured jitter and decays after a
//! quiet period. Duplicates, late packets, overflow and resyncs are counted.

/// Largest payload a slot holds (the Opus maximum, 1275 bytes, rounded up).
pub const SLOT_BYTES: usize = 1280;

/// Pops without underrun after which the target depth shrinks by one frame.
const DECAY_POPS: u32 = 250;

/// A sequence jump beyond this many capacities is a new stream, not loss.
const RESYNC_FACTOR: u64 = 4;

/// Extended sequence numbers start here (a multiple of 2^16, so the low 16 bits stay
/// the RTP sequence number, with room below for reordering).
const EXT_BASE: u64 = 1 << 20;

/// Jitter buffer bounds, in frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// Slots in the ring (rounded up to a power of two).
    pub capacity: usize,
    /// Smallest target depth.
    pub min_delay: u16,
    /// Largest target depth (must be below `capacity`).
    pub max_delay: u16,
    /// Payload room per slot at first. A larger payload (rare: a far end that changes its
    /// packet size) regrows every slot once, up to `max_payload`.
    pub slot_bytes: usize,
    /// Largest payload stored (at most [`SLOT_BYTES`]); larger ones count as oversize.
    pub max_payload: usize,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            // Depth above target + 2 is trimmed one frame per pop, so at the largest
            // target (12) a 16-frame ring still has room for a burst.
            capacity: 16,
            min_delay: 2,
            max_delay: 12,
            // 20 ms of Opus below 128 kbit/s, or 40 ms of G.711.
            slot_bytes: 320,
            max_payload: SLOT_BYTES,
        }
    }
}

/// Jitter buffer counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets stored.
    pub stored: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Packets that arrived after their playout time.
    pub late: u64,
    /// Frames missing at playout time.
    pub missing: u64,
    /// Frames dropped to shrink latency or make room.
    pub dropped: u64,
    /// Pops with nothing to play.
    pub underruns: u64,
    /// Stream restarts (sequence jumps).
    pub resyncs: u64,
    /// Payloads too large to store.
    pub oversize: u64,
    /// Times the slots were regrown for a larger payload.
    pub regrown: u64,
}

/// What `push` did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Stored for playout.
    Stored,
    /// Stored after flushing: the sequence jumped (new stream).
    Resynced,
    /// Already held or already played.
    Duplicate,
    /// Its playout time has passed.
    Late,
    /// Larger than a slot.
    Oversize,
}

/// A frame held by the buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// RTP timestamp.
    pub ts: u32,
    /// Payload type.
    pub pt: u8,
    /// Payload bytes.
    pub payload: &'a [u8],
}

/// Result of one playout step.
#[derive(Debug, Clone, Copy)]
pub enum Pop<'a> {
    /// Still filling to the target depth.
    Buffering,
    /// Nothing to play.
    Empty,
    /// The frame due now is missing; `next` is the following one if held (for FEC).
    Missing {
        /// The frame after the missing one.
        next: Option<Frame<'a>>,
    },
    /// The frame due now.
    Frame(Frame<'a>),
}

#[derive(Clone)]
struct Slot {
    seq: u64,
    full: bool,
    ts: u32,
    pt: u8,
    len: u16,
}

/// The jitter buffer.
pub struct JitterBuffer {
    slots: Box<[Slot]>,
    /// Payload storage: `slot_bytes` per slot, in slot order.
    data: Box<[u8]>,
    mask: u64,
    cfg: JitterConfig,
    /// Next extended sequence number to play; `None` before the first packet.
    next: Option<u64>,
    /// Highest extended sequence number received.
    highest: u64,
    playing: bool,
    target: u16,
    floor: u16,
    quiet: u32,
    stats: JitterStats,
}

impl std::fmt::Debug for JitterBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitterBuffer")
            .field("next", &self.next)
            .field("highest", &self.highest)
            .field("target", &self.target)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl JitterBuffer {
    /// Allocates the ring once.
    pub fn new(cfg: JitterConfig) -> Self {
        let cap = cfg.capacity.clamp(4, 1024).next_power_of_two();
        let empty = Slot {
            seq: 0,
            full: false,
            ts: 0,
            pt: 0,
            len: 0,
        };
        let max = cfg.max_delay.min(cap as u16 - 1).max(1);
        let min = cfg.min_delay.clamp(1, max);
        let max_payload = cfg.max_payload.clamp(1, SLOT_BYTES);
        let slot_bytes = cfg.slot_bytes.clamp(1, max_payload);
        Self {
            slots: vec![empty; cap].into_boxed_slice(),
            data: vec![0; cap * slot_bytes].into_boxed_slice(),
            mask: cap as u64 - 1,
            cfg: JitterConfig {
                capacity: cap,
                min_delay: min,
                max_delay: max,
                slot_bytes,
                max_payload,
            },
            next: None,
            highest: 0,
            playing: false,
            target: min,
            floor: min,
            quiet: 0,
            stats: JitterStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Current target depth in frames.
    pub fn target(&self) -> u16 {
        self.target
    }

    /// Frames between the playout point and the newest packet.
    pub fn depth(&self) -> u64 {
        match self.next {
            Some(n) if self.highest >= n => self.highest + 1 - n,
            _ => 0,
        }
    }

    /// Raises the target floor from measured jitter (in frames, rounded up).
    pub fn set_jitter_frames(&mut self, frames: u16) {
        self.floor = (frames.saturating_mul(2).saturating_add(self.cfg.min_delay))
            .clamp(self.cfg.min_delay, self.cfg.max_delay);
        self.target = self.target.max(self.floor);
    }

    fn extend(&self, seq: u16) -> u64 {
        let base = self.highest;
        let delta = seq.wrapping_sub(base as u16) as i16 as i64;
        // Keep extended numbers above zero so that old packets stay comparable.
        (base as i64 + delta).max(0) as u64
    }

    fn flush(&mut self, ext: u64) {
        for s in self.slots.iter_mut() {
            s.full = false;
        }
        self.next = Some(ext);
        self.highest = ext;
        self.playing = false;
    }

    /// Gives every slot room for `len` bytes (doubling, up to `max_payload`), keeping
    /// what is stored. Allocates; happens at most a few times in a call.
    fn regrow(&mut self, len: usize) {
        let old = self.cfg.slot_bytes;
        let mut new = old.max(1);
        while new < len {
            new *= 2;
        }
        let new = new.min(self.cfg.max_payload);
        let mut data = vec![0; self.slots.len() * new].into_boxed_slice();
        for (i, slot) in self.slots.iter().enumerate() {
            let n = slot.len as usize;
            data[i * new..i * new + n].copy_from_slice(&self.data[i * old..i * old + n]);
        }
        self.data = data;
        self.cfg.slot_bytes = new;
        self.stats.regrown += 1;
    }

    /// Stores a packet.
    pub fn push(&mut self, seq: u16, ts: u32, pt: u8, payload: &[u8]) -> Pushed {
        if payload.len() > self.cfg.max_payload {
            self.stats.oversize += 1;
            return Pushed::Oversize;
        }
        if payload.len() > self.cfg.slot_bytes {
            self.regrow(payload.len());
        }
        let cap = self.mask + 1;
        let mut result = Pushed::Stored;
        let ext = match self.next {
            None => {
                let ext = EXT_BASE + seq as u64;
                self.flush(ext);
                ext
            }
            Some(next) => {
                let ext = self.extend(seq);
                let far = cap * RESYNC_FACTOR;
                if ext + far < next || ext > next + far {
                    self.stats.resyncs += 1;
                    let ext = EXT_BASE + seq as u64;
                    self.flush(ext);
                    result = Pushed::Resynced;
                    ext
                } else if ext < next && !self.playing && self.highest - ext < cap {
                    // Reordered before playout started: move the start back.
                    self.next = Some(ext);
                    ext
                } else if ext < next {
                    self.stats.late += 1;
                    return Pushed::Late;
                } else {
                    if ext >= next + cap {
                        // Make room: drop the oldest frames (bounded memory under a flood).
                        let new_next = ext + 1 - cap;
                        for s in next..new_next {
                            let slot = &mut self.slots[(s & self.mask) as usize];
                            if slot.full && slot.seq == s {
                                slot.full = false;
                            }
                        }
                        self.stats.dropped += new_next - next;
                        self.next = Some(new_next);
                    }
                    ext
                }
            }
        };
        let slot = &mut self.slots[(ext & self.mask) as usize];
        if slot.full && slot.seq == ext {
            self.stats.duplicates += 1;
            return Pushed::Duplicate;
        }
        slot.full = true;
        slot.seq = ext;
        slot.ts = ts;
        slot.pt = pt;
        slot.len = payload.len() as u16;
        let at = (ext & self.mask) as usize * self.cfg.slot_bytes;
        self.data[at..at + payload.len()].copy_from_slice(payload);
        self.highest = self.highest.max(ext);
        self.stats.stored += 1;
        result
    }

    fn frame(&self, ext: u64) -> Option<Frame<'_>> {
        let idx = (ext & self.mask) as usize;
        let s = &self.slots[idx];
        (s.full && s.seq == ext).then(|| self.frame_at(idx))
    }

    fn frame_at(&self, idx: usize) -> Frame<'_> {
        let s = &self.slots[idx];
        let at = idx * self.cfg.slot_bytes;
        Frame {
            ts: s.ts,
            pt: s.pt,
            payload: &self.data[at..at + s.len as usize],
        }
    }

    /// Plays out one frame.
    pub fn pop(&mut self) -> Pop<'_> {
        let Some(next) = self.next else {
            return Pop::Empty;
        };
        let depth = self.depth();
        if !self.playing {
            if depth >= self.target as u64 {
                self.playing = true;
            } else {
                return Pop::Buffering;
            }
        }
        if depth == 0 {
            self.stats.underruns += 1;
            self.playing = false;
            self.quiet = 0;
            self.target = (self.target + 1).min(self.cfg.max_delay);
            return Pop::Empty;
        }
        let mut next = next;
        if depth > self.target as u64 + 2 {
            // Too much latency: drop one frame per pop (gradual, so a burst is not cut).
            let slot = &mut self.slots[(next & self.mask) as usize];
            if slot.full && slot.seq == next {
                slot.full = false;
            }
            self.stats.dropped += 1;
            next += 1;
        }
        self.quiet += 1;
        if self.quiet >= DECAY_POPS {
            self.quiet = 0;
            self.target = self.target.saturating_sub(1).max(self.floor);
        }
        self.next = Some(next + 1);
        let idx = (next & self.mask) as usize;
        if self.slots[idx].full && self.slots[idx].seq == next {
            self.slots[idx].full = false;
            Pop::Frame(self.frame_at(idx))
        } else {
            self.stats.missing += 1;
            Pop::Missing {
                next: self.frame(next + 1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jb() -> JitterBuffer {
        JitterBuffer::new(JitterConfig {
            capacity: 16,
            min_delay: 2,
            max_delay: 8,
            ..JitterConfig::default()
        })
    }

    fn seq_of(p: Pop<'_>) -> Option<u8> {
        match p {
            Pop::Frame(f) => Some(f.payload[0]),
            _ => None,
        }
    }

    #[test]
    fn payloads_are_bounded_by_the_configured_slot_size() {
        let mut j = JitterBuffer::new(JitterConfig {
            slot_bytes: 160,
            max_payload: 960,
            ..JitterConfig::default()
        });
        assert_eq!(j.push(1, 0, 0, &[7; 961]), Pushed::Oversize);
        assert_eq!(j.push(1, 0, 0, &[7; 150]), Pushed::Stored);
        // A larger packet regrows the slots once and keeps what was stored.
        assert_eq!(j.push(2, 160, 0, &[8; 960]), Pushed::Stored);
        assert_eq!(j.push(3, 320, 0, &[9; 3]), Pushed::Stored);
        assert_eq!((j.stats().oversize, j.stats().regrown), (1, 1));
        // Each slot keeps its own bytes.
        let mut played = Vec::new();
        for _ in 0..3 {
            let Pop::Frame(f) = j.pop() else {
                panic!("frame")
            };
            played.push((
                f.payload.len(),
                f.payload[0],
                f.payload[f.payload.len() - 1],
            ));
        }
        assert_eq!(played, [(150, 7, 7), (960, 8, 8), (3, 9, 9)]);
    }

    #[test]
    fn reorders_and_plays_in_sequence() {
        let mut j = jb();
        for s in [1u16, 0, 3, 2] {
            assert_eq!(j.push(s, s as u32 * 160, 0, &[s as u8]), Pushed::Stored);
        }
        // Depth 4 > target 2 + 2 is not exceeded: nothing dropped.
        let got: Vec<_> = (0..4).map(|_| seq_of(j.pop())).collect();
        assert_eq!(got, vec![Some(0), Some(1), Some(2), Some(3)]);
    }

    #[test]
    fn wraps_sequence_numbers() {
        let mut j = jb();
        for s in [65534u16, 65535, 0, 1] {
            j.push(s, 0, 0, &[s as u8]);
        }
        let got: Vec<_> = (0..4).map(|_| seq_of(j.pop())).collect();
        assert_eq!(got, vec![Some(254), Some(255), Some(0), Some(1)]);
    }
}
