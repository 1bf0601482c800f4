//! One endpoint session over WebSocket: authenticate with the first message, register,
//! relay client requests to policy, the signaling task and call tasks, and deliver what
//! the server says. See `docs/signaling.md`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{Message, WebSocket};
use tokio::sync::mpsc;

use super::messages::{ClientMessage, IceServer, PROTOCOL, ServerMessage, WireEndReason};
use crate::auth::EndpointClaims;
use crate::driver::NodeState;
use crate::driver::call_task::{CallMsg, EndpointCmd};
use crate::driver::endpoints::SessionHandle;
use crate::policy::{self, CallerIdChoice, OutboundDecision, OutboundRequest};

const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs one session until the socket closes.
pub async fn run(mut socket: WebSocket, node: Arc<NodeState>, remote: SocketAddr) {
    let claims = match authenticate(&mut socket, &node).await {
        Ok(c) => c,
        Err((close_code, msg)) => {
            tracing::info!(%remote, error = %msg, "signaling session refused");
            let _ = socket
                .send(Message::Text(
                    ServerMessage::error("auth_failed", msg).to_json().into(),
                ))
                .await;
            let frame = axum::extract::ws::CloseFrame {
                code: close_code,
                reason: "authentication failed".into(),
            };
            let _ = socket.send(Message::Close(Some(frame))).await;
            return;
        }
    };
    let (tx, mut rx) = mpsc::channel::<ServerMessage>(256);
    let session = SessionHandle {
        id: node.endpoints.new_session_id(),
        tx,
    };
    let (app, endpoint) = (claims.app.clone(), claims.endpoint.clone());
    if node.endpoints.add(&app, &endpoint, session.clone()) {
        node.control.set_online(&app, &endpoint, true).await;
    }
    tracing::info!(%remote, %app, %endpoint, session = session.id, "endpoint session ready");
    let ready = ServerMessage::Ready {
        protocol: PROTOCOL,
        session_id: format!("s-{}", session.id),
        app: app.clone(),
        endpoint: endpoint.clone(),
        role: claims.role.clone(),
        ice_servers: node
            .cfg
            .media
            .ice_servers
            .iter()
            .map(|u| IceServer {
                urls: vec![u.clone()],
            })
            .collect(),
    };
    let mut open = socket
        .send(Message::Text(ready.to_json().into()))
        .await
        .is_ok();
    let mut my_calls: Vec<String> = Vec::new();
    while open {
        tokio::select! {
            incoming = tokio::time::timeout(IDLE_TIMEOUT, socket.recv()) => {
                let text = match incoming {
                    Ok(Some(Ok(Message::Text(t)))) => t,
                    Ok(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_)))) => continue,
                    Ok(Some(Ok(Message::Close(_))) | Some(Err(_)) | None) => break,
                    Err(_) => {
                        tracing::info!(session = session.id, "session idle, closing");
                        break;
                    }
                };
                let reply = handle(&node, &claims, &session, &my_calls, text.as_str()).await;
                if let Some(r) = reply {
                    open = socket.send(Message::Text(r.to_json().into())).await.is_ok();
                }
            }
            Some(out) = rx.recv() => {
                if let ServerMessage::CallAccepted { call_id, .. } | ServerMessage::IncomingCall { call_id, .. } = &out {
                    my_calls.push(call_id.clone());
                }
                open = socket.send(Message::Text(out.to_json().into())).await.is_ok();
            }
        }
    }
    if node.endpoints.remove(&app, &endpoint, session.id) {
        node.control.set_online(&app, &endpoint, false).await;
    }
    for call in my_calls {
        if let Some(c) = node.calls.get(&call) {
            let _ = c.try_send(CallMsg::SessionGone(session.id));
        }
    }
    tracing::info!(%app, %endpoint, session = session.id, "endpoint session closed");
}

