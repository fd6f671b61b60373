//! The D2D surface peers call: `GET /api/d2d/identity`, `POST /api/d2d/handshake`,
//! `POST /api/d2d/message` (docs/PROTOCOL.md §5, §7, §8). Thin: parse, call `Cloud`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use serde::de::DeserializeOwned;
use sovra_proto::{
    HandshakeRequest, HandshakeResponse, IdentityDocument, MessageRequest, MessageResponse,
};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};

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

pub async fn identity(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<IdentityDocument>> {
    cloud.identity_document().await.map(Json)
}

pub async fn handshake(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(request): JsonBody<HandshakeRequest>,
) -> ApiResult<Json<HandshakeResponse>> {
    cloud.receive_handshake(&request).await.map(Json)
}

pub async fn message(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(request): JsonBody<MessageRequest>,
) -> ApiResult<Json<MessageResponse>> {
    cloud.receive_message(&request).await.map(Json)
}
