//! RFC 3261 §12 dialogs: identity, route set, remote target and CSeq spaces,
//! and building in-dialog requests (§12.2.1.1 loose/strict routing).

use rsip::common::uri::{Param, UriWithParams};
use rsip::prelude::*;
use rsip::{Header, Method, Request, Response, Uri};

use super::transport::Transport;

/// Identifies a dialog from our side (RFC 3261 §12).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogState {
    Early,
    Confirmed,
    Terminated,
}

/// Why a dialog could not be created or a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    #[error("missing or malformed {0} header")]
    BadHeader(&'static str),
    #[error("response carries no To tag")]
    MissingRemoteTag,
    #[error("status {0} does not create a dialog")]
    NotDialogCreating(u16),
    #[error("CSeq {got} is lower than the last remote CSeq {last}")]
    CSeqOutOfOrder { last: u32, got: u32 },
    #[error("request does not belong to this dialog")]
    WrongDialog,
}

impl DialogError {
    /// The SIP response a UAS sends for this error, if it refuses a request.
    pub fn status(&self) -> u16 {
        match self {
            DialogError::CSeqOutOfOrder { .. } => 500,
            DialogError::WrongDialog => 481,
            _ => 400,
        }
    }
}

/// A name-addr without its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Party {
    display_name: Option<String>,
    uri: Uri,
}

/// One dialog (UAC or UAS side).
#[derive(Clone, Debug)]
pub struct Dialog {
    id: DialogId,
    state: DialogState,
    local_seq: u32,
    remote_seq: Option<u32>,
    local: Party,
    remote: Party,
    local_contact: Uri,
    remote_target: Uri,
    route_set: Vec<UriWithParams>,
}

impl Dialog {
    /// UAS side, from the dialog-creating INVITE and the tag we put in our
    /// response's To. Starts `Early`; call [`Dialog::confirm`] once the 2xx is sent.
    pub fn uas(invite: &Request, local_tag: &str, local_contact: Uri) -> Result<Self, DialogError> {
        let from = invite.from_header().ok().and_then(|h| h.typed().ok());
        let from = from.ok_or(DialogError::BadHeader("From"))?;
        let to = invite.to_header().ok().and_then(|h| h.typed().ok());
        let to = to.ok_or(DialogError::BadHeader("To"))?;
        Ok(Dialog {
            id: DialogId {
                call_id: call_id(invite)?,
                local_tag: local_tag.to_owned(),
                remote_tag: from.tag().map(|t| t.value().to_owned()).unwrap_or_default(),
            },
            state: DialogState::Early,
            local_seq: rand::random_range(1..0x8000_0000),
            remote_seq: Some(cseq(invite)?.0),
            local: Party {
                display_name: to.display_name,
                uri: to.uri,
            },
            remote: Party {
                display_name: from.display_name,
                uri: from.uri,
            },
            local_contact,
            remote_target: contact_uri(invite).ok_or(DialogError::BadHeader("Contact"))?,
            route_set: record_route(invite)?,
        })
    }

    /// UAC side, from our INVITE and a 1xx (with To tag) or 2xx response.
    pub fn uac(invite: &Request, response: &Response) -> Result<Self, DialogError> {
        let status = response.status_code.code();
        let state = match status {
            101..=199 => DialogState::Early,
            200..=299 => DialogState::Confirmed,
            _ => return Err(DialogError::NotDialogCreating(status)),
        };
        let from = invite.from_header().ok().and_then(|h| h.typed().ok());
        let from = from.ok_or(DialogError::BadHeader("From"))?;
        let to = response.to_header().ok().and_then(|h| h.typed().ok());
        let to = to.ok_or(DialogError::BadHeader("To"))?;
        let remote_tag = to
            .tag()
            .ok_or(DialogError::MissingRemoteTag)?
            .value()
            .to_owned();
        let local_tag = from
            .tag()
            .ok_or(DialogError::BadHeader("From"))?
            .value()
            .to_owned();
        let mut route_set = record_route(response)?;
        route_set.reverse();
        Ok(Dialog {
            id: DialogId {
                call_id: call_id(invite)?,
                local_tag,
                remote_tag,
            },
            state,
            local_seq: cseq(invite)?.0,
            remote_seq: None,
            local: Party {
                display_name: from.display_name,
                uri: from.uri,
            },
            remote: Party {
                display_name: to.display_name,
                uri: to.uri,
            },
            local_contact: contact_uri(invite).ok_or(DialogError::BadHeader("Contact"))?,
            remote_target: contact_uri(response).ok_or(DialogError::BadHeader("Contact"))?,
            route_set,
        })
    }

    pub fn id(&self) -> &DialogId {
        &self.id
    }

    pub fn state(&self) -> DialogState {
        self.state
    }

    /// Early → Confirmed (2xx sent or received). No effect once terminated.
    pub fn confirm(&mut self) {
        if self.state == DialogState::Early {
            self.state = DialogState::Confirmed;
        }
    }

    pub fn terminate(&mut self) {
        self.state = DialogState::Terminated;
    }

    pub fn remote_target(&self) -> &Uri {
        &self.remote_target
    }

    pub fn route_set(&self) -> &[UriWithParams] {
        &self.route_set
    }

    /// The last CSeq number we used.
    pub fn local_cseq(&self) -> u32 {
        self.local_seq
    }

    /// Where to send the next request: the first route, else the remote target.
    pub fn next_hop(&self) -> Option<Uri> {
        match self.route_set.first() {
            Some(r) => Some(r.uri.clone()),
            None => Some(self.remote_target.clone()),
        }
    }

