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
use sovra_proto::owner::{
    self, Cancelled, Closed, Conversations, Messages, Outbox, OutboxEntry, SendRequest, Sent,
};
use sovra_proto::{DataPolicy, Payload, Retention};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::owner::openapi::ErrorBody;
use sovra_http::JsonBody;

#[utoipa::path(get, path = "/conversations", tag = "conversations", responses((status = 200, body = Conversations), (status = "4XX", description = "a refusal", body = ErrorBody)))]
pub async fn list_conversations(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Conversations>> {
    let peers = cloud.store.peers().await?;
    let conversations = cloud
        .store
        .conversations()
        .await?
        .into_iter()
        .map(|c| {
            let peer = peers
                .iter()
                .find(|p| p.grant.peer_pubkey.to_b64() == c.peer_pubkey);
            owner::Conversation {
                peer_handle: peer.map(|p| p.grant.peer_handle.clone()),
                handle_status: peer.map(|p| p.handle_status()),
                id: c.id,
                peer_pubkey: c.peer_pubkey,
                role: c.role,
                topic: c.topic,
                state: c.state,
                granted: c.granted,
                created_at: c.created_at,
                expires_at: c.expires_at,
                closed_at: c.closed_at,
                next_send_seq: c.next_send_seq,
            }
        })
        .collect();
    Ok(Json(Conversations { conversations }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// Only this conversation's (404 `unknown_conversation`).
    conversation: Option<String>,
}

/// Everything the cloud keeps, with its retention policy (the owner's view of `data_policy`).
#[utoipa::path(get, path = "/messages", tag = "conversations", params(MessagesQuery), responses((status = 200, body = Messages), (status = "4XX", description = "a refusal", body = ErrorBody)))]
pub async fn list_messages(
    State(cloud): State<Arc<Cloud>>,
    Query(q): Query<MessagesQuery>,
) -> ApiResult<Json<Messages>> {
    if let Some(id) = &q.conversation {
        known_conversation(&cloud, id).await?;
    }
    let messages = cloud
        .store
        .messages(q.conversation.as_deref())
        .await?
        .into_iter()
        .map(|m| owner::Message {
            // Stored as the payload was sealed or opened; one that no longer reads (a format
            // of an older build) shows as empty text rather than hiding the rest.
            payload: serde_json::from_value(m.payload).unwrap_or_else(|_| Payload::text("")),
            retention: serde_json::from_value(serde_json::Value::String(m.retention))
                .unwrap_or(Retention::Session),
            conversation_id: m.conversation_id,
            direction: m.direction,
            seq: m.seq,
            in_reply_to: m.in_reply_to,
            at: m.at,
        })
        .collect();
    Ok(Json(Messages { messages }))
}

#[utoipa::path(post, path = "/conversations/{id}/close", tag = "conversations", params(("id" = String, Path)), responses((status = 200, body = Closed), (status = "4XX", description = "a refusal", body = ErrorBody)))]
pub async fn close_conversation(
    State(cloud): State<Arc<Cloud>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Closed>> {
    known_conversation(&cloud, &id).await?;
    let was_open = cloud.store.close_conversation(&id).await?;
    Ok(Json(Closed {
        closed: id,
        was_open,
    }))
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

#[utoipa::path(get, path = "/outbox", tag = "conversations", responses((status = 200, body = Outbox), (status = "4XX", description = "a refusal", body = ErrorBody)))]
pub async fn outbox(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Outbox>> {
    let outbox = cloud
        .store
        .outbox()
        .await?
        .into_iter()
        .map(|i| OutboxEntry {
            id: i.id,
            conversation_id: i.conversation_id,
            seq: i.seq,
            url: i.url,
            state: i.state,
            attempts: i.attempts,
            next_attempt_at: i.next_attempt_at,
            created_at: i.created_at,
            last_error: i.last_error,
            kind: i.kind,
        })
        .collect();
    Ok(Json(Outbox { outbox }))
}

/// `POST /outbox/{id}/cancel`: stop delivering a message still pending.
#[utoipa::path(post, path = "/outbox/{id}/cancel", tag = "conversations", params(("id" = i64, Path)), responses((status = 200, body = Cancelled), (status = "4XX", description = "a refusal", body = ErrorBody)))]
pub async fn cancel_outbox(
    State(cloud): State<Arc<Cloud>>,
    Path(id): Path<i64>,
) -> ApiResult<Json<Cancelled>> {
    match cloud.store.cancel_outbox(id).await? {
        Some(true) => Ok(Json(Cancelled { cancelled: true })),
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

#[utoipa::path(post, path = "/send", tag = "conversations", request_body = SendRequest, responses((status = 200, body = Sent), (status = "4XX", description = "a refusal", body = ErrorBody)))]
pub async fn send(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<SendRequest>,
) -> ApiResult<Json<Sent>> {
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
    Ok(Json(Sent {
        conversation_id,
        seq,
    }))
}
