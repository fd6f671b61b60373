//! `sovra-http`: what the node, the registry and the relay share on the wire, so that every
//! service answers every refusal the same way (docs/PROTOCOL.md §10): a 4xx or 5xx status and
//! `{"error": "<stable code>", "message": "<for humans>"}`.
//!
//! * [`ApiError`] — that body, with conversions from the protocol and storage errors.
//! * [`JsonBody`] — a JSON extractor whose every failure is such an error (never axum's plain
//!   text), bounded by [`MAX_BODY`].
//! * [`not_found`], [`method_not_allowed`] — router fallbacks in the same shape.
//! * [`serve`] — serving with header timeouts and connection limits, access logs ([`access`])
//!   and Prometheus counters ([`metrics`]) on every route.

pub mod access;
pub mod errors;
pub mod health;
pub mod metrics;
pub mod serve;

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use sovra_proto::ProtoError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// One more field of the body where the client needs a value to act on (the difficulty
    /// of a required proof of work).
    pub extra: Option<(&'static str, serde_json::Value)>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code,
            message: message.into(),
            extra: None,
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(404, code, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "malformed", message)
    }

    /// A fault of ours (storage, a bug): logged in full, answered without detail.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {e}");
        Self::new(
            500,
            "internal",
            "internal error; the request was not applied",
        )
    }
}

impl ApiError {
    /// The JSON body: `{"error", "message"}` and the extra field, if any.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({ "error": self.code, "message": self.message });
        if let Some((k, v)) = &self.extra {
            body[*k] = v.clone();
        }
        body
    }
}

impl From<ProtoError> for ApiError {
    fn from(e: ProtoError) -> Self {
        let mut api = ApiError::new(e.http_status(), e.code(), e.to_string());
        if let ProtoError::PowRequired { difficulty } = e {
            api.extra = Some(("difficulty", difficulty.into()));
        }
        api
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Largest request body any endpoint accepts (PROTOCOL.md §11).
pub const MAX_BODY: usize = 1024 * 1024;

/// A JSON body whose every failure is a stable error: 413 `wrong_size` past `MAX_BODY`,
/// 400 `malformed` for anything that is not the expected JSON.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        413,
                        "wrong_size",
                        format!("request body is larger than {MAX_BODY} bytes"),
                    )
                } else {
                    ApiError::bad_request(format!("cannot read the body: {e}"))
                }
            })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("body is not the expected JSON: {e}")))
    }
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "no such endpoint")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        405,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}
