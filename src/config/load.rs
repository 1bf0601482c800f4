//! Reading the configuration from a file (or the embedded default) plus the environment.

use std::path::Path;

use config::{Environment, File, FileFormat};

use super::Config;

/// The embedded default: one node, in-memory state, a demo trunk and endpoint on loopback.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../config/default.toml");

/// A configuration that cannot be used: which file, which key, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {key}: {reason}")]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(file: &str, key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Name used for the embedded default in error messages.
pub const EMBEDDED_NAME: &str = "<embedded config/default.toml>";

/// Loads `path` (or the embedded default when `None`), applies environment overrides and
/// validates the result.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    match path {
        None => load_str(EMBEDDED_DEFAULT, EMBEDDED_NAME, true),
        Some(p) => {
            let name = p.display().to_string();
            let text = std::fs::read_to_string(p)
                .map_err(|e| ConfigError::new(&name, "-", format!("cannot read file: {e}")))?;
            load_str(&text, &name, true)
        }
    }
}

/// Loads configuration text; `with_env` applies `PSTN_BRIDGE__SECTION__KEY` overrides.
pub fn load_str(text: &str, file: &str, with_env: bool) -> Result<Config, ConfigError> {
    let mut builder = config::Config::builder().add_source(File::from_str(text, FileFormat::Toml));
    if with_env {
        builder = builder.add_source(
            Environment::with_prefix("PSTN_BRIDGE")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
    }
    let raw = builder.build().map_err(|e| from_config_error(file, e))?;
    let cfg: Config = raw
        .try_deserialize()
        .map_err(|e| from_config_error(file, e))?;
    super::validate(&cfg).map_err(|(key, reason)| ConfigError::new(file, key, reason))?;
    Ok(cfg)
}

fn from_config_error(file: &str, e: config::ConfigError) -> ConfigError {
    // config-rs phrases errors as "<reason> for key `<key>`" (sometimes "in <origin>").
    let text = e.to_string();
    if let Some((reason, rest)) = text.split_once(" for key `") {
        let key = rest.split('`').next().unwrap_or("-");
        return ConfigError::new(file, key, reason.trim());
    }
    ConfigError::new(file, "-", text)
}
