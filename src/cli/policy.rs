//! `pstn-bridge policy outbound|inbound`: dry-run a dial plan decision as JSON.
//!
//! One JSON object on stdout; exit 0 allow, 1 reject (a 401 challenge included), 2 usage
//! or config error. The object always has `decision`, `sip_code`, `reason`,
//! `end_reason {code, sub_code}`, `trunk`, `caller_id {number, name}`, `privacy` and
//! `endpoint`; `detail`, `reason_phrase` and direction-specific keys add context.

use std::net::IpAddr;
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Value, json};

use crate::config::Config;
use crate::policy::{
    CallerIdChoice, Dialable, InboundAuth, InboundDecision, InboundRequest, OutboundDecision,
    OutboundRequest, PSTN_SCOPE, Target, decide_inbound, decide_outbound,
};

/// Exit status of an allowed call.
pub const EXIT_ALLOW: u8 = 0;
/// Exit status of a refused call.
pub const EXIT_REJECT: u8 = 1;
/// Exit status of a usage or configuration error.
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Clone, Subcommand)]
pub enum PolicyCommand {
    /// Would this endpoint's call to NUMBER be placed, and how?
    Outbound {
        #[arg(long)]
        app: String,
        #[arg(long)]
        role: String,
        /// Number as the endpoint would dial it (E.164 in any spelling, or an emergency code).
        #[arg(long)]
        to: String,
        /// Explicit caller ID; `""` means anonymous.
        #[arg(long, conflicts_with = "anonymous")]
        caller_id: Option<String>,
        /// Hide the caller (`callerId: null`).
        #[arg(long)]
        anonymous: bool,
        /// Calling endpoint id (reported only).
        #[arg(long, default_value = "cli")]
        endpoint: String,
        /// Token scopes of the endpoint; repeat for several.
        #[arg(long = "scope", default_values_t = [PSTN_SCOPE.to_owned()])]
        scopes: Vec<String>,
    },
    /// Where would a carrier's INVITE from SOURCE to NUMBER go?
    Inbound {
        #[arg(long)]
        source: IpAddr,
        /// Request-URI or its user part.
        #[arg(long)]
        to: String,
        /// From URI or number.
        #[arg(long)]
        from: String,
        #[arg(long)]
        from_name: Option<String>,
        /// P-Asserted-Identity URI or number.
        #[arg(long)]
        pai: Option<String>,
        #[arg(long)]
        pai_name: Option<String>,
        /// `id` for `Privacy: id`, `none` for none.
        #[arg(long)]
        privacy: Option<String>,
        /// Treat the request as carrying verified digest credentials of this trunk.
        #[arg(long, conflicts_with = "auth_failed")]
        auth_trunk: Option<String>,
        /// Treat the request as carrying credentials that failed to verify.
        #[arg(long)]
        auth_failed: bool,
    },
}

/// Runs a policy dry-run: prints one JSON object; exit 0 allow, 1 reject, 2 usage error.
pub fn run(cfg: &Config, cmd: PolicyCommand) -> ExitCode {
    let (value, code) = dry_run(cfg, &cmd);
    println!("{value}");
    ExitCode::from(code)
}

/// The JSON object `run` prints and its exit status.
pub fn dry_run(cfg: &Config, cmd: &PolicyCommand) -> (Value, u8) {
    match cmd {
        PolicyCommand::Outbound {
            app,
            role,
            to,
            caller_id,
            anonymous,
            endpoint,
            scopes,
        } => {
            let choice = match (caller_id, anonymous) {
                (_, true) => CallerIdChoice::Anonymous,
                (Some(c), false) => CallerIdChoice::Explicit(c.clone()),
                (None, false) => CallerIdChoice::Default,
            };
            let req = OutboundRequest {
                app,
                role,
                endpoint,
                scopes,
                to,
                caller_id: choice,
            };
            outbound_json(&decide_outbound(cfg, &req), endpoint)
        }
        PolicyCommand::Inbound {
            source,
            to,
            from,
            from_name,
            pai,
            pai_name,
            privacy,
            auth_trunk,
            auth_failed,
        } => {
            let privacy_id = match privacy.as_deref().map(str::to_ascii_lowercase).as_deref() {
                None | Some("none") => false,
                Some("id") => true,
                Some(_) => return usage("--privacy takes `id` or `none`"),
            };
            let auth = match (auth_trunk, auth_failed) {
                (_, true) => InboundAuth::Failed,
                (Some(t), false) => InboundAuth::Verified { trunk: t.clone() },
                (None, false) => InboundAuth::None,
            };
            let req = InboundRequest {
                source: *source,
                to,
                from,
                from_name: from_name.as_deref(),
                pai: pai.as_deref(),
                pai_name: pai_name.as_deref(),
                privacy_id,
                auth,
            };
            inbound_json(&decide_inbound(cfg, &req), privacy_id)
        }
    }
}

