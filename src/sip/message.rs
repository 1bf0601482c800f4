//! SIP message framing and validation on top of rsip.
//!
//! rsip tokenizes lazily and keeps compact header names and trailing bytes as they are,
//! so before handing text to it we: find the end of the headers, unfold continuation
//! lines, expand compact names (RFC 3261 §7.3.3), and cut the body at Content-Length
//! (§18.3). After parsing, the headers every transaction needs are typed once so a
//! malformed one is answered 400 here rather than failing deep inside a core.

use rsip::prelude::*;

/// Why a message was refused. Each reason is a short, fixed phrase for the 400 reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    #[error("message too large")]
    TooLarge,
    #[error("no end of headers")]
    NoHeaderEnd,
    #[error("headers are not UTF-8")]
    NotUtf8,
    #[error("bad Content-Length")]
    BadContentLength,
    #[error("body shorter than Content-Length")]
    BodyTooShort,
    #[error("bad start line")]
    BadStartLine,
    #[error("missing or bad Via")]
    BadVia,
    #[error("missing or bad From")]
    BadFrom,
    #[error("missing or bad To")]
    BadTo,
    #[error("missing Call-ID")]
    BadCallId,
    #[error("missing or bad CSeq")]
    BadCSeq,
    #[error("CSeq method does not match")]
    CSeqMethodMismatch,
    #[error("bad Max-Forwards")]
    BadMaxForwards,
    #[error("unknown method")]
    UnknownMethod,
}

/// A parsed message, or the reason it was refused plus the request if it can be answered.
pub enum Parsed {
    Request(rsip::Request),
    Response(rsip::Response),
}

/// The outcome of parsing one datagram or TCP frame.
pub struct Malformed {
    pub error: ParseError,
    /// Present when enough of a request survived to address a 400 reply.
    pub request: Option<Box<rsip::Request>>,
    /// For `UnknownMethod`: the normalised header block, to answer 501 from.
    pub raw_head: Option<String>,
}

/// Parses and validates one complete message.
pub fn parse(bytes: &[u8], max_len: usize) -> Result<Parsed, Malformed> {
    let bare = |error| Malformed {
        error,
        request: None,
        raw_head: None,
    };
    if bytes.len() > max_len {
        return Err(bare(ParseError::TooLarge));
    }
    let (head_end, body_start) = find_header_end(bytes).ok_or(bare(ParseError::NoHeaderEnd))?;
    let head = std::str::from_utf8(&bytes[..head_end]).map_err(|_| bare(ParseError::NotUtf8))?;
    let (text, content_length) = normalise_head(head);
    let available = bytes.len() - body_start;
    let body_len = match content_length {
        ContentLength::Absent => available,
        ContentLength::Bad => return Err(bare(ParseError::BadContentLength)),
        ContentLength::Value(n) if n > available => return Err(bare(ParseError::BodyTooShort)),
        ContentLength::Value(n) => n,
    };
    let mut raw = text.clone().into_bytes();
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(&bytes[body_start..body_start + body_len]);
    match rsip::SipMessage::try_from(raw) {
        Ok(rsip::SipMessage::Request(req)) => match validate_request(&req) {
            Ok(()) => Ok(Parsed::Request(req)),
            Err(error) => {
                let answerable = answerable(&req);
                Err(Malformed {
                    error,
                    request: answerable.then(|| Box::new(req)),
                    raw_head: None,
                })
            }
        },
        Ok(rsip::SipMessage::Response(resp)) => match validate_response(&resp) {
            Ok(()) => Ok(Parsed::Response(resp)),
            Err(error) => Err(bare(error)),
        },
        Err(_) if is_request_line(text.lines().next().unwrap_or("")) => Err(Malformed {
            error: ParseError::UnknownMethod,
            request: None,
            raw_head: Some(text),
        }),
        Err(_) => Err(bare(ParseError::BadStartLine)),
    }
}

/// `TOKEN SP sip:… SP SIP/2.0`: a request rsip refused only for its method.
fn is_request_line(line: &str) -> bool {
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
        && (uri.starts_with("sip:") || uri.starts_with("sips:") || uri.starts_with("tel:"))
        && version == "SIP/2.0"
}

/// Returns (end of the header block, start of the body): the blank line is CRLFCRLF, or LFLF
/// from lenient peers.
pub fn find_header_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = bytes.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(c), Some(l)) if l < c => Some((l + 1, l + 2)),
        (Some(c), _) => Some((c + 2, c + 4)),
        (None, Some(l)) => Some((l + 1, l + 2)),
        (None, None) => None,
    }
}

enum ContentLength {
    Absent,
    Bad,
    Value(usize),
}

