//! The page itself (§24.3): one HTML shell, a script and a stylesheet compiled into the binary,
//! and the QR code of the cloud's peering card.
//!
//! * `GET /web/` — the app (with this session's CSRF token), or a page saying how to pair
//! * `GET /web/assets/{app.js,app.css}`
//! * `GET /web/qr.svg` — `sovra:peer?handle=…&key=…` as a QR code (session only)

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::session;
use crate::cloud::Cloud;
use crate::error::ApiError;
use crate::store::WebSession;

const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// Text made safe for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML document every page is: a session's CSRF token and device key go in `<meta>`
/// elements the script reads.
pub fn shell(title: &str, session: Option<&WebSession>, body: &str) -> String {
    let meta = session.map_or(String::new(), |s| {
        format!(
            "<meta name=\"sovra-csrf\" content=\"{}\">\n<meta name=\"sovra-device\" content=\"{}\">\n",
            escape(&s.csrf),
            escape(&s.device)
        )
    });
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{meta}<title>{title}</title>
<link rel="stylesheet" href="assets/app.css">
</head>
<body>
{body}
</body>
</html>
"#,
        title = escape(title),
    )
}

/// `GET /web`: the page lives at `/web/`, so its relative links resolve below it.
pub async fn to_app() -> Redirect {
    Redirect::permanent("web/")
}

/// `GET /web/`: the app for a live session; otherwise how to get one.
pub async fn app(State(cloud): State<Arc<Cloud>>, request: axum::extract::Request) -> Response {
    let (parts, _) = request.into_parts();
    let live = match session::live(&cloud, &parts.headers).await {
        Ok(s) => s,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let Some(live) = live else {
        let body = format!(
            "<main class=\"narrow\"><h1>{}</h1><p>This browser is not paired with the cloud. \
             On the machine that holds it, run <code>sovra web</code> and open the link it \
             prints.</p></main>",
            escape(&cloud.config.handle)
        );
        return (
            StatusCode::UNAUTHORIZED,
            Html(shell("Not paired — Sovra", None, &body)),
        )
            .into_response();
    };
    let body = format!(
        r##"<header class="top">
<span class="brand" id="brand">{handle}</span>
<nav aria-label="Sections">
<a href="#pending">Requests</a>
<a href="#peers">Peers</a>
<a href="#conversations">Conversations</a>
<a href="#drafts">Drafts</a>
<a href="#swarms">Swarms</a>
<a href="#capabilities">Capabilities</a>
<a href="#devices">Devices</a>
<a href="#card">Peering card</a>
</nav>
<button type="button" id="logout" class="quiet">Sign out</button>
</header>
<div id="status" role="status" aria-live="polite"></div>
<section id="elevate" aria-live="polite"></section>
<main id="view" tabindex="-1"><p>Loading…</p></main>
<script src="assets/app.js" defer></script>"##,
        handle = escape(&cloud.config.handle),
    );
    Html(shell("Sovra", Some(&live), &body)).into_response()
}

/// `GET /web/assets/{file}`.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => {
            return ApiError::not_found("not_found", format!("no asset {file}")).into_response();
        }
    };
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // The assets change only with the binary; a page load checks nothing else.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// What the peering card's QR code says: enough for `sovra peer add` on the other side.
pub fn peering_uri(handle: &str, key: &sovra_proto::PublicKey) -> String {
    let mut uri = url::Url::parse("sovra:peer").expect("static");
    uri.query_pairs_mut()
        .append_pair("handle", handle)
        .append_pair("key", &key.to_b64());
    uri.into()
}

/// `GET /web/qr.svg`: the peering card as a QR code, for a live session only (it is not
/// secret, but the page is the owner's).
pub async fn qr(State(cloud): State<Arc<Cloud>>, request: axum::extract::Request) -> Response {
    let (parts, _) = request.into_parts();
    match session::device(&cloud, &parts).await {
        Ok(Some(_)) => {}
        Ok(None) => return ApiError::new(401, "unauthorized", "no web session").into_response(),
        Err(e) => return e.into_response(),
    }
    let uri = peering_uri(&cloud.config.handle, &cloud.public());
    let code = match qrcode::QrCode::with_error_correction_level(&uri, qrcode::EcLevel::M) {
        Ok(c) => c,
        Err(e) => return ApiError::internal(e).into_response(),
    };
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peering_card_names_the_handle_and_the_key() {
        let key = sovra_proto::SigningKeypair::generate(&mut sovra_proto::os_rng()).public();
        let b64 = key.to_b64();
        let encoded = b64
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        assert_eq!(
            peering_uri("@alice.cloud", &key),
            format!("sovra:peer?handle=%40alice.cloud&key={encoded}")
        );
        assert_eq!(
            escape(r#"<a href="x">'&"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }
}
