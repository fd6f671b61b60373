//! Pairing a browser (§24.1).
//!
//! * `POST /api/owner/web/pairings` `{device}` — a one-time code for an attached device
//!   (owner API, signed like every owner request)
//! * `GET /web/pair?code=…` — the page that asks the human to confirm (a `GET` spends nothing,
//!   so a link preview cannot use the code up)
//! * `POST /web/pair` (form `code`) — spends the code, sets the session cookie, sends the
//!   browser to the page

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequest, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use sovra_http::JsonBody;
use sovra_proto::owner::{NewWebPairing, WebPairing};

use super::page::{escape, shell};
use super::session::{SESSION_MS, set_cookie};
use crate::bearer;
use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::{MAX_PAIRINGS, now_ms};

/// How long a pairing code may wait to be spent.
pub const PAIRING_MS: i64 = 10 * 60_000;
/// Every pairing code starts so; a session token likewise.
pub const CODE_PREFIX: &str = "sovra-pair-";
const SESSION_PREFIX: &str = "sovra-web-";

#[utoipa::path(post, path = "/web/pairings", tag = "web", request_body = NewWebPairing, responses((status = 200, body = WebPairing), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn create(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<NewWebPairing>,
) -> ApiResult<Json<WebPairing>> {
    let device = sovra_proto::PublicKey::from_b64("device", &body.device)?.to_b64();
    if cloud.store.device_certificate(&device).await?.is_none() {
        return Err(ApiError::not_found(
            "unknown_device",
            "no attached device has this key: attach it first (sovra device attach)",
        ));
    }
    let code = bearer::new_secret(CODE_PREFIX, 16);
    let expires_at = now_ms() + PAIRING_MS;
    if !cloud
        .store
        .add_web_pairing(&bearer::digest(&code), &device, expires_at)
        .await?
    {
        return Err(ApiError::new(
            429,
            "too_many_pairings",
            format!("{MAX_PAIRINGS} pairing codes are waiting already; let them expire"),
        ));
    }
    Ok(Json(WebPairing {
        path: format!("/web/pair?code={code}"),
        code,
        expires_at,
    }))
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// `GET /web/pair?code=…`: a confirm button, nothing spent.
pub async fn pair_page(State(cloud): State<Arc<Cloud>>, Query(q): Query<CodeForm>) -> Response {
    let body = format!(
        r#"<main class="narrow">
<h1>Pair this browser with {handle}</h1>
<p>This browser becomes a device of your cloud. Anyone using it can approve peers and send
messages as you. Continue only if you ran <code>sovra web</code> yourself, just now.</p>
<form method="post" action="pair">
<input type="hidden" name="code" value="{code}">
<button type="submit" id="pair">Pair this browser</button>
</form>
</main>"#,
        handle = escape(&cloud.config.handle),
        code = escape(&q.code),
    );
    Html(shell("Pair — Sovra", None, &body)).into_response()
}

/// `POST /web/pair`: spends the code; a code that does not work gets a page saying so (and a
/// 400), never a session.
pub async fn spend_code(
    State(cloud): State<Arc<Cloud>>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let prefix = super::cloud_prefix(&parts);
    let form = match axum::Form::<CodeForm>::from_request(
        axum::extract::Request::from_parts(parts, body),
        &(),
    )
    .await
    {
        Ok(axum::Form(f)) => f,
        Err(_) => return refused(StatusCode::BAD_REQUEST, "The form was not a pairing form."),
    };
    let token = bearer::new_secret(SESSION_PREFIX, 32);
    let csrf = bearer::new_secret("", 16);
    let paired = cloud
        .store
        .pair_web_session(
            &bearer::digest(&form.code),
            &bearer::digest(&token),
            &csrf,
            now_ms() + SESSION_MS,
        )
        .await;
    match paired {
        Ok(Some(_device)) => {
            let mut response = Redirect::to("./").into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, set_cookie(&prefix, &token));
            response
        }
        Ok(None) => refused(
            StatusCode::BAD_REQUEST,
            "This pairing code does not work: it was used, it expired, or its device was \
             detached. Run sovra web again for a new one.",
        ),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn refused(status: StatusCode, why: &str) -> Response {
    let body = format!(
        "<main class=\"narrow\"><h1>Not paired</h1><p role=\"alert\">{}</p></main>",
        escape(why)
    );
    (status, Html(shell("Not paired — Sovra", None, &body))).into_response()
}
