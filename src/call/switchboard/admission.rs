//! Who may talk to us: trunk by source address, or digest credentials (RFC 8760) checked
//! against a trunk's `inbound_auth`, with stateless nonces so challenges cost no memory.

use std::net::IpAddr;
use std::time::Instant;

use crate::policy::{self, InboundAuth};
use crate::sip::digest::{Algorithm, Challenge, Credentials, NonceCheck, verify};
use crate::sip::reply;

use super::Switchboard;

/// Outcome of checking a request's credentials.
pub enum AuthOutcome {
    /// Policy input: none presented, verified for a trunk, or wrong.
    Checked(InboundAuth),
    /// Right password but an expired nonce: challenge again with `stale=true`.
    Stale,
}

impl Switchboard {
    /// The trunk whose `addresses` contain `ip`, if any (the policy's rule: the most
    /// specific network wins).
    pub(super) fn trunk_by_source(&self, ip: IpAddr) -> Option<&str> {
        policy::trunk_by_source(&self.cfg, ip).map(|(name, _)| name)
    }

    /// Whether any trunk authenticates with credentials (so 401 is the right answer).
    pub(super) fn any_trunk_has_credentials(&self) -> bool {
        self.cfg.trunks.values().any(|t| t.inbound_auth.is_some())
    }

    /// Checks the request's Authorization header, if any.
    pub(super) fn check_credentials(&self, now: Instant, req: &rsip::Request) -> AuthOutcome {
        let Some(value) = req.headers.iter().find_map(|h| match h {
            rsip::Header::Authorization(a) => {
                Some(rsip::headers::untyped::UntypedHeader::value(a).to_owned())
            }
            _ => None,
        }) else {
            return AuthOutcome::Checked(InboundAuth::None);
        };
        let Ok(creds) = Credentials::parse(&value) else {
            return AuthOutcome::Checked(InboundAuth::Failed);
        };
        let Some((trunk, secret)) = policy::inbound_credentials(&self.cfg, &creds.username) else {
            tracing::info!(user = %creds.username, "digest credentials for no trunk");
            return AuthOutcome::Checked(InboundAuth::Failed);
        };
        if creds.realm != self.cfg.sip.realm
            || !verify(&creds, req.method().to_string().as_str(), &secret.password)
        {
            tracing::info!(%trunk, "digest response does not verify");
            return AuthOutcome::Checked(InboundAuth::Failed);
        }
        match self.nonces.check(&creds.nonce, self.unix_now(now)) {
            NonceCheck::Valid => AuthOutcome::Checked(InboundAuth::Verified {
                trunk: trunk.to_owned(),
            }),
            NonceCheck::Stale => AuthOutcome::Stale,
            _ => AuthOutcome::Checked(InboundAuth::Failed),
        }
    }

    /// WWW-Authenticate headers for a 401, strongest algorithm first (RFC 8760 §2.4).
    pub(super) fn challenge_headers(&mut self, now: Instant, stale: bool) -> Vec<rsip::Header> {
        let nonce = self.nonces.issue(self.unix_now(now));
        self.cfg
            .sip
            .digest_algorithms
            .iter()
            .filter_map(|a| match a.as_str() {
                "SHA-256" => Some(Algorithm::Sha256),
                "MD5" => Some(Algorithm::Md5),
                _ => None,
            })
            .map(|algorithm| {
                let c = Challenge {
                    realm: self.cfg.sip.realm.clone(),
                    nonce: nonce.clone(),
                    opaque: None,
                    algorithm,
                    qop: vec!["auth".into()],
                    stale,
                };
                reply::other("WWW-Authenticate", c.to_string())
            })
            .collect()
    }
}
