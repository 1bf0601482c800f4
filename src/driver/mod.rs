//! The only layer that touches sockets, tasks and the clock: it feeds bytes and time to
//! the sans-IO cores and carries out what they ask.

mod echo;
pub mod endpoints;
mod signaling;
mod tcp;
mod udp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::api::Metrics;
use crate::call::switchboard::{LegEvent, LegId, OutboundCall, OutboundError};
use crate::config::Config;
use crate::sip::Peer;

/// State shared with the HTTP handlers.
pub struct NodeState {
    pub metrics: Arc<Metrics>,
    pub draining: AtomicBool,
}

/// How the daemon is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Running,
    /// Refuse new calls (503), let active calls finish within the drain timeout.
    Drain,
    /// End everything now.
    Immediate,
}

/// The sender half of the shutdown argument; `run` watches the receiver.
pub type ShutdownTx = watch::Sender<Stop>;
pub type Shutdown = watch::Receiver<Stop>;

pub fn shutdown_channel() -> (ShutdownTx, Shutdown) {
    watch::channel(Stop::Running)
}

/// Addresses actually bound (ports may have been 0 in the config).
#[derive(Debug, Clone)]
pub struct Bound {
    pub sip_udp: Option<SocketAddr>,
    pub sip_tcp: Option<SocketAddr>,
    pub http: SocketAddr,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A datagram or framed TCP message for the signaling task.
pub(crate) struct Inbound {
    pub peer: Peer,
    pub bytes: bytes::Bytes,
}

/// A started daemon: where it listens, a handle to control it, and a task that resolves
/// when it has stopped.
pub struct Running {
    pub bound: Bound,
    pub handle: Handle,
    pub done: JoinHandle<()>,
}

/// Requests to the signaling task from other tasks (API, CLI).
pub(crate) enum Command {
    Place {
        call: OutboundCall,
        reply: oneshot::Sender<Result<(LegId, mpsc::Receiver<LegEvent>), OutboundError>>,
    },
    Cancel(LegId),
    Hangup(LegId),
}

/// Controls a running daemon.
#[derive(Clone)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
}

impl Handle {
    /// Places an outbound call; its progress arrives on the returned receiver.
    pub async fn place_call(
        &self,
        call: OutboundCall,
    ) -> Result<(LegId, mpsc::Receiver<LegEvent>), OutboundError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Place { call, reply })
            .await
            .map_err(|_| OutboundError::Send)?;
        rx.await.map_err(|_| OutboundError::Send)?
    }

    pub async fn cancel(&self, leg: LegId) {
        let _ = self.commands.send(Command::Cancel(leg)).await;
    }

    pub async fn hangup(&self, leg: LegId) {
        let _ = self.commands.send(Command::Hangup(leg)).await;
    }
}

/// Binds every socket and starts the daemon's tasks; returns once it is listening.
pub async fn start(cfg: Config, shutdown: Shutdown) -> Result<Running, DriverError> {
    let cfg = Arc::new(cfg);
    let metrics = Arc::new(Metrics::new());
    let node = Arc::new(NodeState {
        metrics: metrics.clone(),
        draining: AtomicBool::new(false),
    });
    let (in_tx, in_rx) = mpsc::channel::<Inbound>(8192);

    let udp = match cfg.sip.bind_udp {
        Some(addr) => Some(Arc::new(UdpSocket::bind(addr).await.map_err(|source| {
            DriverError::Bind {
                what: "SIP/UDP",
                addr,
                source,
            }
        })?)),
        None => None,
    };
    let tcp = match cfg.sip.bind_tcp {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| DriverError::Bind {
                    what: "SIP/TCP",
                    addr,
                    source,
                })?,
        ),
        None => None,
    };
    let http = tokio::net::TcpListener::bind(cfg.http.bind)
        .await
        .map_err(|source| DriverError::Bind {
            what: "HTTP",
            addr: cfg.http.bind,
            source,
        })?;
    let bound = Bound {
        sip_udp: udp.as_ref().and_then(|s| s.local_addr().ok()),
        sip_tcp: tcp.as_ref().and_then(|s| s.local_addr().ok()),
        http: http.local_addr().unwrap_or(cfg.http.bind),
    };
    let show = |a: Option<SocketAddr>| a.map_or_else(|| "-".to_owned(), |a| a.to_string());
    tracing::info!(
        sip_udp = %show(bound.sip_udp),
        sip_tcp = %show(bound.sip_tcp),
        http = %bound.http,
        "listening"
    );

    let tcp_conns = tcp::Connections::default();
    if let Some(sock) = &udp {
        tokio::spawn(udp::receive(
            sock.clone(),
            in_tx.clone(),
            cfg.sip.max_message_bytes,
            metrics.clone(),
        ));
    }
    if let Some(listener) = tcp {
        tokio::spawn(tcp::accept(
            listener,
            in_tx.clone(),
            tcp_conns.clone(),
            cfg.clone(),
            metrics.clone(),
        ));
    }
    let app = crate::api::http::router(node.clone());
    let mut http_stop = shutdown.clone();
    let http_task = tokio::spawn(async move {
        let stop = async move {
            while http_stop.changed().await.is_ok() {
                if *http_stop.borrow() == Stop::Immediate {
                    break;
                }
            }
        };
        if let Err(e) = axum::serve(http, app).with_graceful_shutdown(stop).await {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    let sig = signaling::Signaling::new(cfg.clone(), node, bound.clone(), udp, tcp_conns);
    let (cmd_tx, cmd_rx) = mpsc::channel(256);
    let done = tokio::spawn(async move {
        sig.run(in_rx, cmd_rx, shutdown).await;
        http_task.abort();
    });
    Ok(Running {
        bound,
        handle: Handle { commands: cmd_tx },
        done,
    })
}

/// Default drain timeout when the config gives none.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(30);
