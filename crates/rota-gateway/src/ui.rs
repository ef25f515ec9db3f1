//! The admin console (`GET /ui`, SPEC §11): one page, its script and its stylesheet, embedded
//! in the binary (plain HTML, CSS and JavaScript under `src/ui/`; no build step).
//!
//! The page asks for the admin token and keeps it in the tab's `sessionStorage`; everything it
//! shows and does goes through the admin API with `Authorization: Bearer`, the live feed
//! included (`GET /admin/events`, read with `fetch`, since `EventSource` cannot send headers).
//! So these routes need no token themselves, and with no cookie there is no CSRF surface. The
//! answers carry a strict Content-Security-Policy: no inline script or style, and requests only
//! to the gateway itself.

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, header};

/// The page.
pub const INDEX_HTML: &str = include_str!("ui/index.html");
/// Its script.
pub const APP_JS: &str = include_str!("ui/app.js");
/// Its stylesheet.
pub const APP_CSS: &str = include_str!("ui/app.css");

/// The Content-Security-Policy of every console answer.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'none'";

/// The console's routes: `/ui`, `/ui/app.js`, `/ui/app.css`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/ui",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/ui/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ];
    (headers, body).into_response()
}
