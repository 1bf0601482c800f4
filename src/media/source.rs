//! Strict source checking and latching for trunk RTP (RTP-bleed protection).

use std::net::{IpAddr, SocketAddr};

/// Which trunk addresses may send us RTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourcePolicy {
    /// Only this address (from the SDP `c=`/`m=` lines).
    Strict(SocketAddr),
    /// The first packet from this IP latches its port; later packets must match it.
    /// For carriers behind NAT whose SDP port differs from the one they send from.
    LatchFromIp(IpAddr),
    /// Accept anything (tests and trusted lab setups only).
    Any,
}

/// The verdict on one packet's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceCheck {
    /// Accepted.
    Accept,
    /// Accepted and latched: this is now the only accepted address.
    Latched(SocketAddr),
    /// Rejected.
    Reject,
}

/// Applies a [`SourcePolicy`].
#[derive(Debug, Clone)]
pub struct SourceGuard {
    policy: SourcePolicy,
    latched: Option<SocketAddr>,
}

impl SourceGuard {
    /// A guard for `policy`.
    pub fn new(policy: SourcePolicy) -> Self {
        Self {
            policy,
            latched: None,
        }
    }

    /// Replaces the policy (re-INVITE with a new address); clears any latch.
    pub fn set_policy(&mut self, policy: SourcePolicy) {
        self.policy = policy;
        self.latched = None;
    }

    /// The address RTP is accepted from, once known.
    pub fn remote(&self) -> Option<SocketAddr> {
        match self.policy {
            SourcePolicy::Strict(a) => Some(a),
            _ => self.latched,
        }
    }

    /// Checks an RTP packet's source address.
    pub fn check_rtp(&mut self, from: SocketAddr) -> SourceCheck {
        match self.policy {
            SourcePolicy::Strict(a) if a == from => SourceCheck::Accept,
            SourcePolicy::Strict(_) => SourceCheck::Reject,
            SourcePolicy::Any => SourceCheck::Accept,
            SourcePolicy::LatchFromIp(ip) => match self.latched {
                Some(a) if a == from => SourceCheck::Accept,
                Some(_) => SourceCheck::Reject,
                None if from.ip() == ip => {
                    self.latched = Some(from);
                    SourceCheck::Latched(from)
                }
                None => SourceCheck::Reject,
            },
        }
    }

    /// Checks an RTCP packet's source: same IP as the RTP source (port may be RTP+1).
    pub fn check_rtcp(&self, from: SocketAddr) -> bool {
        match (self.policy, self.latched) {
            (SourcePolicy::Any, _) => true,
            (SourcePolicy::Strict(a), _) => a.ip() == from.ip(),
            (SourcePolicy::LatchFromIp(_), Some(a)) => a.ip() == from.ip(),
            (SourcePolicy::LatchFromIp(ip), None) => ip == from.ip(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latches_once_then_rejects_others() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut g = SourceGuard::new(SourcePolicy::LatchFromIp(ip));
        let a = SocketAddr::new(ip, 4000);
        let b = SocketAddr::new(ip, 4002);
        let evil: SocketAddr = "198.51.100.9:4000".parse().unwrap();
        assert_eq!(g.check_rtp(evil), SourceCheck::Reject);
        assert_eq!(g.check_rtp(a), SourceCheck::Latched(a));
        assert_eq!(g.check_rtp(a), SourceCheck::Accept);
        assert_eq!(g.check_rtp(b), SourceCheck::Reject);
        assert_eq!(g.remote(), Some(a));
        assert!(g.check_rtcp(SocketAddr::new(ip, 4001)));
        assert!(!g.check_rtcp(evil));
    }

    #[test]
    fn strict_accepts_only_sdp_address() {
        let a: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        let mut g = SourceGuard::new(SourcePolicy::Strict(a));
        assert_eq!(g.check_rtp(a), SourceCheck::Accept);
        assert_eq!(
            g.check_rtp("192.0.2.1:4002".parse().unwrap()),
            SourceCheck::Reject
        );
    }
}
