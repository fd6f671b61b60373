//! The agent API: how agents running in or beside the cloud talk out through it. Served below
//! each cloud's base URL, where the owner API is:
//!
//! * `POST /api/agent/send` `{peer, text, calls?, retention?, swarm?}` → `{conversation_id, seq}`
//! * `POST /api/agent/ask` the same plus `timeout_ms?` → `{conversation_id, seq, reply}`: waits
//!   for the peer's message answering this one (504 `reply_timeout` after the timeout)
//! * `GET /api/agent/events` → Server-Sent Events for the token's swarm (docs/PROTOCOL.md §18)
//!
//! Authenticated by a per-swarm bearer token the owner creates (`sovra swarm token NAME`); the
//! node keeps only its SHA-256. Messages sent here are marked `automatic` (an agent wrote them)
//! and pass the same whitelist as the owner's.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use sovra_proto::{DataPolicy, Payload, Retention};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use sovra_http::JsonBody;

/// Longest `ask` wait; the node's request timeout (30 s) bounds every answer.
pub const MAX_ASK_MS: u64 = 25_000;
pub const DEFAULT_ASK_MS: u64 = 20_000;

/// The swarm a verified token acts for.
#[derive(Debug, Clone)]
pub struct AgentSwarm(pub String);

/// Prefix of every agent token, so one found in a log or a paste is recognizable.
pub const TOKEN_PREFIX: &str = "sovra_at_";

/// A new token: the prefix and 32 random bytes in hex.
pub fn new_token() -> String {
    crate::bearer::new_secret(TOKEN_PREFIX, 32)
}

/// Middleware: `Authorization: Bearer <token>` of an unrevoked token of an existing swarm.
pub async fn authenticate(
    State(cloud): State<Arc<Cloud>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let unauthorized = |why: &str| ApiError::new(401, "unauthorized", why);
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("missing Authorization: Bearer <agent token>"))?;
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
        return Err(unauthorized("not an agent token"));
    }
    let swarm = cloud
        .store
        .agent_token_swarm(&crate::bearer::digest(token))
        .await?
        .ok_or_else(|| unauthorized("unknown or revoked agent token"))?;
    request.extensions_mut().insert(AgentSwarm(swarm));
    Ok(next.run(request).await)
}

pub use sovra_proto::owner::lifecycle::AgentSendRequest;

pub use sovra_proto::owner::lifecycle::AgentSent;

pub use sovra_proto::owner::lifecycle::AgentReply;

pub use sovra_proto::owner::lifecycle::AgentAsked;

async fn send_for(
    cloud: &Arc<Cloud>,
    swarm: &str,
    body: &AgentSendRequest,
) -> ApiResult<AgentSent> {
    let mut payload = Payload::text(body.text.clone());
    payload.calls = body.calls.clone();
    payload.swarm = body.swarm.clone();
    payload.automatic = true;
    payload.data_policy = DataPolicy {
        retention: body.retention.unwrap_or(Retention::Session),
        usage: String::new(),
    };
    let (conversation_id, seq) = cloud
        .send(&body.peer, &format!("agent:{swarm}"), &payload, Some(swarm))
        .await?;
    Ok(AgentSent {
        conversation_id,
        seq,
    })
}

/// `POST /api/agent/send`.
pub async fn send(
    State(cloud): State<Arc<Cloud>>,
    axum::Extension(AgentSwarm(swarm)): axum::Extension<AgentSwarm>,
    JsonBody(body): JsonBody<AgentSendRequest>,
) -> ApiResult<Json<AgentSent>> {
    Ok(Json(send_for(&cloud, &swarm, &body).await?))
}

/// `POST /api/agent/ask`.
pub async fn ask(
    State(cloud): State<Arc<Cloud>>,
    axum::Extension(AgentSwarm(swarm)): axum::Extension<AgentSwarm>,
    JsonBody(body): JsonBody<AgentSendRequest>,
) -> ApiResult<Json<AgentAsked>> {
    let wait = body.timeout_ms.unwrap_or(DEFAULT_ASK_MS);
    if !(1..=MAX_ASK_MS).contains(&wait) {
        return Err(ApiError::bad_request(format!(
            "timeout_ms must be 1..={MAX_ASK_MS}"
        )));
    }
    // Listen before sending: the reply may arrive before `send` returns.
    let mut events = cloud.events.subscribe();
    let sent = send_for(&cloud, &swarm, &body).await?;
    let found = tokio::time::timeout(Duration::from_millis(wait), async {
        loop {
            match events.recv().await {
                Ok(e)
                    if e.kind == "reply"
                        && e.conversation_id.as_deref() == Some(sent.conversation_id.as_str())
                        && e.in_reply_to == Some(sent.seq) =>
                {
                    return e.seq;
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .await;
    let Ok(Some(reply_seq)) = found else {
        return Err(ApiError::new(
            504,
            "reply_timeout",
            format!(
                "message {} was sent, but no reply came within {wait} ms",
                sent.seq
            ),
        ));
    };
    let stored = cloud
        .store
        .message(&sent.conversation_id, "in", reply_seq)
        .await?
        .ok_or_else(|| ApiError::internal("the reply is gone"))?;
    let payload: Payload = serde_json::from_value(stored.payload).map_err(ApiError::internal)?;
    Ok(Json(AgentAsked {
        conversation_id: sent.conversation_id,
        seq: sent.seq,
        reply: AgentReply {
            seq: reply_seq,
            text: payload.text,
            results: payload.results,
            refusal: payload.refusal,
            automatic: payload.automatic,
        },
    }))
}

/// `GET /api/agent/events`: the token's swarm's inbound messages and replies, and the cloud's
/// pending requests.
pub async fn events(
    State(cloud): State<Arc<Cloud>>,
    axum::Extension(AgentSwarm(swarm)): axum::Extension<AgentSwarm>,
) -> impl axum::response::IntoResponse {
    cloud.event_stream(move |e| {
        e.kind == "pending" || e.kind == "lagged" || e.swarm.as_deref() == Some(swarm.as_str())
    })
}
