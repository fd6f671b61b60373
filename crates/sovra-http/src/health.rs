//! `GET /healthz` (the process answers) and `GET /readyz` (it can reach its database), the
//! same on node, registry and relay, for a supervisor or load balancer to poll.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Liveness: answering at all is the signal.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness from a check of the service's storage: 200 `{"status": "ready"}`, or 503
/// `{"error": "not_ready", "message"}` with what failed.
pub fn readiness(check: Result<(), String>) -> Response {
    match check {
        Ok(()) => Json(json!({ "status": "ready" })).into_response(),
        Err(why) => crate::ApiError::new(503, "not_ready", why).into_response(),
    }
}
