//! The relays this cloud is reachable through.
//!
//! * `GET /relays` — the list
//! * `PUT /relays` `{url, ca_pem?}` — check that the relay takes this cloud's key, keep a
//!   connection, and publish it as a hint (identity document, registry)
//! * `DELETE /relays` `{url}` — stop publishing it

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use sovra_proto::owner::{RelayAdded, RelayRemoved, Relays};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use sovra_http::JsonBody;

#[utoipa::path(get, path = "/relays", tag = "relays", responses((status = 200, body = Relays), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn list_relays(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Relays>> {
    Ok(Json(Relays {
        relays: cloud.store.relays().await?,
    }))
}

pub use sovra_proto::owner::RelayBody;

/// Largest private CA file accepted (a chain of a few certificates fits many times over).
const MAX_CA_PEM: usize = 16 * 1024;

pub use sovra_proto::owner::AddRelayBody;

/// `PUT /relays`: keep a connection to this relay (reachable through it from now on) and
/// publish it as a hint in the identity document and, when registered, the registry record.
///
/// The relay is tried first — TLS, the challenge, authentication with this cloud's key — so
/// a relay that cannot carry anything is refused here rather than reported as added.
#[utoipa::path(put, path = "/relays", tag = "relays", request_body = AddRelayBody, responses((status = 200, body = RelayAdded), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn add_relay(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<AddRelayBody>,
) -> ApiResult<Json<RelayAdded>> {
    let url = crate::d2d::relay::normalize_relay_url(&body.url)?;
    let ca = body.ca_pem.as_deref();
    if let Some(pem) = ca {
        if pem.len() > MAX_CA_PEM {
            return Err(ApiError::new(
                400,
                "wrong_size",
                format!("ca_pem is {} bytes; at most {MAX_CA_PEM}", pem.len()),
            ));
        }
        if url.starts_with("ws://") {
            return Err(ApiError::bad_request(
                "ca_pem applies to wss:// relays only",
            ));
        }
        sovra_client::relay::parse_ca_pem(pem).map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let keys = cloud.keys();
    if let Err(e) = sovra_client::RelayConnection::connect_cloud(&url, &keys, ca).await {
        return Err(ApiError::new(
            502,
            "relay_unreachable",
            format!("{url} could not be used: {e}"),
        ));
    }
    let added = cloud.store.add_relay(&url, ca).await?;
    cloud.start_relays(std::slice::from_ref(&url));
    let published = match cloud.heartbeat(true).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(cloud = %cloud.name, "publishing the relay at the registry: {}", e.message);
            false
        }
    };
    Ok(Json(RelayAdded {
        relay: url,
        added,
        published,
    }))
}

/// `DELETE /relays`: stop publishing a relay (its link ends with the node).
#[utoipa::path(delete, path = "/relays", tag = "relays", request_body = RelayBody, responses((status = 200, body = RelayRemoved), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn remove_relay(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<RelayBody>,
) -> ApiResult<Json<RelayRemoved>> {
    let url = crate::d2d::relay::normalize_relay_url(&body.url)?;
    if !cloud.store.remove_relay(&url).await? {
        return Err(ApiError::not_found(
            "unknown_relay",
            format!("{url} is not one of this cloud's relays"),
        ));
    }
    let _ = cloud.heartbeat(true).await;
    Ok(Json(RelayRemoved { removed: url }))
}
