//! RFC 3262 reliable provisional responses (100rel): UAS retransmission until
//! PRACK, UAC `RAck` construction and RSeq ordering. Time is passed in.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rsip::prelude::*;
use rsip::{Header, Headers, Method, Response};

/// The option tag.
pub const TAG_100REL: &str = "100rel";

/// Whether `Require` lists `100rel`: reliable provisionals are mandatory.
pub fn requires_100rel(headers: &Headers) -> bool {
    lists_option(headers, "require", None, TAG_100REL)
}

/// Whether `Supported` (or compact `k`) lists `100rel`.
pub fn supports_100rel(headers: &Headers) -> bool {
    lists_option(headers, "supported", Some("k"), TAG_100REL)
}

/// Whether a comma-separated option-tag header lists `tag` (case-insensitive).
fn lists_option(headers: &Headers, name: &str, compact: Option<&str>, tag: &str) -> bool {
    headers.iter().any(|h| {
        let value = match h {
            Header::Require(v) if name == "require" => v.value(),
            Header::Supported(v) if name == "supported" => v.value(),
            Header::Other(n, v)
                if n.eq_ignore_ascii_case(name)
                    || compact.is_some_and(|c| n.eq_ignore_ascii_case(c)) =>
            {
                v.as_str()
            }
            _ => return false,
        };
        value.split(',').any(|t| t.trim().eq_ignore_ascii_case(tag))
    })
}

/// The value of the first `Other` header named `name`.
fn other_value<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers.iter().find_map(|h| match h {
        Header::Other(n, v) if n.eq_ignore_ascii_case(name) => Some(v.as_str()),
        _ => None,
    })
}

fn rseq_of(response: &Response) -> Option<u32> {
    other_value(&response.headers, "RSeq")?.trim().parse().ok()
}

/// A 101–199 response with `Require: 100rel` and an `RSeq`.
pub fn is_reliable(response: &Response) -> bool {
    matches!(response.status_code.code(), 101..=199)
        && requires_100rel(&response.headers)
        && rseq_of(response).is_some()
}

/// UAC: the `RAck` value (`RSeq CSeq Method`) acknowledging a reliable provisional.
pub fn make_rack(response: &Response) -> Option<String> {
    if !is_reliable(response) {
        return None;
    }
    let cseq = response.cseq_header().ok()?.typed().ok()?;
    Some(format!(
        "{} {} {}",
        rseq_of(response)?,
        cseq.seq,
        cseq.method
    ))
}

/// UAC: per early dialog, the last RSeq accepted (RFC 3262 §4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UacReliableState {
    last_rseq: Option<u32>,
}

impl UacReliableState {
    /// Whether to process `response`: `false` for a retransmitted or
    /// out-of-order reliable provisional (neither processed nor PRACKed).
    /// Unreliable responses always pass.
    pub fn accept(&mut self, response: &Response) -> bool {
        if !is_reliable(response) {
            return true;
        }
        let Some(rseq) = rseq_of(response) else {
            return true;
        };
        match self.last_rseq {
            Some(last) if rseq != last.wrapping_add(1) => false,
            _ => {
                self.last_rseq = Some(rseq);
                true
            }
        }
    }
}

/// Answer to a PRACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrackOutcome {
    /// Matches the outstanding reliable provisional: answer 200.
    Acknowledged,
    /// No such unacknowledged response: answer 481.
    NoMatch,
    /// The `RAck` value does not parse: answer 400.
    Malformed,
}

/// What [`ReliableProvisionals::poll_output`] asks the caller to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReliableOutput {
    /// Send this response (a retransmission or one released from the queue).
    Transmit(Response),
    /// No PRACK within 64*T1: reject the INVITE with a 5xx (RFC 3262 §3).
    Expired,
}

#[derive(Clone, Debug)]
struct Outstanding {
    response: Response,
    rseq: u32,
    cseq: Option<(u32, Method)>,
    give_up_at: Instant,
    next_at: Instant,
    interval: Duration,
}

/// UAS: reliable provisional responses for one INVITE. One is outstanding at a
/// time (RFC 3262 §3); later ones queue until it is PRACKed.
#[derive(Clone, Debug)]
pub struct ReliableProvisionals {
    t1: Duration,
    next_rseq: u32,
    outstanding: Option<Outstanding>,
    queue: VecDeque<(u32, Response)>,
    last_now: Option<Instant>,
    expired: bool,
}

impl ReliableProvisionals {
    /// With a random initial RSeq below 2^31.
    pub fn new(t1: Duration) -> Self {
        Self::with_initial_rseq(t1, rand::random_range(1..0x8000_0000))
    }

