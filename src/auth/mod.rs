//! Endpoint tokens: JWTs that admit a web endpoint to the signaling WebSocket.
//!
//! A token names its app (`app`), endpoint (`sub`), role (`role`), scopes (`scopes`; phone
//! calls need [`PSTN_SCOPE`](crate::policy::PSTN_SCOPE)), and its lifetime (`iat`, `exp`,
//! optional `nbf`); the header's `kid` picks one of **that app's** keys. Keys are per app:
//! a token naming app A verifies only with A's keys, whatever its `kid`. The format is
//! documented in `docs/tokens.md`.
//!
//! Sans-IO: the current time is an argument (`now_unix`, seconds since the epoch).

pub mod dev_mint;
mod error;
mod keys;
mod verify;

#[cfg(test)]
mod tests;

pub use error::{KeyError, Malformed, TokenError};
pub use keys::{GENERATED_KID, TokenAlg, TokenKeys, check_key_config, generated_key_notice};

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_S: u64 = 60;
/// Longest lifetime [`TokenKeys::mint`] signs, in seconds (30 days).
pub const MAX_TTL_S: u64 = 30 * 24 * 3600;
/// Tokens longer than this are refused unread.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// What a verified token says. `role` is the token's role, or the app's `default_role`
/// when the token names none; it always exists in the app's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointClaims {
    pub app: String,
    /// The endpoint id (`sub`).
    pub endpoint: String,
    pub role: String,
    pub scopes: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issue time, seconds since the epoch.
    pub iat: u64,
    /// The key that signed the token.
    pub kid: String,
}

impl EndpointClaims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}
