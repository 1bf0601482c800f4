//! Inbound: which trunk sent the INVITE, which app and endpoint the DID belongs to, and
//! who the caller is. An inbound call only ever reaches an endpoint or the echo service:
//! [`Target`] has no trunk variant, so it is never routed back out to the PSTN.

use std::net::IpAddr;

use super::caller_id::{CallerId, inbound_caller};
use super::e164::E164;
use super::reasons::{EndReason, Rejection};
use crate::config::{Config, Credentials, TrunkConfig};

/// Endpoint id that selects the line-check echo service.
pub const ECHO: &str = "echo";

/// Outcome of digest authentication, computed by the SIP edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundAuth {
    /// No `Authorization` header.
    None,
    /// Credentials of this trunk verified.
    Verified { trunk: String },
    /// Credentials presented and wrong (or for no trunk).
    Failed,
}

/// What policy needs from an inbound INVITE.
#[derive(Debug, Clone)]
pub struct InboundRequest<'a> {
    pub source: IpAddr,
    /// Request-URI user part, or the whole URI.
    pub to: &'a str,
    /// From URI (or user part).
    pub from: &'a str,
    pub from_name: Option<&'a str>,
    /// P-Asserted-Identity URI, if present.
    pub pai: Option<&'a str>,
    pub pai_name: Option<&'a str>,
    /// `Privacy: id` (or `header`/`user`) present.
    pub privacy_id: bool,
    pub auth: InboundAuth,
}

/// Who answers an inbound call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Endpoint(String),
    Echo,
}

/// The policy's answer to an inbound INVITE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundDecision {
    Route {
        trunk: String,
        app: String,
        did: E164,
        target: Target,
        caller_id: CallerId,
    },
    /// 401: no trunk address matched, no credentials were presented, and some trunk
    /// admits carriers by digest credentials.
    Challenge,
    Reject(Rejection),
}

impl InboundDecision {
    /// SIP status: 200 (proceeds), 401, or the rejection's.
    pub fn sip_code(&self) -> u16 {
        match self {
            Self::Route { .. } => 200,
            Self::Challenge => 401,
            Self::Reject(r) => r.sip_code(),
        }
    }

    pub fn reason_phrase(&self) -> &'static str {
        match self {
            Self::Route { .. } => "OK",
            Self::Challenge => "Unauthorized",
            Self::Reject(r) => r.reason_phrase(),
        }
    }

    pub fn end_reason(&self) -> EndReason {
        match self {
            Self::Route { .. } => EndReason::NORMAL,
            Self::Challenge => EndReason::CHALLENGE,
            Self::Reject(r) => r.end_reason(),
        }
    }
}

/// Decides an inbound INVITE.
///
/// Precedence: failed credentials refuse; verified credentials name the trunk; otherwise the
/// trunk whose `addresses` hold the source (longest prefix, then name); otherwise a
/// challenge if any trunk takes credentials, else refusal. Then the DID, then the caller.
pub fn decide_inbound(cfg: &Config, req: &InboundRequest) -> InboundDecision {
    let (trunk_name, trunk) = match identify_trunk(cfg, req) {
        Ok(t) => t,
        Err(Unadmitted::Challenge) => return InboundDecision::Challenge,
        Err(Unadmitted::Reject(r)) => return InboundDecision::Reject(r),
    };
    let did = match E164::parse_with(req.to, trunk.national.as_ref()) {
        Ok(n) => n,
        Err(_) => return InboundDecision::Reject(Rejection::InvalidNumber),
    };
    let Some((app, endpoint)) = find_did(cfg, &did) else {
        return InboundDecision::Reject(Rejection::NotADid);
    };
    let target = if endpoint == ECHO {
        Target::Echo
    } else {
        Target::Endpoint(endpoint.to_owned())
    };
    let caller_id = inbound_caller(
        trunk.trusted,
        trunk.national.as_ref(),
        req.from,
        req.from_name,
        req.pai,
        req.pai_name,
        req.privacy_id,
    );
    InboundDecision::Route {
        trunk: trunk_name.to_owned(),
        app: app.to_owned(),
        did,
        target,
        caller_id,
    }
}

/// Why no trunk admits a request.
enum Unadmitted {
    Challenge,
    Reject(Rejection),
}

