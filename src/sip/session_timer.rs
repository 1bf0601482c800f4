//! RFC 4028 session timers: `Session-Expires` / `Min-SE` headers, interval
//! negotiation, and a timer state machine driven by `now` passed in.

use std::fmt;
use std::time::{Duration, Instant};

use rsip::{Header, Headers};

/// RFC 4028 §4: the smallest interval anyone may ask for.
pub const MIN_SE_FLOOR: u64 = 90;

/// Who sends the refreshing re-INVITE/UPDATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresher {
    Uac,
    Uas,
}

/// Why a `Session-Expires` or `Min-SE` value was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionTimerError {
    #[error("malformed delta-seconds")]
    BadSeconds,
    #[error("refresher is neither uac nor uas")]
    BadRefresher,
}

/// A `Session-Expires` value, e.g. `1800;refresher=uac`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionExpires {
    pub interval: u64,
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    pub fn parse(value: &str) -> Result<Self, SessionTimerError> {
        let mut parts = value.split(';');
        let interval = parse_seconds(parts.next().unwrap_or_default())?;
        let mut refresher = None;
        for param in parts {
            let (name, val) = param.split_once('=').unwrap_or((param, ""));
            if name.trim().eq_ignore_ascii_case("refresher") {
                refresher = Some(match val.trim().to_ascii_lowercase().as_str() {
                    "uac" => Refresher::Uac,
                    "uas" => Refresher::Uas,
                    _ => return Err(SessionTimerError::BadRefresher),
                });
            }
        }
        Ok(SessionExpires {
            interval,
            refresher,
        })
    }

    /// As a `Session-Expires` header.
    pub fn to_header(&self) -> Header {
        Header::Other("Session-Expires".into(), self.to_string())
    }
}

impl fmt::Display for SessionExpires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.interval)?;
        match self.refresher {
            Some(Refresher::Uac) => f.write_str(";refresher=uac"),
            Some(Refresher::Uas) => f.write_str(";refresher=uas"),
            None => Ok(()),
        }
    }
}

/// Parses a `Min-SE` value (`90`, parameters ignored).
pub fn parse_min_se(value: &str) -> Result<u64, SessionTimerError> {
    parse_seconds(value.split(';').next().unwrap_or_default())
}

/// A `Min-SE` header.
pub fn min_se_header(seconds: u64) -> Header {
    Header::Other("Min-SE".into(), seconds.to_string())
}

/// The message's `Session-Expires` (or compact `x`), if any.
pub fn read_session_expires(
    headers: &Headers,
) -> Result<Option<SessionExpires>, SessionTimerError> {
    other_header(headers, "Session-Expires", Some("x"))
        .map(SessionExpires::parse)
        .transpose()
}

/// The message's `Min-SE`, if any.
pub fn read_min_se(headers: &Headers) -> Result<Option<u64>, SessionTimerError> {
    other_header(headers, "Min-SE", None)
        .map(parse_min_se)
        .transpose()
}

fn other_header<'a>(headers: &'a Headers, name: &str, compact: Option<&str>) -> Option<&'a str> {
    headers.iter().find_map(|h| match h {
        Header::Other(n, v)
            if n.eq_ignore_ascii_case(name)
                || compact.is_some_and(|c| n.eq_ignore_ascii_case(c)) =>
        {
            Some(v.as_str())
        }
        _ => None,
    })
}

fn parse_seconds(s: &str) -> Result<u64, SessionTimerError> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SessionTimerError::BadSeconds);
    }
    match s.parse::<u64>() {
        Ok(0) | Err(_) => Err(SessionTimerError::BadSeconds),
        Ok(n) => Ok(n),
    }
}

/// The request's interval is below our minimum: answer 422 with `Min-SE: min_se`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("session interval too small, minimum {min_se}s")]
pub struct TooSmall {
    pub min_se: u64,
}

/// The outcome of negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// Session interval in seconds.
    pub interval: u64,
    pub refresher: Refresher,
    /// Whether this side does the refreshing.
    pub we_refresh: bool,
    /// UAS: put `Require: timer` in the 2xx (RFC 4028 §9: refresher is uac).
    pub require_timer: bool,
}

impl Negotiated {
    /// The `Session-Expires` to put in the 2xx (UAS) or to expect.
    pub fn session_expires(&self) -> SessionExpires {
        SessionExpires {
            interval: self.interval,
            refresher: Some(self.refresher),
        }
    }

    /// A timer starting at `now`.
    pub fn timer(&self, now: Instant) -> SessionTimer {
        SessionTimer::new(now, Duration::from_secs(self.interval), self.we_refresh)
    }
}

