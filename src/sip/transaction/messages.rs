//! Messages the layer builds itself (ACK for a non-2xx, 100 Trying), and CANCEL and
//! stateless responses for the TU.

use rsip::headers::UntypedHeader;
use rsip::{Header, Method, StatusCode};

use super::key;

/// The ACK for a non-2xx final (§17.1.1.3): the INVITE's Request-URI, top Via, Call-ID,
/// From, CSeq number and Route set, and the response's To (with its tag).
pub(crate) fn build_ack(
    invite: &rsip::Request,
    response: &rsip::Response,
) -> Option<rsip::Request> {
    let (seq, _) = key::cseq(&invite.headers)?;
    let mut headers = rsip::Headers::default();
    headers.push(top_via(invite)?);
    let response_to = response.headers.iter().find(|h| matches!(h, Header::To(_)));
    for h in invite.headers.iter() {
        match h {
            Header::From(_) | Header::CallId(_) | Header::Route(_) => headers.push(h.clone()),
            Header::To(_) => headers.push(response_to.unwrap_or(h).clone()),
            _ => {}
        }
    }
    headers.push(Header::CSeq(rsip::headers::CSeq::new(format!("{seq} ACK"))));
    headers.push(Header::MaxForwards(rsip::headers::MaxForwards::new("70")));
    headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
        "0",
    )));
    Some(rsip::Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        version: invite.version.clone(),
        headers,
        body: Vec::new(),
    })
}

/// A 100 Trying for `request` (§8.2.6.1).
pub(crate) fn trying_for(request: &rsip::Request) -> rsip::Response {
    response_to(request, StatusCode::Trying, None)
}

/// A body-less response to `request` (§8.2.6.2): its Via headers (in order), From, To,
/// Call-ID, CSeq and Timestamp, with `to_tag` added to To unless To already has a tag.
/// Handy for stateless replies such as the 503 for [`TxError::TooManyTransactions`].
///
/// [`TxError::TooManyTransactions`]: super::TxError::TooManyTransactions
pub fn response_to(
    request: &rsip::Request,
    status: StatusCode,
    to_tag: Option<&str>,
) -> rsip::Response {
    let mut headers = rsip::Headers::default();
    for h in request.headers.iter() {
        match h {
            Header::Via(_)
            | Header::From(_)
            | Header::CallId(_)
            | Header::CSeq(_)
            | Header::Timestamp(_) => headers.push(h.clone()),
            Header::To(to) => match to_tag {
                Some(tag) if !has_tag(to.value()) => {
                    let value = format!("{};tag={tag}", to.value());
                    headers.push(Header::To(rsip::headers::To::new(value)));
                }
                _ => headers.push(h.clone()),
            },
            _ => {}
        }
    }
    headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
        "0",
    )));
    rsip::Response {
        status_code: status,
        version: request.version.clone(),
        headers,
        body: Vec::new(),
    }
}

/// Whether a To/From value carries a `tag` parameter (outside its `<...>` URI).
pub(crate) fn has_tag(value: &str) -> bool {
    let params = value.rsplit_once('>').map_or(value, |(_, p)| p);
    params.split(';').skip(1).any(|p| {
        p.split('=')
            .next()
            .is_some_and(|n| n.trim().eq_ignore_ascii_case("tag"))
    })
}

/// A CANCEL for a client INVITE (RFC 3261 §9.1): the INVITE's Request-URI, top Via (same
/// branch), Call-ID, From, To, CSeq number and Route set. `None` if the INVITE lacks a Via
/// or CSeq. Send it with `send_request` once a provisional response has arrived.
pub fn cancel_for(invite: &rsip::Request) -> Option<rsip::Request> {
    let (seq, _) = key::cseq(&invite.headers)?;
    let mut headers = rsip::Headers::default();
    headers.push(top_via(invite)?);
    for h in invite.headers.iter() {
        if matches!(
            h,
            Header::From(_) | Header::To(_) | Header::CallId(_) | Header::Route(_)
        ) {
            headers.push(h.clone());
        }
    }
    headers.push(Header::CSeq(rsip::headers::CSeq::new(format!(
        "{seq} CANCEL"
    ))));
    headers.push(Header::MaxForwards(rsip::headers::MaxForwards::new("70")));
    headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
        "0",
    )));
    Some(rsip::Request {
        method: Method::Cancel,
        uri: invite.uri.clone(),
        version: invite.version.clone(),
        headers,
        body: Vec::new(),
    })
}

/// The first Via entry of a request, as its own header.
fn top_via(request: &rsip::Request) -> Option<Header> {
    let via = request.headers.iter().find_map(|h| match h {
        Header::Via(v) => Some(v.value()),
        _ => None,
    })?;
    let top = via.split(',').next().unwrap_or(via).trim();
    Some(Header::Via(rsip::headers::Via::new(top)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_tag_looks_outside_the_uri() {
        assert!(has_tag("<sip:a@b>;tag=1"));
        assert!(has_tag("sip:a@b ; TAG = 1"));
        assert!(!has_tag("<sip:a@b;tag=1>"));
        assert!(!has_tag("\"x\" <sip:a@b>;tagx=1"));
        assert!(!has_tag(""));
    }
}
