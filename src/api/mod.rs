//! HTTP surface: health, metrics (and later REST call control, signaling, webhooks).

pub mod http;
pub mod metrics;
#[cfg(target_os = "linux")]
pub(crate) mod process_metrics;
pub mod signaling;
pub mod web;

pub use metrics::Metrics;
