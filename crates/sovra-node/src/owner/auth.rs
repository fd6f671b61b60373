//! Every owner request is signed by a device the cloud key certified (docs/PROTOCOL.md §15.1):
//! `x-sovra-device`, `x-sovra-timestamp` (within 60 s), `x-sovra-nonce` (never reused) and
//! `x-sovra-signature` over the method, the full path with query, the timestamp, the nonce and
//! the body. This middleware checks all of it before any handler runs.
//!
//! A paired browser (§24) sends no signature: its session cookie stands for the device it was
//! paired as, checked by `web::session`, and the request goes on as that device.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use sovra_proto::device::{
    KeyCertificate, OWNER_REQUEST_WINDOW_MS, OwnerAuth, PURPOSE_OWNER, owner_request_bytes,
    verify_certified,
};
use sovra_proto::{ProtoError, PublicKey};

use crate::cloud::Cloud;
use crate::error::ApiError;
use crate::store::now_ms;
use sovra_http::MAX_BODY;

fn unauthorized(why: impl Into<String>) -> ApiError {
    ApiError::new(401, "unauthorized", why)
}

/// Middleware: authenticates the request, then hands it on with its body intact.
pub async fn authenticate(
    State(cloud): State<Arc<Cloud>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    if !parts.headers.contains_key("x-sovra-device")
        && let Some(device) = crate::web::session::device(&cloud, &parts).await?
    {
        cloud.note_owner_activity();
        parts.extensions.insert(AuthedDevice(device));
        return Ok(next.run(Request::from_parts(parts, body)).await);
    }
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| unauthorized(format!("missing {name} header")))
    };
    let auth = OwnerAuth {
        device: header("x-sovra-device")?,
        timestamp_ms: header("x-sovra-timestamp")?
            .parse()
            .map_err(|_| unauthorized("x-sovra-timestamp is not an integer"))?,
        nonce: header("x-sovra-nonce")?,
        signature: header("x-sovra-signature")?,
    };
    // The body is signed, so it is read here whole: up to the request limit, or for a moving
    // cloud's archive (the one large owner request) up to that limit.
    let limit = match parts.uri.path() {
        "/migration/import" => crate::migration::import::MAX_ARCHIVE_BODY,
        "/files" => crate::actions::files::MAX_FILE,
        _ => MAX_BODY,
    };
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            413,
            "wrong_size",
            format!("request body is larger than {limit} bytes"),
        )
    })?;
    let now = now_ms();
    // A header that does not decode is a failed authentication like any other (§15.1: 401),
    // whatever the decoding error; only the clock window has its own code.
    let badly = |e: ProtoError| unauthorized(e.to_string());
    match auth.check_window(now) {
        Err(e @ ProtoError::StaleTimestamp { .. }) => return Err(e.into()),
        Err(e) => return Err(badly(e)),
        Ok(()) => {}
    }
    let device = PublicKey::from_b64("x-sovra-device", &auth.device).map_err(badly)?;
    let sig = sovra_proto::keys::signature_from_b64("x-sovra-signature", &auth.signature)
        .map_err(badly)?;
    let certificate: Option<KeyCertificate> = cloud
        .store
        .device_certificate(&auth.device)
        .await?
        .and_then(|c| serde_json::from_str(&c).ok());
    let certificates: Vec<KeyCertificate> = certificate.into_iter().collect();
    // The path as the client signed it: the full path on the node (before the router
    // stripped the cloud's prefix), with the query.
    let original = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map(|o| o.0.clone());
    let uri = original.as_ref().unwrap_or(&parts.uri);
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let signed = owner_request_bytes(
        parts.method.as_str(),
        path,
        auth.timestamp_ms,
        &auth.nonce,
        &bytes,
    );
    verify_certified(
        &cloud.public(),
        &device,
        &certificates,
        PURPOSE_OWNER,
        "owner request",
        &signed,
        &sig,
    )
    .map_err(|_| unauthorized("not signed by a device this cloud certified"))?;
    if !cloud
        .store
        .use_nonce(&auth.nonce, now + 2 * OWNER_REQUEST_WINDOW_MS)
        .await?
    {
        return Err(ApiError::new(
            401,
            "replayed_request",
            "this request nonce was already used",
        ));
    }
    cloud.note_owner_activity();
    parts.extensions.insert(AuthedDevice(device));
    Ok(next
        .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await)
}

/// The device that signed an owner request, for handlers and middleware after this one.
#[derive(Debug, Clone, Copy)]
pub struct AuthedDevice(pub PublicKey);
