//! Conversations, messages and sending.
//!
//! * `GET /conversations` — every conversation, newest first, with the peer's handle
//! * `POST /conversations/{id}/close` — close (its `session` content is deleted)
//! * `GET /messages[?conversation=ID]` — what the cloud keeps, with each retention
//! * `GET /outbox` — deliveries and their state
//! * `POST /outbox/{id}/cancel` — stop a pending delivery (409 `not_pending`, 404 `unknown_outbox`)
//! * `POST /send` — send text and calls to a peer (a conversation opens if none is), to one of
//!   its swarms (`swarm`), or as a reply (`reply_to`)

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use sovra_http::JsonBody;
use sovra_proto::{Call, DataPolicy, Payload, Retention};

pub async fn list_conversations(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Value>> {
    let peers = cloud.store.peers().await?;
    let conversations: Vec<Value> = cloud
        .store
        .conversations()
        .await?
        .into_iter()
        .map(|c| {
            let peer = peers
                .iter()
                .find(|p| p.grant.peer_pubkey.to_b64() == c.peer_pubkey);
            let mut v = json!(c);
            v["peer_handle"] = json!(peer.map(|p| p.grant.peer_handle.clone()));
            v["handle_status"] = json!(peer.map(|p| p.handle_status()));
            v
        })
        .collect();
    Ok(Json(json!({ "conversations": conversations })))
}

#[derive(Deserialize)]
pub struct MessagesQuery {
    conversation: Option<String>,
}

/// Everything the cloud keeps, with its retention policy (the owner's view of `data_policy`).
pub async fn list_messages(
    State(cloud): State<Arc<Cloud>>,
    Query(q): Query<MessagesQuery>,
) -> ApiResult<Json<Value>> {
    if let Some(id) = &q.conversation {
        known_conversation(&cloud, id).await?;
    }
    Ok(Json(
        json!({ "messages": cloud.store.messages(q.conversation.as_deref()).await? }),
    ))
}

pub async fn close_conversation(
    State(cloud): State<Arc<Cloud>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    known_conversation(&cloud, &id).await?;
    let closed = cloud.store.close_conversation(&id).await?;
    Ok(Json(json!({ "closed": id, "was_open": closed })))
}

/// 404 `unknown_conversation` unless the cloud has conversation `id`.
pub(super) async fn known_conversation(cloud: &Cloud, id: &str) -> ApiResult<()> {
    match cloud.store.conversation(id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(
            "unknown_conversation",
            format!("no conversation {id}"),
        )),
    }
}

pub async fn outbox(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "outbox": cloud.store.outbox().await? })))
}

/// `POST /outbox/{id}/cancel`: stop delivering a message still pending.
pub async fn cancel_outbox(
    State(cloud): State<Arc<Cloud>>,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> ApiResult<Json<Value>> {
    match cloud.store.cancel_outbox(id).await? {
        Some(true) => Ok(Json(json!({ "cancelled": true }))),
        Some(false) => Err(ApiError::new(
            409,
            "not_pending",
            "this delivery has already ended (delivered or failed)",
        )),
        None => Err(ApiError::not_found(
            "unknown_outbox",
            format!("no outbox item {id}"),
        )),
    }
}

#[derive(Deserialize)]
pub struct SendBody {
    to: String,
    text: String,
    #[serde(default)]
    calls: Vec<Call>,
    #[serde(default)]
    retention: Option<Retention>,
    #[serde(default)]
    usage: Option<String>,
    #[serde(default)]
    topic: Option<String>,
    /// The peer's swarm to address (the peer must grant `swarm:<name>`).
    #[serde(default)]
    swarm: Option<String>,
    /// The `seq` of the peer's message this answers (a reply written by hand).
    #[serde(default)]
    reply_to: Option<u64>,
}

pub async fn send(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<SendBody>,
) -> ApiResult<Json<Value>> {
    let mut payload = Payload::text(body.text);
    payload.calls = body.calls;
    payload.swarm = body.swarm;
    payload.in_reply_to = body.reply_to;
    payload.data_policy = DataPolicy {
        retention: body.retention.unwrap_or(Retention::Session),
        usage: body.usage.unwrap_or_default(),
    };
    let topic = body.topic.unwrap_or_else(|| "conversation".into());
    let (conversation_id, seq) = cloud.send(&body.to, &topic, &payload, None).await?;
    Ok(Json(
        json!({ "conversation_id": conversation_id, "seq": seq }),
    ))
}