    pub fn with_initial_rseq(t1: Duration, rseq: u32) -> Self {
        ReliableProvisionals {
            t1,
            next_rseq: rseq,
            outstanding: None,
            queue: VecDeque::new(),
            last_now: None,
            expired: false,
        }
    }

    /// Stamps `Require: 100rel` and the next `RSeq` on a 101–199 response.
    /// Returns it to send now, or `None` if queued behind an unacknowledged one
    /// (then it comes out of [`ReliableProvisionals::poll_output`] after the PRACK).
    /// Other statuses pass through untouched.
    pub fn send(&mut self, now: Instant, mut response: Response) -> Option<Response> {
        self.last_now = Some(now);
        if !matches!(response.status_code.code(), 101..=199) {
            return Some(response);
        }
        if !requires_100rel(&response.headers) {
            let existing = response.headers.iter_mut().find_map(|h| match h {
                Header::Require(r) => Some(r),
                _ => None,
            });
            match existing {
                Some(r) => *r = rsip::headers::Require::new(format!("{}, {TAG_100REL}", r.value())),
                None => response
                    .headers
                    .push(rsip::headers::Require::new(TAG_100REL).into()),
            }
        }
        response
            .headers
            .retain(|h| !matches!(h, Header::Other(n, _) if n.eq_ignore_ascii_case("RSeq")));
        let rseq = self.next_rseq;
        self.next_rseq = rseq.wrapping_add(1);
        response
            .headers
            .push(Header::Other("RSeq".into(), rseq.to_string()));
        if self.expired || self.outstanding.is_some() || !self.queue.is_empty() {
            if !self.expired {
                self.queue.push_back((rseq, response));
            }
            return None;
        }
        Some(self.start(now, rseq, response))
    }

    /// A PRACK arrived with this `RAck` value.
    pub fn handle_prack(&mut self, rack: &str) -> PrackOutcome {
        let mut parts = rack.split_whitespace();
        let (Some(rseq), Some(cseq), Some(method), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return PrackOutcome::Malformed;
        };
        let (Ok(rseq), Ok(cseq), Ok(method)) = (
            rseq.parse::<u32>(),
            cseq.parse::<u32>(),
            method.parse::<Method>(),
        ) else {
            return PrackOutcome::Malformed;
        };
        match &self.outstanding {
            Some(o) if o.rseq == rseq && o.cseq.is_none_or(|c| c == (cseq, method)) => {
                self.outstanding = None;
                PrackOutcome::Acknowledged
            }
            _ => PrackOutcome::NoMatch,
        }
    }

    /// The final response was sent: stop retransmitting, drop the queue.
    pub fn finish(&mut self) {
        self.outstanding = None;
        self.queue.clear();
    }

    /// Whether a 2xx may be sent now: no unacknowledged or queued reliable
    /// provisional carries a session description (RFC 3262 §3).
    pub fn may_send_2xx(&self) -> bool {
        self.outstanding
            .iter()
            .map(|o| &o.response)
            .chain(self.queue.iter().map(|(_, r)| r))
            .all(|r| r.body.is_empty())
    }

    pub fn is_expired(&self) -> bool {
        self.expired
    }

    /// When [`ReliableProvisionals::poll_output`] next has work. A queued
    /// response released by a PRACK is due at once (an instant already past).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.expired {
            return None;
        }
        match &self.outstanding {
            Some(o) => Some(o.next_at.min(o.give_up_at)),
            None if !self.queue.is_empty() => self.last_now,
            None => None,
        }
    }

    pub fn poll_output(&mut self, now: Instant) -> Option<ReliableOutput> {
        self.last_now = Some(now);
        if self.expired {
            return None;
        }
        match &mut self.outstanding {
            Some(o) if now >= o.give_up_at => {
                self.expired = true;
                self.finish();
                Some(ReliableOutput::Expired)
            }
            Some(o) if now >= o.next_at => {
                o.interval *= 2;
                o.next_at += o.interval;
                Some(ReliableOutput::Transmit(o.response.clone()))
            }
            Some(_) => None,
            None => {
                let (rseq, next) = self.queue.pop_front()?;
                Some(ReliableOutput::Transmit(self.start(now, rseq, next)))
            }
        }
    }

    fn start(&mut self, now: Instant, rseq: u32, response: Response) -> Response {
        let cseq = response.cseq_header().ok().and_then(|c| c.typed().ok());
        self.outstanding = Some(Outstanding {
            rseq,
            cseq: cseq.map(|c| (c.seq, c.method)),
            give_up_at: now + self.t1 * 64,
            next_at: now + self.t1,
            interval: self.t1,
            response: response.clone(),
        });
        response
    }
}

#[cfg(test)]
mod tests;
