//! Transaction matching keys (RFC 3261 §17.1.3, §17.2.3) and the few header reads they need.
//!
//! Headers are read from rsip's untyped values with small hand parsers: they must never
//! panic, and they run for every message at thousands of calls a second.

use rsip::headers::UntypedHeader;
use rsip::{Header, Headers, Method};

use super::TxError;

/// The RFC 3261 branch prefix.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Key of a server transaction (§17.2.3): top Via branch + sent-by + method, where an ACK
/// maps to INVITE. A CANCEL keeps its own method, so it gets its own transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ServerKey {
    pub branch: Box<str>,
    pub sent_by: Box<str>,
    pub method: MethodKey,
}

/// Key of a client transaction (§17.1.3): top Via branch + CSeq method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    pub branch: Box<str>,
    pub method: MethodKey,
}

/// A hashable stand-in for [`rsip::Method`] (which implements no `Hash`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct MethodKey(u8);

impl MethodKey {
    pub(crate) fn of(method: Method) -> Self {
        let n = match method {
            Method::Ack => 0,
            Method::Bye => 1,
            Method::Cancel => 2,
            Method::Info => 3,
            Method::Invite => 4,
            Method::Message => 5,
            Method::Notify => 6,
            Method::Options => 7,
            Method::PRack => 8,
            Method::Publish => 9,
            Method::Refer => 10,
            Method::Register => 11,
            Method::Subscribe => 12,
            Method::Update => 13,
        };
        Self(n)
    }

    /// The method whose transaction a request of `method` belongs to (ACK → INVITE).
    pub(crate) fn matching(method: Method) -> Self {
        match method {
            Method::Ack => Self::of(Method::Invite),
            m => Self::of(m),
        }
    }
}

/// The parts of the top Via the transaction layer uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TopVia<'a> {
    /// The protocol name of sent-protocol (`SIP` in `SIP/2.0/UDP`).
    pub protocol: &'a str,
    pub sent_by: &'a str,
    pub branch: Option<&'a str>,
}

/// Reads the first Via value (the first entry of a comma-separated list).
pub(crate) fn top_via(headers: &Headers) -> Result<TopVia<'_>, TxError> {
    let raw = headers
        .iter()
        .find_map(|h| match h {
            Header::Via(v) => Some(v.value()),
            _ => None,
        })
        .ok_or(TxError::InvalidRequest("missing Via"))?;
    parse_via(raw).ok_or(TxError::InvalidRequest("malformed Via"))
}

/// Parses `SIP/2.0/UDP host:port;branch=z9hG4bK..;rport` (first entry only).
pub(crate) fn parse_via(raw: &str) -> Option<TopVia<'_>> {
    let first = raw.split(',').next()?.trim();
    // sent-protocol is `name/version/transport`, possibly with LWS around the slashes.
    let protocol = first.split('/').next()?.trim();
    let mut rest = first;
    for _ in 0..2 {
        let slash = rest.find('/')?;
        rest = rest.get(slash + 1..)?;
    }
    let rest = rest.trim_start();
    let transport_end = rest.find(|c: char| c.is_whitespace())?;
    let rest = rest.get(transport_end..)?.trim_start();
    let mut parts = rest.split(';');
    let sent_by = parts.next()?.trim();
    if sent_by.is_empty() {
        return None;
    }
    let branch = parts.find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("branch")
            .then(|| value.trim())
            .filter(|v| !v.is_empty())
    });
    Some(TopVia {
        protocol,
        sent_by,
        branch,
    })
}

/// Splits a Via sent-by into host and port: `host`, `host:port`, `[v6]` or `[v6]:port`.
/// The host keeps no brackets; `None` when the port is not a number.
pub(crate) fn split_sent_by(sent_by: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = match sent_by.strip_prefix('[') {
        Some(v6) => {
            let (host, rest) = v6.split_once(']')?;
            (host, rest.strip_prefix(':'))
        }
        None => match sent_by.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (sent_by, None),
        },
    };
    let port = match port {
        Some(p) => Some(p.trim().parse().ok()?),
        None => None,
    };
    Some((host.trim(), port))
}

