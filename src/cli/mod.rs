//! Command line: `pstn-bridge [--config FILE]` runs the daemon; subcommands inspect things.

pub mod dial;
pub mod policy;
pub mod token;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "pstn-bridge", version, about = "SIP-trunk-to-WebRTC bridge")]
pub struct Cli {
    /// Configuration file; the embedded config/default.toml when absent.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration and print a summary.
    CheckConfig,
    /// Dry-run the dial plan: one JSON decision on stdout.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Place one test call on a trunk and print what happened as JSON.
    Dial(dial::DialArgs),
    /// Mint one endpoint token with the app's configured key and print it.
    Token(token::TokenArgs),
}

/// The `check-config` summary: what the daemon would do with this configuration.
pub fn summary(cfg: &crate::config::Config) -> String {
    use std::fmt::Write;
    let mut s = String::from("configuration OK\n");
    let _ = writeln!(
        s,
        "sip: udp {:?}, tcp {:?}, advertised {}",
        cfg.sip.bind_udp, cfg.sip.bind_tcp, cfg.sip.advertised_host
    );
    let _ = writeln!(s, "http: {}", cfg.http.bind);
    let _ = writeln!(
        s,
        "media: {} (advertised {}), ports {}-{}",
        cfg.media.bind_ip, cfg.media.advertised_ip, cfg.media.port_min, cfg.media.port_max
    );
    for (name, t) in &cfg.trunks {
        let addrs: Vec<String> = t.addresses.iter().map(|a| a.to_string()).collect();
        let _ = writeln!(
            s,
            "trunk {name}: admits [{}]{}, sends to {:?}, carries [{}]",
            addrs.join(", "),
            if t.inbound_auth.is_some() {
                " or digest credentials"
            } else {
                ""
            },
            t.destination,
            t.numbers.join(", ")
        );
    }
    for (name, a) in &cfg.apps {
        let _ = writeln!(
            s,
            "app {name}: {} number(s), trunks [{}]",
            a.numbers.len(),
            a.trunks.join(", ")
        );
        if a.token_keys.is_empty() {
            let _ = writeln!(
                s,
                "  token keys: none (an ephemeral key is generated at start-up)"
            );
        }
        for (kid, k) in &a.token_keys {
            let mints = k.secret.is_some() || k.private_key_pem.is_some();
            let _ = writeln!(
                s,
                "  token key {kid}: {}{}",
                k.alg,
                if mints { ", can mint" } else { ", verify only" }
            );
        }
        for (did, ep) in &a.numbers {
            let _ = writeln!(s, "  {did} -> {ep}");
        }
        for (role, r) in &a.roles {
            let _ = writeln!(
                s,
                "  role {role}: allow [{}], deny [{}]",
                r.allow.join(", "),
                r.deny.join(", ")
            );
        }
    }
    s
}
