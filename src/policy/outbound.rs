//! Outbound: may this endpoint call that number, on which trunk, showing which caller ID?
//!
//! Precedence, first failure wins: app, role, PSTN scope, the number itself, the role's
//! deny then allow patterns, the caller ID, the trunk.

use super::caller_id::{CallerIdChoice, OutboundIdentity, resolve};
use super::e164::{E164, dialled};
use super::pattern::{Dialable, any_matches, any_or_invalid};
use super::reasons::{EndReason, Rejection};
use crate::config::{AppConfig, Config, RoleConfig, TrunkConfig};

/// The token scope that lets an endpoint place phone calls.
pub const PSTN_SCOPE: &str = "pstn";

/// An endpoint's request to call a phone number.
#[derive(Debug, Clone)]
pub struct OutboundRequest<'a> {
    pub app: &'a str,
    pub role: &'a str,
    /// The calling endpoint (for logs and CDRs; rules do not depend on it).
    pub endpoint: &'a str,
    /// Scopes of the endpoint's token; [`PSTN_SCOPE`] is required.
    pub scopes: &'a [String],
    /// The number as the endpoint wrote it.
    pub to: &'a str,
    pub caller_id: CallerIdChoice,
}

/// The policy's answer to an outbound call request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundDecision {
    Place {
        trunk: String,
        to: Dialable,
        identity: OutboundIdentity,
    },
    Reject(Rejection),
}

impl OutboundDecision {
    /// 200 when the call is placed (its outcome then comes from the far end), else the
    /// rejection's status.
    pub fn sip_code(&self) -> u16 {
        match self {
            Self::Place { .. } => 200,
            Self::Reject(r) => r.sip_code(),
        }
    }

    pub fn reason_phrase(&self) -> &'static str {
        match self {
            Self::Place { .. } => "OK",
            Self::Reject(r) => r.reason_phrase(),
        }
    }

    pub fn end_reason(&self) -> EndReason {
        match self {
            Self::Place { .. } => EndReason::NORMAL,
            Self::Reject(r) => r.end_reason(),
        }
    }
}

/// Decides an outbound call request.
pub fn decide_outbound(cfg: &Config, req: &OutboundRequest) -> OutboundDecision {
    match place(cfg, req) {
        Ok((trunk, to, identity)) => OutboundDecision::Place {
            trunk,
            to,
            identity,
        },
        Err(r) => OutboundDecision::Reject(r),
    }
}

fn place(
    cfg: &Config,
    req: &OutboundRequest,
) -> Result<(String, Dialable, OutboundIdentity), Rejection> {
    let app = cfg
        .apps
        .get(&req.app.to_ascii_lowercase())
        .ok_or(Rejection::UnknownApp)?;
    let role = app
        .roles
        .get(&req.role.to_ascii_lowercase())
        .ok_or(Rejection::UnknownRole)?;
    if !req.scopes.iter().any(|s| s == PSTN_SCOPE) {
        return Err(Rejection::MissingPstnScope);
    }
    let to = classify(cfg, req.to)?;
    check_role(role, &to)?;
    let emergency = matches!(to, Dialable::Emergency(_));
    let caller = caller_number(app, role, &req.caller_id, emergency)?;
    let (trunk_name, trunk) = choose_trunk(cfg, app, &to)?;
    let identity = match caller {
        Caller::Shown(n) => OutboundIdentity::shown(n, trunk.trusted),
        Caller::Hidden(real) => OutboundIdentity::anonymous(real, trunk.trusted),
    };
    Ok((trunk_name.to_owned(), to, identity))
}

/// An emergency code when the dialled digits (no `+`) are one of `[emergency] numbers`;
/// otherwise the number must be E.164.
pub fn classify(cfg: &Config, to: &str) -> Result<Dialable, Rejection> {
    if let Ok(d) = dialled(to)
        && !d.plus
        && cfg.emergency.numbers.iter().any(|e| e.trim() == d.digits)
    {
        return Ok(Dialable::Emergency(d.digits));
    }
    E164::parse(to)
        .map(Dialable::Number)
        .map_err(|_| Rejection::InvalidNumber)
}

/// Deny wins over allow. An emergency code must be named in `allow` (`*` and prefixes
/// never cover it) and not in `deny`.
pub fn check_role(role: &RoleConfig, to: &Dialable) -> Result<(), Rejection> {
    let denied = any_or_invalid(&role.deny, to);
    let allowed = any_matches(&role.allow, to);
    match (to, denied, allowed) {
        (Dialable::Emergency(_), false, true) | (Dialable::Number(_), false, true) => Ok(()),
        (Dialable::Emergency(_), _, _) => Err(Rejection::EmergencyNotAllowed),
        (Dialable::Number(_), true, _) => Err(Rejection::DeniedNumber),
        (Dialable::Number(_), false, false) => Err(Rejection::ForbiddenNumber),
    }
}

enum Caller {
    Shown(E164),
    /// Anonymous; the real number, when one is known, for PAI toward trusted trunks.
    Hidden(Option<E164>),
}

/// Ordinary calls follow the caller-ID rules. Emergency calls always present a callback
/// number when one can be found (an anonymous request is not honoured toward emergency
/// services) and are never refused for lack of one; an explicit number the app does not
/// own is still refused.
fn caller_number(
    app: &AppConfig,
    role: &RoleConfig,
    choice: &CallerIdChoice,
    emergency: bool,
) -> Result<Caller, Rejection> {
    if !emergency {
        return Ok(match resolve(app, role, choice)? {
            Some(n) => Caller::Shown(n),
            None => Caller::Hidden(resolve(app, role, &CallerIdChoice::Default).ok().flatten()),
        });
    }
    let fallback = || resolve(app, role, &CallerIdChoice::Default).ok().flatten();
    let number = match choice {
        CallerIdChoice::Explicit(s) if !s.trim().is_empty() => resolve(app, role, choice)?,
        _ => fallback(),
    };
    Ok(number.map_or(Caller::Hidden(None), Caller::Shown))
}

/// Emergency codes: the first of the app's trunks marked `emergency`. Numbers: the first
/// of the app's trunks whose `numbers` patterns carry it.
pub fn choose_trunk<'c>(
    cfg: &'c Config,
    app: &AppConfig,
    to: &Dialable,
) -> Result<(&'c str, &'c TrunkConfig), Rejection> {
    let mut trunks = app
        .trunks
        .iter()
        .filter_map(|name| cfg.trunks.get_key_value(&name.to_ascii_lowercase()));
    match to {
        Dialable::Emergency(_) => trunks
            .find(|(_, t)| t.emergency)
            .ok_or(Rejection::NoEmergencyTrunk),
        Dialable::Number(_) => trunks
            .find(|(_, t)| any_matches(&t.numbers, to))
            .ok_or(Rejection::NoTrunk),
    }
    .map(|(k, t)| (k.as_str(), t))
}