fn identify_trunk<'c>(
    cfg: &'c Config,
    req: &InboundRequest,
) -> Result<(&'c str, &'c TrunkConfig), Unadmitted> {
    match &req.auth {
        InboundAuth::Failed => Err(Unadmitted::Reject(Rejection::BadCredentials)),
        InboundAuth::Verified { trunk } => cfg
            .trunks
            .get_key_value(trunk.to_ascii_lowercase().as_str())
            .filter(|(_, t)| t.inbound_auth.is_some())
            .map(|(k, t)| (k.as_str(), t))
            .ok_or(Unadmitted::Reject(Rejection::BadCredentials)),
        InboundAuth::None => match trunk_by_source(cfg, req.source) {
            Some(t) => Ok(t),
            None if cfg.trunks.values().any(|t| t.inbound_auth.is_some()) => {
                Err(Unadmitted::Challenge)
            }
            None => Err(Unadmitted::Reject(Rejection::UnknownSource)),
        },
    }
}

/// The trunk whose `addresses` contain `source`: the most specific network wins, ties go
/// to the first trunk by name.
pub fn trunk_by_source(cfg: &Config, source: IpAddr) -> Option<(&str, &TrunkConfig)> {
    let source = canonical(source);
    let mut best: Option<(u8, &str, &TrunkConfig)> = None;
    for (name, trunk) in &cfg.trunks {
        for net in trunk.addresses.iter().filter(|n| n.contains(&source)) {
            if best.is_none_or(|(len, _, _)| net.prefix_len() > len) {
                best = Some((net.prefix_len(), name, trunk));
            }
        }
    }
    best.map(|(_, n, t)| (n, t))
}

/// IPv4-mapped IPv6 sources (dual-stack sockets) compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The app owning `did` and the endpoint id it is assigned to.
pub fn find_did<'c>(cfg: &'c Config, did: &E164) -> Option<(&'c str, &'c str)> {
    // Keys are usually written canonically: look them up first, then scan other spellings.
    let exact = cfg
        .apps
        .iter()
        .find_map(|(name, app)| app.numbers.get(did.as_str()).map(|e| (name, e)));
    exact
        .or_else(|| {
            cfg.apps.iter().find_map(|(name, app)| {
                app.numbers
                    .iter()
                    .find(|(k, _)| E164::parse(k).is_ok_and(|k| &k == did))
                    .map(|(_, e)| (name, e))
            })
        })
        .map(|(name, e)| (name.as_str(), e.trim()))
}

/// The trunk whose inbound digest username is `username`, and its credentials.
/// Validation guarantees a username belongs to at most one trunk.
pub fn inbound_credentials<'a>(
    cfg: &'a Config,
    username: &str,
) -> Option<(&'a str, &'a Credentials)> {
    cfg.trunks.iter().find_map(|(name, t)| {
        t.inbound_auth
            .as_ref()
            .filter(|c| c.username == username)
            .map(|c| (name.as_str(), c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EMBEDDED_DEFAULT, load_str};

    fn req(source: &str, to: &'static str) -> InboundRequest<'static> {
        InboundRequest {
            source: source.parse().unwrap(),
            to,
            from: "sip:+12125550123@carrier",
            from_name: Some("Bob"),
            pai: None,
            pai_name: None,
            privacy_id: false,
            auth: InboundAuth::None,
        }
    }

    #[test]
    fn demo_config_routes_its_dids() {
        let cfg = load_str(EMBEDDED_DEFAULT, "default", false).unwrap();
        let d = decide_inbound(
            &cfg,
            &req("127.0.0.1", "sip:+14155550100@127.0.0.1;user=phone"),
        );
        let InboundDecision::Route {
            trunk,
            app,
            did,
            target,
            caller_id,
        } = d
        else {
            panic!("{d:?}")
        };
        assert_eq!(
            (trunk.as_str(), app.as_str(), did.as_str()),
            ("loopback", "demo", "+14155550100")
        );
        assert_eq!(target, Target::Endpoint("alice".into()));
        assert_eq!(caller_id.number.as_deref(), Some("+12125550123"));
        let echo = decide_inbound(&cfg, &req("127.0.0.9", "+14155550199"));
        assert!(matches!(
            echo,
            InboundDecision::Route {
                target: Target::Echo,
                ..
            }
        ));
        assert_eq!(
            decide_inbound(&cfg, &req("10.0.0.1", "+14155550100")),
            InboundDecision::Reject(Rejection::UnknownSource)
        );
        assert_eq!(
            decide_inbound(&cfg, &req("::ffff:127.0.0.1", "+14155550111")),
            InboundDecision::Reject(Rejection::NotADid)
        );
    }
}
