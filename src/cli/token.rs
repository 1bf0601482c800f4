//! `pstn-bridge token --app A --endpoint E --role R [--ttl S] [--scope S]...`: print one
//! endpoint token signed with the app's configured key. Exit 0 printed, 2 refused.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;

use crate::auth::{TokenError, TokenKeys};
use crate::config::Config;
use crate::policy::PSTN_SCOPE;

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// App whose key signs the token.
    #[arg(long)]
    pub app: String,
    /// Endpoint id (the `sub` claim).
    #[arg(long)]
    pub endpoint: String,
    /// Role; must be one of the app's roles.
    #[arg(long)]
    pub role: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: u64,
    /// Token scopes; repeat for several. Phone calls need `pstn`.
    #[arg(long = "scope", default_values_t = [PSTN_SCOPE.to_owned()])]
    pub scopes: Vec<String>,
}

/// Mints with the clock of this host.
pub fn run(cfg: &Config, args: TokenArgs) -> ExitCode {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match mint(cfg, &args, now) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("pstn-bridge token: {msg}");
            ExitCode::from(2)
        }
    }
}

/// Why `token` printed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenCliError {
    #[error("no app `{0}` in the configuration")]
    NoApp(String),
    #[error(
        "app `{0}` has no configured token keys (apps.{0}.token_keys); the daemon generates \
         an ephemeral key for it that no other process knows, so a token minted here would \
         not verify. Configure a key, or mint from the demo page on loopback."
    )]
    NoConfiguredKey(String),
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// The token, or why none can be printed.
pub fn mint(cfg: &Config, args: &TokenArgs, now_unix: u64) -> Result<String, TokenCliError> {
    let Some(app) = cfg.apps.get(&args.app) else {
        return Err(TokenCliError::NoApp(args.app.clone()));
    };
    if app.token_keys.is_empty() {
        return Err(TokenCliError::NoConfiguredKey(args.app.clone()));
    }
    let (keys, _) = TokenKeys::from_config(cfg)?;
    Ok(keys.mint(
        &args.app,
        &args.endpoint,
        &args.role,
        &args.scopes,
        args.ttl,
        now_unix,
    )?)
}
