//! `GET /whoami` — the cloud's handle, key, daemon id, fingerprint and base URL.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::cloud::Cloud;
use crate::error::ApiResult;

pub async fn whoami(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({
        "handle": cloud.config.handle,
        "pubkey": cloud.public().to_human(),
        "daemon_id": cloud.public().daemon_id(),
        "fingerprint": cloud.public().fingerprint(),
        "url": cloud.base_url,
        // Hosted: the node holds a host key the cloud key certified, for this node-id.
        "hosted_by": cloud.keys().delegation.as_ref().map(|d| d.certificate.node_id.clone()),
        "host_certificate_expires_at":
            cloud.keys().delegation.as_ref().map(|d| d.certificate.expires_at.clone()),
    })))
}
