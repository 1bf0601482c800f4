//! Errors of the WebRTC adapter.

use super::Codec;

/// What can go wrong answering an offer or driving a peer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebRtcError {
    /// The offer is not parseable SDP.
    #[error("offer SDP: {0}")]
    Sdp(#[from] str0m::error::SdpError),
    /// The host candidate address cannot be used (unspecified, multicast, ...).
    #[error("host candidate: {0}")]
    Candidate(#[from] str0m::error::IceError),
    /// The offer has no audio m-line.
    #[error("the offer has no audio")]
    NoAudio,
    /// The offer's audio shares no codec with our configuration.
    #[error("no common audio codec")]
    NoCommonCodec,
    /// The peer cannot send this codec: the browser did not accept it.
    #[error("codec {0:?} was not negotiated")]
    CodecNotNegotiated(Codec),
    /// Media written before ICE and DTLS are up is dropped; this says so.
    #[error("not connected yet")]
    NotConnected,
    /// The peer was closed or disconnected.
    #[error("peer closed")]
    Closed,
    /// A DTMF event code outside 0..=15.
    #[error("invalid DTMF event {0}")]
    InvalidDtmf(u8),
    /// A datagram that is none of STUN, DTLS, RTP or RTCP.
    #[error("datagram: {0}")]
    Datagram(#[from] str0m::error::NetError),
    /// str0m refused an operation (SDP negotiation, media write, input).
    #[error("rtc: {0}")]
    Rtc(#[from] str0m::RtcError),
}
