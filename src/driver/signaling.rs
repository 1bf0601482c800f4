//! The signaling task: owns the `Switchboard`, feeds it messages and time, sends what it
//! emits, runs echo media, and carries out shutdown.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::echo::{self, EchoHandle, MediaProblem};
use super::media_ports::{BoundPorts, PortSockets};
use super::tcp::Connections;
use super::{Bound, Command, Inbound, NodeState, Shutdown, Stop};
use crate::call::switchboard::{
    CallId, LegEvent, LegId, LocalAddrs, SwitchEvent, Switchboard, reasons,
};
use crate::config::Config;
use crate::sip::Transport;

#[path = "bridging.rs"]
mod bridging;

pub(super) struct Signaling {
    cfg: Arc<Config>,
    node: Arc<NodeState>,
    core: Switchboard,
    udp: Option<Arc<UdpSocket>>,
    tcp: Connections,
    echoes: HashMap<CallId, EchoHandle>,
    media_tx: mpsc::Sender<(CallId, MediaProblem)>,
    media_rx: mpsc::Receiver<(CallId, MediaProblem)>,
    legs: HashMap<LegId, mpsc::Sender<LegEvent>>,
    webrtc: super::webrtc_socket::WebRtcSocket,
    /// Outbound legs of bridged calls, and the RTP port each took.
    bridged_legs: HashMap<LegId, (CallId, u16)>,
    /// Sockets of the RTP ports the switchboard handed out, for the calls' tasks.
    port_sockets: PortSockets,
}

impl Signaling {
    pub fn new(
        cfg: Arc<Config>,
        node: Arc<NodeState>,
        bound: Bound,
        udp: Option<Arc<UdpSocket>>,
        tcp: Connections,
        webrtc: super::webrtc_socket::WebRtcSocket,
    ) -> Self {
        let local = LocalAddrs {
            host: cfg.sip.advertised_host.clone(),
            udp_port: bound.sip_udp.map(|a| a.port()),
            tcp_port: bound.sip_tcp.map(|a| a.port()),
        };
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut core = Switchboard::new(
            cfg.clone(),
            node.metrics.clone(),
            local,
            Instant::now().into_std(),
            unix,
        );
        let m = &cfg.media;
        let (ports, port_sockets) = BoundPorts::new(m.bind_ip, m.port_min, m.port_max);
        core.set_media_ports(Box::new(ports));
        let (media_tx, media_rx) = mpsc::channel(1024);
        Self {
            cfg,
            node,
            core,
            udp,
            tcp,
            echoes: HashMap::new(),
            media_tx,
            media_rx,
            legs: HashMap::new(),
            webrtc,
            bridged_legs: HashMap::new(),
            port_sockets,
        }
    }

