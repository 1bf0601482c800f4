//! `pstn-bridge-loadgen`: simulated endpoints and a simulated carrier that load a running
//! bridge, measured at both ends and through the daemon's own `/metrics`.
//!
//! One call = one task holding both ends (carrier SIP dialog + RTP, endpoint WebRTC peer);
//! endpoints' WebSocket sessions and the carrier's SIP socket are shared tasks that route
//! messages to calls. Audio is encoded once at start-up and replayed.

mod audio;
pub mod bridge_config;
mod call;
mod carrier;
mod endpoint;
mod http;
mod peer;
mod report;
mod routes;
pub mod sip_text;
mod stats;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;

use call::{Outcome, Plan, Progress, Shared};
pub use report::Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Carrier calls endpoints that accept Opus only: the bridge transcodes PCMU ⇄ Opus.
    Transcode,
    /// Carrier calls endpoints that accept PCMU: the bridge forwards without transcoding.
    Passthrough,
    /// Carrier calls endpoints; calls are set up (ICE, DTLS) but carry no audio.
    Signaling,
    /// Endpoints (Opus) call the carrier, which answers as a UAS.
    Outbound,
}

#[derive(Debug, Parser)]
#[command(
    name = "pstn-bridge-loadgen",
    version,
    about = "Load generator for pstn-bridge",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Sub>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Print a daemon configuration for load runs (app `load`, trunk `loadgen`).
    Config(ConfigArgs),
}

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// Endpoints (and DIDs) to configure.
    #[arg(long, default_value_t = 100)]
    pub endpoints: usize,
    /// The generator's carrier SIP address (trunk source and outbound destination).
    #[arg(long, default_value = "127.0.0.1:5090")]
    pub carrier: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:5060")]
    pub sip: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    #[arg(long, default_value = "127.0.0.1")]
    pub media_ip: IpAddr,
    /// The daemon's trunk-side RTP port range (one port per call).
    #[arg(long, default_value_t = 10000)]
    pub port_min: u16,
    #[arg(long, default_value_t = 31999)]
    pub port_max: u16,
    /// The daemon's WebRTC port (0: any).
    #[arg(long, default_value_t = 9000)]
    pub webrtc_port: u16,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The daemon's HTTP base URL (`/metrics`, `/v1/ws`).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub daemon: String,
    /// The configuration file the daemon runs with (endpoints, DIDs and token keys).
    #[arg(long)]
    pub bridge_config: Option<PathBuf>,
    /// The app whose endpoints are simulated.
    #[arg(long, default_value = "load")]
    pub app: String,
    /// The daemon's SIP/UDP address (default: `sip.bind_udp` of the bridge configuration).
    #[arg(long)]
    pub sip: Option<SocketAddr>,
    /// Where the simulated carrier's SIP socket binds.
    #[arg(long, default_value = "127.0.0.1:5090")]
    pub carrier: SocketAddr,
    /// Address for the generator's RTP and WebRTC sockets.
    #[arg(long, default_value = "127.0.0.1")]
    pub media_ip: IpAddr,
    #[arg(long, value_enum, default_value = "transcode")]
    pub mode: Mode,
    /// Calls to place; all are held at once when the hold outlasts the ramp.
    #[arg(long, default_value_t = 10)]
    pub calls: usize,
    /// New calls per second.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Seconds each call is held once connected.
    #[arg(long, default_value_t = 30.0)]
    pub hold: f64,
    /// Endpoints to log in (default: as many as calls, up to the app's endpoints).
    #[arg(long)]
    pub endpoints: Option<usize>,
    /// Seconds a call may take to connect.
    #[arg(long, default_value_t = 15.0)]
    pub setup_timeout: f64,
    /// Threads (so cores) the generator runs on. One thread per core it may use: with one,
    /// pinned beside a pinned daemon, its CPU share reads directly; on a machine of its
    /// own, give it every core so the generator is not what runs out first.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: u16,
    /// Write the result as one JSON object to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// The binary's entry point.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PSTN_BRIDGE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Some(Sub::Config(c)) = cli.command {
        print!("{}", generate_config(&c));
        return ExitCode::SUCCESS;
    }
    // One thread by default: pinned to one core, its share is read from its own CPU time.
    let mut builder = match cli.run.threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(usize::from(n));
            b
        }
    };
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json_path = cli.run.json.clone();
    match rt.block_on(run(cli.run)) {
        Ok(report) => {
            if let Some(path) = &json_path {
                let text = serde_json::to_string_pretty(&report).unwrap_or_default();
                if let Err(e) = std::fs::write(path, text + "\n") {
                    eprintln!("pstn-bridge-loadgen: cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            println!("{}", report::MARKDOWN_HEADER);
            println!("{}", report.markdown_row());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pstn-bridge-loadgen: {e}");
            ExitCode::from(2)
        }
    }
}

fn generate_config(c: &ConfigArgs) -> String {
    let secret: String = (0..32)
        .map(|_| char::from(b'a' + rand::random::<u8>() % 26))
        .collect();
    bridge_config::generate(&bridge_config::Generate {
        endpoints: c.endpoints,
        carrier: c.carrier,
        sip: c.sip,
        http: c.http,
        media_ip: c.media_ip,
        ports: (c.port_min, c.port_max),
        webrtc_port: c.webrtc_port,
        secret,
    })
}

/// Pause between the last login and the first call: two of the bridge's half-second load
/// samples.
const LOGIN_SETTLE: Duration = Duration::from_secs(1);

/// Runs one load run against the daemon and returns what was measured.
pub async fn run(args: RunArgs) -> Result<Report, String> {
    if args.calls == 0 || args.rate <= 0.0 || args.hold < 0.0 {
        return Err("--calls and --rate must be positive, --hold not negative".into());
    }
    let cfg = crate::config::load(args.bridge_config.as_deref()).map_err(|e| e.to_string())?;
    let all = bridge_config::endpoints(&cfg, &args.app)?;
    let n = args.endpoints.unwrap_or(args.calls).clamp(1, all.len());
    let eps = &all[..n];
    let bridge_sip = args
        .sip
        .or(cfg.sip.bind_udp)
        .ok_or("the bridge has no SIP/UDP address: pass --sip")?;
    let audio = Arc::new(audio::Audio::encode()?);
    // One throwaway peer first: the crypto library's lazy start-up (entropy source, first
    // key pair) would otherwise land in the first calls' set-up times.
    peer::Peer::offer(args.media_ip, str0m::format::Codec::Opus).await?;
    let sip = UdpSocket::bind(args.carrier)
        .await
        .map_err(|e| format!("carrier SIP socket {}: {e}", args.carrier))?;
    let sip = Arc::new(sip);
    let sip_routes = carrier::SipRoutes::default();
    tokio::spawn(carrier::receive_loop(sip.clone(), sip_routes.clone()));
    let ws_routes = endpoint::WsRoutes::default();
    let ws_url = format!("ws://{}/v1/ws", http::authority(&args.daemon)?);
    let mut sessions = Vec::with_capacity(n);
    for (_, ep) in eps {
        let token = token(&cfg, &args, ep).await?;
        sessions.push(endpoint::login(&ws_url, &token, ws_routes.clone()).await?);
    }
    // Logging every endpoint in is load of its own (WebSocket upgrades, token checks): let
    // the bridge's admission rule see it as past before the first call, so the calls'
    // set-up is measured on its own (a call arriving in the same sample period as the
    // login burst may be refused with 503 for load that has already ended).
    tokio::time::sleep(LOGIN_SETTLE).await;
    let (progress, mut progress_rx) = mpsc::unbounded_channel();
    let shared = Shared {
        audio,
        sip_addr: sip.local_addr().map_err(|e| e.to_string())?,
        sip,
        sip_routes,
        ws_routes,
        progress,
    };
    let before = http::sample(&args.daemon).await?;
    let host_before = report::host_cpu_ticks();
    let spawner = spawn_calls(&args, eps, &sessions, bridge_sip, shared);

    let mut m = Measure::new(args.calls, Duration::from_secs_f64(args.hold));
    let deadline = Instant::now()
        + Duration::from_secs_f64(args.calls as f64 / args.rate + args.setup_timeout + args.hold)
        + Duration::from_secs(30);
    while m.finished.len() < args.calls {
        let wake = m.window_end.unwrap_or(deadline).min(deadline);
        tokio::select! {
            p = progress_rx.recv() => match p {
                Some(Progress::Connected(at)) => m.connected(at),
                Some(Progress::Finished(o)) => m.finished(*o),
                None => break,
            },
            _ = tokio::time::sleep_until(wake) => {
                if Instant::now() >= deadline {
                    return Err(format!("run did not finish: {} of {} calls ended", m.finished.len(), args.calls));
                }
            }
        }
        m.sample_if_due(&args.daemon, args.mode).await?;
    }
    spawner.abort();
    let after = http::sample(&args.daemon).await?;
    let mut r = Report::new(&args, n, before, after, m);
    r.host_steal_percent = report::steal_percent(host_before, report::host_cpu_ticks());
    Ok(r)
}

async fn token(
    cfg: &crate::config::Config,
    args: &RunArgs,
    endpoint: &str,
) -> Result<String, String> {
    let (keys, _) = crate::auth::TokenKeys::from_config(cfg).map_err(|e| e.to_string())?;
    if keys.can_mint(&args.app) && !keys.is_generated(&args.app) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let role = cfg.apps[&args.app].default_role.clone().unwrap_or_default();
        return keys
            .mint(&args.app, endpoint, &role, &["pstn".into()], 24 * 3600, now)
            .map_err(|e| format!("minting a token for {endpoint}: {e}"));
    }
    // No key in the file (the daemon generated one): ask its loopback-only dev endpoint.
    let body = serde_json::json!({"app": args.app, "endpoint": endpoint}).to_string();
    let (code, text) = http::request(&args.daemon, "POST", "/v1/dev/token", &body).await?;
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    match (code, v["token"].as_str()) {
        (200, Some(t)) => Ok(t.to_owned()),
        _ => Err(format!(
            "no token for {endpoint}: the configuration has no signing key for app '{}' and /v1/dev/token answered {code} {text}",
            args.app
        )),
    }
}

fn spawn_calls(
    args: &RunArgs,
    eps: &[(String, String)],
    sessions: &[endpoint::Session],
    bridge_sip: SocketAddr,
    shared: Shared,
) -> tokio::task::JoinHandle<()> {
    let start = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / args.rate);
    let plans: Vec<Plan> = (0..args.calls)
        .map(|i| {
            let k = i % eps.len();
            let other = match args.mode {
                Mode::Outbound => format!("{}{i:04}", bridge_config::DIAL_PREFIX),
                _ => format!("{}{i:07}", bridge_config::CALLER_PREFIX),
            };
            Plan {
                index: i,
                mode: args.mode,
                did: eps[k].0.clone(),
                other,
                hold: Duration::from_secs_f64(args.hold),
                setup_timeout: Duration::from_secs_f64(args.setup_timeout),
                bridge_sip,
                media_ip: args.media_ip,
                session: sessions[k].clone(),
            }
        })
        .collect();
    tokio::spawn(async move {
        for (i, plan) in plans.into_iter().enumerate() {
            tokio::time::sleep_until(start + gap * i as u32).await;
            tokio::spawn(call::run(plan, shared.clone()));
        }
    })
}

