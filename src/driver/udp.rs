//! SIP over UDP: one socket, datagrams handed to the signaling task.

use std::sync::Arc;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::Inbound;
use crate::api::Metrics;
use crate::sip::{Peer, Transport};

pub(super) async fn receive(
    sock: Arc<UdpSocket>,
    to_core: mpsc::Sender<Inbound>,
    max: usize,
    metrics: Arc<Metrics>,
) {
    // One byte more than the limit tells a too-large datagram from one that fits exactly.
    let mut buf = vec![0u8; max + 1];
    loop {
        let (n, addr) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                // ICMP port-unreachable from an earlier send surfaces here on Linux.
                tracing::debug!(error = %e, "UDP receive error");
                continue;
            }
        };
        if n > max {
            metrics.sip_dropped.with_label_values(&["too_large"]).inc();
            continue;
        }
        if n <= 4 && buf[..n].iter().all(|b| b.is_ascii_whitespace()) {
            continue; // keep-alive (RFC 5626 CRLF) or empty datagram
        }
        let msg = Inbound {
            peer: Peer {
                transport: Transport::Udp,
                addr,
            },
            bytes: Bytes::copy_from_slice(&buf[..n]),
        };
        if to_core.try_send(msg).is_err() {
            metrics.sip_dropped.with_label_values(&["overload"]).inc();
        }
    }
}
