//! The media layer's error type.

use thiserror::Error;

/// Why a media input was rejected or a pipeline could not be built.
///
/// Per-packet errors are also counted in [`super::MediaStats`]; callers may ignore them.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The bytes are not a valid RTP packet.
    #[error("malformed RTP packet")]
    MalformedRtp,
    /// The bytes are not a valid RTCP compound packet.
    #[error("malformed RTCP packet")]
    MalformedRtcp,
    /// A payload type that the negotiated configuration does not carry.
    #[error("unexpected payload type {0}")]
    UnknownPayloadType(u8),
    /// RTP from an address the source policy rejects (RTP-bleed protection).
    #[error("packet from an unexpected source")]
    UnexpectedSource,
    /// A payload larger than the preallocated slots.
    #[error("payload of {0} bytes exceeds the buffer")]
    PayloadTooLarge(usize),
    /// DTMF requested toward a side that negotiated no telephone-event.
    #[error("telephone-event not negotiated on that side")]
    DtmfNotNegotiated,
    /// Not a DTMF digit (`0`-`9`, `*`, `#`, `A`-`D`).
    #[error("not a DTMF digit")]
    NotADigit,
    /// The configuration is inconsistent.
    #[error("invalid media configuration: {0}")]
    InvalidConfig(ConfigProblem),
    /// libopus refused an operation.
    #[error("opus codec error")]
    Opus(#[from] audiopus::Error),
}

/// What is wrong with a [`super::MediaConfig`].
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// Two payload types on one side collide.
    #[error("payload types collide")]
    PayloadTypeClash,
    /// A payload type above 127.
    #[error("payload type out of range")]
    PayloadTypeRange,
    /// Opus complexity above 10.
    #[error("opus complexity must be 0..=10")]
    Complexity,
    /// The trunk side carries G.711 only.
    #[error("trunk codec must be PCMU or PCMA")]
    TrunkCodec,
    /// A timeout or interval outside its sane range.
    #[error("timeout or interval out of range")]
    Duration,
    /// Jitter buffer bounds are inconsistent.
    #[error("jitter buffer bounds are inconsistent")]
    JitterBounds,
}
