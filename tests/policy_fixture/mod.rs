//! Shared dial-plan fixture for the policy tests.

use pstn_bridge::config::{Config, ConfigError, EMBEDDED_DEFAULT, load_str};

/// Trunks: `carrier` (trusted, by address, NANP national format, carries +1),
/// `carrier_edge` (a more specific network inside carrier's, untrusted, carries +44),
/// `intl` (by digest credentials, untrusted, carries everything), `psap` (emergency).
pub const BASE: &str = r#"
[sip]
bind_udp = "127.0.0.1:5060"
advertised_host = "127.0.0.1"
[http]
bind = "127.0.0.1:8080"
[media]
bind_ip = "127.0.0.1"
advertised_ip = "127.0.0.1"
port_min = 20000
port_max = 20999

[trunks.carrier]
addresses = ["192.0.2.0/24"]
destination = "192.0.2.10:5060"
numbers = ["+1*"]
trusted = true
national = { country_code = "1", length = 10, trunk_prefix = "1", international_prefix = "011" }

[trunks.carrier_edge]
addresses = ["192.0.2.128/25"]
destination = "192.0.2.200:5060"
numbers = ["+44*"]

[trunks.intl]
inbound_auth = { username = "intl-user", password = "pw" }
destination = "198.51.100.1:5060"
numbers = ["*"]

[trunks.psap]
destination = "203.0.113.9:5060"
emergency = true
trusted = true

[apps.shop]
numbers = { "+14155550100" = "alice", "+14155550101" = "bob", "+442079460000" = "echo" }
trunks = ["carrier_edge", "carrier", "intl", "psap"]
default_role = "agent"

[apps.shop.roles.agent]
allow = ["+1*", "+44*", "911"]
deny = ["+1900*", "+1 415 555 0199"]
default_caller_id = "+14155550100"

[apps.shop.roles.open]
allow = ["*"]

[apps.shop.roles.closed]
deny = ["+1900*"]

[apps.shop.roles.strict]
allow = ["+14155550123", "+1415*"]
deny = ["+1415555012*"]
default_caller_id = "+14155550101"

[apps.solo]
numbers = { "+16175550100" = "carol" }
trunks = ["intl"]

[apps.solo.roles.caller]
allow = ["*", "112"]

[apps.uk]
numbers = { "+442079460001" = "dan", "+442079460002" = "eve" }
trunks = ["carrier_edge"]

[apps.uk.roles.any]
allow = ["*"]
"#;

/// Which configuration a case runs against. (Each test crate uses only some variants.)
#[allow(dead_code)]
#[derive(Debug, Clone, Copy)]
pub enum Fixture {
    /// [`BASE`].
    Base,
    /// [`BASE`] plus more TOML (new tables only).
    With(&'static str),
    /// The embedded `config/default.toml`.
    Default,
}

pub fn load(f: Fixture) -> Result<Config, ConfigError> {
    match f {
        Fixture::Base => load_str(BASE, "cases.toml", false),
        Fixture::With(extra) => load_str(&format!("{BASE}\n{extra}"), "cases.toml", false),
        Fixture::Default => load_str(EMBEDDED_DEFAULT, "default.toml", false),
    }
}
