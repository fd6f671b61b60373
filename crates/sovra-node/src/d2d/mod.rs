//! The rapp-d2d/1.0 rules applied to one cloud, and the endpoints peers call.
//!
//! # Layout
//!
//! * this file — the D2D surface: `GET /api/d2d/identity`, `POST /api/d2d/handshake`,
//!   `POST /api/d2d/message` (docs/PROTOCOL.md §5, §7, §8). Thin: parse, call the rules.
//! * `receive` — the responder side: identity document, inbound handshake, inbound message.
//! * `strangers` — first-contact limits: per source, per cloud, pending requests at once.
//! * `inbox` — group commit: one task accepts inbound messages in batches, one fsync each.
//! * `calls` — running an inbound message's capability calls (at most once) and queueing the reply.
//! * `send` — the initiator side: open a conversation, seal and queue a message.
//! * `queue` — group commit of outbound messages (numbering, sealing, outbox and log rows).
//! * `outbox` — delivering the queue: endpoint, then relays; backoff; giving up.
//! * `relay` — relay links: one WebSocket per relay, inbound envelopes answered like the
//!   endpoints above, outbound requests carried as envelopes.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use sha2::{Digest, Sha256};
use sovra_proto::{
    HandshakeRequest, HandshakeResponse, IdentityDocument, MessageRequest, MessageResponse,
    Retention,
};

use crate::cloud::Cloud;
use sovra_http::{ApiResult, JsonBody};

mod calls;
pub mod inbox;
mod outbox;
pub(crate) use outbox::backoff;
pub mod queue;
mod receive;
pub mod relay;
mod send;
pub mod strangers;

/// Identifies a request's exact bytes, to tell a retransmission from a replay. Hashes the wire
/// fields: base64 is strictly canonical, so equal text means equal bytes.
pub(crate) fn hash_request(request: &MessageRequest) -> String {
    let digest = Sha256::new()
        .chain_update(request.sealed_payload.as_bytes())
        .chain_update([0])
        .chain_update(request.sig.as_bytes())
        .finalize();
    sovra_proto::encoding::hex(&digest)
}

pub(crate) fn retention_str(r: Retention) -> &'static str {
    match r {
        Retention::Session => "session",
        Retention::Days90 => "90d",
        Retention::Permanent => "permanent",
    }
}

pub async fn identity(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<IdentityDocument>> {
    cloud.identity_document().await.map(Json)
}

pub async fn handshake(
    State(cloud): State<Arc<Cloud>>,
    source: SourceAddr,
    JsonBody(request): JsonBody<HandshakeRequest>,
) -> ApiResult<Json<HandshakeResponse>> {
    cloud.receive_handshake(&request, source.0).await.map(Json)
}

/// The address a request came from, when the server knows it (`serve` records it; a router
/// driven without a socket does not).
pub struct SourceAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for SourceAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(SourceAddr(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

pub async fn message(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(request): JsonBody<MessageRequest>,
) -> ApiResult<Json<MessageResponse>> {
    cloud.receive_message(&request).await.map(Json)
}

/// Middleware on the D2D endpoints: a hosted cloud whose owner revoked this node's host key
/// answers 410 `host_revoked` — the node no longer speaks or listens for it; a cloud frozen
/// for a move answers 503 `moving`, a moved one 410 `moved`. The request holds the cloud's
/// write gate while it runs, so a freeze waits for it (`migration/`).
pub async fn speaking(
    State(cloud): State<Arc<Cloud>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let _gate = cloud.migration.enter().await;
    match cloud.speaking() {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// `POST /api/d2d/inheritance`: a cloud that named this one heir tells it its switch fired
/// (docs/PROTOCOL.md §22).
pub async fn inheritance(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(notice): JsonBody<sovra_proto::inheritance::InheritanceNotice>,
) -> ApiResult<Json<serde_json::Value>> {
    cloud.receive_inheritance(&notice).await?;
    Ok(Json(serde_json::json!({ "status": "accepted" })))
}

/// `POST /api/d2d/inheritance/claim`: a `control` heir takes the cloud (§22).
pub async fn claim_inheritance(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(claim): JsonBody<sovra_proto::inheritance::InheritanceClaim>,
) -> ApiResult<Json<crate::migration::heirs::ClaimResponse>> {
    cloud.claim_inheritance(&claim).await.map(Json)
}

/// `POST /api/d2d/moved`: a move statement (docs/PROTOCOL.md §20.5). Outside the gate and the
/// moving check: it is what ends a move.
pub async fn moved(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(statement): JsonBody<sovra_proto::migration::MoveStatement>,
) -> ApiResult<Json<crate::migration::moves::MovedResponse>> {
    cloud.receive_move(&statement).await.map(Json)
}
