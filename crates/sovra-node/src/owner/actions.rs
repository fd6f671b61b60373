//! The owner's side of the actions surface (PROTOCOL.md §23.10); the types are
//! `sovra_proto::action::owner`.
//!
//! * `POST /actions/follow`, `/actions/unfollow` `{id_tag}`
//! * `POST /actions/connect`, `/actions/deny`, `/actions/disconnect` `{id_tag}`;
//!   `POST /actions/approve` `{id_tag, whitelist?}`
//! * `POST /actions/post` `{text, files?, public?}`; `POST /actions/send` `{to, type, …}`
//! * `GET /actions/feed` (accepted), `GET /actions/sent` (issued) `?limit=`
//! * `GET /actions/followers`, `/actions/following`, `/actions/connections`
//! * `POST /actions/block`, `/actions/unblock` `{id_tag}`; `GET /actions/blocked`
//! * `PUT /files` (raw bytes, their `Content-Type`), `GET /files`, `GET /files/{id}`,
//!   `POST /files/fetch` `{id_tag, id}`

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use sovra_proto::action::owner::{
    Actions, Approve, Blocked, Denied, FetchFile, File, Files, Issued, Post, Relations, Send,
    Target, Unblocked,
};

use crate::actions::{files, issue};
use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use sovra_http::JsonBody;

#[utoipa::path(post, path = "/actions/follow", tag = "actions", request_body = Target, responses((status = 200, body = Issued), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn follow(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(t): JsonBody<Target>,
) -> ApiResult<Json<Issued>> {
    cloud.follow(&t.id_tag).await.map(Json)
}

#[utoipa::path(post, path = "/actions/unfollow", tag = "actions", request_body = Target, responses((status = 200, body = Issued), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn unfollow(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(t): JsonBody<Target>,
) -> ApiResult<Json<Issued>> {
    cloud.unfollow(&t.id_tag).await.map(Json)
}

#[utoipa::path(post, path = "/actions/connect", tag = "actions", request_body = Target, responses((status = 200, body = Issued), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn connect(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(t): JsonBody<Target>,
) -> ApiResult<Json<Issued>> {
    cloud.connect(&t.id_tag).await.map(Json)
}

#[utoipa::path(post, path = "/actions/approve", tag = "actions", request_body = Approve, responses((status = 200, body = Issued), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn approve(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(a): JsonBody<Approve>,
) -> ApiResult<Json<Issued>> {
    cloud.approve(&a.id_tag, a.whitelist).await.map(Json)
}

#[utoipa::path(post, path = "/actions/deny", tag = "actions", request_body = Target, responses((status = 200, body = Denied), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn deny(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(t): JsonBody<Target>,
) -> ApiResult<Json<Denied>> {
    cloud.deny(&t.id_tag).await?;
    Ok(Json(Denied { denied: true }))
}

#[utoipa::path(post, path = "/actions/block", tag = "actions", request_body = Target, responses((status = 200, body = Blocked), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn block(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(t): JsonBody<Target>,
) -> ApiResult<Json<Blocked>> {
    cloud.block(&t.id_tag).await?;
    Ok(Json(Blocked { blocked: true }))
}

#[utoipa::path(post, path = "/actions/unblock", tag = "actions", request_body = Target, responses((status = 200, body = Unblocked), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn unblock(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(t): JsonBody<Target>,
) -> ApiResult<Json<Unblocked>> {
    cloud.unblock(&t.id_tag).await?;
    Ok(Json(Unblocked { unblocked: true }))
}

#[utoipa::path(get, path = "/actions/blocked", tag = "actions", responses((status = 200, body = Relations), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn blocked(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Relations>> {
    cloud.blocked_view().await.map(Json)
}

#[utoipa::path(post, path = "/actions/disconnect", tag = "actions", request_body = Target, responses((status = 200, body = Issued), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn disconnect(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(t): JsonBody<Target>,
) -> ApiResult<Json<Issued>> {
    cloud.disconnect(&t.id_tag).await.map(Json)
}

