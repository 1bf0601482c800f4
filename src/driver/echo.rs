//! The echo service's media: RTP received from the SDP address goes straight back to it.
//! Packets from any other source are dropped (RTP-bleed protection).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

use crate::api::Metrics;
use crate::call::switchboard::CallId;

/// Why echo media stopped on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MediaProblem {
    BindFailed,
    RtpTimeout,
}

/// The driver's handle on one echo call's media task.
pub(super) struct EchoHandle {
    pub remote: watch::Sender<(SocketAddr, bool)>,
    pub stop: oneshot::Sender<()>,
}

pub(super) fn spawn(
    call: CallId,
    bind: SocketAddr,
    remote: SocketAddr,
    rtp_timeout: Duration,
    report: mpsc::Sender<(CallId, MediaProblem)>,
    metrics: Arc<Metrics>,
) -> EchoHandle {
    let (remote_tx, remote_rx) = watch::channel((remote, true));
    let (stop_tx, stop_rx) = oneshot::channel();
    tokio::spawn(async move {
        let problem = run(bind, remote_rx, stop_rx, rtp_timeout, &metrics).await;
        if let Some(p) = problem {
            tracing::info!(%call, problem = ?p, "echo media stopped");
            let _ = report.send((call, p)).await;
        }
    });
    EchoHandle {
        remote: remote_tx,
        stop: stop_tx,
    }
}

async fn run(
    bind: SocketAddr,
    mut remote: watch::Receiver<(SocketAddr, bool)>,
    mut stop: oneshot::Receiver<()>,
    rtp_timeout: Duration,
    metrics: &Metrics,
) -> Option<MediaProblem> {
    let sock = match UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%bind, error = %e, "cannot bind echo media port");
            return Some(MediaProblem::BindFailed);
        }
    };
    let (rx_count, tx_count, dropped) = (
        metrics.rtp_packets.with_label_values(&["in"]),
        metrics.rtp_packets.with_label_values(&["out"]),
        metrics.rtp_packets.with_label_values(&["dropped"]),
    );
    let mut buf = [0u8; 2048];
    let (mut to, mut sending) = *remote.borrow();
    loop {
        let idle = tokio::time::sleep(rtp_timeout);
        tokio::select! {
            _ = &mut stop => return None,
            changed = remote.changed() => {
                if changed.is_err() { return None; }
                (to, sending) = *remote.borrow();
            }
            got = sock.recv_from(&mut buf) => {
                let Ok((n, from)) = got else { continue };
                if from != to {
                    dropped.inc();
                    continue;
                }
                rx_count.inc();
                if sending && sock.try_send_to(&buf[..n], to).is_ok() {
                    tx_count.inc();
                }
            }
            _ = idle, if sending => return Some(MediaProblem::RtpTimeout),
        }
    }
}
