//! RTP ports bound before they are advertised. The switchboard takes a call's port from
//! here; the port's socket is bound at that moment and kept until the call's task claims
//! it, so an SDP never names a port another process holds (such a port is skipped and
//! tried again when the round-robin comes back to it).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, PoisonError};

use crate::call::switchboard::{MediaPorts, PortPool};

/// Ports tried for one call before the range counts as exhausted.
const MAX_TRIES: usize = 64;

/// Sockets bound for calls whose task has not claimed them yet. Locked once per call
/// set-up and end, never per packet.
type Unclaimed = Arc<Mutex<HashMap<u16, UdpSocket>>>;

/// The switchboard's port source in the daemon.
pub struct BoundPorts {
    pool: PortPool,
    ip: IpAddr,
    unclaimed: Unclaimed,
}

/// Where call tasks pick up the socket of their port.
#[derive(Clone, Default)]
pub struct PortSockets(Unclaimed);

impl BoundPorts {
    pub fn new(ip: IpAddr, min: u16, max: u16) -> (Self, PortSockets) {
        let unclaimed = Unclaimed::default();
        let ports = Self {
            pool: PortPool::new(min, max),
            ip,
            unclaimed: unclaimed.clone(),
        };
        (ports, PortSockets(unclaimed))
    }
}

impl MediaPorts for BoundPorts {
    fn take(&mut self) -> Option<u16> {
        for _ in 0..self.pool.capacity().min(MAX_TRIES) {
            let port = self.pool.take()?;
            match bind(SocketAddr::new(self.ip, port)) {
                Ok(sock) => {
                    lock(&self.unclaimed).insert(port, sock);
                    return Some(port);
                }
                Err(e) => {
                    tracing::warn!(ip = %self.ip, port, error = %e, "RTP port unusable, skipped");
                    self.pool.release(port);
                }
            }
        }
        None
    }

    fn release(&mut self, port: u16) {
        lock(&self.unclaimed).remove(&port);
        self.pool.release(port);
    }
}

impl PortSockets {
    /// The socket bound for `addr`'s port, or a new bind when there is none (its call was
    /// released before its task started).
    pub fn claim(&self, addr: SocketAddr) -> std::io::Result<tokio::net::UdpSocket> {
        let sock = lock(&self.0).remove(&addr.port());
        let sock = match sock {
            Some(s) => s,
            None => bind(addr)?,
        };
        tokio::net::UdpSocket::from_std(sock)
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let sock = UdpSocket::bind(addr)?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

fn lock(m: &Mutex<HashMap<u16, UdpSocket>>) -> std::sync::MutexGuard<'_, HashMap<u16, UdpSocket>> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    /// A free even port with the next one free too, found by binding port 0.
    fn free_pair() -> (u16, UdpSocket) {
        loop {
            let s = UdpSocket::bind((LOOPBACK, 0)).unwrap();
            let p = s.local_addr().unwrap().port();
            if p.is_multiple_of(2) && p < u16::MAX - 8 {
                return (p, s);
            }
        }
    }

    #[tokio::test]
    async fn a_port_held_elsewhere_is_skipped_and_the_next_is_bound() {
        let (held, holder) = free_pair();
        let (mut ports, sockets) = BoundPorts::new(LOOPBACK, held, held + 8);
        let got = ports.take().expect("a usable port");
        assert_ne!(got, held, "the held port is never handed out");
        let sock = sockets.claim(SocketAddr::new(LOOPBACK, got)).unwrap();
        assert_eq!(
            sock.local_addr().unwrap().port(),
            got,
            "the bound socket is claimed"
        );
        drop(holder);
    }

    #[test]
    fn a_range_held_elsewhere_is_exhausted() {
        let (held, _holder) = free_pair();
        let (mut ports, _) = BoundPorts::new(LOOPBACK, held, held);
        assert_eq!(ports.take(), None);
        assert_eq!(ports.take(), None, "tried again, still held");
    }

    #[test]
    fn a_released_port_closes_its_unclaimed_socket() {
        let (port, holder) = free_pair();
        drop(holder);
        let (mut ports, _) = BoundPorts::new(LOOPBACK, port, port);
        assert_eq!(ports.take(), Some(port));
        assert!(
            UdpSocket::bind((LOOPBACK, port)).is_err(),
            "bound while the call may use it"
        );
        ports.release(port);
        assert!(
            UdpSocket::bind((LOOPBACK, port)).is_ok(),
            "closed on release"
        );
    }
}
