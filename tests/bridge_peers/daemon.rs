//! The daemon started in-process on loopback, and an endpoint session on `/v1/ws`.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use pstn_bridge::driver::{self, Running, ShutdownTx, Stop};
use serde_json::{Value, json};
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::Message;

use super::{DID, deadline};

const SECRET: &str = "in-process test secret, at least 32 bytes long";

pub struct Daemon {
    running: Running,
    keys: pstn_bridge::auth::TokenKeys,
    stop: ShutdownTx,
}

/// Starts the daemon on loopback with ports 0; outbound calls go to `uas`.
pub async fn daemon(uas: SocketAddr, media_base: u16) -> Daemon {
    daemon_with(uas, media_base, "").await
}

/// As `daemon`, with `media_extra` (TOML lines) added to the `[media]` table.
pub async fn daemon_with(uas: SocketAddr, media_base: u16, media_extra: &str) -> Daemon {
    let text = format!(
        r#"
[sip]
bind_udp = "127.0.0.1:0"
advertised_host = "127.0.0.1"
[http]
bind = "127.0.0.1:0"
[media]
bind_ip = "127.0.0.1"
advertised_ip = "127.0.0.1"
port_min = {media_base}
port_max = {max}
webrtc_port = 0
{media_extra}
[trunks.carrier]
addresses = ["127.0.0.1/32"]
destination = "{uas}"
numbers = ["+*"]
[apps.demo]
numbers = {{ "{DID}" = "alice" }}
trunks = ["carrier"]
default_role = "agent"
[apps.demo.token_keys.k1]
alg = "HS256"
secret = "{SECRET}"
[apps.demo.roles.agent]
allow = ["+1*"]
deny = ["+1900*"]
default_caller_id = "{DID}"
"#,
        max = media_base + 99
    );
    let cfg = pstn_bridge::config::load_str(&text, "bridge_inprocess", false).expect("config");
    let keys = pstn_bridge::auth::TokenKeys::from_config(&cfg)
        .expect("keys")
        .0;
    let (stop, rx) = driver::shutdown_channel();
    let running = driver::start(cfg, rx).await.expect("daemon starts");
    Daemon {
        running,
        keys,
        stop,
    }
}

impl Daemon {
    pub fn sip(&self) -> SocketAddr {
        self.running.bound.sip_udp.expect("SIP/UDP bound")
    }

    pub fn token(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        self.keys
            .mint("demo", "alice", "agent", &["pstn".into()], 600, now)
            .expect("token")
    }

    pub async fn stop(self) {
        let _ = self.stop.send(Stop::Immediate);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.running.done).await;
    }
}

pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One endpoint session on `/v1/ws`; remembers every message it received.
pub struct Ws {
    ws: WsStream,
    seen: Vec<Value>,
}

impl Ws {
    pub async fn login(d: &Daemon) -> Ws {
        let url = format!("ws://{}/v1/ws", d.running.bound.http);
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws");
        let mut ws = Ws { ws, seen: vec![] };
        ws.send(json!({"type": "auth", "token": d.token(), "protocol": 1}))
            .await;
        ws.expect("ready", deadline(5)).await;
        ws
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::text(v.to_string()))
            .await
            .expect("ws send");
    }

    /// The next message of type `kind` (others are kept in `seen`).
    pub async fn expect(&mut self, kind: &str, until: Instant) -> Value {
        loop {
            let msg = match timeout_at(until, self.ws.next()).await {
                Ok(Some(Ok(m))) => m,
                Ok(other) => panic!(
                    "ws closed waiting for {kind}: {other:?}; saw {:?}",
                    self.seen
                ),
                Err(_) => panic!("no {kind} in time; saw {:?}", self.seen),
            };
            let Message::Text(t) = msg else { continue };
            let v: Value = serde_json::from_str(&t).expect("json");
            self.seen.push(v.clone());
            if v["type"] == kind {
                return v;
            }
        }
    }

    /// Returns once a `callState` with `state` has arrived (now or before).
    pub async fn wait_state(&mut self, state: &str, until: Instant) {
        while !self.states().iter().any(|s| s == state) {
            self.expect("callState", until).await;
        }
    }

    pub fn states(&self) -> Vec<String> {
        let states = self.seen.iter().filter(|v| v["type"] == "callState");
        states
            .map(|v| v["state"].as_str().unwrap_or("?").to_owned())
            .collect()
    }
}
