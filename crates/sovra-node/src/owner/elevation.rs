//! Two-factor high-trust operations (PROTOCOL.md §15.6): a device's key is one factor; a fresh
//! phone proof from the registry the cloud is registered at — or, for a cloud without a
//! registry, another device's approval — is the second. Either opens an *elevated window* of at
//! most 15 minutes for that device, like `sudo`, so a burst of whitelist edits costs one code.
//!
//! * `GET /elevation` → `{two_factor, factors, elevated_until}` for the asking device
//! * `POST /elevation` `{verification_id, code}` → `{elevated_until}`: a phone code the node
//!   turns into the registry's elevation for this cloud (`POST /registry/verifications` sends it)
//! * `POST /elevation/approve` `{device}` → `{device, elevated_until}`: another attached device
//!   elevates `device`
//! * `DELETE /elevation` → `{elevated: false}`: end this device's window now
//!
//! Also here: which operations are high-trust, and the middleware that asks for elevation.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use sovra_http::JsonBody;
use sovra_proto::PublicKey;
use sovra_proto::owner::{ApproveDevice, Elevated, ElevationDropped, ElevationStatus};
use sovra_proto::registry::{ElevationRequest, PhoneProof};

use super::auth::AuthedDevice;
use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::now_ms;

/// The longest window one second factor opens.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;

/// Why an owner operation is high-trust, or `None` for a low-trust one (send, read, reply…).
/// Two high-trust operations carry their second factor with them instead: `POST
/// /registry/rotate` its own phone code, and `/devices/*` an artifact the cloud key signed
/// (which a device alone does not have, and which must work when the other device is lost).
pub fn high_trust(method: &Method, path: &str) -> Option<&'static str> {
    let m = method.as_str();
    match (m, path) {
        ("PUT", "/peers") | ("POST", "/peers/by-handle") => Some("changing the whitelist"),
        ("DELETE", p) if p.starts_with("/peers/") => Some("changing the whitelist"),
        ("POST", p) if p.starts_with("/pending/") && p.ends_with("/approve") => {
            Some("changing the whitelist")
        }
        ("PUT" | "DELETE", p) if p.starts_with("/capabilities/") => {
            Some("changing what peers may call")
        }
        ("POST", "/seal" | "/unseal") => Some("sealing"),
        ("POST", "/migration/export") => Some("exporting the cloud"),
        ("PUT" | "DELETE", "/heirs") => Some("changing the heirs"),
        _ => None,
    }
}

impl Cloud {
    /// The second factors this cloud has.
    pub async fn second_factors(&self) -> ApiResult<Vec<String>> {
        let mut factors = Vec::new();
        if self.store.registration().await?.is_some() {
            factors.push("phone".to_owned());
        }
        if self.store.attached_devices().await? > 0 {
            factors.push("second_device".to_owned());
        }
        Ok(factors)
    }

    fn elevated_until(&self, device: &PublicKey) -> Option<i64> {
        self.elevations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(device)
            .copied()
            .filter(|until| *until > now_ms())
    }

    /// Opens `device`'s window until `until` (at most 15 minutes from now).
    pub(crate) fn elevate(&self, device: PublicKey, until: i64) -> i64 {
        let until = until.min(now_ms() + WINDOW_MS);
        let mut all = self.elevations.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|_, t| *t > now_ms());
        all.insert(device, until);
        until
    }

    /// The phone factor: a code for the phone on record, turned by the registry into an
    /// elevation for this cloud at this node.
    async fn elevate_by_phone(&self, device: PublicKey, proof: PhoneProof) -> ApiResult<i64> {
        let reg = self.store.registration().await?.ok_or_else(|| {
            ApiError::new(
                409,
                "not_registered",
                "this cloud has no phone on record; approve this device from another one",
            )
        })?;
        let registry = self.pin_registry(&reg.registry_url).await?;
        let key = PublicKey::from_b64("registry_key", &registry.registry_key)?;
        let elevation = Self::registry_client(&registry.url)
            .elevate(&ElevationRequest {
                phone: proof,
                handle: reg.handle.clone(),
                cloud_key: self.public().to_b64(),
                audience: self.base_url.clone(),
            })
            .await
            .map_err(crate::registry::registry_error)?;
        let expires = elevation
            .verify(&key, &self.public(), &self.base_url, jiff::Timestamp::now())
            .map_err(|e| {
                ApiError::new(
                    502,
                    "registry_untrusted",
                    format!("the registry's elevation does not verify: {e}"),
                )
            })?;
        Ok(self.elevate(device, expires.as_millisecond()))
    }
}

