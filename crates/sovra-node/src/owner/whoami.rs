//! `GET /whoami` — the cloud's handle, key, daemon id, fingerprint and base URL.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use sovra_proto::owner::Whoami;

use crate::cloud::Cloud;
use crate::error::ApiResult;

#[utoipa::path(get, path = "/whoami", tag = "cloud", responses((status = 200, body = Whoami), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn whoami(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Whoami>> {
    let keys = cloud.keys();
    // Hosted: the node holds a host key the cloud key certified, for this node-id.
    let delegation = keys.delegation.as_ref();
    Ok(Json(Whoami {
        handle: cloud.config.handle.clone(),
        pubkey: cloud.public().to_human(),
        daemon_id: cloud.public().daemon_id(),
        fingerprint: cloud.public().fingerprint(),
        url: cloud.base_url.clone(),
        hosted_by: delegation.map(|d| d.certificate.node_id.clone()),
        host_certificate_expires_at: delegation.map(|d| d.certificate.expires_at.clone()),
    }))
}
