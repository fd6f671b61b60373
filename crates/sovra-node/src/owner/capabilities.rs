//! Capabilities the cloud exposes to peers (who still need a grant to call one).
//!
//! * `GET /capabilities` — what is exposed, with its adapter
//! * `PUT /capabilities/{name}` — expose or replace (`description`, `adapter`, `swarm?`)
//! * `DELETE /capabilities/{name}` — withdraw

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use sovra_proto::owner::{Capabilities, Withdrawn};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use sovra_http::JsonBody;

use crate::agents::capability::Adapter;
use crate::agents::swarm::MAIN;
use crate::store::CapabilityRow;

#[utoipa::path(get, path = "/capabilities", tag = "capabilities", responses((status = 200, body = Capabilities), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn list_capabilities(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Capabilities>> {
    Ok(Json(Capabilities {
        capabilities: cloud.store.capabilities().await?,
    }))
}

pub use sovra_proto::owner::CapabilityBody;

#[utoipa::path(put, path = "/capabilities/{name}", tag = "capabilities", request_body = CapabilityBody, params(("name" = String, Path)), responses((status = 200, body = CapabilityRow), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn expose_capability(
    State(cloud): State<Arc<Cloud>>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<CapabilityBody>,
) -> ApiResult<Json<CapabilityRow>> {
    sovra_proto::identity::validate_capability_name(&name)?;
    if body.description.len() > sovra_proto::identity::MAX_CAPABILITY_DESCRIPTION {
        return Err(ApiError::bad_request(
            "description is longer than 1024 bytes",
        ));
    }
    let adapter: Adapter = serde_json::from_value(body.adapter)
        .map_err(|e| ApiError::bad_request(format!("adapter: {e}")))?;
    adapter.validate().map_err(ApiError::bad_request)?;
    let swarm = body.swarm.unwrap_or_else(|| MAIN.to_owned());
    cloud.require_swarm(&swarm).await?;
    let exposed = cloud.store.capabilities().await?;
    if !exposed.iter().any(|c| c.name == name) {
        cloud.room_for_capability(exposed.len()).await?;
    }
    let row = CapabilityRow {
        name,
        description: body.description,
        adapter: serde_json::to_value(&adapter).expect("json"),
        swarm,
    };
    cloud.store.upsert_capability(&row).await?;
    Ok(Json(row))
}

#[utoipa::path(delete, path = "/capabilities/{name}", tag = "capabilities", params(("name" = String, Path)), responses((status = 200, body = Withdrawn), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn withdraw_capability(
    State(cloud): State<Arc<Cloud>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Withdrawn>> {
    if !cloud.store.remove_capability(&name).await? {
        return Err(ApiError::not_found(
            "unknown_capability",
            format!("{name} is not exposed"),
        ));
    }
    Ok(Json(Withdrawn { withdrawn: name }))
}
