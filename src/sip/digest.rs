//! HTTP Digest authentication for SIP (RFC 8760, RFC 7616, RFC 2617): MD5 and
//! SHA-256 (plus `-sess`), qop=auth or none. Hand-written parser: rsip's
//! mishandles `algorithm=SHA-256`.

use std::fmt;

use md5::Md5;
use sha2::{Digest as _, Sha256};

/// Digest hash algorithm (the `algorithm` parameter; absent means MD5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    #[default]
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    /// The token used on the wire.
    pub fn token(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    fn from_token(s: &str) -> Result<Self, DigestError> {
        [Self::Md5, Self::Md5Sess, Self::Sha256, Self::Sha256Sess]
            .into_iter()
            .find(|a| a.token().eq_ignore_ascii_case(s))
            .ok_or(DigestError::UnsupportedAlgorithm)
    }

    fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// Lowercase hex hash of `parts` joined by `:`.
    fn hash(self, parts: &[&str]) -> String {
        let joined = parts.join(":");
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => hex::encode(Md5::digest(&joined).as_slice()),
            Algorithm::Sha256 | Algorithm::Sha256Sess => {
                hex::encode(Sha256::digest(&joined).as_slice())
            }
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.token())
    }
}

/// Why a digest header value was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    #[error("authentication scheme is not Digest")]
    NotDigest,
    #[error("malformed digest parameters at byte {0}")]
    Syntax(usize),
    #[error("missing digest parameter `{0}`")]
    MissingParam(&'static str),
    #[error("unsupported digest algorithm")]
    UnsupportedAlgorithm,
    #[error("invalid nonce count")]
    InvalidNc,
}

/// A `WWW-Authenticate` / `Proxy-Authenticate` Digest challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    pub qop: Vec<String>,
    pub stale: bool,
}

impl Challenge {
    /// Parses a header value such as `Digest realm="x", nonce="y", qop="auth"`.
    pub fn parse(header_value: &str) -> Result<Challenge, DigestError> {
        let p = Params::parse(header_value)?;
        Ok(Challenge {
            realm: p.required("realm")?,
            nonce: p.required("nonce")?,
            opaque: p.get("opaque"),
            algorithm: p.algorithm()?,
            qop: p.get("qop").map_or_else(Vec::new, |q| {
                q.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            }),
            stale: p
                .get("stale")
                .is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    fn offers_auth(&self) -> bool {
        self.qop.iter().any(|q| q.eq_ignore_ascii_case("auth"))
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest realm={}, nonce={}",
            Quoted(&self.realm),
            Quoted(&self.nonce)
        )?;
        if let Some(o) = &self.opaque {
            write!(f, ", opaque={}", Quoted(o))?;
        }
        write!(f, ", algorithm={}", self.algorithm)?;
        if !self.qop.is_empty() {
            write!(f, ", qop={}", Quoted(&self.qop.join(",")))?;
        }
        if self.stale {
            f.write_str(", stale=true")?;
        }
        Ok(())
    }
}

/// An `Authorization` / `Proxy-Authorization` Digest answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Algorithm,
    pub cnonce: Option<String>,
    pub nc: Option<u32>,
    pub qop: Option<String>,
    pub opaque: Option<String>,
}

impl Credentials {
    /// Parses an `Authorization` header value.
    pub fn parse(header_value: &str) -> Result<Credentials, DigestError> {
        let p = Params::parse(header_value)?;
        let nc = match p.get("nc") {
            None => None,
            Some(s) if s.len() == 8 => {
                Some(u32::from_str_radix(&s, 16).map_err(|_| DigestError::InvalidNc)?)
            }
            Some(_) => return Err(DigestError::InvalidNc),
        };
        Ok(Credentials {
            username: p.required("username")?,
            realm: p.required("realm")?,
            nonce: p.required("nonce")?,
            uri: p.required("uri")?,
            response: p.required("response")?,
            algorithm: p.algorithm()?,
            cnonce: p.get("cnonce"),
            nc,
            qop: p.get("qop"),
            opaque: p.get("opaque"),
        })
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
            Quoted(&self.username),
            Quoted(&self.realm),
            Quoted(&self.nonce),
            Quoted(&self.uri),
            Quoted(&self.response),
            self.algorithm
        )?;
        if let Some(c) = &self.cnonce {
            write!(f, ", cnonce={}", Quoted(c))?;
        }
        if let Some(nc) = self.nc {
            write!(f, ", nc={nc:08x}")?;
        }
        if let Some(q) = &self.qop {
            write!(f, ", qop={q}")?;
        }
        if let Some(o) = &self.opaque {
            write!(f, ", opaque={}", Quoted(o))?;
        }
        Ok(())
    }
}

/// UAC: answers a 401/407 challenge. Uses qop=auth when offered, otherwise the
/// legacy RFC 2069 form (no qop, `cnonce` and `nc` omitted).
pub fn respond(
    challenge: &Challenge,
    method: &str,
    uri: &str,
    username: &str,
    password: &str,
    cnonce: &str,
    nc: u32,
) -> Credentials {
    let qop = challenge.offers_auth().then(|| "auth".to_owned());
    let with_qop = qop.is_some();
    let cnonce = (with_qop || challenge.algorithm.is_sess()).then(|| cnonce.to_owned());
    let nc = with_qop.then_some(nc);
    let mut creds = Credentials {
        username: username.to_owned(),
        realm: challenge.realm.clone(),
        nonce: challenge.nonce.clone(),
        uri: uri.to_owned(),
        response: String::new(),
        algorithm: challenge.algorithm,
        cnonce,
        nc,
        qop,
        opaque: challenge.opaque.clone(),
    };
    // Invariant: qop is None or "auth" with cnonce and nc set, and -sess has a
    // cnonce, so compute_response returns Some.
    creds.response = compute_response(&creds, method, password).unwrap_or_default();
    creds
}

/// UAS: checks `creds.response` against `password` in constant time. Realm,
/// nonce freshness and replay are the caller's to check ([`NonceIssuer`]).
pub fn verify(creds: &Credentials, method: &str, password: &str) -> bool {
    compute_response(creds, method, password).is_some_and(|expected| {
        constant_time_eq(
            expected.as_bytes(),
            creds.response.to_ascii_lowercase().as_bytes(),
        )
    })
}

/// The expected `response`; `None` when the parameters are inconsistent
/// (qop=auth without cnonce/nc, -sess without cnonce, or an unsupported qop).
fn compute_response(c: &Credentials, method: &str, password: &str) -> Option<String> {
    let alg = c.algorithm;
    let mut ha1 = alg.hash(&[&c.username, &c.realm, password]);
    if alg.is_sess() {
        ha1 = alg.hash(&[&ha1, &c.nonce, c.cnonce.as_deref()?]);
    }
    let ha2 = alg.hash(&[method, &c.uri]);
    match c.qop.as_deref() {
        None => Some(alg.hash(&[&ha1, &c.nonce, &ha2])),
        Some(q) if q.eq_ignore_ascii_case("auth") => {
            let nc = format!("{:08x}", c.nc?);
            Some(alg.hash(&[&ha1, &c.nonce, &nc, c.cnonce.as_deref()?, "auth", &ha2]))
        }
        Some(_) => None,
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Writes a quoted-string, escaping `"` and `\`.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            if c == '"' || c == '\\' {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str("\"")
    }
}

mod nonce;
mod params;

pub use nonce::{NonceCheck, NonceIssuer};
use params::Params;

#[cfg(test)]
mod tests;
