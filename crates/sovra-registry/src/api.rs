//! The registry's HTTP surface (docs/PROTOCOL.md §16.3). Thin: parse, call `Registry`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::json;
use sovra_http::{ApiError, JsonBody, MAX_BODY, method_not_allowed, not_found};
use sovra_proto::registry::{
    CodeRequest, CodeResponse, DeviceRequest, PhoneProof, RecordUpdate, RegisterRequest,
    RegistryInfo, RenameRequest, RotateRequest, WhoamiResponse,
};

use crate::error::RegistryError;
use crate::registry::Registry;
use crate::store::RegistryStore;

type Shared<S> = State<Arc<Registry<S>>>;

/// The error body, plus `retry_after_seconds` (and a `Retry-After` header) where waiting helps,
/// and `successor` for a renamed handle.
fn refusal(e: RegistryError) -> Response {
    let extra = match &e {
        RegistryError::RateLimited { retry_after_secs }
        | RegistryError::RegistrationLocked { retry_after_secs } => Some((
            "retry_after_seconds",
            json!(retry_after_secs),
            Some(*retry_after_secs),
        )),
        RegistryError::HandleChanged { successor, .. } => {
            Some(("successor", json!(successor), None))
        }
        RegistryError::WrongCode { attempts_left } => {
            Some(("attempts_left", json!(attempts_left), None))
        }
        _ => None,
    };
    let api = ApiError::from(e);
    let mut body = json!({ "error": api.code, "message": api.message });
    let mut retry = None;
    if let Some((k, v, r)) = extra {
        body[k] = v;
        retry = r;
    }
    let mut response = (api.status, Json(body)).into_response();
    if let Some(secs) = retry {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    }
    response
}

type Answer<T> = Result<T, Response>;

fn lookup_response(status: StatusCode, json: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], json).into_response()
}

/// 200 with a stored lookup, or the refusal.
fn lookup_answer(result: Result<String, RegistryError>) -> Response {
    match result {
        Ok(json) => lookup_response(StatusCode::OK, json),
        Err(e) => refusal(e),
    }
}

async fn info<S: RegistryStore>(State(r): Shared<S>) -> Json<RegistryInfo> {
    Json(r.info())
}

async fn request_code<S: RegistryStore>(
    State(r): Shared<S>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    JsonBody(req): JsonBody<CodeRequest>,
) -> Answer<(StatusCode, Json<CodeResponse>)> {
    r.request_code(&req.phone, &addr.ip().to_string())
        .await
        .map(|c| (StatusCode::ACCEPTED, Json(c)))
        .map_err(refusal)
}

async fn register<S: RegistryStore>(
    State(r): Shared<S>,
    JsonBody(req): JsonBody<RegisterRequest>,
) -> Answer<Response> {
    let (lookup, created) = r.register(&req).await.map_err(refusal)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(lookup_response(status, lookup))
}

async fn lookup<S: RegistryStore>(
    State(r): Shared<S>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(handle): Path<String>,
) -> Response {
    if let Err(e) = r.admit_lookup(addr.ip()) {
        return refusal(e);
    }
    lookup_answer(r.lookup(&handle).await)
}

async fn update_record<S: RegistryStore>(
    State(r): Shared<S>,
    Path(handle): Path<String>,
    JsonBody(req): JsonBody<RecordUpdate>,
) -> Response {
    lookup_answer(r.update_record(&handle, &req).await)
}

async fn rotate<S: RegistryStore>(
    State(r): Shared<S>,
    Path(handle): Path<String>,
    JsonBody(req): JsonBody<RotateRequest>,
) -> Response {
    lookup_answer(r.rotate(&handle, &req).await)
}

async fn rename<S: RegistryStore>(
    State(r): Shared<S>,
    Path(handle): Path<String>,
    JsonBody(req): JsonBody<RenameRequest>,
) -> Response {
    lookup_answer(r.rename(&handle, &req).await)
}

async fn add_device<S: RegistryStore>(
    State(r): Shared<S>,
    Path(handle): Path<String>,
    JsonBody(req): JsonBody<DeviceRequest>,
) -> Answer<Json<serde_json::Value>> {
    r.add_device(&handle, &req)
        .await
        .map(|devices| Json(json!({ "devices": devices })))
        .map_err(refusal)
}

async fn whoami<S: RegistryStore>(
    State(r): Shared<S>,
    JsonBody(req): JsonBody<PhoneProof>,
) -> Answer<Json<WhoamiResponse>> {
    r.whoami(&req).await.map(Json).map_err(refusal)
}

async fn attest<S: RegistryStore>(
    State(r): Shared<S>,
    JsonBody(req): JsonBody<sovra_proto::registry::AttestationRequest>,
) -> Answer<Json<sovra_proto::registry::PhoneAttestation>> {
    r.attest(&req).await.map(Json).map_err(refusal)
}

pub async fn elevate<S: RegistryStore>(
    State(r): Shared<S>,
    JsonBody(req): JsonBody<sovra_proto::registry::ElevationRequest>,
) -> Answer<Json<sovra_proto::registry::Elevation>> {
    r.elevate(&req).await.map(Json).map_err(refusal)
}

async fn readyz<S: RegistryStore>(State(r): Shared<S>) -> axum::response::Response {
    sovra_http::health::readiness(r.store.ping().await.map_err(|e| e.to_string()))
}

pub fn router<S: RegistryStore>(registry: Arc<Registry<S>>) -> Router {
    Router::new()
        .route("/v1/registry", get(info::<S>))
        .route("/healthz", get(sovra_http::health::healthz))
        .route("/readyz", get(readyz::<S>))
        .route("/v1/verifications", post(request_code::<S>))
        .route("/v1/clouds", post(register::<S>))
        .route("/v1/whoami", post(whoami::<S>))
        .route("/v1/attestations", post(attest::<S>))
        .route("/v1/elevations", post(elevate::<S>))
        .route("/v1/handles/{handle}", get(lookup::<S>))
        .route("/v1/handles/{handle}/record", put(update_record::<S>))
        .route("/v1/handles/{handle}/rotate", post(rotate::<S>))
        .route("/v1/handles/{handle}/rename", post(rename::<S>))
        .route("/v1/handles/{handle}/devices", post(add_device::<S>))
        .with_state(registry)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            std::time::Duration::from_secs(30),
        ))
}

/// Serves until `shutdown` resolves, finishing in-flight requests. Client addresses are kept
/// for the per-client code limit.
pub async fn serve<S: RegistryStore>(
    listener: tokio::net::TcpListener,
    registry: Arc<Registry<S>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = registry.clone();
    let sweep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            if let Err(e) = sweeper.sweep().await {
                tracing::error!("registry sweep: {e}");
            }
        }
    });
    let result = sovra_http::serve::serve(
        listener,
        router(registry),
        sovra_http::serve::Limits::default(),
        shutdown,
    )
    .await;
    sweep.abort();
    result
}
