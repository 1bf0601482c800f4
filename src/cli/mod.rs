//! Command line: `pstn-bridge [--config FILE]` runs the daemon; subcommands inspect things.

pub mod policy;

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
}
