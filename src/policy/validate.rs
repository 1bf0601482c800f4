//! Dial-plan checks run when the configuration loads: what the decisions rely on.
//! Each problem names its dotted key; `config::validate` adds the file.

use std::collections::BTreeMap;

use super::e164::{E164, E164Error, MAX_DIGITS};
use super::inbound::ECHO;
use super::pattern::{NumberPattern, PatternError};
use crate::config::{Config, NationalFormat};

/// A dial-plan configuration the policy refuses to run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyConfigError {
    #[error("`{value}` is not an E.164 number: {error}")]
    NotE164 {
        key: String,
        value: String,
        error: E164Error,
    },
    #[error("invalid pattern `{value}`: {error}")]
    InvalidPattern {
        key: String,
        value: String,
        error: PatternError,
    },
    #[error("`{value}` is not one of the emergency numbers ([emergency] numbers)")]
    UnknownEmergencyCode { key: String, value: String },
    #[error("`{value}` is a short code: trunks carry emergency calls with `emergency = true`")]
    ShortCodeOnTrunk { key: String, value: String },
    #[error("emergency number `{value}` must be 2 to 6 digits, without +")]
    BadEmergencyNumber { key: String, value: String },
    #[error("DID {did} is assigned twice (also in app `{first_app}`)")]
    DuplicateDid {
        key: String,
        did: E164,
        first_app: String,
    },
    #[error("default caller ID {number} is not a number of app `{app}`")]
    CallerIdNotOwned {
        key: String,
        number: E164,
        app: String,
    },
    #[error("unknown role `{role}`")]
    UnknownRole { key: String, role: String },
    #[error("unknown trunk `{trunk}`")]
    UnknownTrunk { key: String, trunk: String },
    #[error(
        "`{value}` must be an endpoint id or `echo`, not a number or URI: inbound calls never leave through a trunk"
    )]
    BadEndpoint { key: String, value: String },
    #[error("digest username `{username}` is also used by trunk `{other}`")]
    DuplicateUsername {
        key: String,
        username: String,
        other: String,
    },
    #[error("the trunk carries outbound calls (numbers or emergency) but has no destination")]
    NoDestination { key: String },
    #[error("{what}")]
    BadNationalFormat { key: String, what: &'static str },
}

impl PolicyConfigError {
    /// The dotted configuration key at fault.
    pub fn key(&self) -> &str {
        match self {
            Self::NotE164 { key, .. }
            | Self::InvalidPattern { key, .. }
            | Self::UnknownEmergencyCode { key, .. }
            | Self::ShortCodeOnTrunk { key, .. }
            | Self::BadEmergencyNumber { key, .. }
            | Self::DuplicateDid { key, .. }
            | Self::CallerIdNotOwned { key, .. }
            | Self::UnknownRole { key, .. }
            | Self::UnknownTrunk { key, .. }
            | Self::BadEndpoint { key, .. }
            | Self::DuplicateUsername { key, .. }
            | Self::NoDestination { key }
            | Self::BadNationalFormat { key, .. } => key,
        }
    }
}

type Check = Result<(), PolicyConfigError>;

/// Checks trunks, apps, DIDs, roles and emergency numbers; the first problem is returned.
pub fn validate_policy(cfg: &Config) -> Check {
    for code in &cfg.emergency.numbers {
        let ok = (2..=6).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit());
        if !ok {
            return Err(PolicyConfigError::BadEmergencyNumber {
                key: "emergency.numbers".into(),
                value: code.clone(),
            });
        }
    }
    let mut usernames: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, trunk) in &cfg.trunks {
        let key = |k: &str| format!("trunks.{name}.{k}");
        for p in &trunk.numbers {
            match NumberPattern::parse(p) {
                Err(error) => {
                    return Err(PolicyConfigError::InvalidPattern {
                        key: key("numbers"),
                        value: p.clone(),
                        error,
                    });
                }
                Ok(NumberPattern::Short(_)) => {
                    return Err(PolicyConfigError::ShortCodeOnTrunk {
                        key: key("numbers"),
                        value: p.clone(),
                    });
                }
                Ok(_) => {}
            }
        }
        if (trunk.emergency || !trunk.numbers.is_empty()) && trunk.destination.is_none() {
            return Err(PolicyConfigError::NoDestination {
                key: key("destination"),
            });
        }
        if let Some(n) = &trunk.national {
            check_national(n, &key("national"))?;
        }
        if let Some(c) = &trunk.inbound_auth
            && let Some(other) = usernames.insert(&c.username, name)
        {
            return Err(PolicyConfigError::DuplicateUsername {
                key: key("inbound_auth.username"),
                username: c.username.clone(),
                other: other.to_owned(),
            });
        }
    }
    check_apps(cfg)
}

