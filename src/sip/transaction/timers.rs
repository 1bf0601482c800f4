//! Deadline set for all transactions: an ordered set keyed by (deadline, tx, kind), so
//! arming, cancelling and finding the next deadline are O(log n) and nothing goes stale.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::TxId;

/// The role a timer plays; each transaction has at most one timer of each kind armed.
///
/// | kind         | INVITE client | non-INVITE client | INVITE server        | non-INVITE server |
/// |--------------|---------------|-------------------|----------------------|-------------------|
/// | `Retransmit` | A             | E                 | G, 2xx retransmit    | –                 |
/// | `Timeout`    | B, §9.1 give-up | F               | H, L (+ ACK timeout) | –                 |
/// | `Linger`     | D, M          | K                 | I                    | J                 |
/// | `Trying`     | –             | –                 | 100 Trying at 200 ms | –                 |
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum TimerKind {
    Retransmit = 0,
    Timeout = 1,
    Linger = 2,
    Trying = 3,
}

impl TimerKind {
    pub(crate) const COUNT: usize = 4;
}

/// Per-transaction record of its armed deadlines, so a timer can be found and removed.
/// Indexed by `kind as usize`, always below `COUNT`.
pub(crate) type Deadlines = [Option<Instant>; TimerKind::COUNT];

#[derive(Debug, Default)]
pub(crate) struct Timers {
    set: BTreeSet<(Instant, TxId, TimerKind)>,
}

impl Timers {
    /// Arms (or re-arms) `kind` for `tx` at `at`.
    pub(crate) fn arm(
        &mut self,
        deadlines: &mut Deadlines,
        tx: TxId,
        kind: TimerKind,
        at: Instant,
    ) {
        self.disarm(deadlines, tx, kind);
        self.set.insert((at, tx, kind));
        deadlines[kind as usize] = Some(at);
    }

    pub(crate) fn disarm(&mut self, deadlines: &mut Deadlines, tx: TxId, kind: TimerKind) {
        if let Some(old) = deadlines[kind as usize].take() {
            self.set.remove(&(old, tx, kind));
        }
    }

    pub(crate) fn disarm_all(&mut self, deadlines: &mut Deadlines, tx: TxId) {
        for kind in [
            TimerKind::Retransmit,
            TimerKind::Timeout,
            TimerKind::Linger,
            TimerKind::Trying,
        ] {
            self.disarm(deadlines, tx, kind);
        }
    }

    /// The earliest armed deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.set.first().map(|(at, _, _)| *at)
    }

    /// Removes and returns the earliest timer due at or before `now`, with its deadline. The caller must clear
    /// the matching slot in the transaction's [`Deadlines`].
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, TxId, TimerKind)> {
        let &(at, tx, kind) = self.set.first()?;
        if at > now {
            return None;
        }
        self.set.pop_first();
        Some((at, tx, kind))
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }
}

/// Doubles a retransmission interval, optionally capped (Timers A: uncapped; E, G, 2xx: T2).
pub(crate) fn backoff(interval: Duration, cap: Option<Duration>) -> Duration {
    let next = interval.saturating_mul(2);
    match cap {
        Some(cap) => next.min(cap),
        None => next,
    }
}
