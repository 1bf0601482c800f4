//! Simulated endpoints' signaling: one WebSocket session per endpoint on `/v1/ws`, logged in
//! with a token; server messages are routed to call tasks, call tasks' messages sent.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio_tungstenite::tungstenite::Message;

use super::call::Event;
use super::routes::Routes;

/// Where call tasks register to receive their endpoint's messages: by caller number
/// (`incomingCall`) or by request id (`startPhoneCall`).
#[derive(Clone, Default)]
pub struct WsRoutes(Routes);

impl WsRoutes {
    pub fn by_caller(&self, number: &str, tx: UnboundedSender<Event>) {
        self.0.insert(format!("caller:{number}"), tx);
    }

    pub fn by_request(&self, request_id: &str, tx: UnboundedSender<Event>) {
        self.0.insert(format!("req:{request_id}"), tx);
    }

    pub fn forget(&self, keys: &[String]) {
        self.0.forget(keys);
    }

    fn get(&self, key: &str) -> Option<UnboundedSender<Event>> {
        self.0.get(key)
    }
}

/// A logged-in endpoint: send messages through it.
#[derive(Clone)]
pub struct Session {
    tx: UnboundedSender<Value>,
}

impl Session {
    pub fn send(&self, msg: Value) {
        let _ = self.tx.send(msg);
    }
}

/// Opens `/v1/ws` at `ws_url`, logs in with `token` and runs the session in a task.
pub async fn login(ws_url: &str, token: &str, routes: WsRoutes) -> Result<Session, String> {
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(ws_url, None, true)
        .await
        .map_err(|e| format!("cannot open {ws_url}: {e}"))?;
    let auth = json!({"type": "auth", "token": token, "protocol": 1});
    ws.send(Message::text(auth.to_string()))
        .await
        .map_err(|e| format!("sending auth: {e}"))?;
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
    let reply = match first {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<Value>(&t).unwrap_or_default(),
        other => return Err(format!("no reply to auth: {other:?}")),
    };
    if reply["type"] != "ready" {
        return Err(format!("login refused: {reply}"));
    }
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(ws, rx, routes));
    Ok(Session { tx })
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn run(mut ws: Ws, mut out: UnboundedReceiver<Value>, routes: WsRoutes) {
    let mut calls: HashMap<String, UnboundedSender<Event>> = HashMap::new();
    let mut ping = tokio::time::interval(Duration::from_secs(20));
    loop {
        tokio::select! {
            msg = out.recv() => {
                let Some(msg) = msg else { return };
                if ws.send(Message::text(msg.to_string())).await.is_err() {
                    return;
                }
            }
            got = ws.next() => {
                let text = match got {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(_)) => continue,
                    _ => {
                        tracing::warn!("endpoint session closed by the bridge");
                        return;
                    }
                };
                let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                deliver(v, &mut calls, &routes);
            }
            _ = ping.tick() => {
                let _ = ws.send(Message::text(json!({"type": "ping"}).to_string())).await;
            }
        }
    }
}

/// Hands a server message to the call it concerns.
fn deliver(v: Value, calls: &mut HashMap<String, UnboundedSender<Event>>, routes: &WsRoutes) {
    let call_id = v["callId"].as_str().map(str::to_owned);
    let target = match (v["type"].as_str(), &call_id) {
        (Some("incomingCall"), Some(id)) => {
            let caller = v["callerId"]["number"].as_str().unwrap_or("");
            let tx = routes.get(&format!("caller:{caller}"));
            if let Some(tx) = &tx {
                calls.insert(id.clone(), tx.clone());
            }
            tx
        }
        (Some("callAccepted"), Some(id)) => {
            let req = v["requestId"].as_str().unwrap_or("");
            let tx = routes.get(&format!("req:{req}"));
            if let Some(tx) = &tx {
                calls.insert(id.clone(), tx.clone());
            }
            tx
        }
        (Some("callEnded"), None) => {
            let req = v["requestId"].as_str().unwrap_or("");
            routes.get(&format!("req:{req}"))
        }
        (Some("callEnded"), Some(id)) => calls.remove(id),
        (_, Some(id)) => calls.get(id).cloned(),
        (Some("pong"), None) => None,
        _ => {
            tracing::warn!(message = %v, "endpoint: message for no call");
            None
        }
    };
    if let Some(tx) = target {
        let _ = tx.send(Event::Ws(v));
    }
}
