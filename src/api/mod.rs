//! HTTP surface: health, metrics (and later REST call control, signaling, webhooks).

pub mod http;
pub mod metrics;

pub use metrics::Metrics;
