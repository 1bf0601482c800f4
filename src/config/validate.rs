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
    if cfg.admission.max_cpu_percent > 100 {
        return Err((
            "admission.max_cpu_percent".into(),
            "a percentage of the usable cores: 0 (off) to 100".into(),
        ));
    }
    if cfg.sip.advertised_host.trim().is_empty() {
        return Err(("sip.advertised_host".into(), "must not be empty".into()));
    }
    if cfg.sip.t1_ms == 0 || cfg.sip.t2_ms < cfg.sip.t1_ms {
        return Err(("sip.t2_ms".into(), "timers need 0 < t1_ms <= t2_ms".into()));
    }
    if cfg.sip.digest_algorithms.is_empty()
        || cfg
            .sip
            .digest_algorithms
            .iter()
            .any(|a| a != "SHA-256" && a != "MD5")
    {
        return Err((
            "sip.digest_algorithms".into(),
            "list \"SHA-256\" and/or \"MD5\"".into(),
        ));
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
    if m.port_min == 0 || m.port_min > m.port_max || !m.port_min.is_multiple_of(2) {
        return Err((
            "media.port_min".into(),
            format!(
                "need an even port_min, 0 < port_min <= port_max (got {}..{})",
                m.port_min, m.port_max
            ),
        ));
    }
    if m.opus_complexity > 10 {
        return Err(("media.opus_complexity".into(), "must be 0..=10".into()));
    }
    if m.webrtc_port != 0 && (m.port_min..=m.port_max).contains(&m.webrtc_port) {
        return Err((
            "media.webrtc_port".into(),
            "must lie outside the RTP range port_min..=port_max".into(),
        ));
    }
    let ice_schemes = ["stun:", "turn:", "turns:"];
    if let Some(url) = m
        .ice_servers
        .iter()
        .find(|u| !ice_schemes.iter().any(|s| u.starts_with(s)))
    {
        return Err((
            "media.ice_servers".into(),
            format!("{url:?}: an ICE server URL starts with stun:, turn: or turns:"),
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
        for (kid, key) in &a.token_keys {
            crate::auth::check_key_config(kid, key)
                .map_err(|e| (format!("apps.{app}.token_keys.{kid}"), e.to_string()))?;
        }
    }
    crate::policy::validate_policy(cfg).map_err(|e| (e.key().to_owned(), e.to_string()))?;
    Ok(())
}
