//! SIP over TCP: accept with a connection cap, frame by Content-Length, close idle or
//! oversized connections; responses go back on the connection a request came in on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use dashmap::DashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};

use super::Inbound;
use crate::api::Metrics;
use crate::config::Config;
use crate::sip::framing::next_frame;
use crate::sip::{Peer, Transport};

/// Writers of open connections by remote address (touched per message, not per packet).
#[derive(Clone, Default)]
pub(crate) struct Connections(Arc<DashMap<SocketAddr, mpsc::Sender<Bytes>>>);

impl Connections {
    /// Queues bytes on the connection to `addr`; false when there is none.
    pub fn send(&self, addr: SocketAddr, bytes: Bytes) -> bool {
        self.0.get(&addr).is_some_and(|w| w.try_send(bytes).is_ok())
    }
}

pub(super) async fn accept(
    listener: TcpListener,
    to_core: mpsc::Sender<Inbound>,
    conns: Connections,
    cfg: Arc<Config>,
    metrics: Arc<Metrics>,
) {
    let slots = Arc::new(Semaphore::new(cfg.sip.tcp_max_connections));
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Each SIP message goes out whole and at once (no Nagle delay behind the last).
        let _ = stream.set_nodelay(true);
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%addr, "TCP connection limit reached, refusing");
            metrics.sip_dropped.with_label_values(&["tcp_limit"]).inc();
            drop(stream);
            continue;
        };
        let (to_core, conns, cfg, metrics) =
            (to_core.clone(), conns.clone(), cfg.clone(), metrics.clone());
        tokio::spawn(async move {
            serve(stream, addr, to_core, &conns, &cfg, &metrics).await;
            conns.0.remove(&addr);
            drop(permit);
        });
    }
}

async fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    to_core: mpsc::Sender<Inbound>,
    conns: &Connections,
    cfg: &Config,
    metrics: &Metrics,
) {
    let (mut rd, mut wr) = stream.into_split();
    let (w_tx, mut w_rx) = mpsc::channel::<Bytes>(256);
    conns.0.insert(addr, w_tx);
    let writer = tokio::spawn(async move {
        while let Some(b) = w_rx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    let idle = Duration::from_secs(cfg.sip.tcp_idle_timeout_s);
    let max = cfg.sip.max_message_bytes;
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        match tokio::time::timeout(idle, rd.read_buf(&mut buf)).await {
            Err(_) => {
                tracing::debug!(%addr, "TCP connection idle, closing");
                break;
            }
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => {}
        }
        loop {
            match next_frame(&buf, max) {
                Ok(Some(n)) => {
                    let frame = buf.split_to(n).freeze();
                    if frame.iter().all(|b| *b == b'\r' || *b == b'\n') {
                        continue;
                    }
                    let msg = Inbound {
                        peer: Peer {
                            transport: Transport::Tcp,
                            addr,
                        },
                        bytes: frame,
                    };
                    if to_core.send(msg).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::info!(%addr, error = %e, "closing TCP connection");
                    metrics
                        .sip_dropped
                        .with_label_values(&["tcp_framing"])
                        .inc();
                    writer.abort();
                    return;
                }
            }
        }
    }
    writer.abort();
}
