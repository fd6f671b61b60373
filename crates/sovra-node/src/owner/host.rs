//! A hosted cloud's owner and its node (PROTOCOL.md §19.3).
//!
//! * `POST /host/revoke` — the owner (a device the cloud key certified) withdraws this node's
//!   host key: the node deletes the host key pair and its certificate and stops speaking and
//!   listening for the cloud at once; the cloud's data stays for export.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};

pub async fn revoke_host(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Value>> {
    if !cloud.is_hosted() {
        return Err(ApiError::new(
            409,
            "not_hosted",
            "this cloud's own key is on this node; there is no host key to revoke",
        ));
    }
    for file in ["host.key", "host-certificate.json"] {
        match std::fs::remove_file(cloud.dir.join(file)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ApiError::internal(e)),
        }
    }
    cloud
        .revoked
        .store(true, std::sync::atomic::Ordering::Relaxed);
    tracing::warn!(cloud = %cloud.name, "the owner revoked this node's host key");
    Ok(Json(json!({ "revoked": true })))
}
