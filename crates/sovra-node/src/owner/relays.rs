//! The relays this cloud is reachable through.
//!
//! * `GET /relays` — the list
//! * `PUT /relays` `{url}` — connect, and publish it as a hint (identity document, registry)
//! * `DELETE /relays` `{url}` — stop publishing it

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use sovra_http::JsonBody;

pub async fn list_relays(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "relays": cloud.store.relays().await? })))
}

#[derive(Deserialize)]
pub struct RelayBody {
    url: String,
}

/// `PUT /relays`: keep a connection to this relay (reachable through it from now on) and
/// publish it as a hint in the identity document and, when registered, the registry record.
pub async fn add_relay(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<RelayBody>,
) -> ApiResult<Json<Value>> {
    let url = crate::d2d::relay::normalize_relay_url(&body.url)?;
    let added = cloud.store.add_relay(&url).await?;
    cloud.start_relays(std::slice::from_ref(&url));
    let published = match cloud.heartbeat(true).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(cloud = %cloud.name, "publishing the relay at the registry: {}", e.message);
            false
        }
    };
    Ok(Json(
        json!({"relay": url, "added": added, "published": published}),
    ))
}

/// `DELETE /relays`: stop publishing a relay (its link ends with the node).
pub async fn remove_relay(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<RelayBody>,
) -> ApiResult<Json<Value>> {
    let url = crate::d2d::relay::normalize_relay_url(&body.url)?;
    if !cloud.store.remove_relay(&url).await? {
        return Err(ApiError::not_found(
            "unknown_relay",
            format!("{url} is not one of this cloud's relays"),
        ));
    }
    let _ = cloud.heartbeat(true).await;
    Ok(Json(json!({"removed": url})))
}
