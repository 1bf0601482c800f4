//! Per-trunk admission limits: concurrent calls and new calls per second (a one-second
//! token bucket). Beyond them a call is refused 503 with Retry-After.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::config::TrunkConfig;

#[derive(Debug, Default)]
pub struct TrunkLimits {
    trunks: HashMap<String, Usage>,
}

#[derive(Debug)]
struct Usage {
    active: u32,
    tokens: f64,
    refilled: Instant,
}

/// Why a call was refused, with the Retry-After seconds to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    Concurrent,
    Rate,
}

impl TrunkLimits {
    /// Admits one new call on `trunk` or says which limit it hit.
    pub fn admit(&mut self, now: Instant, name: &str, trunk: &TrunkConfig) -> Result<(), LimitHit> {
        let usage = self.trunks.entry(name.to_owned()).or_insert(Usage {
            active: 0,
            tokens: f64::from(trunk.max_calls_per_second),
            refilled: now,
        });
        if trunk.max_concurrent_calls > 0 && usage.active >= trunk.max_concurrent_calls {
            return Err(LimitHit::Concurrent);
        }
        if trunk.max_calls_per_second > 0 {
            let rate = f64::from(trunk.max_calls_per_second);
            let elapsed = now.saturating_duration_since(usage.refilled).as_secs_f64();
            usage.tokens = (usage.tokens + elapsed * rate).min(rate);
            usage.refilled = now;
            if usage.tokens < 1.0 {
                return Err(LimitHit::Rate);
            }
            usage.tokens -= 1.0;
        }
        usage.active += 1;
        Ok(())
    }

    /// A call admitted on `trunk` ended.
    pub fn release(&mut self, name: &str) {
        if let Some(u) = self.trunks.get_mut(name) {
            u.active = u.active.saturating_sub(1);
        }
    }

    #[cfg(test)]
    pub fn active(&self, name: &str) -> u32 {
        self.trunks.get(name).map_or(0, |u| u.active)
    }
}

impl LimitHit {
    pub fn retry_after(self) -> Duration {
        match self {
            LimitHit::Concurrent => Duration::from_secs(5),
            LimitHit::Rate => Duration::from_secs(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trunk(conc: u32, cps: u32) -> TrunkConfig {
        let mut t: TrunkConfig = toml_trunk();
        t.max_concurrent_calls = conc;
        t.max_calls_per_second = cps;
        t
    }

    fn toml_trunk() -> TrunkConfig {
        serde_json::from_str(r#"{"destination": "127.0.0.1:5060"}"#).expect("minimal trunk")
    }

    #[test]
    fn concurrency_cap_and_release() {
        let mut l = TrunkLimits::default();
        let t = trunk(2, 0);
        let now = Instant::now();
        assert_eq!(l.admit(now, "a", &t), Ok(()));
        assert_eq!(l.admit(now, "a", &t), Ok(()));
        assert_eq!(l.admit(now, "a", &t), Err(LimitHit::Concurrent));
        l.release("a");
        assert_eq!(l.admit(now, "a", &t), Ok(()));
        assert_eq!(l.active("a"), 2);
    }

    #[test]
    fn rate_refills_over_time() {
        let mut l = TrunkLimits::default();
        let t = trunk(0, 2);
        let now = Instant::now();
        assert_eq!(l.admit(now, "a", &t), Ok(()));
        assert_eq!(l.admit(now, "a", &t), Ok(()));
        assert_eq!(l.admit(now, "a", &t), Err(LimitHit::Rate));
        let later = now + Duration::from_millis(500);
        assert_eq!(
            l.admit(later, "a", &t),
            Ok(()),
            "half a second refills one token at 2/s"
        );
        assert_eq!(l.admit(later, "a", &t), Err(LimitHit::Rate));
    }
}
