//! The owner's web page (docs/PROTOCOL.md §24): a page a non-technical human can use to approve
//! a peer, edit a grant, review a draft and watch a conversation, served from the binary.
//!
//! A browser is paired, never logged in: `sovra web` attaches a new device (an artifact the
//! cloud key signed, like any device) and asks for a one-time pairing code bound to it; the
//! browser spends the code and gets a session cookie. The session acts as that device on the
//! owner API (`owner::auth` accepts it in place of a device signature), so the page uses the
//! same typed endpoints as the CLI, and detaching the device ends the session.
//!
//! Invariants: the page and the cookie answer loopback clients only (the node's owner address);
//! every write through a session carries the session's CSRF token in `x-sovra-csrf`; every page
//! is sent with a strict Content-Security-Policy and loads nothing from elsewhere.
//!
//! # Layout
//!
//! `session` (the cookie, its CSRF token, the check `owner::auth` calls), `pairing` (the owner
//! endpoint that makes a code, and the page that spends it), `page` (the app shell, its
//! assets in `assets/`, the QR code of the cloud's peering card).

pub mod page;
pub mod pairing;
pub mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;

use crate::cloud::Cloud;
use crate::error::ApiError;

/// The page's Content-Security-Policy: its own scripts, styles and API only; no inline code,
/// no frames, no form posts elsewhere.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The page's routes, below the cloud's base URL.
pub fn router() -> Router<Arc<Cloud>> {
    Router::new()
        .route("/web", get(page::to_app))
        .route("/web/", get(page::app))
        .route(
            "/web/pair",
            get(pairing::pair_page).post(pairing::spend_code),
        )
        .route("/web/logout", axum::routing::post(session::logout))
        .route("/web/qr.svg", get(page::qr))
        .route("/web/assets/{file}", get(page::asset))
        .layer(axum::middleware::from_fn(headers))
        .layer(axum::middleware::from_fn(loopback_only))
}

/// Whether the request came over a loopback connection (the owner address). A request without
/// a known peer address is not.
pub fn from_loopback(request: &axum::http::request::Parts) -> bool {
    request
        .extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .is_some_and(|c| c.0.ip().is_loopback())
}

async fn loopback_only(request: Request, next: Next) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    if !from_loopback(&parts) {
        return Err(ApiError::new(
            403,
            "not_loopback",
            "the owner's web page answers on the node's loopback address only",
        ));
    }
    Ok(next.run(Request::from_parts(parts, body)).await)
}

/// The headers every page and asset goes out with.
async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        response
            .extensions_mut()
            .insert(sovra_http::errors::BrowserPage);
    }
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// The cloud's path prefix on its node (`/clouds/alice`), from the path the client asked for
/// and the path the cloud's router saw.
pub fn cloud_prefix(parts: &axum::http::request::Parts) -> String {
    let full = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map(|o| o.0.path().to_owned())
        .unwrap_or_else(|| parts.uri.path().to_owned());
    full.strip_suffix(parts.uri.path()).unwrap_or("").to_owned()
}
