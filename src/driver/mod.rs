//! The only layer that touches sockets, tasks and the clock: it feeds bytes and time to
//! the sans-IO cores and carries out what they ask.

pub mod call_task;
mod echo;
pub mod endpoints;
mod media_ports;
mod signaling;
mod socket_buffers;
mod tcp;
mod udp;
mod webrtc_socket;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::api::Metrics;
use crate::call::core::TrunkCommand;
use crate::call::switchboard::{CallId, LegEvent, LegId, OutboundCall, OutboundError};
use crate::config::Config;
use crate::sip::Peer;

/// State shared by the HTTP handlers, WebSocket sessions and the signaling task.
pub struct NodeState {
    pub cfg: Arc<Config>,
    pub metrics: Arc<Metrics>,
    pub draining: AtomicBool,
    pub tokens: crate::auth::TokenKeys,
    pub endpoints: endpoints::Endpoints,
    /// Live call tasks by call id (touched at set-up, tear-down and per control message).
    pub calls: dashmap::DashMap<String, mpsc::Sender<call_task::CallMsg>>,
    pub control: Handle,
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
    pub webrtc: SocketAddr,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    #[error("endpoint token keys: {0}")]
    Tokens(#[from] crate::auth::TokenError),
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
    /// An endpoint's first session connected, or its last one left.
    SetOnline {
        app: String,
        endpoint: String,
        online: bool,
    },
    /// A session's `startPhoneCall` passed policy: place it.
    StartOutbound(Box<OutboundStart>),
    /// A call task tells its trunk leg what to do.
    CallTrunk {
        call: CallId,
        leg: Option<LegId>,
        cmd: TrunkCommand,
    },
    /// A call task ended.
    CallFinished {
        call: CallId,
        leg: Option<LegId>,
    },
}

/// What `startPhoneCall` needs once policy allowed it.
pub struct OutboundStart {
    pub session: endpoints::SessionHandle,
    pub request_id: String,
    pub trunk: String,
    pub to: String,
    pub identity: crate::policy::OutboundIdentity,
    pub browser_sdp: String,
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

    pub async fn set_online(&self, app: &str, endpoint: &str, online: bool) {
        let cmd = Command::SetOnline {
            app: app.to_owned(),
            endpoint: endpoint.to_owned(),
            online,
        };
        let _ = self.commands.send(cmd).await;
    }

    pub async fn start_outbound(&self, start: OutboundStart) {
        let _ = self
            .commands
            .send(Command::StartOutbound(Box::new(start)))
            .await;
    }

    pub(crate) fn sender(&self) -> mpsc::Sender<Command> {
        self.commands.clone()
    }
}

/// Binds every socket and starts the daemon's tasks; returns once it is listening.
pub async fn start(cfg: Config, shutdown: Shutdown) -> Result<Running, DriverError> {
    let cfg = Arc::new(cfg);
    let metrics = Arc::new(Metrics::new());
    let (tokens, generated) = crate::auth::TokenKeys::from_config(&cfg)?;
    for app in generated {
        tracing::warn!("{}", crate::auth::generated_key_notice(&app));
    }
    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    let node = Arc::new(NodeState {
        cfg: cfg.clone(),
        metrics: metrics.clone(),
        draining: AtomicBool::new(false),
        tokens,
        endpoints: endpoints::Endpoints::default(),
        calls: dashmap::DashMap::new(),
        control: Handle {
            commands: cmd_tx.clone(),
        },
    });
    let (in_tx, in_rx) = mpsc::channel::<Inbound>(8192);
    crate::webrtc::prepare_certificate(std::time::Instant::now());
    let webrtc_addr = SocketAddr::new(cfg.media.bind_ip, cfg.media.webrtc_port);
    let webrtc = webrtc_socket::WebRtcSocket::bind(webrtc_addr, cfg.media.socket_buffer_bytes)
        .await
        .map_err(|source| DriverError::Bind {
            what: "WebRTC/UDP",
            addr: webrtc_addr,
            source,
        })?;

    let udp = match cfg.sip.bind_udp {
        Some(addr) => Some(Arc::new(
            socket_buffers::bind_udp(addr, cfg.sip.udp_buffer_bytes, "SIP/UDP").map_err(
                |source| DriverError::Bind {
                    what: "SIP/UDP",
                    addr,
                    source,
                },
            )?,
        )),
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
        webrtc: webrtc.local,
    };
    let show = |a: Option<SocketAddr>| a.map_or_else(|| "-".to_owned(), |a| a.to_string());
    tracing::info!(
        sip_udp = %show(bound.sip_udp),
        sip_tcp = %show(bound.sip_tcp),
        http = %bound.http,
        webrtc = %bound.webrtc,
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
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        // WebSocket signaling writes small messages: without TCP_NODELAY one can wait for
        // the peer's delayed ACK (40 ms) behind the one before it.
        let http = axum::serve::ListenerExt::tap_io(http, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
        });
        if let Err(e) = axum::serve(http, app).with_graceful_shutdown(stop).await {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    let sig = signaling::Signaling::new(cfg.clone(), node, bound.clone(), udp, tcp_conns, webrtc);
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
