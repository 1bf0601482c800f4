//! The RTP port range: one even port per call, handed out round-robin so a port just
//! released is not reused at once (late packets of the old call would reach the new one).

use std::collections::BTreeSet;

#[derive(Debug)]
pub struct PortPool {
    min: u16,
    max: u16,
    next: u16,
    used: BTreeSet<u16>,
}

impl PortPool {
    pub fn new(min: u16, max: u16) -> Self {
        Self {
            min,
            max,
            next: min,
            used: BTreeSet::new(),
        }
    }

    /// An unused even port, or `None` when the range is exhausted.
    pub fn take(&mut self) -> Option<u16> {
        let slots = (u32::from(self.max) - u32::from(self.min)) / 2 + 1;
        for _ in 0..slots {
            let port = self.next;
            self.next = if u32::from(port) + 2 > u32::from(self.max) {
                self.min
            } else {
                port + 2
            };
            if self.used.insert(port) {
                return Some(port);
            }
        }
        None
    }

    pub fn release(&mut self, port: u16) {
        self.used.remove(&port);
    }

    #[cfg(test)]
    pub fn in_use(&self) -> usize {
        self.used.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_ports_round_robin_and_exhaustion() {
        let mut p = PortPool::new(20000, 20005);
        assert_eq!(
            [p.take(), p.take(), p.take()],
            [Some(20000), Some(20002), Some(20004)]
        );
        assert_eq!(p.take(), None);
        p.release(20002);
        assert_eq!(p.take(), Some(20002));
        p.release(20000);
        p.release(20004);
        assert_eq!(
            p.take(),
            Some(20004),
            "round robin continues after the last port handed out"
        );
        assert_eq!(p.in_use(), 2);
    }
}
