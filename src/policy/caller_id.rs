//! Caller identity in both directions.
//!
//! Inbound: what the endpoint is shown as `callerId {number, name}`.
//! Outbound: which of the app's numbers the far end sees, and how it is written in
//! `From`, `Privacy` and `P-Asserted-Identity` (RFC 3323, RFC 3325).

use serde::Serialize;

use super::e164::E164;
use super::reasons::Rejection;
use crate::config::{AppConfig, NationalFormat, RoleConfig};

/// The caller of an inbound call as shown to the endpoint; `None` is "unknown".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallerId {
    pub number: Option<String>,
    pub name: Option<String>,
}

impl CallerId {
    /// Caller hidden by `Privacy: id`, or nothing usable presented.
    pub fn unknown() -> Self {
        Self::default()
    }
}

/// What the endpoint asked for as its outbound caller ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerIdChoice {
    /// Nothing given: the role's default, else the app's only number.
    Default,
    /// A number the app must own; `""` means anonymous.
    Explicit(String),
    /// `callerId: null` or `""`: show the caller as anonymous.
    Anonymous,
}

/// How an outbound INVITE presents the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboundIdentity {
    /// `From` display name (`"Anonymous"` when anonymous).
    pub from_display: Option<String>,
    /// `From` user part: the number, or `anonymous`.
    pub from_user: String,
    /// `From` host: `anonymous.invalid` when anonymous, else the bridge's own host.
    pub from_host: Option<String>,
    /// Send `Privacy: id`.
    pub privacy_id: bool,
    /// `P-Asserted-Identity`, only toward trusted trunks.
    pub pai: Option<E164>,
}

/// From-user and host of an anonymous caller (RFC 3323 §4.1.1.3).
pub const ANONYMOUS_USER: &str = "anonymous";
pub const ANONYMOUS_HOST: &str = "anonymous.invalid";
pub const ANONYMOUS_DISPLAY: &str = "Anonymous";

impl OutboundIdentity {
    /// The caller shown as `number`.
    pub fn shown(number: E164, trusted: bool) -> Self {
        Self {
            from_display: None,
            from_user: number.to_string(),
            from_host: None,
            privacy_id: false,
            pai: trusted.then_some(number),
        }
    }

    /// The caller hidden; the real number, when known, goes in PAI to trusted trunks only.
    pub fn anonymous(real: Option<E164>, trusted: bool) -> Self {
        Self {
            from_display: Some(ANONYMOUS_DISPLAY.into()),
            from_user: ANONYMOUS_USER.into(),
            from_host: Some(ANONYMOUS_HOST.into()),
            privacy_id: true,
            pai: real.filter(|_| trusted),
        }
    }
}

/// Does the app own `n` (as a DID key, in any spelling)?
pub fn app_owns(app: &AppConfig, n: &E164) -> bool {
    app.numbers.contains_key(n.as_str())
        || app
            .numbers
            .keys()
            .any(|k| E164::parse(k).is_ok_and(|k| &k == n))
}

/// The caller ID used when the endpoint gives none: the role's default (if the app owns
/// it), else the app's only number.
pub fn default_caller_id(app: &AppConfig, role: &RoleConfig) -> Result<E164, Rejection> {
    if let Some(d) = role.default_caller_id.as_deref() {
        return match E164::parse(d) {
            Ok(n) if app_owns(app, &n) => Ok(n),
            _ => Err(Rejection::CallerIdNotOwned),
        };
    }
    let mut owned = app.numbers.keys().filter_map(|k| E164::parse(k).ok());
    match (owned.next(), owned.next()) {
        (Some(only), None) => Ok(only),
        _ => Err(Rejection::NoCallerId),
    }
}

/// `Some(number)` to show, `None` for anonymous.
pub fn resolve(
    app: &AppConfig,
    role: &RoleConfig,
    choice: &CallerIdChoice,
) -> Result<Option<E164>, Rejection> {
    match choice {
        CallerIdChoice::Anonymous => Ok(None),
        CallerIdChoice::Explicit(s) if s.trim().is_empty() => Ok(None),
        CallerIdChoice::Explicit(s) => match E164::parse(s) {
            Ok(n) if app_owns(app, &n) => Ok(Some(n)),
            _ => Err(Rejection::CallerIdNotOwned),
        },
        CallerIdChoice::Default => default_caller_id(app, role).map(Some),
    }
}

/// The inbound caller: PAI when the trunk is trusted and PAI is a number, else From;
/// `Privacy: id` hides both number and name. Numbers that do not parse show as unknown.
pub fn inbound_caller(
    trusted: bool,
    national: Option<&NationalFormat>,
    from: &str,
    from_name: Option<&str>,
    pai: Option<&str>,
    pai_name: Option<&str>,
    privacy_id: bool,
) -> CallerId {
    if privacy_id {
        return CallerId::unknown();
    }
    let parse = |s: &str| E164::parse_with(s, national).ok();
    let asserted = pai
        .filter(|_| trusted)
        .and_then(|p| parse(p).map(|n| (n, pai_name.or(from_name))));
    let (number, name) = match asserted {
        Some((n, name)) => (Some(n), name),
        None => (parse(from), from_name),
    };
    let name = name
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case(ANONYMOUS_DISPLAY));
    CallerId {
        number: number.map(|n| n.to_string()),
        name: name.map(str::to_owned),
    }
}
