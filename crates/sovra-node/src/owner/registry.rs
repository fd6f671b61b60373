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
use sovra_proto::owner::{
    LookupAt, Published, Register, Registered, RegistryStatus, Rotated, SendCode,
};
use sovra_proto::registry::CodeResponse;

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

/// `GET /registry`: this cloud's registration and the registries whose keys it pinned.
#[utoipa::path(get, path = "/registry", tag = "registry", responses((status = 200, body = RegistryStatus), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn registry_status(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<RegistryStatus>> {
    Ok(Json(RegistryStatus {
        registration: cloud.store.registration().await?,
        pinned: cloud.store.pinned_registries().await?,
    }))
}

/// `POST /registry/verifications`: the registry texts a code to the phone.
#[utoipa::path(post, path = "/registry/verifications", tag = "registry", request_body = SendCode, responses((status = 202, body = CodeResponse), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn registry_code(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<SendCode>,
) -> ApiResult<(axum::http::StatusCode, Json<CodeResponse>)> {
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
        Json(CodeResponse {
            verification_id: sent.verification_id,
            expires_at: sent.expires_at,
        }),
    ))
}

/// `POST /registry/register`: claims this cloud's handle with the verified phone. The device
/// that did has just shown both factors: its elevated window opens (§15.6).
#[utoipa::path(post, path = "/registry/register", tag = "registry", request_body = Register, responses((status = 200, body = Registered), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn registry_register(
    State(cloud): State<Arc<Cloud>>,
    axum::Extension(super::auth::AuthedDevice(device)): axum::Extension<super::auth::AuthedDevice>,
    JsonBody(body): JsonBody<Register>,
) -> ApiResult<Json<Registered>> {
    let (pinned, verified) = cloud.register(&body.registry, body.proof).await?;
    cloud.elevate(device, crate::store::now_ms() + super::elevation::WINDOW_MS);
    Ok(Json(Registered {
        was_reset: verified.was_reset(),
        handle: verified.record.handle,
        pubkey: verified.record.pubkey.to_b64(),
        fingerprint: verified.record.pubkey.fingerprint(),
        endpoint: verified.record.endpoint,
        registry: pinned.url,
        registry_key: pinned.registry_key,
    }))
}

/// `POST /registry/rotate`: a new cloud key, with a fresh phone code (high-trust).
#[utoipa::path(post, path = "/registry/rotate", tag = "registry", request_body = PhoneProof, responses((status = 200, body = Rotated), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn registry_rotate(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(proof): JsonBody<PhoneProof>,
) -> ApiResult<Json<Rotated>> {
    let verified = cloud.rotate_key(proof).await?;
    Ok(Json(Rotated {
        key_changes: verified.chain.len(),
        handle: verified.record.handle,
        pubkey: verified.record.pubkey.to_b64(),
        fingerprint: verified.record.pubkey.fingerprint(),
    }))
}

/// `POST /registry/heartbeat`: republish the record now (after an endpoint change).
#[utoipa::path(post, path = "/registry/heartbeat", tag = "registry", responses((status = 200, body = Published), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn registry_heartbeat(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Published>> {
    if !cloud.heartbeat(true).await? {
        return Err(ApiError::new(
            409,
            "not_registered",
            "this cloud is not registered",
        ));
    }
    Ok(Json(Published { published: true }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegistryQuery {
    /// The registry to ask (default: the one this cloud is registered at).
    #[serde(default)]
    registry: Option<String>,
}

/// `GET /registry/lookup/{handle}`: who the registry says `handle` is, verified, with the
/// safety code the two owners can compare.
#[utoipa::path(get, path = "/registry/lookup/{handle}", tag = "registry", params(("handle" = String, Path), RegistryQuery), responses((status = 200, body = LookupAt), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn registry_lookup(
    State(cloud): State<Arc<Cloud>>,
    Path(handle): Path<String>,
    Query(q): Query<RegistryQuery>,
) -> ApiResult<Json<LookupAt>> {
    let (registry, verified) = cloud.resolve(&handle, q.registry.as_deref()).await?;
    Ok(Json(LookupAt {
        lookup: lookup_view(&cloud, &verified),
        registry: registry.url,
    }))
}
