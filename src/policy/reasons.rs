//! Every policy refusal, and the one SIP response and one end reason each maps to.
//!
//! End reasons follow the `{code, subCode}` shape of call end reasons: `code` is the SIP
//! status, `sub_code` is `code * 100 + n`, unique per refusal, so a log line or a webhook
//! names the exact rule. `{0, 0}` is a normal outcome.

use serde::Serialize;

/// Why a call ended or was refused: `{code, subCode}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct EndReason {
    pub code: u16,
    pub sub_code: u32,
}

impl EndReason {
    /// The call went ahead; its own end decides the final reason.
    pub const NORMAL: EndReason = EndReason {
        code: 0,
        sub_code: 0,
    };
    /// An inbound request must authenticate (401).
    pub const CHALLENGE: EndReason = EndReason {
        code: 401,
        sub_code: 40101,
    };
}

/// A refused call. Each variant is one rule of the dial plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Inbound: the source address belongs to no trunk and no credentials can help.
    #[error("source address belongs to no trunk")]
    UnknownSource,
    /// Inbound: digest credentials were presented and did not verify.
    #[error("trunk credentials did not verify")]
    BadCredentials,
    /// Inbound: the called number is not assigned to any app.
    #[error("called number is not a DID of this bridge")]
    NotADid,
    /// The dialled or called string is not a telephone number.
    #[error("not a valid telephone number")]
    InvalidNumber,
    /// Outbound: the app is not configured.
    #[error("unknown app")]
    UnknownApp,
    /// Outbound: the role is not configured for this app.
    #[error("unknown role")]
    UnknownRole,
    /// Outbound: the endpoint's token lacks the PSTN scope.
    #[error("endpoint lacks the PSTN calling scope")]
    MissingPstnScope,
    /// Outbound: the number is not on the role's allow-list.
    #[error("number is not on the role's allow-list")]
    ForbiddenNumber,
    /// Outbound: the number matches one of the role's deny patterns.
    #[error("number matches a deny pattern of the role")]
    DeniedNumber,
    /// Outbound: the explicit caller ID is not a number the app owns.
    #[error("caller ID is not a number of this app")]
    CallerIdNotOwned,
    /// Outbound: no caller ID given, no role default, and the app owns no single number.
    #[error("no caller ID: none given, no role default, app owns no single number")]
    NoCallerId,
    /// Outbound: an emergency number, and the role's allow-list does not name it.
    #[error("emergency calls are not enabled for this role")]
    EmergencyNotAllowed,
    /// Outbound: an emergency number, and none of the app's trunks is marked emergency.
    #[error("no emergency-capable trunk")]
    NoEmergencyTrunk,
    /// Outbound: none of the app's trunks carries the number.
    #[error("no trunk carries this number")]
    NoTrunk,
}

impl Rejection {
    /// Every refusal, in table order (docs/policy.md lists them the same way).
    pub const ALL: &'static [Rejection] = &[
        Rejection::UnknownSource,
        Rejection::BadCredentials,
        Rejection::NotADid,
        Rejection::InvalidNumber,
        Rejection::UnknownApp,
        Rejection::UnknownRole,
        Rejection::MissingPstnScope,
        Rejection::ForbiddenNumber,
        Rejection::DeniedNumber,
        Rejection::CallerIdNotOwned,
        Rejection::NoCallerId,
        Rejection::EmergencyNotAllowed,
        Rejection::NoEmergencyTrunk,
        Rejection::NoTrunk,
    ];

    /// The SIP status of the final response (toward the carrier, or reported to the
    /// endpoint for its own outbound attempt).
    pub fn sip_code(&self) -> u16 {
        self.end_reason().code
    }

    /// Reason phrase of the final response.
    pub fn reason_phrase(&self) -> &'static str {
        match self.sip_code() {
            403 => "Forbidden",
            404 => "Not Found",
            484 => "Address Incomplete",
            _ => "Service Unavailable",
        }
    }

    /// The end reason recorded for the call and sent to the endpoint.
    pub fn end_reason(&self) -> EndReason {
        let (code, sub_code) = match self {
            Rejection::UnknownSource => (403, 40301),
            Rejection::BadCredentials => (403, 40302),
            Rejection::UnknownApp => (403, 40303),
            Rejection::UnknownRole => (403, 40304),
            Rejection::MissingPstnScope => (403, 40305),
            Rejection::ForbiddenNumber => (403, 40306),
            Rejection::DeniedNumber => (403, 40307),
            Rejection::CallerIdNotOwned => (403, 40308),
            Rejection::NoCallerId => (403, 40309),
            Rejection::EmergencyNotAllowed => (403, 40310),
            Rejection::NotADid => (404, 40401),
            Rejection::NoTrunk => (404, 40402),
            Rejection::NoEmergencyTrunk => (503, 50301),
            Rejection::InvalidNumber => (484, 48401),
        };
        EndReason { code, sub_code }
    }

    /// Stable snake_case name (CLI output, metrics labels).
    pub fn name(&self) -> &'static str {
        match self {
            Rejection::UnknownSource => "unknown_source",
            Rejection::BadCredentials => "bad_credentials",
            Rejection::NotADid => "not_a_did",
            Rejection::InvalidNumber => "invalid_number",
            Rejection::UnknownApp => "unknown_app",
            Rejection::UnknownRole => "unknown_role",
            Rejection::MissingPstnScope => "missing_pstn_scope",
            Rejection::ForbiddenNumber => "forbidden_number",
            Rejection::DeniedNumber => "denied_number",
            Rejection::CallerIdNotOwned => "caller_id_not_owned",
            Rejection::NoCallerId => "no_caller_id",
            Rejection::EmergencyNotAllowed => "emergency_not_allowed",
            Rejection::NoEmergencyTrunk => "no_emergency_trunk",
            Rejection::NoTrunk => "no_trunk",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn each_refusal_has_its_own_end_reason() {
        let subs: HashSet<u32> = Rejection::ALL
            .iter()
            .map(|r| r.end_reason().sub_code)
            .collect();
        assert_eq!(subs.len(), Rejection::ALL.len());
        for r in Rejection::ALL {
            let e = r.end_reason();
            assert_eq!(e.sub_code / 100, u32::from(e.code), "{r:?}");
            assert_ne!(r.reason_phrase(), "");
        }
        assert!(!subs.contains(&EndReason::CHALLENGE.sub_code));
    }
}