    pub async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut commands: mpsc::Receiver<Command>,
        mut shutdown: Shutdown,
    ) {
        let mut drain_deadline: Option<Instant> = None;
        // The admission rule measures the process's CPU every half second.
        let mut load_tick = tokio::time::interval(Duration::from_millis(500));
        load_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        loop {
            let timer = self.core.poll_timeout().map(Instant::from_std);
            tokio::select! {
                Some(msg) = inbound.recv() => {
                    // Commands queued before this datagram arrived come first: an endpoint
                    // that just came online must be online for the INVITE that follows.
                    for _ in 0..INBOUND_BATCH {
                        let Ok(cmd) = commands.try_recv() else { break };
                        self.command(cmd);
                    }
                    let now = Instant::now().into_std();
                    self.core.handle_message(now, msg.peer, &msg.bytes);
                    // Take what else has queued up before sending: one pass of the loop
                    // per burst rather than per datagram.
                    for _ in 0..INBOUND_BATCH {
                        let Ok(msg) = inbound.try_recv() else { break };
                        self.core.handle_message(now, msg.peer, &msg.bytes);
                    }
                }
                _ = sleep_until(timer) => self.core.handle_timeout(Instant::now().into_std()),
                Some(cmd) = commands.recv() => self.command(cmd),
                _ = load_tick.tick() => {
                    #[cfg(target_os = "linux")]
                    if let Some(cpu) = crate::api::process_metrics::cpu_seconds() {
                        self.core.handle_load_sample(Instant::now().into_std(), cpu, cores);
                    }
                }
                Some((call, problem)) = self.media_rx.recv() => {
                    let reason = match problem {
                        MediaProblem::BindFailed => reasons::MEDIA_FAILURE,
                        MediaProblem::RtpTimeout => reasons::RTP_TIMEOUT,
                    };
                    self.core.handle_media_failed(Instant::now().into_std(), &call, reason);
                }
                changed = shutdown.changed() => {
                    let stop = if changed.is_ok() { *shutdown.borrow() } else { Stop::Immediate };
                    match stop {
                        Stop::Running => {}
                        Stop::Drain if drain_deadline.is_none() => {
                            let wait = Duration::from_secs(self.cfg.shutdown.drain_timeout_s);
                            tracing::info!(active_calls = self.core.active_calls(), ?wait, "draining: new calls refused");
                            self.core.start_drain();
                            self.node.draining.store(true, Ordering::Relaxed);
                            drain_deadline = Some(Instant::now() + wait);
                        }
                        Stop::Drain => {}
                        Stop::Immediate => {
                            tracing::info!(active_calls = self.core.active_calls(), "stopping now");
                            self.node.draining.store(true, Ordering::Relaxed);
                            return self.finish().await;
                        }
                    }
                }
                _ = sleep_until(drain_deadline) => {
                    tracing::info!(active_calls = self.core.active_calls(), "drain timeout reached, ending calls");
                    return self.finish().await;
                }
            }
            self.flush();
            // Inbound calls and outbound legs both hold a drain open.
            let active = self.core.active_calls() + self.core.active_legs();
            if drain_deadline.is_some() && active == 0 {
                tracing::info!("drained: no active calls");
                return self.finish().await;
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        let now = Instant::now().into_std();
        match cmd {
            Command::Place { call, reply } => {
                let result = self.core.place_call(now, call).map(|leg| {
                    let (tx, rx) = mpsc::channel(16);
                    self.legs.insert(leg, tx);
                    (leg, rx)
                });
                let _ = reply.send(result);
            }
            Command::Cancel(leg) => self.core.cancel_leg(now, leg),
            Command::Hangup(leg) => self.core.hangup_leg(now, leg),
            Command::SetOnline {
                app,
                endpoint,
                online,
            } => self.core.set_endpoint_online(&app, &endpoint, online),
            Command::StartOutbound(start) => self.start_outbound(*start),
            Command::CallTrunk { call, leg, cmd } => self.call_trunk(&call, leg, cmd),
            Command::CallFinished { call, leg } => self.call_finished(&call, leg),
        }
    }

    /// Ends what is left and gives BYEs a moment to leave.
    async fn finish(mut self) {
        self.stop_bridged_calls();
        self.core.end_all_calls(Instant::now().into_std());
        self.flush();
        tokio::time::sleep(Duration::from_millis(50)).await;
        for (_, h) in self.echoes.drain() {
            let _ = h.stop.send(());
        }
    }

    fn flush(&mut self) {
        while let Some(t) = self.core.poll_transmit() {
            match t.peer.transport {
                Transport::Udp => {
                    if let Some(sock) = &self.udp
                        && let Err(e) = sock.try_send_to(&t.bytes, t.peer.addr)
                    {
                        tracing::debug!(peer = %t.peer, error = %e, "UDP send failed");
                    }
                }
                Transport::Tcp => {
                    if !self.tcp.send(t.peer.addr, t.bytes) {
                        tracing::debug!(peer = %t.peer, "no TCP connection to send on");
                    }
                }
            }
        }
        while let Some(ev) = self.core.poll_event() {
            match ev {
                SwitchEvent::EchoStart { call, local, offer } => {
                    let m = &self.cfg.media;
                    let settings = echo::EchoSettings {
                        rtp_timeout: Duration::from_secs(m.rtp_timeout_s),
                        transcode: m.echo_transcode,
                        opus: m.opus(),
                    };
                    let metrics = self.node.metrics.clone();
                    let sock = self.port_sockets.claim(local);
                    let h = echo::spawn(
                        call.clone(),
                        (local, sock),
                        offer,
                        settings,
                        self.media_tx.clone(),
                        metrics,
                    );
                    self.echoes.insert(call, h);
                }
                SwitchEvent::EchoUpdate { call, remote, send } => {
                    if let Some(h) = self.echoes.get(&call) {
                        let _ = h.remote.send((remote, send));
                    }
                    self.trunk_media_changed(&call, remote, send);
                }
                SwitchEvent::MediaStop { call } => {
                    if let Some(h) = self.echoes.remove(&call) {
                        let _ = h.stop.send(());
                    }
                }
                SwitchEvent::CallEnded { call, reason } => self.trunk_call_ended(&call, reason),
                SwitchEvent::IncomingCall {
                    call,
                    app,
                    endpoint,
                    did,
                    caller,
                    trunk_offer,
                    media_bind,
                } => {
                    self.incoming_call(call, &app, &endpoint, did, &caller, trunk_offer, media_bind)
                }
                SwitchEvent::Leg { leg, event } => {
                    self.bridged_leg_event(leg, &event);
                    let last = matches!(event, LegEvent::Failed { .. } | LegEvent::Ended { .. });
                    if let Some(tx) = self.legs.get(&leg) {
                        let _ = tx.try_send(event);
                    }
                    if last {
                        self.legs.remove(&leg);
                    }
                }
            }
        }
    }
}

/// Messages handled per wake-up beyond the first, before answers go out.
const INBOUND_BATCH: usize = 32;

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