    /// A new in-dialog request with the next local CSeq. For ACK use [`Dialog::make_ack`].
    /// Carries `Content-Length: 0`; replace it when adding a body.
    pub fn make_request(
        &mut self,
        method: Method,
        via_host: &str,
        via_port: u16,
        transport: Transport,
        branch: &str,
    ) -> Request {
        self.local_seq = self.local_seq.wrapping_add(1);
        self.build(
            method,
            self.local_seq,
            via_host,
            via_port,
            transport,
            branch,
        )
    }

    /// ACK for a 2xx: same CSeq number as the INVITE it acknowledges.
    pub fn make_ack(
        &self,
        invite_cseq: u32,
        via_host: &str,
        via_port: u16,
        transport: Transport,
        branch: &str,
    ) -> Request {
        self.build(
            Method::Ack,
            invite_cseq,
            via_host,
            via_port,
            transport,
            branch,
        )
    }

    /// Checks and records an in-dialog request from the peer (§12.2.2): CSeq
    /// order, remote target refresh (INVITE/UPDATE with Contact), BYE.
    pub fn handle_remote_request(&mut self, req: &Request) -> Result<(), DialogError> {
        if dialog_id_of_request(req).as_ref() != Some(&self.id) {
            return Err(DialogError::WrongDialog);
        }
        let (seq, _) = cseq(req)?;
        if req.method != Method::Ack && req.method != Method::Cancel {
            match self.remote_seq {
                Some(last) if seq < last => {
                    return Err(DialogError::CSeqOutOfOrder { last, got: seq });
                }
                _ => self.remote_seq = Some(seq),
            }
        }
        match req.method {
            Method::Invite | Method::Update => {
                if let Some(target) = contact_uri(req) {
                    self.remote_target = target;
                }
            }
            Method::Bye => self.terminate(),
            _ => {}
        }
        Ok(())
    }

    /// Records a response to a request we sent in this dialog (§12.2.1.2):
    /// 2xx to INVITE/UPDATE refreshes the remote target, a 2xx confirms an early
    /// dialog (recomputing its route set), 481/408 terminate it.
    pub fn handle_response(&mut self, resp: &Response) -> Result<(), DialogError> {
        let (_, method) = cseq(resp)?;
        match resp.status_code.code() {
            200..=299 if matches!(method, Method::Invite | Method::Update) => {
                if let Some(target) = contact_uri(resp) {
                    self.remote_target = target;
                }
                if self.state == DialogState::Early && method == Method::Invite {
                    self.route_set = record_route(resp)?;
                    self.route_set.reverse();
                    self.confirm();
                }
            }
            408 | 481 => self.terminate(),
            _ => {}
        }
        Ok(())
    }

    fn build(
        &self,
        method: Method,
        seq: u32,
        via_host: &str,
        via_port: u16,
        transport: Transport,
        branch: &str,
    ) -> Request {
        let (uri, routes) = self.request_uri_and_routes();
        let host = if via_host.contains(':') && !via_host.starts_with('[') {
            format!("[{via_host}]")
        } else {
            via_host.to_owned()
        };
        let via = format!(
            "SIP/2.0/{} {host}:{via_port};branch={branch}",
            transport.via_token()
        );
        let mut headers: Vec<Header> = vec![
            rsip::headers::Via::new(via).into(),
            rsip::headers::MaxForwards::new("70").into(),
        ];
        headers.extend(
            routes
                .into_iter()
                .map(|r| rsip::headers::Route::new(r.to_string()).into()),
        );
        headers.push(rsip::headers::From::new(name_addr(&self.local, &self.id.local_tag)).into());
        headers.push(rsip::headers::To::new(name_addr(&self.remote, &self.id.remote_tag)).into());
        headers.push(rsip::headers::CallId::new(self.id.call_id.clone()).into());
        headers.push(rsip::headers::CSeq::new(format!("{seq} {method}")).into());
        if matches!(
            method,
            Method::Invite | Method::Update | Method::Subscribe | Method::Notify | Method::Refer
        ) {
            headers.push(rsip::headers::Contact::new(format!("<{}>", self.local_contact)).into());
        }
        headers.push(rsip::headers::ContentLength::new("0").into());
        Request {
            method,
            uri,
            version: rsip::Version::V2,
            headers: headers.into(),
            body: Vec::new(),
        }
    }

    /// §12.2.1.1: loose routing keeps the remote target as Request-URI; a strict
    /// first route becomes the Request-URI and the remote target the last Route.
    fn request_uri_and_routes(&self) -> (Uri, Vec<UriWithParams>) {
        match self.route_set.split_first() {
            None => (self.remote_target.clone(), Vec::new()),
            Some((first, _)) if first.uri.params.contains(&Param::Lr) => {
                (self.remote_target.clone(), self.route_set.clone())
            }
            Some((first, rest)) => {
                let mut uri = first.uri.clone();
                uri.params
                    .retain(|p| !matches!(p, Param::Method(_) | Param::Ttl(_)));
                uri.headers.clear();
                let mut routes = rest.to_vec();
                routes.push(UriWithParams {
                    uri: self.remote_target.clone(),
                    params: Vec::new(),
                });
                (uri, routes)
            }
        }
    }
}

mod msg;

use msg::{call_id, contact_uri, cseq, name_addr, record_route};
pub use msg::{dialog_id_of_request, dialog_id_of_response};

#[cfg(test)]
mod tests;