#[utoipa::path(get, path = "/elevation", tag = "elevation", responses((status = 200, body = ElevationStatus), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn status(
    State(cloud): State<Arc<Cloud>>,
    Extension(AuthedDevice(device)): Extension<AuthedDevice>,
) -> ApiResult<Json<ElevationStatus>> {
    let factors = cloud.second_factors().await?;
    Ok(Json(ElevationStatus {
        two_factor: !factors.is_empty(),
        factors,
        elevated_until: cloud.elevated_until(&device),
    }))
}

#[utoipa::path(post, path = "/elevation", tag = "elevation", request_body = sovra_proto::registry::PhoneProof, responses((status = 200, body = Elevated), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn by_phone(
    State(cloud): State<Arc<Cloud>>,
    Extension(AuthedDevice(device)): Extension<AuthedDevice>,
    JsonBody(proof): JsonBody<PhoneProof>,
) -> ApiResult<Json<Elevated>> {
    let until = cloud.elevate_by_phone(device, proof).await?;
    Ok(Json(Elevated {
        device: None,
        elevated_until: until,
    }))
}

#[utoipa::path(post, path = "/elevation/approve", tag = "elevation", request_body = ApproveDevice, responses((status = 200, body = Elevated), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn approve(
    State(cloud): State<Arc<Cloud>>,
    Extension(AuthedDevice(approver)): Extension<AuthedDevice>,
    JsonBody(body): JsonBody<ApproveDevice>,
) -> ApiResult<Json<Elevated>> {
    let device = PublicKey::from_b64("device", &body.device)?;
    if device == approver {
        return Err(ApiError::new(
            403,
            "self_approval",
            "a device cannot be its own second factor; approve it from another device",
        ));
    }
    if cloud
        .store
        .device_certificate(&device.to_b64())
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(
            "unknown_device",
            "no attached device has this key",
        ));
    }
    let until = cloud.elevate(device, now_ms() + WINDOW_MS);
    Ok(Json(Elevated {
        device: Some(device.to_b64()),
        elevated_until: until,
    }))
}

#[utoipa::path(delete, path = "/elevation", tag = "elevation", responses((status = 200, body = ElevationDropped), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn drop_elevation(
    State(cloud): State<Arc<Cloud>>,
    Extension(AuthedDevice(device)): Extension<AuthedDevice>,
) -> Json<ElevationDropped> {
    cloud
        .elevations
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&device);
    Json(ElevationDropped { elevated: false })
}

/// Middleware (inside authentication): a high-trust operation from a device that is not
/// elevated, on a cloud that has a second factor, is 403 `elevation_required`.
pub async fn require(State(cloud): State<Arc<Cloud>>, request: Request, next: Next) -> Response {
    let Some(why) = high_trust(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let Some(AuthedDevice(device)) = request.extensions().get::<AuthedDevice>().copied() else {
        return ApiError::internal("elevation checked before authentication").into_response();
    };
    if cloud.elevated_until(&device).is_some() {
        return next.run(request).await;
    }
    match cloud.second_factors().await {
        Ok(f) if f.is_empty() => next.run(request).await,
        Ok(f) => ApiError::new(
            403,
            "elevation_required",
            format!(
                "{why} is a high-trust operation: confirm it with {} first (`sovra elevate`)",
                match (f.iter().any(|x| x == "phone"), f.len()) {
                    (true, 1) => "a phone code",
                    (true, _) => "a phone code or another device",
                    (false, _) => "another device's approval",
                }
            ),
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}
