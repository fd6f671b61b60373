//! Reports about a hosted cloud or about the node, each attached to the layer that answers for
//! it (PROTOCOL.md §19.6, seeds/002 "responsibility boundaries"): participation to the cloud's
//! pod-user id, hosting to the node-id. A device (client instance) is never a public subject —
//! its trust signals stay private to its cloud.
//!
//! * `POST /api/host/reports` `{subject, reason, reporter?}` — anyone may report; rate-limited
//!   per source address and for the node, and bounded in number.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use sovra_http::{ApiError, ApiResult, JsonBody};
use sovra_proto::PublicKey;
use sovra_proto::client_instance::node_ref;

use super::Hosting;
use super::invites::Report;
use crate::d2d::SourceAddr;

/// Most reports kept at once; past it, 429 until the operator clears some.
pub const MAX_REPORTS: i64 = 10_000;
/// Longest reason, and longest reporter contact.
pub const MAX_REASON: usize = 2048;
pub const MAX_REPORTER: usize = 256;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    pub subject: String,
    pub reason: String,
    #[serde(default)]
    pub reporter: Option<String>,
}

#[derive(Serialize)]
pub struct ReportAccepted {
    pub id: String,
    pub subject_kind: &'static str,
}

pub async fn file(
    State(hosting): State<Arc<Hosting>>,
    SourceAddr(source): SourceAddr,
    JsonBody(req): JsonBody<ReportRequest>,
) -> ApiResult<(axum::http::StatusCode, Json<ReportAccepted>)> {
    if req.reason.trim().is_empty() || req.reason.len() > MAX_REASON {
        return Err(ApiError::bad_request(format!(
            "reason: 1 to {MAX_REASON} bytes"
        )));
    }
    if req
        .reporter
        .as_ref()
        .is_some_and(|r| r.len() > MAX_REPORTER)
    {
        return Err(ApiError::bad_request(format!(
            "reporter: at most {MAX_REPORTER} bytes"
        )));
    }
    let node = hosting.identity.keys.public();
    let subject_kind = if req.subject == node_ref(&node) {
        "node"
    } else if let Some(key) = req.subject.strip_prefix("pod-user:ed25519:") {
        let key = PublicKey::from_b64("subject", key)?;
        if !hosting.hosts(&key) {
            return Err(ApiError::not_found(
                "unknown_subject",
                "no cloud with this key is hosted here",
            ));
        }
        "pod-user"
    } else if req.subject.starts_with("client:") {
        return Err(ApiError::bad_request(
            "a device is not a public subject: report the cloud (pod-user:ed25519:…) instead",
        ));
    } else {
        return Err(ApiError::bad_request(
            "subject: pod-user:ed25519:<key> of a cloud hosted here, or this node's node:ed25519:<key>",
        ));
    };
    hosting.reports_limit.admit(source)?;
    let id = sovra_proto::handshake::random_uuid(&mut sovra_proto::os_rng())
        .hyphenated()
        .to_string();
    let report = Report {
        id: id.clone(),
        subject_kind: subject_kind.into(),
        subject: req.subject,
        reason: req.reason,
        reporter: req.reporter,
        at: crate::store::now_ms(),
    };
    if !hosting.db.file_report(&report, MAX_REPORTS).await? {
        return Err(ApiError::new(
            429,
            "rate_limited",
            "this node holds as many reports as it keeps; try again later",
        ));
    }
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(ReportAccepted { id, subject_kind }),
    ))
}
