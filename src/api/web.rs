//! The browser SDK and the demo page, embedded in the binary so the daemon serves them
//! from any working directory: `/` (demo), `/sdk/pstn-bridge.js` (ES module).

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const INDEX: &str = include_str!("../../web/index.html");
const DEMO_JS: &str = include_str!("../../web/demo.js");
const DEMO_CSS: &str = include_str!("../../web/demo.css");
const SDK: &str = include_str!("../../web/pstn-bridge.js");

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|| async { page("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/index.html",
            get(|| async { page("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/demo.js",
            get(|| async { page("text/javascript; charset=utf-8", DEMO_JS) }),
        )
        .route(
            "/demo.css",
            get(|| async { page("text/css; charset=utf-8", DEMO_CSS) }),
        )
        .route(
            "/sdk/pstn-bridge.js",
            get(|| async { page("text/javascript; charset=utf-8", SDK) }),
        )
}

fn page(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}
