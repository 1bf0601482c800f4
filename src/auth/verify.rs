//! `TokenKeys::verify` and `TokenKeys::mint`.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Header, Validation, dangerous, decode, decode_header, encode};
use serde_json::{Map, Value, json};

use super::error::{Malformed, TokenError, clip};
use super::keys::{AppKeys, Key, TokenKeys};
use super::{EndpointClaims, LEEWAY_S, MAX_TOKEN_BYTES, MAX_TTL_S};

const MAX_ID_CHARS: usize = 256;

impl TokenKeys {
    /// Verifies a token at time `now_unix` (seconds since the epoch). Never panics on any
    /// input. The signature is checked with the key `kid` of the app the token names, and
    /// only then are the claims read.
    pub fn verify(&self, token: &str, now_unix: u64) -> Result<EndpointClaims, TokenError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(TokenError::Malformed(Malformed::Empty));
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed(Malformed::TooLong));
        }
        let header =
            decode_header(token).map_err(|_| TokenError::Malformed(Malformed::Structure))?;
        let kid = header.kid.ok_or(TokenError::MissingClaim("kid (header)"))?;
        // Unverified: used only to choose whose keys to check the signature with.
        let unverified: Value = dangerous::insecure_decode_claims(token)
            .map_err(|_| TokenError::Malformed(Malformed::Payload))?;
        let app_name = str_claim(unverified.as_object(), "app")?;
        let app = self
            .apps
            .get(app_name)
            .ok_or_else(|| TokenError::UnknownApp {
                app: clip(app_name),
            })?;
        let Some(key) = app.keys.get(&kid) else {
            return Err(match self.owner_of(&kid, app_name) {
                Some(other) => TokenError::WrongApp {
                    app: clip(app_name),
                    key_app: other.into(),
                },
                None => TokenError::UnknownKey {
                    app: clip(app_name),
                    kid: clip(&kid),
                },
            });
        };
        if header.alg != key.alg {
            return Err(TokenError::WrongAlgorithm {
                app: clip(app_name),
                kid: clip(&kid),
                expected: key.alg,
                got: header.alg,
            });
        }
        let claims = match check_signature(token, key) {
            Ok(c) => c,
            Err(TokenError::BadSignature { .. }) => {
                return Err(match self.signed_by_other_app(token, &kid, app_name) {
                    Some(other) => TokenError::WrongApp {
                        app: clip(app_name),
                        key_app: other.into(),
                    },
                    None => TokenError::BadSignature {
                        app: clip(app_name),
                        kid: clip(&kid),
                    },
                });
            }
            Err(e) => return Err(e),
        };
        let obj = claims.as_object();
        let verified_app = str_claim(obj, "app")?;
        if verified_app != app_name {
            // Same payload bytes were read twice; this cannot differ, but never trust it.
            return Err(TokenError::Malformed(Malformed::Payload));
        }
        read_claims(obj, app_name, app, kid, now_unix)
    }

    /// Mints a token for `endpoint` of `app` with `role` and `scopes`, valid `ttl_s` seconds
    /// from `now_unix`. Signs with the app's first key (by kid) the bridge holds a secret or
    /// private key for.
    pub fn mint(
        &self,
        app: &str,
        endpoint: &str,
        role: &str,
        scopes: &[String],
        ttl_s: u64,
        now_unix: u64,
    ) -> Result<String, TokenError> {
        let keys = self
            .apps
            .get(app)
            .ok_or_else(|| TokenError::UnknownApp { app: clip(app) })?;
        if !keys.roles.contains(role) {
            return Err(TokenError::UnknownRole {
                app: clip(app),
                role: clip(role),
            });
        }
        if !id_ok(endpoint) {
            return Err(TokenError::InvalidClaim {
                claim: "sub",
                expected: "a non-empty endpoint id of at most 256 characters",
            });
        }
        if scopes.iter().any(|s| s.is_empty()) {
            return Err(TokenError::InvalidClaim {
                claim: "scopes",
                expected: "an array of non-empty strings",
            });
        }
        if ttl_s == 0 || ttl_s > MAX_TTL_S {
            return Err(TokenError::InvalidTtl {
                ttl: ttl_s,
                max: MAX_TTL_S,
            });
        }
        let (kid, key, enc) = keys
            .keys
            .iter()
            .find_map(|(kid, k)| k.encoding.as_ref().map(|e| (kid, k, e)))
            .ok_or_else(|| TokenError::NoSigningKey { app: clip(app) })?;
        let mut header = Header::new(key.alg);
        header.kid = Some(kid.clone());
        let claims = json!({
            "app": app,
            "sub": endpoint,
            "role": role,
            "scopes": scopes,
            "iat": now_unix,
            "exp": now_unix.saturating_add(ttl_s),
        });
        encode(&header, &claims, enc).map_err(|_| TokenError::Signing)
    }

    /// The app (other than `not`) owning a key named `kid`, for a clearer error.
    fn owner_of(&self, kid: &str, not: &str) -> Option<&str> {
        self.apps
            .iter()
            .find(|(name, a)| name.as_str() != not && a.keys.contains_key(kid))
            .map(|(name, _)| name.as_str())
    }

    /// Another app whose key `kid` does verify the token (a token minted for the wrong app).
    fn signed_by_other_app(&self, token: &str, kid: &str, not: &str) -> Option<&str> {
        self.apps
            .iter()
            .filter(|(name, _)| name.as_str() != not)
            .find(|(_, a)| {
                a.keys
                    .get(kid)
                    .is_some_and(|k| check_signature(token, k).is_ok())
            })
            .map(|(name, _)| name.as_str())
    }
}