/// Call-ID value, trimmed.
pub(crate) fn call_id(headers: &Headers) -> Option<&str> {
    headers.iter().find_map(|h| match h {
        Header::CallId(v) => Some(v.value().trim()),
        _ => None,
    })
}

/// CSeq number and method.
pub(crate) fn cseq(headers: &Headers) -> Option<(u32, Method)> {
    let raw = headers.iter().find_map(|h| match h {
        Header::CSeq(v) => Some(v.value()),
        _ => None,
    })?;
    let mut it = raw.split_whitespace();
    let seq = it.next()?.parse::<u32>().ok()?;
    let method = it.next()?.parse::<Method>().ok()?;
    it.next().is_none().then_some((seq, method))
}

pub(crate) fn has_from_and_to(headers: &Headers) -> bool {
    let from = headers.iter().any(|h| matches!(h, Header::From(_)));
    let to = headers.iter().any(|h| matches!(h, Header::To(_)));
    from && to
}

/// Server key of an incoming request; validates what every transaction needs.
pub(crate) fn server_key(request: &rsip::Request) -> Result<ServerKey, TxError> {
    let via = top_via(&request.headers)?;
    let branch = via
        .branch
        .ok_or(TxError::InvalidRequest("missing Via branch"))?;
    Ok(ServerKey {
        branch: branch.into(),
        sent_by: via.sent_by.to_ascii_lowercase().into(),
        method: MethodKey::matching(request.method),
    })
}

/// Checks the headers a transaction relies on (§8.1.1) and that CSeq names the method.
pub(crate) fn validate_request(request: &rsip::Request) -> Result<(String, u32), TxError> {
    let call_id = call_id(&request.headers)
        .filter(|c| !c.is_empty())
        .ok_or(TxError::InvalidRequest("missing Call-ID"))?;
    let (seq, method) =
        cseq(&request.headers).ok_or(TxError::InvalidRequest("missing or malformed CSeq"))?;
    if method != request.method {
        return Err(TxError::InvalidRequest(
            "CSeq method differs from request method",
        ));
    }
    if !has_from_and_to(&request.headers) {
        return Err(TxError::InvalidRequest("missing From or To"));
    }
    Ok((call_id.to_owned(), seq))
}

/// Client key of a response: top Via branch + CSeq method. `None` if either is unusable.
pub(crate) fn response_key(response: &rsip::Response) -> Option<ClientKey> {
    let via = top_via(&response.headers).ok()?;
    let (_, method) = cseq(&response.headers)?;
    Some(ClientKey {
        branch: via.branch?.into(),
        method: MethodKey::of(method),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_via_forms() {
        let v = parse_via("SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKabc").unwrap();
        assert_eq!(v.sent_by, "10.0.0.1:5060");
        assert_eq!(v.branch, Some("z9hG4bKabc"));
        let v =
            parse_via("SIP / 2.0 / TCP  [::1]:5070 ; BRANCH = z9hG4bKx , SIP/2.0/UDP b").unwrap();
        assert_eq!(v.sent_by, "[::1]:5070");
        assert_eq!(v.branch, Some("z9hG4bKx"));
        assert_eq!(parse_via("SIP/2.0/UDP host").unwrap().branch, None);
        assert_eq!(parse_via("SIP/2.0/UDP host;branch=").unwrap().branch, None);
    }

    #[test]
    fn garbage_via_is_none() {
        for raw in [
            "",
            "SIP",
            "SIP/2.0",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP ",
            "//",
            "/ / /;;",
            "é/é/é",
            "SIP/2.0/UDP ;branch=z9hG4bK",
        ] {
            assert_eq!(parse_via(raw), None, "{raw:?}");
        }
    }
}
