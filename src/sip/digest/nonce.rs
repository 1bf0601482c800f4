//! Stateless UAS nonces: no per-nonce memory.

use std::fmt;

use sha2::{Digest as _, Sha256};

use super::constant_time_eq;

/// Result of [`NonceIssuer::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceCheck {
    /// Ours and fresh.
    Valid,
    /// Ours but expired: challenge again with `stale=true`.
    Stale,
    /// Not issued by us (or malformed).
    Invalid,
}

/// UAS: stateless nonces `hex(ts) hex(counter) hex(HMAC-SHA256(secret, ts|counter))[..32]`.
/// No per-nonce memory; replay within the lifetime is not detected.
#[derive(Clone)]
pub struct NonceIssuer {
    secret: [u8; 32],
    lifetime_secs: u64,
    counter: u64,
}

impl fmt::Debug for NonceIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceIssuer")
            .field("lifetime_secs", &self.lifetime_secs)
            .finish()
    }
}

const NONCE_LEN: usize = 64;

impl NonceIssuer {
    /// With a given secret (share it between nodes that must accept each other's nonces).
    pub fn new(secret: [u8; 32], lifetime_secs: u64) -> Self {
        NonceIssuer {
            secret,
            lifetime_secs,
            counter: 0,
        }
    }

    /// With a random secret.
    pub fn random(lifetime_secs: u64) -> Self {
        let mut secret = [0u8; 32];
        rand::fill(&mut secret[..]);
        Self::new(secret, lifetime_secs)
    }

    /// A fresh nonce stamped with `now_unix_secs`.
    pub fn issue(&mut self, now_unix_secs: u64) -> String {
        self.counter = self.counter.wrapping_add(1);
        let body = format!("{now_unix_secs:016x}{:016x}", self.counter);
        let mac = self.mac(&body);
        body + &mac
    }

    /// Whether `nonce` is ours and still within its lifetime.
    pub fn check(&self, nonce: &str, now_unix_secs: u64) -> NonceCheck {
        if nonce.len() != NONCE_LEN || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return NonceCheck::Invalid;
        }
        let (body, mac) = nonce.split_at(32);
        if !constant_time_eq(self.mac(body).as_bytes(), mac.as_bytes()) {
            return NonceCheck::Invalid;
        }
        let Ok(ts) = u64::from_str_radix(&body[..16], 16) else {
            return NonceCheck::Invalid;
        };
        if now_unix_secs.saturating_sub(ts) > self.lifetime_secs {
            NonceCheck::Stale
        } else {
            NonceCheck::Valid
        }
    }

    fn mac(&self, body: &str) -> String {
        let mut ipad = [0x36u8; 64];
        let mut opad = [0x5cu8; 64];
        for (i, k) in self.secret.iter().enumerate() {
            ipad[i] ^= k;
            opad[i] ^= k;
        }
        let inner = Sha256::new()
            .chain_update(ipad)
            .chain_update(body)
            .finalize();
        let outer = Sha256::new()
            .chain_update(opad)
            .chain_update(inner)
            .finalize();
        hex::encode(&outer.as_slice()[..16])
    }
}
