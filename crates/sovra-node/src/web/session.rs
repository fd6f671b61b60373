//! A browser's session (§24.2): the `sovra_web` cookie (HttpOnly, SameSite=Strict, the
//! cloud's path only), and the check the owner API runs on a request that carries it instead of
//! a device signature.
//!
//! Reads (`GET`, `HEAD`) need the cookie; every other method also needs the session's CSRF
//! token in `x-sovra-csrf` — a header another site's form or script cannot set — and must not
//! come from another site (`Sec-Fetch-Site`, `Origin`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use sovra_proto::PublicKey;

use crate::bearer;
use crate::cloud::Cloud;
use crate::error::ApiError;
use crate::store::WebSession;

/// The cookie's name.
pub const COOKIE: &str = "sovra_web";
/// How long a session lasts after pairing.
pub const SESSION_MS: i64 = 30 * 86_400_000;
/// The header a write through a session must carry its CSRF token in.
pub const CSRF_HEADER: &str = "x-sovra-csrf";

/// The session token of a request's `Cookie` header, if it has ours.
pub fn token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The `Set-Cookie` value that gives the browser `token` for the cloud at `prefix`.
pub fn set_cookie(prefix: &str, token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path={prefix}/; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_MS / 1000
    ))
    .expect("a token is hex")
}

fn cleared_cookie(prefix: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}=; Path={prefix}/; HttpOnly; SameSite=Strict; Max-Age=0"
    ))
    .expect("ascii")
}

fn unauthorized(why: &str) -> ApiError {
    ApiError::new(401, "unauthorized", why)
}

fn same(a: &str, b: &str) -> bool {
    // Compared as digests, so the time taken says nothing about how much of a guess matched.
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

/// The live session the request's cookie names, if any (its device still attached).
pub async fn live(cloud: &Cloud, headers: &HeaderMap) -> Result<Option<WebSession>, sqlx::Error> {
    match token(headers) {
        Some(t) => cloud.store.web_session(&bearer::digest(&t)).await,
        None => Ok(None),
    }
}

/// The device a session request acts as: `Ok(None)` when the request carries no session
/// cookie (the caller then wants a device signature), an error when it carries one that does
/// not authenticate this request.
pub async fn device(cloud: &Cloud, parts: &Parts) -> Result<Option<PublicKey>, ApiError> {
    let Some(token) = token(&parts.headers) else {
        return Ok(None);
    };
    if !super::from_loopback(parts) {
        return Err(unauthorized(
            "a web session is accepted on the node's loopback address only",
        ));
    }
    let session = cloud
        .store
        .web_session(&bearer::digest(&token))
        .await?
        .ok_or_else(|| unauthorized("this web session has ended: pair the browser again"))?;
    if !matches!(parts.method, Method::GET | Method::HEAD) {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        if header("sec-fetch-site").is_some_and(|s| s == "cross-site" || s == "same-site") {
            return Err(ApiError::new(403, "csrf", "a write from another site"));
        }
        if let (Some(origin), Some(host)) = (header("origin"), header("host"))
            && origin.split_once("://").map(|(_, h)| h) != Some(host)
        {
            return Err(ApiError::new(403, "csrf", "a write from another origin"));
        }
        if !header(CSRF_HEADER).is_some_and(|t| same(t, &session.csrf)) {
            return Err(ApiError::new(
                403,
                "csrf",
                format!("a write through a web session needs its {CSRF_HEADER} token"),
            ));
        }
    }
    Ok(Some(PublicKey::from_b64("device", &session.device)?))
}

/// `POST /web/logout`: ends this browser's session (the device stays attached; `sovra device
/// detach` ends it for good) and clears the cookie.
pub async fn logout(State(cloud): State<Arc<Cloud>>, request: axum::extract::Request) -> Response {
    let (parts, _) = request.into_parts();
    let prefix = super::cloud_prefix(&parts);
    if let Some(token) = token(&parts.headers) {
        // Only a write of this very session may end it: the form carries no token, so the
        // header check of `device` is what stops another site signing the owner out.
        if let Err(e) = device(&cloud, &parts).await {
            return e.into_response();
        }
        if let Err(e) = cloud.store.end_web_session(&bearer::digest(&token)).await {
            return ApiError::from(e).into_response();
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cleared_cookie(&prefix));
    response
}
