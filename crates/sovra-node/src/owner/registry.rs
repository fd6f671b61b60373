//! This cloud and its registries.
//!
//! * `GET /registry` — the registration and the pinned registry keys
//! * `POST /registry/verifications` — the registry texts a code to a phone
//! * `POST /registry/register` — claim this cloud's handle with the code
//! * `POST /registry/rotate` — a new cloud key (phone code and current key)
//! * `POST /registry/heartbeat` — republish the record now
//! * `GET /registry/lookup/{handle}` — who a handle is, verified, with the safety code

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use sovra_http::JsonBody;
use sovra_proto::registry::{PhoneProof, VerifiedLookup};
use sovra_proto::safety_code;

pub(super) fn lookup_view(cloud: &Cloud, v: &VerifiedLookup) -> sovra_proto::owner::Lookup {
    sovra_proto::owner::Lookup {
        handle: v.record.handle.clone(),
        pubkey: v.record.pubkey.to_b64(),
        fingerprint: v.record.pubkey.fingerprint(),
        safety_code: safety_code(&cloud.public(), &v.record.pubkey),
        endpoint: v.record.endpoint.clone(),
        relays: v.record.relays.clone(),
        key_changes: v.chain.len(),
        was_reset: v.was_reset(),
    }
}

pub(super) fn lookup_json(cloud: &Cloud, v: &VerifiedLookup) -> Value {
    serde_json::to_value(lookup_view(cloud, v)).expect("a lookup serializes")
}

/// `GET /registry`: this cloud's registration and the registries whose keys it pinned.
pub async fn registry_status(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({
        "registration": cloud.store.registration().await?,
        "pinned": cloud.store.pinned_registries().await?,
    })))
}

#[derive(Deserialize)]
pub struct CodeBody {
    registry: String,
    phone: String,
    /// The registry's key from a trusted source: pinned instead of trusting first use.
    #[serde(default)]
    registry_key: Option<String>,
}

/// `POST /registry/verifications`: the registry texts a code to the phone.
pub async fn registry_code(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<CodeBody>,
) -> ApiResult<(axum::http::StatusCode, Json<Value>)> {
    let expected = match &body.registry_key {
        Some(k) => Some(
            sovra_proto::PublicKey::from_human(k)
                .or_else(|_| sovra_proto::PublicKey::from_b64("registry_key", k))?,
        ),
        None => None,
    };
    let sent = cloud
        .request_code(&body.registry, &body.phone, expected)
        .await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(json!({"verification_id": sent.verification_id, "expires_at": sent.expires_at})),
    ))
}

#[derive(Deserialize)]
pub struct RegisterBody {
    registry: String,
    #[serde(flatten)]
    proof: PhoneProof,
}

/// `POST /registry/register`: claims this cloud's handle with the verified phone. The device
/// that did has just shown both factors: its elevated window opens (§15.6).
pub async fn registry_register(
    State(cloud): State<Arc<Cloud>>,
    axum::Extension(super::auth::AuthedDevice(device)): axum::Extension<super::auth::AuthedDevice>,
    JsonBody(body): JsonBody<RegisterBody>,
) -> ApiResult<Json<Value>> {
    let (pinned, verified) = cloud.register(&body.registry, body.proof).await?;
    cloud.elevate(device, crate::store::now_ms() + super::elevation::WINDOW_MS);
    Ok(Json(json!({
        "handle": verified.record.handle,
        "pubkey": verified.record.pubkey.to_b64(),
        "fingerprint": verified.record.pubkey.fingerprint(),
        "endpoint": verified.record.endpoint,
        "registry": pinned.url,
        "registry_key": pinned.registry_key,
        "was_reset": verified.was_reset(),
    })))
}

/// `POST /registry/rotate`: a new cloud key, with a fresh phone code (high-trust).
pub async fn registry_rotate(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(proof): JsonBody<PhoneProof>,
) -> ApiResult<Json<Value>> {
    let verified = cloud.rotate_key(proof).await?;
    Ok(Json(json!({
        "handle": verified.record.handle,
        "pubkey": verified.record.pubkey.to_b64(),
        "fingerprint": verified.record.pubkey.fingerprint(),
        "key_changes": verified.chain.len(),
    })))
}

/// `POST /registry/heartbeat`: republish the record now (after an endpoint change).
pub async fn registry_heartbeat(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Value>> {
    if !cloud.heartbeat(true).await? {
        return Err(ApiError::new(
            409,
            "not_registered",
            "this cloud is not registered",
        ));
    }
    Ok(Json(json!({"published": true})))
}

#[derive(Deserialize)]
pub struct RegistryQuery {
    #[serde(default)]
    registry: Option<String>,
}

/// `GET /registry/lookup/{handle}`: who the registry says `handle` is, verified, with the
/// safety code the two owners can compare.
pub async fn registry_lookup(
    State(cloud): State<Arc<Cloud>>,
    Path(handle): Path<String>,
    Query(q): Query<RegistryQuery>,
) -> ApiResult<Json<Value>> {
    let (registry, verified) = cloud.resolve(&handle, q.registry.as_deref()).await?;
    let mut v = lookup_json(&cloud, &verified);
    v["registry"] = json!(registry.url);
    Ok(Json(v))
}
