//! Minting for the demo page, from loopback only.

use std::net::SocketAddr;

use serde::Deserialize;
use serde_json::{Value, json};

use super::TokenKeys;
use crate::policy::PSTN_SCOPE;

/// Default lifetime of a demo-page token, in seconds.
pub const DEV_DEFAULT_TTL_S: u64 = 3600;
/// Longest lifetime of a demo-page token, in seconds.
pub const DEV_MAX_TTL_S: u64 = 24 * 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevMintRequest {
    app: String,
    endpoint: String,
    role: String,
    #[serde(default)]
    ttl: Option<u64>,
}

/// `POST` body `{app, endpoint, role, ttl?}` → `{"token": "..."}` with scopes `["pstn"]`.
///
/// Refused with 403 unless the peer is a loopback address, and for apps with configured
/// keys: those are minted by the app's back-end (or `pstn-bridge token`); the demo page
/// mints only with keys generated at start-up. Behind a reverse proxy on the same host
/// every peer is loopback: the route must not be exposed through one (refuse requests
/// carrying `Forwarded` / `X-Forwarded-For` when wiring it).
pub async fn mint_dev_token(
    keys: &TokenKeys,
    peer: SocketAddr,
    request: Value,
    now_unix: u64,
) -> Result<Value, (u16, String)> {
    if !peer.ip().to_canonical().is_loopback() {
        return Err((
            403,
            "tokens are minted here only for loopback clients".into(),
        ));
    }
    let req: DevMintRequest = serde_json::from_value(request)
        .map_err(|e| (400, format!("expected {{app, endpoint, role, ttl?}}: {e}")))?;
    if !keys.is_generated(&req.app) && keys.can_mint(&req.app) {
        return Err((
            403,
            format!(
                "app {} has configured token keys: mint its tokens from its back-end or with \
                 `pstn-bridge token`",
                super::error::clip(&req.app)
            ),
        ));
    }
    let ttl = req.ttl.unwrap_or(DEV_DEFAULT_TTL_S).min(DEV_MAX_TTL_S);
    let token = keys
        .mint(
            &req.app,
            &req.endpoint,
            &req.role,
            &[PSTN_SCOPE.to_owned()],
            ttl,
            now_unix,
        )
        .map_err(|e| (400, e.to_string()))?;
    Ok(json!({ "token": token }))
}