/// UAS receiving an INVITE/UPDATE (RFC 4028 §9). `our_interval` is what we want
/// when the request names none; `our_min_se` our smallest acceptable interval.
///
/// An interval below our minimum is refused with 422 only when the UAC sent
/// `Supported: timer` (it can retry); otherwise it is raised to our minimum.
/// The interval is never raised above what the request asked for otherwise.
pub fn negotiate_uas(
    request_se: Option<SessionExpires>,
    request_min_se: Option<u64>,
    supported_timer: bool,
    our_interval: u64,
    our_min_se: u64,
) -> Result<Negotiated, TooSmall> {
    let floor = our_min_se
        .max(request_min_se.unwrap_or(0))
        .max(MIN_SE_FLOOR);
    let (interval, refresher) = match request_se {
        Some(se) if se.interval < our_min_se.max(MIN_SE_FLOOR) => {
            if supported_timer {
                return Err(TooSmall { min_se: floor });
            }
            (floor, se.refresher)
        }
        Some(se) => (se.interval.min(our_interval.max(floor)), se.refresher),
        None => (our_interval.max(floor), None),
    };
    let refresher = match (refresher, supported_timer) {
        (_, false) => Refresher::Uas,
        (Some(r), true) => r,
        (None, true) => Refresher::Uac,
    };
    Ok(Negotiated {
        interval,
        refresher,
        we_refresh: refresher == Refresher::Uas,
        require_timer: refresher == Refresher::Uac,
    })
}

/// UAC processing a 2xx (RFC 4028 §7.2): no `Session-Expires` means no timer.
/// A 2xx naming no refresher leaves the refreshing to us.
pub fn negotiate_uac(response_se: Option<SessionExpires>) -> Option<Negotiated> {
    let se = response_se?;
    let refresher = se.refresher.unwrap_or(Refresher::Uac);
    Some(Negotiated {
        interval: se.interval,
        refresher,
        we_refresh: refresher == Refresher::Uac,
        require_timer: false,
    })
}

/// UAC after a 422 carrying `Min-SE: min_se` (RFC 4028 §7.4): the interval to
/// retry with (also send `Min-SE` with `min_se`).
pub fn interval_after_422(our_interval: u64, min_se: u64) -> u64 {
    our_interval.max(min_se).max(MIN_SE_FLOOR)
}

/// What the session timer asks its owner to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionTimerAction {
    /// Send a refresh (re-INVITE or UPDATE); call `handle_refresh` on its 2xx.
    SendRefresh,
    /// No refresh arrived in time: send BYE (RFC 4028 §10).
    Expire,
}

/// One dialog's session timer, time passed in.
#[derive(Clone, Debug)]
pub struct SessionTimer {
    interval: Duration,
    we_refresh: bool,
    refreshed_at: Instant,
    refresh_sent: bool,
    expired: bool,
}

impl SessionTimer {
    pub fn new(now: Instant, interval: Duration, we_refresh: bool) -> Self {
        SessionTimer {
            interval,
            we_refresh,
            refreshed_at: now,
            refresh_sent: false,
            expired: false,
        }
    }

    /// A refresh arrived from the peer, or ours was answered 2xx.
    pub fn handle_refresh(&mut self, now: Instant) {
        if !self.expired {
            self.refreshed_at = now;
            self.refresh_sent = false;
        }
    }

    /// A refresh renegotiated the interval or the refresher.
    pub fn renegotiate(&mut self, now: Instant, interval: Duration, we_refresh: bool) {
        if !self.expired {
            *self = SessionTimer::new(now, interval, we_refresh);
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn we_refresh(&self) -> bool {
        self.we_refresh
    }

    /// When [`SessionTimer::handle_timeout`] next has something to do; `None` once expired.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.expired {
            None
        } else if self.we_refresh && !self.refresh_sent {
            Some(self.refresh_at())
        } else {
            Some(self.expire_at())
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) -> Option<SessionTimerAction> {
        if self.expired {
            return None;
        }
        if now >= self.expire_at() {
            self.expired = true;
            return Some(SessionTimerAction::Expire);
        }
        if self.we_refresh && !self.refresh_sent && now >= self.refresh_at() {
            self.refresh_sent = true;
            return Some(SessionTimerAction::SendRefresh);
        }
        None
    }

    /// Half the interval after the last refresh (RFC 4028 §10).
    fn refresh_at(&self) -> Instant {
        self.refreshed_at + self.interval / 2
    }

    /// Expiry less min(32 s, interval/3): when to give up and send BYE.
    fn expire_at(&self) -> Instant {
        let margin = Duration::from_secs(32).min(self.interval / 3);
        self.refreshed_at + (self.interval - margin)
    }
}

#[cfg(test)]
mod tests;