/// What the run loop tracks: calls connected and finished, and the measuring window
/// (all calls up, before the first hangs up) with `/metrics` samples at both ends.
pub struct Measure {
    calls: usize,
    hold: Duration,
    connected: usize,
    first_connected: Option<Instant>,
    finished: Vec<Outcome>,
    window_start: Option<(http::Sample, usize, f64)>,
    window_end: Option<Instant>,
    window_done: bool,
    window: Option<Window>,
}

/// The steady part of a run: every call up, none hung up yet.
pub struct Window {
    start: http::Sample,
    end: http::Sample,
    calls_up: usize,
    own_cpu_seconds: f64,
}

impl Measure {
    fn new(calls: usize, hold: Duration) -> Self {
        Self {
            calls,
            hold,
            connected: 0,
            first_connected: None,
            finished: Vec::new(),
            window_start: None,
            window_end: None,
            window_done: false,
            window: None,
        }
    }

    fn connected(&mut self, at: Instant) {
        self.connected += 1;
        self.first_connected.get_or_insert(at);
    }

    fn finished(&mut self, o: Outcome) {
        self.finished.push(o);
    }

    /// Calls up now: connected and not yet ended.
    fn up(&self) -> usize {
        let ended_after_connect = self.finished.iter().filter(|o| o.connected);
        self.connected.saturating_sub(ended_after_connect.count())
    }

