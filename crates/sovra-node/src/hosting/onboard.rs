//! Bringing a hosted human's cloud onto this node (PROTOCOL.md §19.3), in two steps so the node
//! never sees the cloud key:
//!
//! * `POST /api/host/clouds` `{handle, cloud_key, invite}` — spends an operator's invite,
//!   reserves the name, and draws the host key pair the node will sign and open with; answers
//!   its public halves and the node-id for the human's device to certify.
//! * `POST /api/host/clouds/{name}/activate` `{host_certificate, device_key,
//!   device_certificate}` — the cloud key's certificate of that pair (for this node) and of
//!   the device that will use the owner API. Checked, stored, and the cloud is served at once.
//!
//! Until activation the directory holds `host.key` and `onboarding.json` only; it is not a
//! cloud (no `cloud.json`) and nothing serves it.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use sovra_http::{ApiError, ApiResult, JsonBody};
use sovra_proto::device::PURPOSE_OWNER;
use sovra_proto::host::{ActivateRequest, ActivateResponse, OnboardRequest, OnboardResponse};
use sovra_proto::{CloudKeys, PublicKey};

use super::Hosting;
use super::invites::InviteRefusal;
use crate::home::{self, CloudConfig};
use crate::store::Store;

/// How long the second step may wait for the first.
pub const ONBOARDING_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// An onboarding whose activation never came, older than `ONBOARDING_TTL`.
fn lapsed(dir: &std::path::Path) -> bool {
    !dir.join("cloud.json").exists()
        && std::fs::metadata(dir.join("onboarding.json"))
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > ONBOARDING_TTL))
}

/// What the node remembers of an onboarding between its two steps.
#[derive(Serialize, Deserialize)]
struct Onboarding {
    handle: String,
    cloud_key: String,
}

pub async fn create(
    State(hosting): State<Arc<Hosting>>,
    JsonBody(req): JsonBody<OnboardRequest>,
) -> ApiResult<Json<OnboardResponse>> {
    let policy = hosting.identity.config.hosting_policy.as_str();
    if policy != "invite" && policy != "phone" {
        return Err(ApiError::new(
            403,
            "hosting_closed",
            "this node takes no new clouds",
        ));
    }
    sovra_proto::identity::validate_handle(&req.handle)?;
    let cloud_key = PublicKey::from_b64("cloud_key", &req.cloud_key)?;
    // Policy phone: the pinned registry must vouch for this very key, for this node.
    let phone_tag = match (
        &hosting.identity.config.phone_registry,
        &req.phone_attestation,
    ) {
        (Some(registry), Some(a)) if policy == "phone" => {
            let key = PublicKey::from_b64("phone_registry.key", &registry.key)
                .map_err(ApiError::internal)?;
            // Both sides spell the audience canonically (scheme and host case, trailing `/`).
            let me = sovra_proto::urls::canonical_url("audience", &hosting.url, &["http", "https"])
                .map_err(ApiError::internal)?;
            let (vouched, tag) = a.verify(&key, &me, jiff::Timestamp::now())?;
            if vouched != cloud_key {
                return Err(ApiError::bad_request(
                    "the phone attestation vouches for another cloud key",
                ));
            }
            Some(sovra_proto::encoding::hex(&tag))
        }
        _ if policy == "phone" => {
            return Err(ApiError::new(
                403,
                "phone_required",
                "this node takes a cloud for a phone its registry verified: send phone_attestation",
            ));
        }
        _ => None,
    };
    let name = home::cloud_name(&req.handle).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let dir = home::cloud_dir(&hosting.home, &name);
    // One name, one cloud: the reservation is the directory itself — until an onboarding left
    // unactivated for a day lapses, and its name and invite return.
    let _guard = hosting.onboarding.lock().await;
    if lapsed(&dir) {
        tracing::info!(cloud = %name, "an unfinished onboarding lapsed");
        let _ = std::fs::remove_dir_all(&dir);
        hosting.db.release(&name).await?;
        hosting.db.release_phone(&name).await?;
    }
    if dir.exists() {
        return Err(ApiError::new(
            409,
            "name_taken",
            format!("a cloud named {name} exists on this node"),
        ));
    }
    if let Some(tag) = &phone_tag {
        if !hosting.db.claim_phone_tag(tag, &name).await? {
            return Err(ApiError::new(
                409,
                "phone_used",
                "this phone already has a cloud on this node",
            ));
        }
    } else {
        let invite = req.invite.as_deref().unwrap_or_default();
        if let Err(why) = hosting.db.redeem(invite, &name).await? {
            tracing::info!(?why, "refused an invite");
            return Err(ApiError::new(
                403,
                "invite_invalid",
                match why {
                    InviteRefusal::Unknown | InviteRefusal::Used | InviteRefusal::Expired => {
                        "this invite is unknown, used or expired"
                    }
                },
            ));
        }
    }
    let made = (|| -> Result<CloudKeys, home::HomeError> {
        std::fs::create_dir_all(&dir).map_err(|source| home::HomeError::Io {
            path: dir.clone(),
            source,
        })?;
        home::make_private_dir(&dir)?;
        let host = CloudKeys::generate(&mut sovra_proto::os_rng());
        sovra_proto::keyfile::save_cloud_keys(&dir.join("host.key"), &host)?;
        home::write_atomic(
            &dir.join("onboarding.json"),
            &serde_json::to_vec(&Onboarding {
                handle: req.handle.clone(),
                cloud_key: cloud_key.to_b64(),
            })
            .expect("json"),
        )?;
        Ok(host)
    })();
    let host = match made {
        Ok(h) => h,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            hosting.db.release(&name).await?;
            hosting.db.release_phone(&name).await?;
            return Err(ApiError::internal(e));
        }
    };
    tracing::info!(cloud = %name, "onboarding a hosted cloud");
    Ok(Json(OnboardResponse {
        base_url: hosting.base_url(&name),
        name,
        node_id: hosting.identity.keys.public().to_b64(),
        host_key: host.signing.public().to_b64(),
        host_encryption_key: host.encryption.public().to_b64(),
    }))
}

