//! HTTP: `/healthz` (503 while draining), `/metrics`, the endpoint WebSocket `/v1/ws`,
//! development tokens for the demo page (`/v1/dev/token`, loopback only), and the SDK and
//! demo page.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::driver::NodeState;

pub fn router(state: Arc<NodeState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/ws", get(websocket))
        .route("/v1/dev/token", post(dev_token))
        .merge(super::web::routes())
        .with_state(state)
}

async fn healthz(State(node): State<Arc<NodeState>>) -> impl IntoResponse {
    if node.draining.load(Ordering::Relaxed) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n")
    } else {
        (StatusCode::OK, "ok\n")
    }
}

async fn metrics(State(node): State<Arc<NodeState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        node.metrics.render(),
    )
}

async fn websocket(
    ws: WebSocketUpgrade,
    State(node): State<Arc<NodeState>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
) -> Response {
    // Signaling messages are a few KB (an SDP at most): tungstenite's default 128 KiB
    // read buffer per session was the largest allocation of a bridged call.
    ws.max_message_size(64 * 1024)
        .read_buffer_size(8 * 1024)
        .on_upgrade(move |socket| super::signaling::session::run(socket, node, remote))
}

async fn dev_token(
    State(node): State<Arc<NodeState>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    // Behind a reverse proxy every client looks like loopback: refuse proxied requests.
    if headers.contains_key("forwarded") || headers.contains_key("x-forwarded-for") {
        return (
            StatusCode::FORBIDDEN,
            "development tokens are not minted through a proxy\n",
        )
            .into_response();
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match crate::auth::dev_mint::mint_dev_token(&node.tokens, remote, body, now).await {
        Ok(v) => Json(v).into_response(),
        Err((code, msg)) => {
            let code = StatusCode::from_u16(code).unwrap_or(StatusCode::FORBIDDEN);
            (code, format!("{msg}\n")).into_response()
        }
    }
}
