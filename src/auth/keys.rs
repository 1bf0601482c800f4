//! Per-app key sets, built from `apps.NAME.token_keys` (plus generated keys).

use std::collections::{BTreeMap, BTreeSet};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, crypto};

use super::error::{KeyError, TokenAlgName, TokenError};
use crate::config::{Config, TokenKeyConfig};

/// The `kid` of a key generated at start-up for an app that configures none.
pub const GENERATED_KID: &str = "generated";

/// Supported token algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenAlg {
    /// HMAC-SHA256 with a shared secret.
    Hs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl TokenAlg {
    /// Parses the config spelling: "HS256", "ES256" or "EdDSA".
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "HS256" => Some(Self::Hs256),
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            _ => None,
        }
    }

    pub fn jwt(self) -> Algorithm {
        match self {
            Self::Hs256 => Algorithm::HS256,
            Self::Es256 => Algorithm::ES256,
            Self::EdDsa => Algorithm::EdDSA,
        }
    }
}

/// One usable key: always verifies, signs when the bridge holds the secret/private key.
pub(super) struct Key {
    pub(super) alg: Algorithm,
    pub(super) decoding: DecodingKey,
    pub(super) encoding: Option<EncodingKey>,
}

pub(super) struct AppKeys {
    pub(super) keys: BTreeMap<String, Key>,
    pub(super) generated: bool,
    pub(super) roles: BTreeSet<String>,
    pub(super) default_role: Option<String>,
}

/// Every app's token keys. Build once at start-up with [`TokenKeys::from_config`].
pub struct TokenKeys {
    pub(super) apps: BTreeMap<String, AppKeys>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (name, app) in &self.apps {
            m.entry(name, &app.keys.keys().collect::<Vec<_>>());
        }
        m.finish()
    }
}

impl TokenKeys {
    /// Builds every app's keys. An app without `token_keys` gets a random HS256 key with
    /// kid [`GENERATED_KID`]; the names of those apps are returned so the caller can log
    /// [`generated_key_notice`] for each.
    pub fn from_config(cfg: &Config) -> Result<(Self, Vec<String>), TokenError> {
        let mut apps = BTreeMap::new();
        let mut generated = Vec::new();
        for (name, app) in &cfg.apps {
            let mut keys = BTreeMap::new();
            for (kid, kc) in &app.token_keys {
                let key = build_key(kid, kc).map_err(|source| TokenError::InvalidKey {
                    app: name.as_str().into(),
                    kid: kid.as_str().into(),
                    source,
                })?;
                keys.insert(kid.clone(), key);
            }
            let is_generated = keys.is_empty();
            if is_generated {
                keys.insert(GENERATED_KID.to_owned(), generated_key());
                generated.push(name.clone());
            }
            apps.insert(
                name.clone(),
                AppKeys {
                    keys,
                    generated: is_generated,
                    roles: app.roles.keys().cloned().collect(),
                    default_role: app.default_role.clone(),
                },
            );
        }
        Ok((Self { apps }, generated))
    }

    /// True when the app's only key was generated at start-up.
    pub fn is_generated(&self, app: &str) -> bool {
        self.apps.get(app).is_some_and(|a| a.generated)
    }

    /// True when this bridge can mint tokens for the app.
    pub fn can_mint(&self, app: &str) -> bool {
        self.apps
            .get(app)
            .is_some_and(|a| a.keys.values().any(|k| k.encoding.is_some()))
    }
}

/// The start-up log line for an app that got a generated key.
pub fn generated_key_notice(app: &str) -> String {
    format!(
        "app {app} has no token keys: generated an ephemeral key; tokens can be minted only \
         by this process, e.g. from the demo page on loopback"
    )
}

fn generated_key() -> Key {
    let mut secret = [0u8; 32];
    rand::fill(&mut secret[..]);
    Key {
        alg: Algorithm::HS256,
        decoding: DecodingKey::from_secret(&secret),
        encoding: Some(EncodingKey::from_secret(&secret)),
    }
}

/// Checks one configured key the way [`TokenKeys::from_config`] will use it.
pub fn check_key_config(kid: &str, kc: &TokenKeyConfig) -> Result<(), KeyError> {
    build_key(kid, kc).map(|_| ())
}

fn kid_ok(kid: &str) -> bool {
    (1..=64).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn build_key(kid: &str, kc: &TokenKeyConfig) -> Result<Key, KeyError> {
    if !kid_ok(kid) {
        return Err(KeyError::BadKid);
    }
    let alg =
        TokenAlg::parse(&kc.alg).ok_or_else(|| KeyError::UnsupportedAlg(kc.alg.as_str().into()))?;
    let jwt = alg.jwt();
    let name = TokenAlgName(jwt);
    if alg == TokenAlg::Hs256 {
        if kc.public_key_pem.is_some() || kc.private_key_pem.is_some() {
            return Err(KeyError::PemOnHmac);
        }
        let secret = kc.secret.as_deref().ok_or(KeyError::MissingSecret)?;
        if secret.len() < 32 {
            return Err(KeyError::ShortSecret(secret.len()));
        }
        return Ok(Key {
            alg: jwt,
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            encoding: Some(EncodingKey::from_secret(secret.as_bytes())),
        });
    }
    if kc.secret.is_some() {
        return Err(KeyError::SecretOnAsymmetric(name));
    }
    let public = kc
        .public_key_pem
        .as_deref()
        .ok_or(KeyError::MissingPublicKey(name))?
        .as_bytes();
    let decoding = match alg {
        TokenAlg::Es256 => DecodingKey::from_ec_pem(public),
        _ => DecodingKey::from_ed_pem(public),
    }
    .map_err(|_| KeyError::BadPublicKey(name))?;
    // The PEM parsers only unwrap the DER; building a verifier parses the key itself.
    // A bad signature is fine here, an unusable key is not.
    crypto::verify("AAAA", b"probe", &decoding, jwt).map_err(|_| KeyError::BadPublicKey(name))?;
    let encoding = match kc.private_key_pem.as_deref() {
        None => None,
        Some(pem) => {
            let enc = match alg {
                TokenAlg::Es256 => EncodingKey::from_ec_pem(pem.as_bytes()),
                _ => EncodingKey::from_ed_pem(pem.as_bytes()),
            }
            .map_err(|_| KeyError::BadPrivateKey(name))?;
            let sig =
                crypto::sign(b"probe", &enc, jwt).map_err(|_| KeyError::BadPrivateKey(name))?;
            if !crypto::verify(&sig, b"probe", &decoding, jwt).unwrap_or(false) {
                return Err(KeyError::KeyPairMismatch);
            }
            Some(enc)
        }
    };
    Ok(Key {
        alg: jwt,
        decoding,
        encoding,
    })
}
