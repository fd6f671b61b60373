//! The owner's side of the actions surface (PROTOCOL.md §15.12, §23); the types are
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
use serde_json::{Value, json};
use sovra_proto::action::owner::{
    Actions, Approve, FetchFile, File, Files, Issued, Post, Relations, Send, Target,
};

use crate::actions::{files, issue};
use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use sovra_http::JsonBody;

pub async fn follow(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(t): JsonBody<Target>,
) -> ApiResult<Json<Issued>> {
    cloud.follow(&t.id_tag).await.map(Json)
}

pub async fn unfollow(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(t): JsonBody<Target>,
) -> ApiResult<Json<Issued>> {
    cloud.unfollow(&t.id_tag).await.map(Json)
}

pub async fn connect(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(t): JsonBody<Target>,
) -> ApiResult<Json<Issued>> {
    cloud.connect(&t.id_tag).await.map(Json)
}

pub async fn approve(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(a): JsonBody<Approve>,
) -> ApiResult<Json<Issued>> {
    cloud.approve(&a.id_tag, a.whitelist).await.map(Json)
}

pub async fn deny(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(t): JsonBody<Target>,
) -> ApiResult<Json<Value>> {
    cloud.deny(&t.id_tag).await?;
    Ok(Json(json!({ "denied": true })))
}

pub async fn block(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(t): JsonBody<Target>,
) -> ApiResult<Json<Value>> {
    cloud.block(&t.id_tag).await?;
    Ok(Json(json!({ "blocked": true })))
}

pub async fn unblock(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(t): JsonBody<Target>,
) -> ApiResult<Json<Value>> {
    cloud.unblock(&t.id_tag).await?;
    Ok(Json(json!({ "unblocked": true })))
}

pub async fn blocked(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Relations>> {
    cloud.blocked_view().await.map(Json)
}

pub async fn disconnect(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(t): JsonBody<Target>,
) -> ApiResult<Json<Issued>> {
    cloud.disconnect(&t.id_tag).await.map(Json)
}

pub async fn post(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(p): JsonBody<Post>,
) -> ApiResult<Json<Issued>> {
    cloud.post(&p).await.map(Json)
}

pub async fn send(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(s): JsonBody<Send>,
) -> ApiResult<Json<Issued>> {
    cloud.send_action(&s).await.map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
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

pub async fn feed(
    State(cloud): State<Arc<Cloud>>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Actions>> {
    list(&cloud, "in", limit(q)?).await
}

pub async fn sent(
    State(cloud): State<Arc<Cloud>>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Actions>> {
    list(&cloud, "out", limit(q)?).await
}

pub async fn followers(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Relations>> {
    cloud.relations_view("follows", Some("in")).await.map(Json)
}

pub async fn following(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Relations>> {
    cloud.relations_view("follows", Some("out")).await.map(Json)
}

pub async fn connections(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Relations>> {
    cloud.relations_view("connections", None).await.map(Json)
}

pub async fn put_file(
    State(cloud): State<Arc<Cloud>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<File>> {
    let ct = files::upload_type(&headers)?;
    cloud.store_file(&ct, &body, None).await.map(Json)
}

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

pub async fn fetch_file(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(f): JsonBody<FetchFile>,
) -> ApiResult<Json<File>> {
    cloud.fetch_file(&f.id_tag, &f.id).await.map(Json)
}
