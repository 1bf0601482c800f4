//! Configuration: TOML plus `PSTN_BRIDGE__SECTION__KEY` environment overrides, loaded once
//! at start-up and validated; a bad file names the file, the key and the reason.

mod load;
mod model;
mod validate;

pub use load::{ConfigError, EMBEDDED_DEFAULT, load, load_str};
pub use model::*;
pub use validate::validate;