async fn authenticate(
    socket: &mut WebSocket,
    node: &NodeState,
) -> Result<EndpointClaims, (u16, String)> {
    let first = tokio::time::timeout(AUTH_TIMEOUT, socket.recv())
        .await
        .map_err(|_| (4001, "no auth message within 10 s".to_owned()))?;
    let Some(Ok(Message::Text(text))) = first else {
        return Err((4001, "the first message must be auth".into()));
    };
    let Ok(ClientMessage::Auth { token, protocol }) =
        serde_json::from_str::<ClientMessage>(text.as_str())
    else {
        return Err((
            4001,
            "the first message must be {\"type\":\"auth\",\"token\":…}".into(),
        ));
    };
    if protocol.is_some_and(|p| p != PROTOCOL) {
        return Err((4002, format!("protocol {PROTOCOL} only")));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    node.tokens
        .verify(&token, now)
        .map_err(|e| (4001, e.to_string()))
}

async fn handle(
    node: &Arc<NodeState>,
    claims: &EndpointClaims,
    session: &SessionHandle,
    my_calls: &[String],
    text: &str,
) -> Option<ServerMessage> {
    let msg = match serde_json::from_str::<ClientMessage>(text) {
        Ok(m) => m,
        Err(e) => return Some(ServerMessage::error("bad_message", e.to_string())),
    };
    let (call_id, cmd) = match msg {
        ClientMessage::Ping => return Some(ServerMessage::Pong),
        ClientMessage::Auth { .. } => {
            return Some(ServerMessage::error("bad_message", "already authenticated"));
        }
        ClientMessage::StartPhoneCall {
            request_id,
            number,
            caller_id,
            sdp,
        } => {
            return start_phone_call(node, claims, session, request_id, number, caller_id, sdp)
                .await;
        }
        ClientMessage::Answer { call_id, sdp } => (call_id, EndpointCmd::Answer { sdp }),
        ClientMessage::Reject { call_id, busy } => (call_id, EndpointCmd::Reject { busy }),
        ClientMessage::HangUp { call_id } => (call_id, EndpointCmd::HangUp),
        ClientMessage::Hold { call_id } => (call_id, EndpointCmd::Hold),
        ClientMessage::Resume { call_id } => (call_id, EndpointCmd::Resume),
        ClientMessage::SendDtmf {
            call_id,
            digits,
            duration_ms,
        } => (
            call_id,
            EndpointCmd::Dtmf {
                digits,
                duration_ms: duration_ms.unwrap_or(100),
            },
        ),
    };
    let known = my_calls.contains(&call_id);
    match node.calls.get(&call_id) {
        Some(c) if known => {
            let _ = c.try_send(CallMsg::Endpoint {
                session: session.id,
                cmd,
            });
            None
        }
        _ => Some(ServerMessage::Error {
            code: "unknown_call".into(),
            message: "no such call in this session".into(),
            request_id: None,
            call_id: Some(call_id),
        }),
    }
}

async fn start_phone_call(
    node: &Arc<NodeState>,
    claims: &EndpointClaims,
    session: &SessionHandle,
    request_id: String,
    number: String,
    caller_id: Option<Option<String>>,
    sdp: String,
) -> Option<ServerMessage> {
    let choice = match caller_id {
        None => CallerIdChoice::Default,
        Some(None) => CallerIdChoice::Anonymous,
        Some(Some(s)) if s.is_empty() => CallerIdChoice::Anonymous,
        Some(Some(s)) => CallerIdChoice::Explicit(s),
    };
    let req = OutboundRequest {
        app: &claims.app,
        role: &claims.role,
        endpoint: &claims.endpoint,
        scopes: &claims.scopes,
        to: &number,
        caller_id: choice,
    };
    match policy::decide_outbound(&node.cfg, &req) {
        OutboundDecision::Reject(r) => {
            tracing::info!(app = %claims.app, endpoint = %claims.endpoint, rejection = ?r, "outbound call refused");
            Some(ServerMessage::CallEnded {
                call_id: None,
                request_id: Some(request_id),
                call_end_reason: WireEndReason::from(r.end_reason()),
                reason: r.name().to_owned(),
            })
        }
        OutboundDecision::Place {
            trunk,
            to,
            identity,
        } => {
            let start = crate::driver::OutboundStart {
                session: session.clone(),
                request_id,
                trunk,
                to: to.to_string(),
                identity,
                browser_sdp: sdp,
            };
            node.control.start_outbound(start).await;
            None
        }
    }
}
