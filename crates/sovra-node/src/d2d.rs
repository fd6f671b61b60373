//! The D2D surface peers call: `GET /api/d2d/identity`, `POST /api/d2d/handshake`,
//! `POST /api/d2d/message` (docs/PROTOCOL.md §5, §7, §8). Thin: parse, call `Cloud`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use sovra_proto::{
    HandshakeRequest, HandshakeResponse, IdentityDocument, MessageRequest, MessageResponse,
};

use crate::cloud::Cloud;
use sovra_http::{ApiResult, JsonBody};

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
