//! Per-call media configuration, filled from the negotiated SDP on both sides.

use std::time::Duration;

use super::MediaError;
use super::codec::Codec;
use super::error::ConfigProblem;
use super::jitter::JitterConfig;
use super::opus::OpusSettings;
use super::source::SourcePolicy;

/// One side's negotiated payload types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SideCodec {
    /// Audio codec.
    pub codec: Codec,
    /// Its payload type.
    pub pt: u8,
    /// telephone-event payload type, if negotiated.
    pub dtmf_pt: Option<u8>,
    /// telephone-event clock rate (8000, or 48000 next to Opus).
    pub dtmf_clock: u32,
}

/// Everything one call's pipeline needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// Trunk side: PCMU or PCMA.
    pub trunk: SideCodec,
    /// Endpoint side: Opus, PCMU or PCMA. Equal codecs mean passthrough.
    pub endpoint: SideCodec,
    /// Opus encoder settings (used when the endpoint codec is Opus).
    pub opus: OpusSettings,
    /// Which trunk addresses may send RTP.
    pub source: SourcePolicy,
    /// No trunk RTP for this long raises `MediaEvent::RtpTimeout`; `None` disables it.
    pub rtp_timeout: Option<Duration>,
    /// Jitter buffer bounds (transcoding only; passthrough forwards at once).
    pub jitter: JitterConfig,
    /// A DTMF event without packets for this long gets its end regenerated.
    pub dtmf_end_timeout: Duration,
    /// RTCP report interval toward the trunk.
    pub rtcp_interval: Duration,
    /// Our SSRC toward the trunk (pick at random per call).
    pub trunk_ssrc: u32,
    /// Our SSRC toward the endpoint (informative; str0m assigns its own).
    pub endpoint_ssrc: u32,
    /// RTCP CNAME.
    pub cname: String,
}

impl Default for MediaConfig {
    /// PCMU (0, telephone-event 101) on the trunk, Opus (111, telephone-event 126 at
    /// 8000) toward the endpoint, latching from any address: replace `source` in production.
    fn default() -> Self {
        Self {
            trunk: SideCodec {
                codec: Codec::Pcmu,
                pt: 0,
                dtmf_pt: Some(101),
                dtmf_clock: 8000,
            },
            endpoint: SideCodec {
                codec: Codec::Opus,
                pt: 111,
                dtmf_pt: Some(126),
                dtmf_clock: 8000,
            },
            opus: OpusSettings::default(),
            source: SourcePolicy::Any,
            rtp_timeout: Some(Duration::from_secs(30)),
            jitter: JitterConfig::default(),
            dtmf_end_timeout: Duration::from_millis(250),
            rtcp_interval: Duration::from_secs(5),
            trunk_ssrc: 0x5053_544E,
            endpoint_ssrc: 0x4252_4447,
            cname: "pstn-bridge".to_owned(),
        }
    }
}

impl MediaConfig {
    /// True when both sides use the same codec: RTP is forwarded with header rewrite only.
    pub fn passthrough(&self) -> bool {
        self.trunk.codec == self.endpoint.codec
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), MediaError> {
        let bad = |p| Err(MediaError::InvalidConfig(p));
        for side in [self.trunk, self.endpoint] {
            if side.pt > 127 || side.dtmf_pt.is_some_and(|p| p > 127) {
                return bad(ConfigProblem::PayloadTypeRange);
            }
            if side.dtmf_pt == Some(side.pt) {
                return bad(ConfigProblem::PayloadTypeClash);
            }
        }
        if self.trunk.codec == Codec::Opus {
            return bad(ConfigProblem::TrunkCodec);
        }
        if self.opus.complexity > 10 {
            return bad(ConfigProblem::Complexity);
        }
        if self.jitter.min_delay == 0 || self.jitter.min_delay > self.jitter.max_delay {
            return bad(ConfigProblem::JitterBounds);
        }
        // Bounded durations keep `Instant + duration` from overflowing.
        let day = Duration::from_secs(86_400);
        if self.rtp_timeout.is_some_and(|t| t > day)
            || self.dtmf_end_timeout > Duration::from_secs(10)
            || self.rtcp_interval < Duration::from_millis(100)
            || self.rtcp_interval > day
        {
            return bad(ConfigProblem::Duration);
        }
        Ok(())
    }
}
