//! One DTLS certificate for every call: generating a key pair and self-signing a
//! certificate per call cost more CPU than the rest of a call's set-up. Browsers check
//! the certificate only against the fingerprint in our SDP, so sharing it is safe; it is
//! replaced daily, well inside its one-year validity.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use str0m::config::DtlsCert;

const ROTATE_AFTER: Duration = Duration::from_secs(24 * 3600);

static SHARED: Mutex<Option<(Instant, DtlsCert)>> = Mutex::new(None);

/// The certificate to use for a call set up at `now` (`None` if none can be generated:
/// str0m then generates one for the call itself).
pub fn for_call(now: Instant) -> Option<DtlsCert> {
    // Poisoning cannot leave the cached value half-written: it is replaced whole.
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((made, cert)) = shared.as_ref()
        && now.saturating_duration_since(*made) < ROTATE_AFTER
    {
        return Some(cert.clone());
    }
    let provider = str0m::crypto::from_feature_flags();
    let cert = provider.dtls_provider.generate_certificate()?;
    *shared = Some((now, cert.clone()));
    Some(cert)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_until_a_day_old() {
        let t0 = Instant::now();
        let a = for_call(t0).expect("generated");
        let b = for_call(t0 + Duration::from_secs(3600)).expect("cached");
        assert_eq!(a.certificate, b.certificate);
        let c = for_call(t0 + ROTATE_AFTER + Duration::from_secs(1)).expect("rotated");
        assert_ne!(a.certificate, c.certificate);
    }
}
