//! Federation actions (docs/PROTOCOL.md §23): the cloud's second federation surface, beside
//! D2D. D2D is sealed dialogue between whitelisted peers; actions are the public-ish social
//! layer — follow, connect, post, comment, react, share a file — as signed tokens any instance
//! can verify, in Cloudillo's format so a Sovra cloud and a Cloudillo instance interoperate.
//!
//! # Layout
//!
//! * this file — the endpoints other instances call: `GET /api/me`, `POST /api/inbox`,
//!   `GET /api/action/{id}`, `GET /api/actions`, `GET /api/file/{id}` (and Cloudillo's plural
//!   aliases), and the access tokens that let a peer see what is not public.
//! * `profile` — this cloud's profile and keys; other issuers' profiles, fetched and cached.
//! * `inbox` — accepting an inbound action (checks in a fixed order, then one commit) and the
//!   durable task that applies its effects afterwards.
//! * `relations` — follows and connections: following, connecting, approving, denying.
//! * `issue` — actions this cloud issues: signing, relations, fan-out to inboxes through the
//!   shared outbox, and delivering them (backoff, per-host circuit breaker).
//! * `files` — content-addressed files: storing, serving with `Range`, fetching from a peer.
//!
//! # Invariants
//!
//! * Nothing from an inbox is stored unless its token verified against the issuer's published
//!   key, with the algorithm that key is for.
//! * An accepted action is in the database, `queued`, before the 202 is sent; its effects are
//!   applied in the commit that marks it `done`, so a crash loses nothing and repeats nothing.
//! * Ids are content addresses: a stored action's id is the hash of its token, a stored file's
//!   the hash of its bytes; nothing is stored under an id it does not hash to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Query, State as AxumState};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use sovra_proto::action::{self, Envelope, InboxRequest, Profile};
use sovra_proto::{ProtoError, time};

use crate::cloud::Cloud;
use crate::d2d::strangers::Strangers;
use crate::error::{ApiError, ApiResult};
use sovra_http::JsonBody;

pub mod files;
pub mod inbox;
pub mod issue;
pub mod profile;
pub mod relations;

/// The longest an access token may live (its `exp` − `iat`), seconds.
pub const MAX_ACCESS_TTL: i64 = 3600;
/// The most public actions `GET /api/actions` lists at once.
pub const MAX_LISTED: i64 = 100;

/// One cloud's actions state that is not in its database.
pub struct State {
    pub(crate) profiles: profile::Profiles,
    /// Wakes the task that applies accepted actions (`inbox.rs`).
    pub(crate) wake: tokio::sync::Notify,
    /// How many inbound actions a source and the cloud may send per minute.
    pub(crate) limits: Strangers,
    /// Hosts whose inboxes keep failing, and until when deliveries to them wait (`issue.rs`).
    pub(crate) breakers: Mutex<HashMap<String, issue::Breaker>>,
    /// Group commit of accepted actions (`inbox.rs`).
    pub(crate) acceptor: inbox::Acceptor,
    /// Accepted actions whose effects wait: counted when the cloud opens, then the inbox adds
    /// and the effects task subtracts (`inbox.rs`).
    pub(crate) queued: std::sync::atomic::AtomicI64,
    /// The key id last recorded in `action_keys` (`profile.rs`).
    pub(crate) recorded_key: Mutex<Option<String>>,
}

impl State {
    pub fn new(
        settings: &crate::cloud::Settings,
        store: &crate::store::Store,
        queued: i64,
    ) -> State {
        State {
            profiles: Default::default(),
            wake: tokio::sync::Notify::new(),
            limits: Strangers::counting(
                "actions",
                "this cloud",
                settings.actions_per_source_per_minute,
                settings.actions_per_minute,
            ),
            breakers: Default::default(),
            acceptor: inbox::Acceptor::start(store.clone()),
            queued: std::sync::atomic::AtomicI64::new(queued),
            recorded_key: Mutex::new(None),
        }
    }
}

/// The current time as Cloudillo stamps its answers (RFC 3339).
fn now_text() -> Option<String> {
    Some(time::format(jiff::Timestamp::now()))
}

fn envelope<T>(data: T) -> Json<Envelope<T>> {
    Json(Envelope {
        data,
        time: now_text(),
    })
}

/// `GET /api/me`.
pub async fn me(AxumState(cloud): AxumState<Arc<Cloud>>) -> ApiResult<Json<Envelope<Profile>>> {
    cloud.profile().await.map(envelope)
}

