//! Endpoint signaling over WebSocket (`/v1/ws`), protocol in `docs/signaling.md`.

pub mod messages;
pub mod session;
