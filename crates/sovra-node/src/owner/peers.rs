//! The whitelist.
//!
//! * `GET /peers` — every entry with what the node learned about the peer
//! * `PUT /peers` — add or update an entry by key (`url`, `relays`, `encryption_key` optional)
//! * `POST /peers/by-handle` — resolve a handle through its registry and whitelist that key
//! * `POST /peers/check` — ask the registries about every registry-resolved peer now
//! * `DELETE /peers/{who}` — remove by handle or key (its conversations end)

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use sovra_http::JsonBody;
use sovra_proto::{PublicKey, WhitelistEntry, owner};

use super::registry::lookup_view;

pub use sovra_proto::owner::PeerBody;

fn peer_view(p: &crate::store::Peer) -> owner::Peer {
    owner::Peer {
        entry: p.grant.to_entry(),
        url: p.peer_url.clone(),
        fingerprint: p.grant.peer_pubkey.fingerprint(),
        handle_status: p.handle_status(),
        registry: p.registry_url.clone(),
        checked_at: p.checked_at,
        relays: p.peer_relays.clone(),
        swarm: p.swarm.clone(),
        present_as: p.present_as.clone(),
    }
}

/// The entry just written, read back as the owner sees it.
pub(super) async fn written_peer(cloud: &Cloud, key: &PublicKey) -> ApiResult<owner::Peer> {
    let peer = cloud
        .store
        .peer(key)
        .await?
        .ok_or_else(|| ApiError::internal("the peer just written is gone"))?;
    Ok(peer_view(&peer))
}

#[utoipa::path(get, path = "/peers", tag = "peers", responses((status = 200, body = owner::Peers), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn list_peers(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<owner::Peers>> {
    let peers = cloud.store.peers().await?;
    Ok(Json(owner::Peers {
        peers: peers.iter().map(peer_view).collect(),
    }))
}

/// Adds or updates a whitelist entry (PUT semantics on the peer's key).
#[utoipa::path(put, path = "/peers", tag = "peers", request_body = PeerBody, responses((status = 200, body = owner::Peer), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn put_peer(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<PeerBody>,
) -> ApiResult<Json<owner::Peer>> {
    let grant = body.entry.validate()?;
    if grant.peer_pubkey == cloud.public() {
        return Err(ApiError::bad_request("a cloud cannot whitelist itself"));
    }
    let url = body
        .url
        .as_deref()
        .map(|u| sovra_proto::urls::canonical_url("url", u, sovra_proto::urls::ENDPOINT_SCHEMES))
        .transpose()?;
    let relays = body
        .relays
        .as_deref()
        .map(|r| {
            r.iter()
                .map(|u| crate::d2d::relay::normalize_relay_url(u))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    if let Some(swarm) = &body.swarm {
        cloud.require_swarm(swarm).await?;
    }
    if let Some(k) = &body.encryption_key {
        sovra_proto::EncryptionKey::from_b64("encryption_key", k)?;
    }
    let present_as = match body.present_as.as_deref() {
        None => None,
        Some("") => Some(None),
        Some(nym) => {
            super::nyms::require_active(&cloud, nym).await?;
            Some(Some(nym))
        }
    };
    cloud
        .store
        .whitelist_upsert_presenting(
            &grant,
            url.as_deref(),
            relays.as_deref(),
            body.encryption_key.as_deref(),
            body.swarm.as_deref(),
            present_as,
        )
        .await?;
    cloud
        .store
        .pending_settle(&grant.peer_pubkey.to_b64(), "approved")
        .await?;
    Ok(Json(written_peer(&cloud, &grant.peer_pubkey).await?))
}

#[utoipa::path(delete, path = "/peers/{who}", tag = "peers", params(("who" = String, Path, description = "a handle or a key")), responses((status = 200, body = owner::PeerRemoved), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn remove_peer(
    State(cloud): State<Arc<Cloud>>,
    Path(who): Path<String>,
) -> ApiResult<Json<owner::PeerRemoved>> {
    let peer = cloud.store.find_peer(&who).await?.ok_or_else(|| {
        ApiError::not_found("unknown_peer", format!("{who} is not on the whitelist"))
    })?;
    cloud.store.remove_peer(&peer.grant.peer_pubkey).await?;
    Ok(Json(owner::PeerRemoved {
        removed: peer.grant.peer_handle,
    }))
}

pub use sovra_proto::owner::ByHandleBody;

/// `POST /peers/by-handle`: resolve through the registry and whitelist what it vouches for.
#[utoipa::path(post, path = "/peers/by-handle", tag = "peers", request_body = ByHandleBody, responses((status = 200, body = owner::PeerByHandle), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn put_peer_by_handle(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<ByHandleBody>,
) -> ApiResult<Json<owner::PeerByHandle>> {
    if let Some(swarm) = &body.swarm {
        cloud.require_swarm(swarm).await?;
    }
    let entry = WhitelistEntry {
        peer_pubkey: String::new(),
        peer_handle: body.handle.clone(),
        allowed_capabilities: body.allowed_capabilities,
        rate_limit_per_day: body
            .rate_limit_per_day
            .unwrap_or(sovra_proto::whitelist::DEFAULT_RATE_LIMIT_PER_DAY),
        expires_at: body.expires_at,
    };
    let (grant, verified) = cloud
        .add_peer_by_handle(
            &body.handle,
            body.registry.as_deref(),
            entry,
            body.swarm.as_deref(),
        )
        .await?;
    Ok(Json(owner::PeerByHandle {
        peer: written_peer(&cloud, &grant.peer_pubkey).await?,
        lookup: lookup_view(&cloud, &verified),
    }))
}

/// `POST /peers/check`: ask the registries about every registry-resolved peer now.
#[utoipa::path(post, path = "/peers/check", tag = "peers", responses((status = 200, body = owner::PeerChecks), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn check_peers(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<owner::PeerChecks>> {
    Ok(Json(owner::PeerChecks {
        checks: cloud.check_peers(true).await?,
    }))
}
