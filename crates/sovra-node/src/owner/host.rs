//! A hosted cloud's owner and its node (PROTOCOL.md §19.3).
//!
//! * `POST /host/revoke` — the owner (a device the cloud key certified) withdraws this node's
//!   host key: the node deletes the host key pair and its certificate and stops speaking and
//!   listening for the cloud at once; the cloud's data stays for export.
//! * `PUT /host/certificate` `{host_certificate}` — a renewed certificate (a new period) of the
//!   same host key pair, signed by the cloud key on the device; used from the next signature.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use sovra_proto::owner::{HostRevoked, RenewCertificate, Renewed};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};

pub async fn renew_certificate(
    State(cloud): State<Arc<Cloud>>,
    sovra_http::JsonBody(body): sovra_http::JsonBody<RenewCertificate>,
) -> ApiResult<Json<Renewed>> {
    cloud.speaking()?;
    let keys = cloud.keys();
    let Some(current) = keys.delegation.as_ref() else {
        return Err(ApiError::new(
            409,
            "not_hosted",
            "this cloud's own key is on this node; there is no host certificate",
        ));
    };
    let new = body
        .host_certificate
        .verify(&cloud.public(), jiff::Timestamp::now())?;
    if new.host_key != keys.signing.public()
        || new.host_encryption_key != keys.encryption.public()
        || new.node_id.to_b64() != current.certificate.node_id
    {
        return Err(ApiError::bad_request(
            "a renewal certifies the same host keys for the same node",
        ));
    }
    crate::home::write_atomic(
        &cloud.dir.join("host-certificate.json"),
        &serde_json::to_vec_pretty(&body.host_certificate).expect("json"),
    )
    .map_err(ApiError::internal)?;
    let renewed = crate::home::load_keys(&cloud.dir).map_err(ApiError::internal)?;
    cloud.set_keys(renewed);
    Ok(Json(Renewed {
        expires_at: body.host_certificate.expires_at,
    }))
}

pub async fn revoke_host(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<HostRevoked>> {
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
    Ok(Json(HostRevoked { revoked: true }))
}