/// Checks the signature only; time and claims are checked by the caller with `now`.
fn check_signature(token: &str, key: &Key) -> Result<Value, TokenError> {
    let mut v = Validation::new(key.alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    match decode::<Value>(token, &key.decoding, &v) {
        Ok(data) => Ok(data.claims),
        Err(e) => Err(match e.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature {
                app: "".into(),
                kid: "".into(),
            },
            ErrorKind::Json(_) | ErrorKind::Utf8(_) => TokenError::Malformed(Malformed::Payload),
            _ => TokenError::Malformed(Malformed::Structure),
        }),
    }
}

fn id_ok(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= MAX_ID_CHARS && !s.chars().any(char::is_control)
}

fn str_claim<'a>(
    obj: Option<&'a Map<String, Value>>,
    claim: &'static str,
) -> Result<&'a str, TokenError> {
    let obj = obj.ok_or(TokenError::Malformed(Malformed::Payload))?;
    match obj.get(claim) {
        None | Some(Value::Null) => Err(TokenError::MissingClaim(claim)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(TokenError::InvalidClaim {
            claim,
            expected: "a string",
        }),
    }
}

fn time_claim(obj: &Map<String, Value>, claim: &'static str) -> Result<Option<u64>, TokenError> {
    match obj.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or(TokenError::InvalidClaim {
            claim,
            expected: "an integer number of seconds since the epoch",
        }),
    }
}

fn read_claims(
    obj: Option<&Map<String, Value>>,
    app_name: &str,
    app: &AppKeys,
    kid: String,
    now: u64,
) -> Result<EndpointClaims, TokenError> {
    let map = obj.ok_or(TokenError::Malformed(Malformed::Payload))?;
    let exp = time_claim(map, "exp")?.ok_or(TokenError::MissingClaim("exp"))?;
    let iat = time_claim(map, "iat")?.ok_or(TokenError::MissingClaim("iat"))?;
    let nbf = time_claim(map, "nbf")?;
    if now > exp.saturating_add(LEEWAY_S) {
        return Err(TokenError::Expired { exp, now });
    }
    for at in [Some(iat), nbf].into_iter().flatten() {
        if at > now.saturating_add(LEEWAY_S) {
            return Err(TokenError::NotYetValid { at, now });
        }
    }
    if exp <= iat {
        return Err(TokenError::InvalidClaim {
            claim: "exp",
            expected: "later than iat",
        });
    }
    let sub = str_claim(obj, "sub")?;
    if !id_ok(sub) {
        return Err(TokenError::InvalidClaim {
            claim: "sub",
            expected: "a non-empty endpoint id of at most 256 characters",
        });
    }
    let role = match map.get("role") {
        None | Some(Value::Null) => app
            .default_role
            .clone()
            .ok_or(TokenError::MissingClaim("role"))?,
        Some(_) => str_claim(obj, "role")?.to_owned(),
    };
    if !app.roles.contains(&role) {
        return Err(TokenError::UnknownRole {
            app: clip(app_name),
            role: clip(&role),
        });
    }
    let bad_scopes = TokenError::InvalidClaim {
        claim: "scopes",
        expected: "an array of strings, e.g. [\"pstn\"]",
    };
    let scopes = match map.get("scopes") {
        None | Some(Value::Null) => return Err(TokenError::MissingClaim("scopes")),
        Some(Value::Array(items)) if items.len() <= 64 => items
            .iter()
            .map(|s| s.as_str().map(str::to_owned).ok_or(bad_scopes.clone()))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(bad_scopes),
    };
    Ok(EndpointClaims {
        app: app_name.to_owned(),
        endpoint: sub.to_owned(),
        role,
        scopes,
        exp,
        iat,
        kid,
    })
}
