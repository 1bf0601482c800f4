//! Cross-key checks the type system cannot express. Each failure names its key.

use super::Config;

/// A failed check: (dotted key, reason).
pub type Invalid = (String, String);

/// Checks the configuration; the first problem found is returned.
pub fn validate(cfg: &Config) -> Result<(), Invalid> {
    if cfg.sip.bind_udp.is_none() && cfg.sip.bind_tcp.is_none() {
        return Err((
            "sip.bind_udp".into(),
            "no SIP transport: set bind_udp and/or bind_tcp".into(),
        ));
    }
    if cfg.sip.advertised_host.trim().is_empty() {
        return Err(("sip.advertised_host".into(), "must not be empty".into()));
    }
    if cfg.sip.t1_ms == 0 || cfg.sip.t2_ms < cfg.sip.t1_ms {
        return Err(("sip.t2_ms".into(), "timers need 0 < t1_ms <= t2_ms".into()));
    }
    if cfg.sip.min_se_s < 90 {
        return Err((
            "sip.min_se_s".into(),
            "RFC 4028 requires at least 90 seconds".into(),
        ));
    }
    if cfg.sip.session_expires_s < cfg.sip.min_se_s {
        return Err(("sip.session_expires_s".into(), "must be >= min_se_s".into()));
    }
    if cfg.sip.max_message_bytes < 1024 {
        return Err((
            "sip.max_message_bytes".into(),
            "must be at least 1024".into(),
        ));
    }
    let m = &cfg.media;
    if m.port_min == 0 || m.port_min > m.port_max || m.port_min % 2 != 0 {
        return Err((
            "media.port_min".into(),
            format!(
                "need an even port_min, 0 < port_min <= port_max (got {}..{})",
                m.port_min, m.port_max
            ),
        ));
    }
    for (name, trunk) in &cfg.trunks {
        if trunk.addresses.is_empty() && trunk.inbound_auth.is_none() && trunk.destination.is_none()
        {
            return Err((
                format!("trunks.{name}"),
                "trunk admits nothing and sends nowhere: set addresses, inbound_auth or destination".into(),
            ));
        }
    }
    for (app, a) in &cfg.apps {
        for t in &a.trunks {
            if !cfg.trunks.contains_key(t) {
                return Err((format!("apps.{app}.trunks"), format!("unknown trunk `{t}`")));
            }
        }
        for (did, endpoint) in &a.numbers {
            if !looks_e164(did) {
                return Err((
                    format!("apps.{app}.numbers"),
                    format!("`{did}` is not an E.164 number (+ and 1-15 digits)"),
                ));
            }
            if endpoint.trim().is_empty() {
                return Err((
                    format!("apps.{app}.numbers.{did}"),
                    "endpoint id must not be empty".into(),
                ));
            }
        }
    }
    Ok(())
}

fn looks_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| {
        (1..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}
