//! Nyms (PROTOCOL.md §19.7): public faces the cloud key issues; this node keeps the mapping
//! to the cloud and bounds how many are active at once (`Settings::max_nyms`).
//!
//! * `GET /nyms` — active and retired nyms
//! * `POST /nyms` `{certificate}` — a nym the cloud key signed (never one the node made)
//! * `POST /nyms/{nym}/retire` — retire it; peers it was presented to see the handle again
//!
//! Which nym a peer is shown is the whitelist entry's `present_as` (`PUT /peers`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use sovra_http::JsonBody;
use sovra_proto::owner::{AddNym, NymAdded, NymRetired, Nyms};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};

#[utoipa::path(get, path = "/nyms", tag = "nyms", responses((status = 200, body = Nyms), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn list_nyms(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Nyms>> {
    Ok(Json(Nyms {
        nyms: cloud.store.nyms().await?,
    }))
}

#[utoipa::path(post, path = "/nyms", tag = "nyms", request_body = AddNym, responses((status = 200, body = NymAdded), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn add_nym(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<AddNym>,
) -> ApiResult<Json<NymAdded>> {
    let nym = body.certificate.verify(&cloud.public()).map_err(|e| {
        ApiError::new(
            403,
            "not_participant",
            format!("a nym is the cloud key's to issue: {e}"),
        )
    })?;
    if nym == cloud.config.handle {
        return Err(ApiError::bad_request("a nym is not the cloud's own handle"));
    }
    let active = cloud
        .store
        .nyms()
        .await?
        .into_iter()
        .filter(|n| n.retired_at.is_none() && n.nym != nym)
        .count();
    if active >= cloud.settings.max_nyms {
        return Err(ApiError::new(
            409,
            "nym_limit",
            format!(
                "this node keeps at most {} active nyms per cloud; retire one first",
                cloud.settings.max_nyms
            ),
        ));
    }
    cloud
        .store
        .add_nym(
            &nym,
            &serde_json::to_string(&body.certificate).expect("json"),
        )
        .await?;
    Ok(Json(NymAdded { nym }))
}

#[utoipa::path(post, path = "/nyms/{nym}/retire", tag = "nyms", params(("nym" = String, Path)), responses((status = 200, body = NymRetired), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn retire_nym(
    State(cloud): State<Arc<Cloud>>,
    Path(nym): Path<String>,
) -> ApiResult<Json<NymRetired>> {
    if !cloud.store.retire_nym(&nym).await? {
        return Err(ApiError::not_found(
            "unknown_nym",
            format!("{nym} is not an active nym of this cloud"),
        ));
    }
    Ok(Json(NymRetired { retired: nym }))
}

/// Checks that `nym` is one of this cloud's active nyms (for `present_as`).
pub async fn require_active(cloud: &Cloud, nym: &str) -> ApiResult<()> {
    let active = cloud
        .store
        .nyms()
        .await?
        .into_iter()
        .any(|n| n.nym == nym && n.retired_at.is_none());
    if active {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "present_as: {nym} is not an active nym of this cloud"
        )))
    }
}
