//! `pstn-bridge policy outbound|inbound`: dry-run a dial plan decision as JSON.

use std::net::IpAddr;
use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Would this endpoint's call to NUMBER be placed, and how?
    Outbound {
        #[arg(long)]
        app: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        to: String,
        #[arg(long, conflicts_with = "anonymous")]
        caller_id: Option<String>,
        #[arg(long)]
        anonymous: bool,
    },
    /// Where would a carrier's INVITE from SOURCE to NUMBER go?
    Inbound {
        #[arg(long)]
        source: IpAddr,
        #[arg(long)]
        to: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        pai: Option<String>,
        #[arg(long)]
        privacy: Option<String>,
    },
}

/// Runs a policy dry-run: exit 0 allow, 1 reject, 2 usage or config error.
pub fn run(_cfg: &Config, _cmd: PolicyCommand) -> ExitCode {
    eprintln!("policy dry-run is not implemented yet");
    ExitCode::from(2)
}