    async fn sample_if_due(&mut self, daemon: &str, mode: Mode) -> Result<(), String> {
        if mode == Mode::Signaling {
            return Ok(());
        }
        let failed_early = self.finished.iter().filter(|o| !o.connected).count();
        let all_set_up = self.connected + failed_early >= self.calls;
        if !self.window_done && self.window_start.is_none() && all_set_up {
            let Some(first) = self.first_connected else {
                self.window_done = true;
                return Ok(());
            };
            let end = first + self.hold - Duration::from_millis(500);
            if end > Instant::now() + Duration::from_secs(1) {
                let s = http::sample(daemon).await?;
                self.window_start = Some((s, self.up(), report::own_cpu_seconds()));
                self.window_end = Some(end);
            } else {
                tracing::warn!("hold too short for a measuring window: raise --hold");
                self.window_done = true;
            }
        }
        if let (Some((start, up, own)), Some(end)) = (self.window_start, self.window_end)
            && Instant::now() >= end
        {
            let s = http::sample(daemon).await?;
            let own_cpu = report::own_cpu_seconds() - own;
            let up = up.min(self.up());
            self.window = Some(Window {
                start,
                end: s,
                calls_up: up,
                own_cpu_seconds: own_cpu,
            });
            self.window_start = None;
            self.window_end = None;
            self.window_done = true;
        }
        Ok(())
    }
}
