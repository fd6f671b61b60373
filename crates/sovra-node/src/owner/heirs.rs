//! Inheritance (PROTOCOL.md §22).
//!
//! * `GET /heirs` → `{policy?, active_at?, fires_at?, fired_at?}`
//! * `PUT /heirs` `{policy}` — the cloud key's policy (high-trust); heirs must be whitelisted
//! * `DELETE /heirs` → `{removed}` — no heirs, no switch (high-trust)
//! * `GET /inherited` → `{inherited: [{cloud, handle, grant, received_at}]}` — clouds whose
//!   switch named this one heir

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use sovra_http::JsonBody;

use crate::cloud::Cloud;
use crate::error::ApiResult;
use crate::migration::heirs::HeirsStatus;

pub use sovra_proto::owner::lifecycle::PutHeirs;

pub use sovra_proto::owner::lifecycle::Inherited;

#[utoipa::path(get, path = "/heirs", tag = "heirs", responses((status = 200, body = HeirsStatus), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn status(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<HeirsStatus>> {
    cloud.heirs_status().await.map(Json)
}

#[utoipa::path(put, path = "/heirs", tag = "heirs", request_body = PutHeirs, responses((status = 200, body = HeirsStatus), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn put(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<PutHeirs>,
) -> ApiResult<Json<HeirsStatus>> {
    cloud.set_heirs(&body.policy).await?;
    cloud.heirs_status().await.map(Json)
}

#[utoipa::path(delete, path = "/heirs", tag = "heirs", responses((status = 200, body = sovra_proto::owner::HeirsRemoved), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn remove(
    State(cloud): State<Arc<Cloud>>,
) -> ApiResult<Json<sovra_proto::owner::HeirsRemoved>> {
    cloud.store.set_inheritance(None).await?;
    Ok(Json(sovra_proto::owner::HeirsRemoved { removed: true }))
}

#[utoipa::path(get, path = "/inherited", tag = "heirs", responses((status = 200, body = Inherited), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn inherited(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Inherited>> {
    Ok(Json(Inherited {
        inherited: cloud.store.inherited().await?,
    }))
}
