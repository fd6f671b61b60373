//! The one error body every endpoint answers with: `{"error": "<code>", "message": "…"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sovra_proto::ProtoError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code,
            message: message.into(),
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

impl From<ProtoError> for ApiError {
    fn from(e: ProtoError) -> Self {
        ApiError::new(e.http_status(), e.code(), e.to_string())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        (self.status, axum::Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