/// Rebuilds the header block with CRLF line ends, folded lines joined and compact names
/// expanded; also returns the Content-Length found.
fn normalise_head(head: &str) -> (String, ContentLength) {
    let mut out = String::with_capacity(head.len() + 64);
    let mut content_length = ContentLength::Absent;
    let mut lines: Vec<String> = Vec::new();
    for line in head.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t'])
            && let Some(prev) = lines.last_mut()
        {
            prev.push(' ');
            prev.push_str(line.trim());
            continue;
        }
        lines.push(line.to_owned());
    }
    for (i, line) in lines.iter().enumerate() {
        if i > 0
            && let Some((name, value)) = line.split_once(':')
        {
            let full = expand_compact(name.trim());
            let value = value.trim();
            if full.eq_ignore_ascii_case("Content-Length") {
                content_length = match value.parse::<usize>() {
                    Ok(n) => ContentLength::Value(n),
                    Err(_) => ContentLength::Bad,
                };
            }
            out.push_str(full);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    (out, content_length)
}

/// RFC 3261 §7.3.3 and registered compact forms.
fn expand_compact(name: &str) -> &str {
    if name.len() != 1 {
        return name;
    }
    match name.as_bytes()[0].to_ascii_lowercase() {
        b'v' => "Via",
        b'f' => "From",
        b't' => "To",
        b'i' => "Call-ID",
        b'm' => "Contact",
        b'l' => "Content-Length",
        b'c' => "Content-Type",
        b'e' => "Content-Encoding",
        b's' => "Subject",
        b'k' => "Supported",
        b'x' => "Session-Expires",
        b'o' => "Event",
        b'r' => "Refer-To",
        b'b' => "Referred-By",
        b'u' => "Allow-Events",
        _ => name,
    }
}

fn validate_request(req: &rsip::Request) -> Result<(), ParseError> {
    let via = req.via_header().map_err(|_| ParseError::BadVia)?;
    via.typed().map_err(|_| ParseError::BadVia)?;
    req.from_header()
        .ok()
        .and_then(|h| h.typed().ok())
        .ok_or(ParseError::BadFrom)?;
    req.to_header()
        .ok()
        .and_then(|h| h.typed().ok())
        .ok_or(ParseError::BadTo)?;
    let call_id = req.call_id_header().map_err(|_| ParseError::BadCallId)?;
    if call_id.value().trim().is_empty() {
        return Err(ParseError::BadCallId);
    }
    let cseq = req
        .cseq_header()
        .ok()
        .and_then(|h| h.typed().ok())
        .ok_or(ParseError::BadCSeq)?;
    if cseq.method != *req.method() {
        return Err(ParseError::CSeqMethodMismatch);
    }
    if let Ok(mf) = req.max_forwards_header() {
        mf.num().map_err(|_| ParseError::BadMaxForwards)?;
    }
    Ok(())
}

fn validate_response(resp: &rsip::Response) -> Result<(), ParseError> {
    let via = resp.via_header().map_err(|_| ParseError::BadVia)?;
    via.typed().map_err(|_| ParseError::BadVia)?;
    resp.from_header().map_err(|_| ParseError::BadFrom)?;
    resp.to_header()
        .ok()
        .and_then(|h| h.typed().ok())
        .ok_or(ParseError::BadTo)?;
    resp.call_id_header().map_err(|_| ParseError::BadCallId)?;
    resp.cseq_header()
        .ok()
        .and_then(|h| h.typed().ok())
        .ok_or(ParseError::BadCSeq)?;
    Ok(())
}

/// A 400 can be addressed when Via, From, To, Call-ID and CSeq are at least present.
fn answerable(req: &rsip::Request) -> bool {
    req.via_header().is_ok_and(|v| v.typed().is_ok())
        && req.from_header().is_ok()
        && req.to_header().is_ok()
        && req.call_id_header().is_ok()
        && req.cseq_header().is_ok()
        && *req.method() != rsip::Method::Ack
}

/// Finds an extension header (one rsip keeps as `Other`) by name, case-insensitively.
pub fn header_value<'a>(headers: &'a rsip::Headers, name: &str) -> Option<&'a str> {
    headers.iter().find_map(|h| match h {
        rsip::Header::Other(n, v) if n.eq_ignore_ascii_case(name) => Some(v.as_str()),
        _ => None,
    })
}

/// Comma-separated option tags of all `name` headers (Require, Supported, Proxy-Require).
pub fn option_tags(headers: &rsip::Headers, name: &str) -> Vec<String> {
    let mut tags = Vec::new();
    for h in headers.iter() {
        let (n, v) = match h {
            rsip::Header::Other(n, v) => (n.as_str(), v.as_str()),
            rsip::Header::Require(v) => ("Require", v.value()),
            rsip::Header::Supported(v) => ("Supported", v.value()),
            rsip::Header::ProxyRequire(v) => ("Proxy-Require", v.value()),
            _ => continue,
        };
        if n.eq_ignore_ascii_case(name) {
            tags.extend(
                v.split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .filter(|t| !t.is_empty()),
            );
        }
    }
    tags
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
