//! Typed token and key errors; each prints a message a developer can act on.

use std::fmt;

use jsonwebtoken::Algorithm;

/// Why a token could not be read at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    Empty,
    TooLong,
    /// Not three base64url parts, or a header that is not a JWS header.
    Structure,
    /// The payload is not a JSON object.
    Payload,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "the token is empty",
            Self::TooLong => "the token is longer than 8 KiB",
            Self::Structure => "not a JWT (expected header.payload.signature in base64url)",
            Self::Payload => "the payload is not a JSON object",
        })
    }
}

/// A problem with a configured key (`apps.APP.token_keys.KID`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("kid must be 1-64 characters of A-Z a-z 0-9 _ -")]
    BadKid,
    #[error("alg `{0}` is not supported: use \"HS256\", \"ES256\" or \"EdDSA\"")]
    UnsupportedAlg(Box<str>),
    #[error("HS256 needs `secret`")]
    MissingSecret,
    #[error("HS256 secret is {0} bytes; use at least 32 random bytes")]
    ShortSecret(usize),
    #[error("{0} keys take no `secret`; use public_key_pem (and private_key_pem to mint)")]
    SecretOnAsymmetric(TokenAlgName),
    #[error("HS256 keys take only `secret`, not PEM keys")]
    PemOnHmac,
    #[error("{0} needs `public_key_pem`")]
    MissingPublicKey(TokenAlgName),
    #[error("public_key_pem is not a valid {0} public key (PEM SubjectPublicKeyInfo)")]
    BadPublicKey(TokenAlgName),
    #[error("private_key_pem is not a valid {0} private key (PEM PKCS#8)")]
    BadPrivateKey(TokenAlgName),
    #[error("private_key_pem does not match public_key_pem")]
    KeyPairMismatch,
}

/// An algorithm name for messages (avoids a `String` in [`KeyError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenAlgName(pub Algorithm);

impl fmt::Display for TokenAlgName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Why a token was refused or could not be minted. Strings taken from a token are
/// truncated and stripped of control characters before they land here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error("malformed token: {0}")]
    Malformed(Malformed),
    #[error("unknown app `{app}`: the token's `app` claim names no configured app")]
    UnknownApp { app: Box<str> },
    #[error("app `{app}` has no key with kid `{kid}`")]
    UnknownKey { app: Box<str>, kid: Box<str> },
    #[error(
        "token for app `{app}` is signed with a key of app `{key_app}`: each app's tokens \
         must be signed with that app's own keys"
    )]
    WrongApp { app: Box<str>, key_app: Box<str> },
    #[error("key `{kid}` of app `{app}` is {expected:?}, but the token says {got:?}")]
    WrongAlgorithm {
        app: Box<str>,
        kid: Box<str>,
        expected: Algorithm,
        got: Algorithm,
    },
    #[error("bad signature: the token was not signed with key `{kid}` of app `{app}`")]
    BadSignature { app: Box<str>, kid: Box<str> },
    #[error("token expired at {exp} (now {now}); mint a new one")]
    Expired { exp: u64, now: u64 },
    #[error("token not valid before {at} (now {now}); check the minting host's clock")]
    NotYetValid { at: u64, now: u64 },
    #[error("token lacks the `{0}` claim")]
    MissingClaim(&'static str),
    #[error("claim `{claim}` must be {expected}")]
    InvalidClaim {
        claim: &'static str,
        expected: &'static str,
    },
    #[error("app `{app}` has no role `{role}` (see apps.{app}.roles)")]
    UnknownRole { app: Box<str>, role: Box<str> },
    #[error("app `{app}` has no key this bridge can sign with (HS256 secret or private_key_pem)")]
    NoSigningKey { app: Box<str> },
    #[error("ttl must be 1..={max} seconds, got {ttl}")]
    InvalidTtl { ttl: u64, max: u64 },
    #[error("apps.{app}.token_keys.{kid}: {source}")]
    InvalidKey {
        app: Box<str>,
        kid: Box<str>,
        source: KeyError,
    },
    #[error("signing failed")]
    Signing,
}

impl TokenError {
    /// A stable, machine-readable code for signaling `error` messages.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Expired { .. } => "token_expired",
            Self::NotYetValid { .. } => "token_not_yet_valid",
            Self::Malformed(_) => "token_malformed",
            Self::UnknownApp { .. } | Self::UnknownKey { .. } | Self::WrongApp { .. } => {
                "token_unknown_key"
            }
            Self::MissingClaim(_) | Self::InvalidClaim { .. } | Self::UnknownRole { .. } => {
                "token_claims"
            }
            _ => "token_invalid",
        }
    }
}

/// Untrusted text for an error message: at most 64 characters, no control characters.
pub(crate) fn clip(s: &str) -> Box<str> {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(64).collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out.into_boxed_str()
}