#[utoipa::path(post, path = "/actions/post", tag = "actions", request_body = Post, responses((status = 200, body = Issued), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn post(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(p): JsonBody<Post>,
) -> ApiResult<Json<Issued>> {
    cloud.post(&p).await.map(Json)
}

#[utoipa::path(post, path = "/actions/send", tag = "actions", request_body = Send, responses((status = 200, body = Issued), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn send(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(s): JsonBody<Send>,
) -> ApiResult<Json<Issued>> {
    cloud.send_action(&s).await.map(Json)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// 1…500, default 50.
    #[serde(default)]
    limit: Option<i64>,
}

fn limit(q: Result<Query<Page>, axum::extract::rejection::QueryRejection>) -> ApiResult<i64> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let n = q.limit.unwrap_or(50);
    match (1..=500).contains(&n) {
        true => Ok(n),
        false => Err(ApiError::bad_request("limit must be 1 to 500")),
    }
}

async fn list(cloud: &Cloud, direction: &str, limit: i64) -> ApiResult<Json<Actions>> {
    let rows = cloud.store.action_list(direction, false, limit).await?;
    Ok(Json(Actions {
        actions: rows.into_iter().map(issue::view).collect(),
    }))
}

#[utoipa::path(get, path = "/actions/feed", tag = "actions", params(Page), responses((status = 200, body = Actions), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn feed(
    State(cloud): State<Arc<Cloud>>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Actions>> {
    list(&cloud, "in", limit(q)?).await
}

#[utoipa::path(get, path = "/actions/sent", tag = "actions", params(Page), responses((status = 200, body = Actions), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn sent(
    State(cloud): State<Arc<Cloud>>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Actions>> {
    list(&cloud, "out", limit(q)?).await
}

#[utoipa::path(get, path = "/actions/followers", tag = "actions", responses((status = 200, body = Relations), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn followers(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Relations>> {
    cloud.relations_view("follows", Some("in")).await.map(Json)
}

#[utoipa::path(get, path = "/actions/following", tag = "actions", responses((status = 200, body = Relations), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn following(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Relations>> {
    cloud.relations_view("follows", Some("out")).await.map(Json)
}

#[utoipa::path(get, path = "/actions/connections", tag = "actions", responses((status = 200, body = Relations), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn connections(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Relations>> {
    cloud.relations_view("connections", None).await.map(Json)
}

#[utoipa::path(put, path = "/files", tag = "actions", request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the bytes, with their Content-Type"), responses((status = 200, body = File), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn put_file(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<File>> {
    let ct = files::media_type(&headers)?;
    cloud.store_file(&ct, &body, None).await.map(Json)
}

#[utoipa::path(get, path = "/files", tag = "actions", params(Page), responses((status = 200, body = Files), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn list_files(
    State(cloud): State<Arc<Cloud>>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Files>> {
    let files: Vec<File> = cloud
        .store
        .files(limit(q)?)
        .await?
        .iter()
        .map(files::view)
        .collect();
    Ok(Json(Files { files }))
}

#[utoipa::path(get, path = "/files/{id}", tag = "actions", params(("id" = String, Path, description = "f1~…")), responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>, description = "the bytes (206 for a range)"), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn get_file(
    State(cloud): State<Arc<Cloud>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    sovra_proto::action::parse_file_id(&id)?;
    let file = cloud
        .store
        .file(&id)
        .await?
        .ok_or_else(|| files::unknown_file(&id))?;
    Ok(files::serve(file, &headers))
}

#[utoipa::path(post, path = "/files/fetch", tag = "actions", request_body = FetchFile, responses((status = 200, body = File), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn fetch_file(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(f): JsonBody<FetchFile>,
) -> ApiResult<Json<File>> {
    cloud.fetch_file(&f.id_tag, &f.id).await.map(Json)
}
