//! Requests waiting for the owner: handshakes from strangers and registry key resets.
//!
//! * `GET /pending[?limit=N&after=ID]` — requests still waiting, a page at a time
//! * `POST /pending/{id}/approve` — whitelist the key (a key reset keeps the old grants)
//! * `POST /pending/{id}/deny` — refuse this key from now on

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::HandleStatus;
use sovra_http::JsonBody;
use sovra_proto::{WhitelistEntry, owner};

use super::peers::{PeerBody, put_peer, written_peer};

/// Most requests one page of `GET /pending` returns.
pub const MAX_PAGE: i64 = 500;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PendingQuery {
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    after: Option<String>,
}

/// `GET /pending[?limit=N&after=ID]`: oldest first, `limit` (1..=500, default 100) at a time;
/// `next` is the `after` of the following page, or null.
#[utoipa::path(get, path = "/pending", tag = "peers", params(PendingQuery), responses((status = 200, body = owner::PendingPage), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn list_pending(
    State(cloud): State<Arc<Cloud>>,
    Query(q): Query<PendingQuery>,
) -> ApiResult<Json<owner::PendingPage>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1..={MAX_PAGE}"
        )));
    }
    let mut page = cloud.store.pending(limit, q.after.as_deref()).await?;
    for p in &mut page {
        if let Ok(key) = sovra_proto::PublicKey::from_b64("peer_pubkey", &p.peer_pubkey) {
            p.safety_code = sovra_proto::keys::safety_code(&cloud.public(), &key);
        }
    }
    let next = (page.len() as i64 == limit)
        .then(|| page.last().map(|p| p.id.clone()))
        .flatten();
    Ok(Json(owner::PendingPage {
        pending: page,
        total: cloud.store.pending_count().await?,
        next,
    }))
}

pub use sovra_proto::owner::ApproveBody;

#[utoipa::path(post, path = "/pending/{id}/approve", tag = "peers", request_body = ApproveBody, params(("id" = String, Path)), responses((status = 200, body = owner::Peer), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn approve_pending(
    State(cloud): State<Arc<Cloud>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ApproveBody>,
) -> ApiResult<Json<owner::Peer>> {
    let request = cloud.store.pending_get(&id).await?.ok_or_else(|| {
        ApiError::not_found("unknown_request", format!("no pending request {id}"))
    })?;
    if request.reason == "key_reset" {
        return approve_key_reset(cloud, request, body).await;
    }
    let handle = body
        .handle
        .or(request.peer_handle)
        .ok_or_else(|| ApiError::bad_request("the request named no handle; give one"))?;
    // Asked again now: the owner is about to trust this key under this name.
    let status = cloud.handle_status(&handle, &request.peer_pubkey).await;
    cloud.store.set_handle_status(&request.id, status).await?;
    if status == HandleStatus::Impostor && !body.force {
        return Err(ApiError::new(
            409,
            "impostor",
            format!(
                "{handle} belongs to another key at its registry; this key only claims it. \
                 Approve it under another name, or with force"
            ),
        ));
    }
    let entry = WhitelistEntry {
        peer_pubkey: request.peer_pubkey,
        peer_handle: handle,
        allowed_capabilities: body.allowed_capabilities.unwrap_or_default(),
        rate_limit_per_day: body
            .rate_limit_per_day
            .unwrap_or(sovra_proto::whitelist::DEFAULT_RATE_LIMIT_PER_DAY),
        expires_at: body.expires_at,
    };
    // A handle the registry vouches for this key: the entry follows the registry's record
    // (its endpoint and relays, later rotations), as if added by handle.
    if status == HandleStatus::Verified && body.url.is_none() {
        let handle = entry.peer_handle.clone();
        let (grant, _) = cloud.add_peer_by_handle(&handle, None, entry, None).await?;
        cloud
            .store
            .pending_settle(&grant.peer_pubkey.to_b64(), "approved")
            .await?;
        return Ok(Json(written_peer(&cloud, &grant.peer_pubkey).await?));
    }
    put_peer(
        State(cloud),
        JsonBody(PeerBody {
            entry,
            url: body.url,
            relays: None,
            encryption_key: None,
            swarm: None,
            present_as: None,
        }),
    )
    .await
}

#[utoipa::path(post, path = "/pending/{id}/deny", tag = "peers", params(("id" = String, Path)), responses((status = 200, body = owner::PendingDenied), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn deny_pending(
    State(cloud): State<Arc<Cloud>>,
    Path(id): Path<String>,
) -> ApiResult<Json<owner::PendingDenied>> {
    let request = cloud.store.pending_get(&id).await?.ok_or_else(|| {
        ApiError::not_found("unknown_request", format!("no pending request {id}"))
    })?;
    cloud
        .store
        .pending_settle(&request.peer_pubkey, "denied")
        .await?;
    Ok(Json(owner::PendingDenied {
        denied: request.peer_pubkey,
    }))
}

/// Approving a key reset moves the peer's entry to the new key, grants kept unless the owner
/// gives others; the registry is asked again first, so only the key it still vouches for is
/// approved.
async fn approve_key_reset(
    cloud: Arc<Cloud>,
    request: crate::store::PendingRequest,
    body: ApproveBody,
) -> ApiResult<Json<owner::Peer>> {
    let handle = request
        .peer_handle
        .clone()
        .ok_or_else(|| ApiError::internal("key reset without a handle"))?;
    let old = cloud
        .store
        .find_peer(&handle)
        .await?
        .filter(|p| p.registry_url.is_some());
    let (registry, verified) = cloud
        .resolve(
            &handle,
            old.as_ref().and_then(|p| p.registry_url.as_deref()),
        )
        .await?;
    if verified.record.pubkey.to_b64() != request.peer_pubkey {
        return Err(ApiError::new(
            409,
            "conflict",
            format!("{handle} no longer has the key this request is about; check the peers again"),
        ));
    }
    let previous = old.as_ref().map(|p| p.grant.to_entry());
    let entry = WhitelistEntry {
        peer_pubkey: request.peer_pubkey.clone(),
        peer_handle: handle.clone(),
        allowed_capabilities: body
            .allowed_capabilities
            .or_else(|| previous.as_ref().map(|p| p.allowed_capabilities.clone()))
            .unwrap_or_default(),
        rate_limit_per_day: body
            .rate_limit_per_day
            .or(previous.as_ref().map(|p| p.rate_limit_per_day))
            .unwrap_or(sovra_proto::whitelist::DEFAULT_RATE_LIMIT_PER_DAY),
        expires_at: body
            .expires_at
            .or_else(|| previous.and_then(|p| p.expires_at)),
    };
    let grant = entry.validate()?;
    if let Some(old) = &old {
        // Moves the entry to the new key and ends the old key's conversations in one
        // transaction; the grants given now are written just after.
        cloud
            .store
            .rekey_peer(&old.grant.peer_pubkey, &verified.record)
            .await?;
    }
    cloud
        .store
        .whitelist_resolved(&grant, &verified.record, &registry.url, None)
        .await?;
    cloud
        .store
        .pending_settle(&request.peer_pubkey, "approved")
        .await?;
    Ok(Json(written_peer(&cloud, &grant.peer_pubkey).await?))
}