fn usage(msg: &str) -> (Value, u8) {
    (json!({ "decision": "error", "error": msg }), EXIT_USAGE)
}

fn outbound_json(d: &OutboundDecision, endpoint: &str) -> (Value, u8) {
    let end = d.end_reason();
    let mut v = json!({
        "direction": "outbound",
        "sip_code": d.sip_code(),
        "reason_phrase": d.reason_phrase(),
        "end_reason": { "code": end.code, "sub_code": end.sub_code },
        "endpoint": endpoint,
    });
    let extra = match d {
        OutboundDecision::Place {
            trunk,
            to,
            identity,
        } => json!({
            "decision": "allow",
            "reason": if matches!(to, Dialable::Emergency(_)) { "emergency" } else { "placed" },
            "detail": "call placed",
            "trunk": trunk,
            "to": to.to_string(),
            "emergency": matches!(to, Dialable::Emergency(_)),
            "caller_id": {
                "number": (!identity.privacy_id).then(|| identity.from_user.clone()),
                "name": identity.from_display,
            },
            "privacy": if identity.privacy_id { "id" } else { "none" },
            "from": from_uri(identity.from_display.as_deref(), &identity.from_user, identity.from_host.as_deref()),
            "pai": identity.pai.as_ref().map(ToString::to_string),
        }),
        OutboundDecision::Reject(r) => json!({
            "decision": "reject",
            "reason": r.name(),
            "detail": r.to_string(),
            "trunk": null,
            "caller_id": null,
            "privacy": null,
        }),
    };
    merge(&mut v, extra);
    let code = if matches!(d, OutboundDecision::Place { .. }) {
        EXIT_ALLOW
    } else {
        EXIT_REJECT
    };
    (v, code)
}

fn from_uri(display: Option<&str>, user: &str, host: Option<&str>) -> String {
    let host = host.unwrap_or("<bridge host>");
    match display {
        Some(name) => format!("\"{name}\" <sip:{user}@{host}>"),
        None => format!("<sip:{user}@{host}>"),
    }
}

fn inbound_json(d: &InboundDecision, privacy_id: bool) -> (Value, u8) {
    let end = d.end_reason();
    let mut v = json!({
        "direction": "inbound",
        "sip_code": d.sip_code(),
        "reason_phrase": d.reason_phrase(),
        "end_reason": { "code": end.code, "sub_code": end.sub_code },
        "privacy": if privacy_id { "id" } else { "none" },
    });
    let extra = match d {
        InboundDecision::Route {
            trunk,
            app,
            did,
            target,
            caller_id,
        } => json!({
            "decision": "allow",
            "reason": "routed",
            "detail": "call routed to the DID's endpoint",
            "trunk": trunk,
            "app": app,
            "did": did.to_string(),
            "endpoint": match target { Target::Endpoint(e) => e.as_str(), Target::Echo => crate::policy::ECHO },
            "caller_id": caller_id,
        }),
        InboundDecision::Challenge => json!({
            "decision": "reject",
            "reason": "challenge",
            "detail": "no trunk address matched; the carrier must authenticate",
            "trunk": null, "endpoint": null, "caller_id": null,
        }),
        InboundDecision::Reject(r) => json!({
            "decision": "reject",
            "reason": r.name(),
            "detail": r.to_string(),
            "trunk": null, "endpoint": null, "caller_id": null,
        }),
    };
    merge(&mut v, extra);
    let code = if matches!(d, InboundDecision::Route { .. }) {
        EXIT_ALLOW
    } else {
        EXIT_REJECT
    };
    (v, code)
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}