fn check_national(n: &NationalFormat, key: &str) -> Check {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let bad = |k: &str, what| {
        Err(PolicyConfigError::BadNationalFormat {
            key: format!("{key}.{k}"),
            what,
        })
    };
    if !digits(&n.country_code) || n.country_code.len() > 3 || n.country_code.starts_with('0') {
        return bad(
            "country_code",
            "a country code is 1 to 3 digits, not starting with 0",
        );
    }
    if n.length == 0 || n.country_code.len() + usize::from(n.length) > MAX_DIGITS {
        return bad(
            "length",
            "country code plus national length must be 1 to 15 digits",
        );
    }
    if n.trunk_prefix.as_deref().is_some_and(|p| !digits(p)) {
        return bad("trunk_prefix", "a trunk prefix is digits only");
    }
    if n.international_prefix
        .as_deref()
        .is_some_and(|p| !digits(p))
    {
        return bad(
            "international_prefix",
            "an international prefix is digits only",
        );
    }
    Ok(())
}

fn check_apps(cfg: &Config) -> Check {
    let mut dids: BTreeMap<E164, &str> = BTreeMap::new();
    for (app_name, app) in &cfg.apps {
        let key = |k: &str| format!("apps.{app_name}.{k}");
        for t in &app.trunks {
            if !cfg.trunks.contains_key(&t.to_ascii_lowercase()) {
                return Err(PolicyConfigError::UnknownTrunk {
                    key: key("trunks"),
                    trunk: t.clone(),
                });
            }
        }
        let mut owned = Vec::new();
        for (did, endpoint) in &app.numbers {
            let did_key = key(&format!("numbers.{did}"));
            let n = E164::parse(did).map_err(|error| PolicyConfigError::NotE164 {
                key: did_key.clone(),
                value: did.clone(),
                error,
            })?;
            let e = endpoint.trim();
            let looks_external =
                e.is_empty() || e.starts_with('+') || e.contains(':') || e.contains('@');
            if looks_external && e != ECHO {
                return Err(PolicyConfigError::BadEndpoint {
                    key: did_key,
                    value: endpoint.clone(),
                });
            }
            if let Some(first) = dids.insert(n.clone(), app_name) {
                return Err(PolicyConfigError::DuplicateDid {
                    key: did_key,
                    did: n,
                    first_app: first.to_owned(),
                });
            }
            owned.push(n);
        }
        if let Some(r) = &app.default_role
            && !app.roles.contains_key(&r.to_ascii_lowercase())
        {
            return Err(PolicyConfigError::UnknownRole {
                key: key("default_role"),
                role: r.clone(),
            });
        }
        for (role_name, role) in &app.roles {
            let rkey = |k: &str| key(&format!("roles.{role_name}.{k}"));
            check_patterns(cfg, &role.allow, &rkey("allow"))?;
            check_patterns(cfg, &role.deny, &rkey("deny"))?;
            if let Some(d) = &role.default_caller_id {
                let k = rkey("default_caller_id");
                let n = E164::parse(d).map_err(|error| PolicyConfigError::NotE164 {
                    key: k.clone(),
                    value: d.clone(),
                    error,
                })?;
                if !owned.contains(&n) {
                    return Err(PolicyConfigError::CallerIdNotOwned {
                        key: k,
                        number: n,
                        app: app_name.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

fn check_patterns(cfg: &Config, list: &[String], key: &str) -> Check {
    for p in list {
        match NumberPattern::parse(p) {
            Err(error) => {
                return Err(PolicyConfigError::InvalidPattern {
                    key: key.to_owned(),
                    value: p.clone(),
                    error,
                });
            }
            Ok(NumberPattern::Short(code)) if !cfg.emergency.numbers.iter().any(|e| e == &code) => {
                return Err(PolicyConfigError::UnknownEmergencyCode {
                    key: key.to_owned(),
                    value: p.clone(),
                });
            }
            Ok(_) => {}
        }
    }
    Ok(())
}
