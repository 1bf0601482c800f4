//! The RTP port range: one even port per call, handed out round-robin so a port just
//! released is not reused at once (late packets of the old call would reach the new one).

use std::collections::BTreeSet;

/// Where the switchboard gets a call's RTP port. The driver's source binds each port
/// before handing it out (a port another process holds is skipped, never advertised);
/// a bare [`PortPool`] serves the cores' tests.
pub trait MediaPorts: Send {
    /// A port for a new call, or `None` when none is usable.
    fn take(&mut self) -> Option<u16>;
    /// The call that had `port` ended or was refused.
    fn release(&mut self, port: u16);
}

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

    /// Ports the range holds.
    pub fn capacity(&self) -> usize {
        ((u32::from(self.max) - u32::from(self.min)) / 2 + 1) as usize
    }

    #[cfg(test)]
    pub fn in_use(&self) -> usize {
        self.used.len()
    }
}

impl MediaPorts for PortPool {
    /// An unused even port, or `None` when the range is exhausted.
    fn take(&mut self) -> Option<u16> {
        for _ in 0..self.capacity() {
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

    fn release(&mut self, port: u16) {
        self.used.remove(&port);
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