/// `POST /api/inbox`'s answer: 202 with the accepted action's id.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    pub action_id: String,
}

/// `POST /api/inbox`.
pub async fn post_inbox(
    AxumState(cloud): AxumState<Arc<Cloud>>,
    source: crate::d2d::SourceAddr,
    JsonBody(request): JsonBody<InboxRequest>,
) -> ApiResult<(axum::http::StatusCode, Json<Envelope<Accepted>>)> {
    let action_id = cloud.receive_action(&request, source.0).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        envelope(Accepted { action_id }),
    ))
}

/// An action as `GET /api/action/{id}` shows it: the token, for the caller to verify.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicAction {
    pub action_id: String,
    pub token: String,
}

fn unknown_action() -> ApiError {
    ApiError::new(
        404,
        "unknown_action",
        "no action with this id is visible to you here",
    )
}

/// `GET /api/action/{id}`: public actions to anyone; others to their issuer or audience,
/// proved by an access token. An action the caller may not see is answered as if absent.
pub async fn get_action(
    AxumState(cloud): AxumState<Arc<Cloud>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Envelope<PublicAction>>> {
    action::parse_action_id(&id)?;
    // A token that is sent is checked whatever the id: a bad one is refused, not ignored.
    let viewer = cloud.viewer(&headers).await?;
    let row = cloud.store.action(&id).await?.ok_or_else(unknown_action)?;
    if !row.public {
        let viewer = viewer.ok_or_else(unknown_action)?;
        let theirs = row.issuer == viewer || row.audience.as_deref() == Some(viewer.as_str());
        if !theirs {
            return Err(unknown_action());
        }
    }
    Ok(envelope(PublicAction {
        action_id: row.id,
        token: row.token,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    limit: Option<i64>,
}

/// `GET /api/actions`: this cloud's public actions, newest first.
pub async fn list_actions(
    AxumState(cloud): AxumState<Arc<Cloud>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Envelope<Vec<PublicAction>>>> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_LISTED).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1 to {MAX_LISTED}"
        )));
    }
    let rows = cloud.store.action_list("out", true, limit).await?;
    Ok(envelope(
        rows.into_iter()
            .map(|r| PublicAction {
                action_id: r.id,
                token: r.token,
            })
            .collect(),
    ))
}

impl Cloud {
    /// The id tag an `Authorization: Bearer` access token proves (§23.6), if one is sent. A
    /// token that is sent and does not verify is refused, not ignored.
    pub(crate) async fn viewer(&self, headers: &HeaderMap) -> ApiResult<Option<String>> {
        let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(None);
        };
        let unauthorized = |why: &str| ApiError::new(401, "unauthorized", why.to_owned());
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized("Authorization must be `Bearer <access token>`"))?;
        let parsed = action::parse(token)?;
        let claims = &parsed.claims;
        if claims.t != "ACCS" {
            return Err(unauthorized("an access token's type is ACCS"));
        }
        if claims.aud.as_deref() != Some(self.id_tag()) {
            return Err(ProtoError::WrongRecipient.into());
        }
        match claims.exp {
            Some(exp) if exp - claims.iat <= MAX_ACCESS_TTL => {}
            _ => {
                return Err(unauthorized(&format!(
                    "an access token needs an `exp` at most {MAX_ACCESS_TTL} s after its `iat`"
                )));
            }
        }
        let issuer = self.issuer(&claims.iss, Some(&claims.k)).await?;
        let key = issuer
            .key(&claims.k)
            .ok_or_else(|| unknown_key(&claims.iss))?;
        parsed.verify(key, now_secs())?;
        Ok(Some(claims.iss.clone()))
    }

    /// A short-lived access token for `audience`'s endpoints (§23.6).
    pub(crate) async fn access_token(&self, audience: &str) -> ApiResult<String> {
        let now = now_secs();
        let mut claims =
            action::ActionClaims::new(self.id_tag(), &self.action_key_id().await?, "ACCS", now);
        claims.aud = Some(audience.to_owned());
        claims.exp = Some(now + 300);
        Ok(action::sign(&self.keys().signing, &claims))
    }
}

pub(crate) fn unknown_key(iss: &str) -> ApiError {
    ApiError::new(
        401,
        "unknown_key",
        format!("the profile of {iss} lists no such key (or it expired)"),
    )
}

pub(crate) fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}
