//! Trunk-side SDP offer/answer (RFC 3264) for G.711 audio and RFC 4733 telephone-event.
//!
//! Parsing uses the `sdp` crate; the answer is one audio stream, the first offered
//! G.711 codec we support, the offer's telephone-event payload type, and the mirrored
//! direction (an offer to send only is answered receive only, and so on).

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

use sdp::description::media::MediaDescription;
use sdp::description::session::SessionDescription;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum G711 {
    Pcmu,
    Pcma,
}

impl G711 {
    pub fn static_pt(self) -> u8 {
        match self {
            G711::Pcmu => 0,
            G711::Pcma => 8,
        }
    }

    pub fn encoding_name(self) -> &'static str {
        match self {
            G711::Pcmu => "PCMU",
            G711::Pcma => "PCMA",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn from_attr(key: &str) -> Option<Direction> {
        Some(match key {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    /// The direction an answerer uses for this offered direction (RFC 3264 §6.1).
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    pub fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Whether the far end wants to receive media from us.
    pub fn peer_receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// What we take from a trunk's offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkOffer {
    /// Where the far end receives RTP (`c=` address, `m=` port).
    pub remote: SocketAddr,
    pub codec: G711,
    /// Payload type of the chosen codec in the offer.
    pub pt: u8,
    /// Payload type of telephone-event/8000, when offered.
    pub dtmf_pt: Option<u8>,
    /// The offerer's direction; `c=0.0.0.0` (RFC 2543 hold) reads as sendonly.
    pub direction: Direction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    #[error("SDP does not parse")]
    Unparsable,
    #[error("no audio stream")]
    NoAudio,
    #[error("no supported codec (PCMU, PCMA)")]
    NoCommonCodec,
    #[error("no connection address")]
    NoAddress,
    #[error("secure or unknown transport profile")]
    UnsupportedProfile,
}

/// Reads a trunk's offer (or answer) and picks the first offered G.711 codec.
pub fn parse_offer(body: &[u8]) -> Result<TrunkOffer, SdpError> {
    let session =
        SessionDescription::unmarshal(&mut Cursor::new(body)).map_err(|_| SdpError::Unparsable)?;
    let media = session
        .media_descriptions
        .iter()
        .find(|m| m.media_name.media == "audio" && m.media_name.port.value != 0)
        .ok_or(SdpError::NoAudio)?;
    if media.media_name.protos.join("/") != "RTP/AVP" {
        return Err(SdpError::UnsupportedProfile);
    }
    let (codec, pt) = media
        .media_name
        .formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .find_map(|pt| codec_of(media, pt).map(|c| (c, pt)))
        .ok_or(SdpError::NoCommonCodec)?;
    let dtmf_pt = media
        .media_name
        .formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .find(|pt| {
            rtpmap(media, *pt).is_some_and(|m| m.eq_ignore_ascii_case("telephone-event/8000"))
        });
    let address = media
        .connection_information
        .as_ref()
        .or(session.connection_information.as_ref())
        .and_then(|c| c.address.as_ref())
        .and_then(|a| a.address.split('/').next()?.parse::<IpAddr>().ok())
        .ok_or(SdpError::NoAddress)?;
    let port = u16::try_from(media.media_name.port.value).map_err(|_| SdpError::NoAudio)?;
    let direction = media
        .attributes
        .iter()
        .chain(session.attributes.iter())
        .find_map(|a| Direction::from_attr(&a.key))
        .unwrap_or_default();
    let direction = if address.is_unspecified() && direction == Direction::SendRecv {
        Direction::SendOnly
    } else {
        direction
    };
    Ok(TrunkOffer {
        remote: SocketAddr::new(address, port),
        codec,
        pt,
        dtmf_pt,
        direction,
    })
}

fn rtpmap(media: &MediaDescription, pt: u8) -> Option<&str> {
    media.attributes.iter().find_map(|a| {
        let value = a.value.as_deref()?;
        let (num, rest) = value.split_once(' ')?;
        (a.key == "rtpmap" && num.parse::<u8>().ok() == Some(pt)).then_some(rest.trim())
    })
}

fn codec_of(media: &MediaDescription, pt: u8) -> Option<G711> {
    match rtpmap(media, pt) {
        Some(m) if m.eq_ignore_ascii_case("PCMU/8000") || m.eq_ignore_ascii_case("PCMU/8000/1") => {
            Some(G711::Pcmu)
        }
        Some(m) if m.eq_ignore_ascii_case("PCMA/8000") || m.eq_ignore_ascii_case("PCMA/8000/1") => {
            Some(G711::Pcma)
        }
        Some(_) => None,
        None if pt == 0 => Some(G711::Pcmu),
        None if pt == 8 => Some(G711::Pcma),
        None => None,
    }
}

/// Our answer: one audio stream at `local`, the chosen codec, telephone-event when offered,
/// and the mirrored direction. `version` increases with each new answer in the dialog.
pub fn answer(offer: &TrunkOffer, local: SocketAddr, session_id: u64, version: u64) -> String {
    describe(offer, local, session_id, version, offer.direction.answer())
}

/// One audio stream with the negotiated codec (and telephone-event) in `direction`: our
/// answer, or our re-offer in a re-INVITE that holds (`sendonly`) or resumes (`sendrecv`).
pub fn describe(
    offer: &TrunkOffer,
    local: SocketAddr,
    session_id: u64,
    version: u64,
    direction: Direction,
) -> String {
    let ip_kind = if local.is_ipv4() { "IP4" } else { "IP6" };
    let ip = local.ip();
    let mut formats = offer.pt.to_string();
    let mut attrs = format!(
        "a=rtpmap:{} {}/8000\r\n",
        offer.pt,
        offer.codec.encoding_name()
    );
    if let Some(dtmf) = offer.dtmf_pt {
        formats.push_str(&format!(" {dtmf}"));
        attrs.push_str(&format!(
            "a=rtpmap:{dtmf} telephone-event/8000\r\na=fmtp:{dtmf} 0-16\r\n"
        ));
    }
    format!(
        "v=0\r\no=pstn-bridge {session_id} {version} IN {ip_kind} {ip}\r\ns=pstn-bridge\r\n\
         c=IN {ip_kind} {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {formats}\r\n{attrs}a=ptime:20\r\na={dir}\r\n",
        port = local.port(),
        dir = direction.attr(),
    )
}

/// Our offer toward a trunk: PCMU, PCMA and telephone-event at `local`.
pub fn offer(local: SocketAddr, session_id: u64, version: u64) -> String {
    let ip_kind = if local.is_ipv4() { "IP4" } else { "IP6" };
    let ip = local.ip();
    format!(
        "v=0\r\no=pstn-bridge {session_id} {version} IN {ip_kind} {ip}\r\ns=pstn-bridge\r\n\
         c=IN {ip_kind} {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
        port = local.port(),
    )
}

#[cfg(test)]
#[path = "sdp_tests.rs"]
mod tests;
