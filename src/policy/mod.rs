//! Policy core: E.164 numbers, trunk match, role allow-lists, caller-ID rules, DID routing.
//!
//! Data in, decision out: `decide_*(&Config, &Request) -> Decision`, no I/O, no clock, no
//! async. Every decision maps to exactly one SIP response and one end reason
//! ([`Rejection::sip_code`], [`Rejection::end_reason`]); docs/policy.md has the table.

mod caller_id;
mod e164;
mod inbound;
mod outbound;
mod pattern;
mod reasons;
mod validate;

pub use caller_id::{
    ANONYMOUS_DISPLAY, ANONYMOUS_HOST, ANONYMOUS_USER, CallerId, CallerIdChoice, OutboundIdentity,
    app_owns,
};
pub use e164::{E164, E164Error, MAX_DIGITS, MIN_DIGITS, Redacted};
pub use inbound::{
    ECHO, InboundAuth, InboundDecision, InboundRequest, Target, decide_inbound, find_did,
    inbound_credentials, trunk_by_source,
};
pub use outbound::{
    OutboundDecision, OutboundRequest, PSTN_SCOPE, check_role, choose_trunk, classify,
    decide_outbound,
};
pub use pattern::{Dialable, NumberPattern, PatternError};
pub use reasons::{EndReason, Rejection};
pub use validate::{PolicyConfigError, validate_policy};
