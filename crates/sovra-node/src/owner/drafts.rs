//! Answers review-mode swarms drafted, and the owner's live view of the cloud.
//!
//! * `GET /drafts` — drafts waiting, oldest first
//! * `POST /drafts/{id}/send` `{text?}` — send it (edited, if `text` is given) as the reply
//! * `POST /drafts/{id}/discard`
//! * `GET /events` — Server-Sent Events: messages, replies, drafts, pending requests, brain
//!   errors, conversations waiting for a human
//! * `GET /conversations/{id}/context` — what the brains saw for each answer

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use sovra_proto::Payload;
use sovra_proto::owner::{self, DraftDiscarded, DraftSent, Drafts, SendDraft};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use sovra_http::JsonBody;

#[utoipa::path(get, path = "/drafts", tag = "drafts", responses((status = 200, body = Drafts), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn list_drafts(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Drafts>> {
    let drafts = cloud
        .store
        .drafts()
        .await?
        .into_iter()
        .map(|d| {
            Ok(owner::Draft {
                payload: serde_json::from_value(d.payload).map_err(ApiError::internal)?,
                id: d.id,
                conversation_id: d.conversation_id,
                in_reply_to: d.in_reply_to,
                swarm: d.swarm,
                state: d.state,
                created_at: d.created_at,
            })
        })
        .collect::<ApiResult<_>>()?;
    Ok(Json(Drafts { drafts }))
}

fn parse_id(id: &str) -> ApiResult<i64> {
    id.parse()
        .map_err(|_| ApiError::not_found("unknown_draft", format!("no pending draft {id}")))
}

#[utoipa::path(post, path = "/drafts/{id}/send", tag = "drafts", request_body = SendDraft, params(("id" = i64, Path)), responses((status = 200, body = DraftSent), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn send_draft(
    State(cloud): State<Arc<Cloud>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SendDraft>,
) -> ApiResult<Json<DraftSent>> {
    let id = parse_id(&id)?;
    let draft =
        cloud.store.draft(id).await?.ok_or_else(|| {
            ApiError::not_found("unknown_draft", format!("no pending draft {id}"))
        })?;
    let conv = cloud
        .store
        .conversation(&draft.conversation_id)
        .await?
        .filter(|c| c.state == "open")
        .ok_or_else(|| {
            ApiError::new(
                409,
                "conversation_closed",
                "the conversation this draft answers is closed",
            )
        })?;
    let mut payload: Payload = serde_json::from_value(draft.payload).map_err(ApiError::internal)?;
    if let Some(text) = body.text {
        payload.text = text;
        // The owner wrote (or rewrote) it: a human turn, which ends any automatic run.
        payload.automatic = false;
    }
    // Settle first: a second send of the same draft must not queue a second reply.
    if !cloud.store.settle_draft(id, "sent").await? {
        return Err(ApiError::not_found(
            "unknown_draft",
            format!("no pending draft {id}"),
        ));
    }
    let seq = cloud
        .enqueue(&conv, &payload, None, Some(&draft.swarm))
        .await?;
    Ok(Json(DraftSent {
        sent: id,
        conversation_id: conv.id,
        seq,
    }))
}

#[utoipa::path(post, path = "/drafts/{id}/discard", tag = "drafts", params(("id" = i64, Path)), responses((status = 200, body = DraftDiscarded), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn discard_draft(
    State(cloud): State<Arc<Cloud>>,
    Path(id): Path<String>,
) -> ApiResult<Json<DraftDiscarded>> {
    let id = parse_id(&id)?;
    if !cloud.store.settle_draft(id, "discarded").await? {
        return Err(ApiError::not_found(
            "unknown_draft",
            format!("no pending draft {id}"),
        ));
    }
    Ok(Json(DraftDiscarded { discarded: id }))
}

#[utoipa::path(get, path = "/events", tag = "conversations", responses((status = 200, description = "Server-Sent Events, each `data:` an Event (§18.3)", content_type = "text/event-stream", body = sovra_proto::owner::Event), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn events(State(cloud): State<Arc<Cloud>>) -> impl axum::response::IntoResponse {
    cloud.event_stream(|_| true)
}

#[utoipa::path(get, path = "/conversations/{id}/context", tag = "conversations", params(("id" = String, Path)), responses((status = 200, body = owner::BrainRuns), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn context(
    State(cloud): State<Arc<Cloud>>,
    Path(id): Path<String>,
) -> ApiResult<Json<owner::BrainRuns>> {
    super::conversations::known_conversation(&cloud, &id).await?;
    Ok(Json(owner::BrainRuns {
        runs: cloud.store.brain_runs(&id).await?,
    }))
}
