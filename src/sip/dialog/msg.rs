//! Header extraction shared by the dialog code.

use rsip::common::uri::UriWithParams;
use rsip::prelude::*;
use rsip::{Header, Method, Request, Response, Uri};

use super::{DialogError, DialogId, Party};

/// The dialog a request belongs to, seen as its UAS (local tag = To tag).
/// `None` when the request has no To tag (not in a dialog) or lacks headers.
pub fn dialog_id_of_request(req: &Request) -> Option<DialogId> {
    let to = req.to_header().ok()?.typed().ok()?;
    let from = req.from_header().ok()?.typed().ok()?;
    Some(DialogId {
        call_id: call_id(req).ok()?,
        local_tag: to.tag()?.value().to_owned(),
        remote_tag: from.tag().map(|t| t.value().to_owned()).unwrap_or_default(),
    })
}

/// The dialog a response belongs to, seen as its UAC (local tag = From tag).
pub fn dialog_id_of_response(resp: &Response) -> Option<DialogId> {
    let to = resp.to_header().ok()?.typed().ok()?;
    let from = resp.from_header().ok()?.typed().ok()?;
    Some(DialogId {
        call_id: call_id(resp).ok()?,
        local_tag: from.tag()?.value().to_owned(),
        remote_tag: to.tag()?.value().to_owned(),
    })
}

pub(super) fn name_addr(party: &Party, tag: &str) -> String {
    let name = party
        .display_name
        .as_deref()
        .map(|n| format!("{n} "))
        .unwrap_or_default();
    if tag.is_empty() {
        format!("{name}<{}>", party.uri)
    } else {
        format!("{name}<{}>;tag={tag}", party.uri)
    }
}

pub(super) fn call_id(msg: &impl HeadersExt) -> Result<String, DialogError> {
    let id = msg
        .call_id_header()
        .map_err(|_| DialogError::BadHeader("Call-ID"))?;
    Ok(id.value().trim().to_owned())
}

pub(super) fn cseq(msg: &impl HeadersExt) -> Result<(u32, Method), DialogError> {
    let c = msg.cseq_header().ok().and_then(|h| h.typed().ok());
    c.map(|c| (c.seq, c.method))
        .ok_or(DialogError::BadHeader("CSeq"))
}

/// The first Contact's URI (also accepting the compact form `m`).
pub(crate) fn contact_uri(msg: &impl HasHeaders) -> Option<Uri> {
    msg.headers().iter().find_map(|h| match h {
        Header::Contact(c) => c.typed().ok().map(|c| c.uri),
        Header::Other(name, value) if name.eq_ignore_ascii_case("m") => {
            rsip::headers::Contact::new(value.clone())
                .typed()
                .ok()
                .map(|c| c.uri)
        }
        _ => None,
    })
}

/// All Record-Route values, in message order.
pub(super) fn record_route(msg: &impl HasHeaders) -> Result<Vec<UriWithParams>, DialogError> {
    let mut out = Vec::new();
    for h in msg.headers().iter() {
        if let Header::RecordRoute(rr) = h {
            let typed = rr
                .typed()
                .map_err(|_| DialogError::BadHeader("Record-Route"))?;
            out.extend(typed.uris().iter().cloned());
        }
    }
    Ok(out)
}
