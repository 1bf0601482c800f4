//! The daemon configuration a load run needs: `pstn-bridge-loadgen config` writes one (an
//! app whose DIDs are the simulated endpoints, a trunk for the generator's carrier), and a
//! run reads the endpoints and token keys back from the file the daemon uses.

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::config::Config;

/// DIDs of generated endpoints: `+1999000` and four digits (10,000 endpoints at most).
pub const DID_PREFIX: &str = "+1999000";
/// Numbers outbound-mode endpoints dial: `+1999555` and four digits.
pub const DIAL_PREFIX: &str = "+1999555";
/// Caller numbers of inbound calls: `+1555` and seven digits, one per call.
pub const CALLER_PREFIX: &str = "+1555";

pub struct Generate {
    pub endpoints: usize,
    pub carrier: SocketAddr,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    pub media_ip: std::net::IpAddr,
    /// Trunk-side RTP ports; keep them below the kernel's ephemeral range (32768+),
    /// where the generator's own sockets live.
    pub ports: (u16, u16),
    pub webrtc_port: u16,
    pub secret: String,
}

/// A complete daemon configuration for a load run.
pub fn generate(g: &Generate) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"# Daemon configuration for a load run, written by `pstn-bridge-loadgen config`.
# Every key not listed takes the value documented in config/default.toml.

[sip]
bind_udp = "{sip}"
bind_tcp = "{sip}"
advertised_host = "{sip_ip}"
# One INVITE, ACK and BYE transaction per call, kept until their timers end.
max_transactions = 1000000

[http]
bind = "{http}"

[media]
bind_ip = "{media}"
advertised_ip = "{media}"
# One trunk-side port per call.
port_min = {port_min}
port_max = {port_max}
webrtc_port = {webrtc_port}

# The generator's carrier: admitted by address, and where outbound calls go.
[trunks.loadgen]
addresses = ["{carrier_ip}/32"]
destination = "{carrier}"
numbers = ["+*"]
trusted = true

[apps.load]
trunks = ["loadgen"]
default_role = "load"

[apps.load.token_keys.loadgen]
alg = "HS256"
secret = "{secret}"

[apps.load.roles.load]
allow = ["{DIAL_PREFIX}*"]

[apps.load.numbers]
"#,
        sip = g.sip,
        sip_ip = g.sip.ip(),
        http = g.http,
        media = g.media_ip,
        carrier = g.carrier,
        carrier_ip = g.carrier.ip(),
        secret = g.secret,
        port_min = g.ports.0,
        port_max = g.ports.1,
        webrtc_port = g.webrtc_port,
    );
    for i in 0..g.endpoints {
        let _ = writeln!(s, "\"{DID_PREFIX}{i:04}\" = \"lg{i:04}\"");
    }
    s
}

/// The app's endpoints that have a DID (not `echo`), in DID order: (DID, endpoint id).
pub fn endpoints(cfg: &Config, app: &str) -> Result<Vec<(String, String)>, String> {
    let a = cfg
        .apps
        .get(app)
        .ok_or_else(|| format!("the bridge configuration has no app '{app}'"))?;
    let list: Vec<_> = a
        .numbers
        .iter()
        .filter(|(_, ep)| ep.as_str() != "echo")
        .map(|(did, ep)| (did.clone(), ep.clone()))
        .collect();
    if list.is_empty() {
        return Err(format!("app '{app}' has no endpoint numbers"));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_config_loads_and_lists_its_endpoints() {
        let g = Generate {
            endpoints: 3,
            carrier: "127.0.0.1:5090".parse().unwrap(),
            sip: "127.0.0.1:5060".parse().unwrap(),
            http: "127.0.0.1:8080".parse().unwrap(),
            media_ip: "127.0.0.1".parse().unwrap(),
            ports: (10000, 10999),
            webrtc_port: 0,
            secret: "a load-test secret of at least 32 bytes".into(),
        };
        let text = generate(&g);
        let cfg = crate::config::load_str(&text, "load.toml", false).expect("valid config");
        let eps = endpoints(&cfg, "load").expect("endpoints");
        assert_eq!(eps.len(), 3);
        assert_eq!(eps[0], ("+19990000000".to_owned(), "lg0000".to_owned()));
        assert!(endpoints(&cfg, "demo").is_err());
        let keys = crate::auth::TokenKeys::from_config(&cfg).expect("keys").0;
        assert!(
            keys.mint("load", "lg0001", "load", &["pstn".into()], 60, 1)
                .is_ok()
        );
    }
}