pub async fn activate(
    State(hosting): State<Arc<Hosting>>,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<ActivateRequest>,
) -> ApiResult<Json<ActivateResponse>> {
    let unknown = || {
        ApiError::not_found(
            "unknown_onboarding",
            format!("no cloud {name} is waiting to be activated"),
        )
    };
    if home::cloud_name(&format!("@{name}.x")).ok().as_deref() != Some(name.as_str()) {
        return Err(unknown());
    }
    let _guard = hosting.onboarding.lock().await;
    let dir = home::cloud_dir(&hosting.home, &name);
    let Ok(text) = std::fs::read(dir.join("onboarding.json")) else {
        return Err(unknown());
    };
    let onboarding: Onboarding = serde_json::from_slice(&text).map_err(ApiError::internal)?;
    let cloud = PublicKey::from_b64("cloud_key", &onboarding.cloud_key)?;
    let host =
        sovra_proto::keyfile::load_cloud_keys(&dir.join("host.key")).map_err(ApiError::internal)?;
    // The certificate must be the cloud key's, for the pair drawn here, for this node.
    let verified = req
        .host_certificate
        .verify(&cloud, jiff::Timestamp::now())?;
    if verified.host_key != host.signing.public()
        || verified.host_encryption_key != host.encryption.public()
        || verified.node_id != hosting.identity.keys.public()
    {
        return Err(ApiError::new(
            400,
            "malformed",
            "the certificate is not for the host keys and node this onboarding gave",
        ));
    }
    // The first device, certified by the cloud key (the node cannot mint one).
    let device = PublicKey::from_b64("device_key", &req.device_key)?;
    if req.device_certificate.purpose != PURPOSE_OWNER
        || req.device_certificate.verify(&cloud)? != device
    {
        return Err(ApiError::new(
            400,
            "malformed",
            "the device certificate is not the cloud key's, for this device, for the owner API",
        ));
    }
    home::write_atomic(
        &dir.join("host-certificate.json"),
        &serde_json::to_vec_pretty(&req.host_certificate).expect("json"),
    )
    .map_err(ApiError::internal)?;
    let store = Store::open(&dir.join("cloud.db")).await?;
    if store.device_certificate(&device.to_b64()).await?.is_none() {
        store
            .add_device(
                &device.to_b64(),
                &serde_json::to_string(&req.device_certificate).expect("json"),
                &req.device_certificate.label,
            )
            .await?;
    }
    drop(store);
    let config = CloudConfig {
        handle: onboarding.handle.clone(),
        created_at: sovra_proto::time::format(jiff::Timestamp::now()),
        hosted: true,
        hosted_by: None,
    };
    // cloud.json last: its presence makes the directory a cloud.
    home::write_atomic(
        &dir.join("cloud.json"),
        &serde_json::to_vec_pretty(&config).expect("json"),
    )
    .map_err(ApiError::internal)?;
    let _ = std::fs::remove_file(dir.join("onboarding.json"));
    hosting.serve_new(&name).await?;
    tracing::info!(cloud = %name, "hosted cloud activated");
    Ok(Json(ActivateResponse {
        handle: onboarding.handle,
        base_url: hosting.base_url(&name),
    }))
}
