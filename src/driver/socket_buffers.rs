//! UDP sockets with large kernel buffers: a socket shared by many calls receives bursts
//! when the daemon is busy, and datagrams beyond the buffer are lost in the kernel.

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

/// Binds `addr` with receive and send buffers of `bytes` (0 keeps the kernel default).
/// The kernel caps the size at `net.core.rmem_max` / `wmem_max`; the size obtained is
/// logged so an operator can raise those limits.
pub fn bind_udp(addr: SocketAddr, bytes: usize, what: &'static str) -> std::io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if bytes > 0 {
        if let Err(e) = s.set_recv_buffer_size(bytes) {
            tracing::warn!(what, bytes, error = %e, "cannot set UDP receive buffer");
        }
        if let Err(e) = s.set_send_buffer_size(bytes) {
            tracing::warn!(what, bytes, error = %e, "cannot set UDP send buffer");
        }
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    // Linux reports twice the usable size (it counts its bookkeeping).
    let obtained = s.recv_buffer_size().unwrap_or(0);
    if bytes > 0 && obtained < bytes {
        tracing::warn!(
            what,
            requested = bytes,
            obtained,
            "UDP receive buffer capped by the kernel: raise net.core.rmem_max"
        );
    } else {
        tracing::debug!(what, obtained, "UDP receive buffer");
    }
    UdpSocket::from_std(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn buffers_grow_up_to_the_kernel_limit() {
        let small = bind_udp("127.0.0.1:0".parse().unwrap(), 0, "test").expect("bind");
        let big = bind_udp("127.0.0.1:0".parse().unwrap(), 1 << 20, "test").expect("bind");
        let size = |s: &UdpSocket| socket2::SockRef::from(s).recv_buffer_size().unwrap();
        // A 1 MiB request is never below the default unless rmem_max forbids growth.
        assert!(size(&big) >= size(&small));
        let a = big.local_addr().unwrap();
        small.send_to(b"x", a).await.unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(big.recv_from(&mut buf).await.unwrap().0, 1);
    }
}
