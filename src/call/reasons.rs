//! The end reasons of calls that were set up (policy refusals carry their own, see
//! `policy::Rejection`). `code` is a SIP status or 0 for a normal end; `subCode` is
//! `code × 100 + n`. The README's end-reason table lists these and the policy ones.

use crate::policy::EndReason;

/// The bridge side hung up (the endpoint, an operator, the API).
pub const LOCAL_HANGUP: EndReason = EndReason {
    code: 0,
    sub_code: 0,
};
/// The carrier hung up (BYE).
pub const REMOTE_HANGUP: EndReason = EndReason {
    code: 0,
    sub_code: 1,
};
/// Another session of the same endpoint answered first.
pub const ANSWERED_ELSEWHERE: EndReason = EndReason {
    code: 0,
    sub_code: 2,
};
/// The carrier never acknowledged our 200 OK (signaling lost).
pub const NO_ACK: EndReason = EndReason {
    code: 408,
    sub_code: 40801,
};
/// The carrier stopped refreshing the session (RFC 4028; signaling lost).
pub const SESSION_EXPIRED: EndReason = EndReason {
    code: 408,
    sub_code: 40802,
};
/// The carrier never acknowledged our reliable 180 (PRACK, RFC 3262).
pub const NO_PRACK: EndReason = EndReason {
    code: 408,
    sub_code: 40805,
};
/// No RTP arrived for `media.rtp_timeout_s`.
pub const RTP_TIMEOUT: EndReason = EndReason {
    code: 408,
    sub_code: 40803,
};
/// The endpoint's WebSocket dropped and did not come back within the grace period.
pub const ENDPOINT_SIGNALING_LOST: EndReason = EndReason {
    code: 408,
    sub_code: 40804,
};
/// No session of the endpoint is connected.
pub const ENDPOINT_OFFLINE: EndReason = EndReason {
    code: 480,
    sub_code: 48001,
};
/// The endpoint did not answer within the ring timeout.
pub const NO_ANSWER: EndReason = EndReason {
    code: 480,
    sub_code: 48002,
};
/// The endpoint rejected the call as busy.
pub const ENDPOINT_BUSY: EndReason = EndReason {
    code: 486,
    sub_code: 48601,
};
/// The caller cancelled before the call was answered.
pub const CALLER_CANCELLED: EndReason = EndReason {
    code: 487,
    sub_code: 48701,
};
/// Media could not be set up (port unavailable, WebRTC negotiation failed).
pub const MEDIA_FAILURE: EndReason = EndReason {
    code: 500,
    sub_code: 50001,
};
/// The daemon shut down (drain timeout or SIGINT).
pub const SHUTDOWN: EndReason = EndReason {
    code: 503,
    sub_code: 50302,
};
/// The bridge is at capacity (measured load): the call was not placed.
pub const AT_CAPACITY: EndReason = EndReason {
    code: 503,
    sub_code: 50303,
};
/// The endpoint declined the call.
pub const ENDPOINT_DECLINED: EndReason = EndReason {
    code: 603,
    sub_code: 60301,
};

/// A carrier's final failure response to our INVITE: `{code, code × 100}`.
pub fn carrier_final(code: u16) -> EndReason {
    EndReason {
        code,
        sub_code: u32::from(code) * 100,
    }
}
