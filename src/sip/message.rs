//! SIP message framing and validation on top of rsip.
//!
//! rsip tokenizes lazily and keeps compact header names and trailing bytes as they are,
//! so before handing text to it we: find the end of the headers, unfold continuation
//! lines, expand compact names (RFC 3261 §7.3.3), and cut the body at Content-Length
//! (§18.3). After parsing, the headers every transaction needs are typed once so a
//! malformed one is answered 400 here rather than failing deep inside a core.

use rsip::prelude::*;

use super::transaction::{split_sent_by, top_via};

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
    #[error("bad Request-URI")]
    BadRequestUri,
    #[error("malformed header line")]
    BadHeaderLine,
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
    let body = &bytes[body_start..body_start + body_len];
    if text.starts_with("SIP/") {
        let mut raw = text.into_bytes();
        raw.extend_from_slice(b"\r\n");
        raw.extend_from_slice(body);
        return match rsip::Response::try_from(raw) {
            Ok(resp) => match validate_response(&resp) {
                Ok(()) => Ok(Parsed::Response(resp)),
                Err(error) => Err(bare(error)),
            },
            Err(_) => Err(bare(ParseError::BadStartLine)),
        };
    }
    match build_request(&text, body) {
        Ok(req) => match validate_request(&req) {
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
        // Answerable from the raw header block (501, or 400 for a bad Request-URI).
        Err(error @ (ParseError::UnknownMethod | ParseError::BadRequestUri)) => Err(Malformed {
            error,
            request: None,
            raw_head: Some(text),
        }),
        Err(error) => Err(bare(error)),
    }
}

/// Builds a request from a normalised header block (`Name: value` lines, CRLF ends).
///
/// Each part is handed to rsip on its own: rsip's whole-message tokenizer gives its URI
/// and header parsers the rest of the message, and every alternative they try and drop
/// formats that remainder into an error string.
fn build_request(head: &str, body: &[u8]) -> Result<rsip::Request, ParseError> {
    let mut lines = head.split("\r\n").filter(|l| !l.is_empty());
    let start = lines.next().ok_or(ParseError::BadStartLine)?;
    if !is_request_line(start) {
        return Err(ParseError::BadStartLine);
    }
    let mut parts = start.split(' ');
    let (Some(method), Some(uri), Some(_version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::BadStartLine);
    };
    let method: rsip::Method = method.parse().map_err(|_| ParseError::UnknownMethod)?;
    let uri = rsip::Uri::try_from(uri).map_err(|_| ParseError::BadRequestUri)?;
    let mut headers = Vec::with_capacity(16);
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(ParseError::BadHeaderLine)?;
        if name.is_empty() || !name.bytes().all(is_token_char) {
            return Err(ParseError::BadHeaderLine);
        }
        let value = value.strip_prefix(' ').unwrap_or(value);
        let raw = rsip::headers::header::Tokenizer::from((name.as_bytes(), value.as_bytes()));
        headers.push(raw.try_into().map_err(|_| ParseError::BadHeaderLine)?);
    }
    Ok(rsip::Request {
        method,
        uri,
        version: rsip::Version::V2,
        headers: headers.into(),
        body: body.to_vec(),
    })
}

/// RFC 3261 §25.1 `token` characters.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
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
        && method.bytes().all(is_token_char)
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
    // The logical line being assembled (a header with its continuation lines).
    let mut line = String::with_capacity(256);
    let mut first = true;
    for raw in head.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.is_empty() {
            continue;
        }
        if raw.starts_with([' ', '\t']) && !line.is_empty() {
            line.push(' ');
            line.push_str(raw.trim());
            continue;
        }
        if !line.is_empty() {
            emit_line(&mut out, &line, first, &mut content_length);
            first = false;
        }
        line.clear();
        line.push_str(raw);
    }
    if !line.is_empty() {
        emit_line(&mut out, &line, first, &mut content_length);
    }
    (out, content_length)
}

/// Writes one logical line: the start line as it is, a header as `Name: value`.
fn emit_line(out: &mut String, line: &str, start_line: bool, content_length: &mut ContentLength) {
    match line.split_once(':') {
        Some((name, value)) if !start_line => {
            let full = expand_compact(name.trim());
            let value = value.trim();
            if full.eq_ignore_ascii_case("Content-Length") {
                *content_length = match value.parse::<usize>() {
                    Ok(n) => ContentLength::Value(n),
                    Err(_) => ContentLength::Bad,
                };
            }
            out.push_str(full);
            out.push_str(": ");
            out.push_str(value);
        }
        _ => out.push_str(line),
    }
    out.push_str("\r\n");
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

/// The top Via reads as `SIP/2.0/TRANSPORT host[:port]` (the transaction layer's hand
/// parser, which every request goes through; rsip's typed Via cost a fifth of parsing).
fn valid_top_via(headers: &rsip::Headers) -> bool {
    let Ok(via) = top_via(headers) else {
        return false;
    };
    let Some((host, port)) = split_sent_by(via.sent_by) else {
        return false;
    };
    via.protocol.eq_ignore_ascii_case("SIP")
        && !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:_".contains(&b))
        && port != Some(0)
}

fn validate_request(req: &rsip::Request) -> Result<(), ParseError> {
    if !valid_top_via(&req.headers) {
        return Err(ParseError::BadVia);
    }
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
    valid_top_via(&req.headers)
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
