//! A cloud's devices (client instances) and their lifecycle (PROTOCOL.md §19.4). Every change is
//! an artifact the cloud key signed — a node cannot attach a device for its user — checked
//! against its JSON Schema, then its signature, then the cloud's state.
//!
//! * `GET /devices` — each device: key, label, whether detached, its artifacts
//! * `POST /devices/attach` `{attachment, device_certificate}` — a new device for the owner API
//! * `POST /devices/detach` `{detachment}` — one device ends; nothing above it
//! * `POST /devices/recover` `{recovery}` — a detached device comes back, if the same
//!   participant detached that same device here

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::Value;
use sovra_http::JsonBody;
use sovra_proto::PublicKey;
use sovra_proto::client_instance::{Attachment, Bound, Detachment, Recovery};
use sovra_proto::device::PURPOSE_OWNER;
use sovra_proto::owner::{self, AttachDevice, DetachDevice, DeviceChanged, Devices, RecoverDevice};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};

#[utoipa::path(get, path = "/devices", tag = "devices", responses((status = 200, body = Devices), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn list_devices(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Devices>> {
    let mut out = Vec::new();
    for d in cloud.store.device_list().await? {
        let artifacts: Vec<Value> = cloud
            .store
            .device_artifacts(&d.device)
            .await?
            .into_iter()
            .filter_map(|(_, body)| serde_json::from_str(&body).ok())
            .collect();
        out.push(owner::Device {
            client_instance_id: sovra_proto::client_instance::client_instance_id(
                &PublicKey::from_b64("device", &d.device)?,
            ),
            device: d.device,
            label: d.label,
            state: if d.revoked_at.is_some() {
                "detached"
            } else {
                "attached"
            }
            .into(),
            artifacts,
        });
    }
    Ok(Json(Devices { devices: out }))
}

/// The schema check, then the typed parse.
fn artifact<T: serde::de::DeserializeOwned>(schema: &str, v: &Value) -> ApiResult<T> {
    crate::hosting::schemas::validate(schema, v).map_err(ApiError::bad_request)?;
    serde_json::from_value(v.clone()).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The participant must be this cloud, and the node this one.
fn ours(cloud: &Cloud, bound: &Bound) -> ApiResult<()> {
    if bound.participant != cloud.public() {
        return Err(ApiError::new(
            403,
            "not_participant",
            "signed by a key that is not this cloud's: only the cloud key manages its devices",
        ));
    }
    if Some(bound.node) != cloud.settings.node_id {
        return Err(ApiError::new(
            400,
            "malformed",
            "made for another serving node",
        ));
    }
    Ok(())
}

pub async fn attach(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<AttachDevice>,
) -> ApiResult<Json<DeviceChanged>> {
    let a: Attachment = artifact(
        sovra_proto::client_instance::ATTACHMENT_SCHEMA,
        &body.attachment,
    )?;
    let (bound, device) = a.verify()?;
    ours(&cloud, &bound)?;
    if body.device_certificate.purpose != PURPOSE_OWNER
        || body.device_certificate.verify(&cloud.public())? != device
    {
        return Err(ApiError::bad_request(
            "the device certificate is not the cloud key's, for this device, for the owner API",
        ));
    }
    cloud
        .store
        .apply_device_artifact(
            &a.attachment_id,
            "attachment",
            &device.to_b64(),
            &body.attachment.to_string(),
            Some((
                &serde_json::to_string(&body.device_certificate).expect("json"),
                &body.device_certificate.label,
            )),
        )
        .await
        .map_err(duplicate)?;
    Ok(Json(DeviceChanged {
        attached: Some(a.client_instance_id),
        ..DeviceChanged::default()
    }))
}

/// An artifact id used twice is a replay, not a fault.
fn duplicate(e: sqlx::Error) -> ApiError {
    if e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
    {
        ApiError::new(
            409,
            "replayed_artifact",
            "this artifact was already applied",
        )
    } else {
        e.into()
    }
}

pub async fn detach(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<DetachDevice>,
) -> ApiResult<Json<DeviceChanged>> {
    let d: Detachment = artifact(
        sovra_proto::client_instance::DETACHMENT_SCHEMA,
        &body.detachment,
    )?;
    let (bound, device) = d.verify()?;
    ours(&cloud, &bound)?;
    // The attachment it ends must be this device's, here.
    let attached = cloud
        .store
        .device_artifact(&d.attachment_id, "attachment")
        .await?
        .and_then(|b| serde_json::from_str::<Attachment>(&b).ok());
    if attached.is_none_or(|a| a.client_instance_id != d.client_instance_id) {
        return Err(ApiError::not_found(
            "unknown_attachment",
            "no attachment of this device with that id here",
        ));
    }
    cloud
        .store
        .apply_device_artifact(
            &d.detachment_id,
            "detachment",
            &device.to_b64(),
            &body.detachment.to_string(),
            None,
        )
        .await
        .map_err(duplicate)?;
    Ok(Json(DeviceChanged {
        detached: Some(d.client_instance_id),
        ..DeviceChanged::default()
    }))
}

pub async fn recover(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<RecoverDevice>,
) -> ApiResult<Json<DeviceChanged>> {
    let r: Recovery = artifact(
        sovra_proto::client_instance::RECOVERY_SCHEMA,
        &body.recovery,
    )?;
    let (bound, device) = r.verify()?;
    ours(&cloud, &bound)?;
    // Fails closed: the detachment must be known here, of this same device, and authorized
    // by this same participant.
    let refused = |why: &str| ApiError::new(409, "recovery_refused", why.to_owned());
    let Some(detached) = cloud
        .store
        .device_artifact(&r.from_detachment_id, "detachment")
        .await?
        .and_then(|b| serde_json::from_str::<Detachment>(&b).ok())
    else {
        return Err(refused("no such detachment here"));
    };
    if detached.client_instance_id != r.client_instance_id {
        return Err(refused("that detachment is of another device"));
    }
    if detached.participant_bind.key_public != r.participant_bind.key_public {
        return Err(refused(
            "that detachment was authorized by another participant",
        ));
    }
    if r.mode != "reattach-existing-device" && r.mode != "resume-after-suspension" {
        return Err(refused(
            "this node recovers a device itself (reattach-existing-device, resume-after-suspension); attach a new device instead",
        ));
    }
    cloud
        .store
        .apply_device_artifact(
            &r.recovery_id,
            "recovery",
            &device.to_b64(),
            &body.recovery.to_string(),
            None,
        )
        .await
        .map_err(duplicate)?;
    Ok(Json(DeviceChanged {
        recovered: Some(r.client_instance_id),
        ..DeviceChanged::default()
    }))
}
