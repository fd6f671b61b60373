//! Swarms and their agents' tokens.
//!
//! * `GET /swarms` — every swarm with its settings, today's budget use and what belongs to it
//! * `POST /swarms` `{name, …settings}` — create (409 `swarm_exists`, 409 `too_many_swarms`)
//! * `GET /swarms/{name}` — one swarm
//! * `PATCH /swarms/{name}` `{mode?, brain?, api_key?, budget_per_day?, max_auto_turns?,
//!   memory_messages?, memory_chars?}` — change settings
//! * `DELETE /swarms/{name}` — remove (400 for `main`, 409 `swarm_in_use`)
//! * `GET|PUT /swarms/{name}/soul` `{text}` — the system prompt
//! * `GET|PUT /swarms/{name}/memory` `{text}` — the long-term notes
//! * `POST /swarms/{name}/tokens` → `{token}` (shown once); `DELETE /swarms/{name}/tokens`
//!   → `{revoked}`

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use sovra_proto::message::validate_swarm_name;
use sovra_proto::owner::{
    AgentToken, CreateSwarm, NewText, Swarm, SwarmRemoved, SwarmSettings, SwarmText, Swarms,
    TextSaved, TokensRevoked,
};

use crate::agents::api::new_token;
use crate::agents::brain::{ApiKeySource, BrainConfig};
use crate::agents::swarm::{MAIN, MAX_TEXT_FILE, Mode, SwarmFile};
use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::{SwarmInUse, SwarmRow};
use sovra_http::JsonBody;

/// Most swarms one cloud holds.
pub const MAX_SWARMS: usize = 64;
/// Most live agent tokens per swarm.
pub const MAX_TOKENS: i64 = 16;

fn range(field: &str, v: Option<i64>, lo: i64, hi: i64) -> ApiResult<Option<i64>> {
    match v {
        Some(n) if !(lo..=hi).contains(&n) => Err(ApiError::bad_request(format!(
            "{field} must be {lo}..={hi}"
        ))),
        other => Ok(other),
    }
}

/// Applies `settings` to `row`, checking each; writes an API key file when one is given.
async fn apply(cloud: &Cloud, row: &mut SwarmRow, settings: SwarmSettings) -> ApiResult<()> {
    if let Some(mode) = settings.mode {
        let mode = Mode::parse(&mode)
            .ok_or_else(|| ApiError::bad_request("mode must be auto, review or off"))?;
        row.mode = mode.as_str().to_owned();
    }
    let mut brain: Option<BrainConfig> = settings
        .brain
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("brain: {e}")))?;
    if let Some(key) = settings.api_key {
        if key.is_empty() || key.len() > 4096 || key.contains(['\n', '\r']) {
            return Err(ApiError::bad_request(
                "api_key must be one line of 1-4096 bytes",
            ));
        }
        let current: BrainConfig = match &brain {
            Some(b) => b.clone(),
            None => serde_json::from_value(row.brain.clone()).unwrap_or(BrainConfig::None),
        };
        let BrainConfig::Openai { .. } = current else {
            return Err(ApiError::bad_request("api_key is for an openai brain"));
        };
        let mut with_file = current;
        if let BrainConfig::Openai { api_key, .. } = &mut with_file {
            *api_key = Some(ApiKeySource::File);
        }
        with_file.validate().map_err(ApiError::bad_request)?;
        cloud
            .write_swarm_file(&row.name, SwarmFile::ApiKey, &key)
            .await?;
        brain = Some(with_file);
    }
    if let Some(brain) = brain {
        brain.validate().map_err(ApiError::bad_request)?;
        row.brain = serde_json::to_value(&brain).expect("json");
    }
    if let Some(n) = range("budget_per_day", settings.budget_per_day, 0, 1_000_000)? {
        row.budget_per_day = n;
    }
    if let Some(n) = range("max_auto_turns", settings.max_auto_turns, 0, 100)? {
        row.max_auto_turns = n;
    }
    if let Some(n) = range("memory_messages", settings.memory_messages, 1, 500)? {
        row.memory_messages = n;
    }
    if let Some(n) = range("memory_chars", settings.memory_chars, 0, 1_000_000)? {
        row.memory_chars = n;
    }
    Ok(())
}

async fn view(cloud: &Cloud, row: &SwarmRow) -> ApiResult<Swarm> {
    let capabilities: Vec<String> = cloud
        .store
        .capabilities()
        .await?
        .into_iter()
        .filter(|c| c.swarm == row.name)
        .map(|c| c.name)
        .collect();
    let peers: Vec<String> = cloud
        .store
        .peers()
        .await?
        .into_iter()
        .filter(|p| p.swarm == row.name)
        .map(|p| p.grant.peer_handle)
        .collect();
    let soul = cloud.read_swarm_file(&row.name, SwarmFile::Soul).await;
    let notes = cloud.read_swarm_file(&row.name, SwarmFile::Notes).await;
    Ok(Swarm {
        name: row.name.clone(),
        mode: row.mode.clone(),
        brain: row.brain.clone(),
        budget_per_day: row.budget_per_day,
        used_today: cloud.store.budget_used(&row.name).await?,
        max_auto_turns: row.max_auto_turns,
        memory_messages: row.memory_messages,
        memory_chars: row.memory_chars,
        soul_bytes: soul.len(),
        notes_bytes: notes.len(),
        tokens: cloud.store.agent_token_count(&row.name).await?,
        capabilities,
        peers,
        created_at: row.created_at,
    })
}

async fn existing(cloud: &Cloud, name: &str) -> ApiResult<SwarmRow> {
    cloud.require_swarm(name).await?;
    cloud
        .store
        .swarm(name)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_swarm", format!("no swarm {name:?}")))
}

#[utoipa::path(get, path = "/swarms", tag = "swarms", responses((status = 200, body = Swarms), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn list_swarms(State(cloud): State<Arc<Cloud>>) -> ApiResult<Json<Swarms>> {
    let mut out = Vec::new();
    for row in cloud.store.swarms().await? {
        out.push(view(&cloud, &row).await?);
    }
    Ok(Json(Swarms { swarms: out }))
}

#[utoipa::path(post, path = "/swarms", tag = "swarms", request_body = CreateSwarm, responses((status = 201, body = Swarm), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn create_swarm(
    State(cloud): State<Arc<Cloud>>,
    JsonBody(body): JsonBody<CreateSwarm>,
) -> ApiResult<(axum::http::StatusCode, Json<Swarm>)> {
    validate_swarm_name(&body.name)?;
    if cloud.store.swarms().await?.len() >= MAX_SWARMS {
        return Err(ApiError::new(
            409,
            "too_many_swarms",
            format!("a cloud holds at most {MAX_SWARMS} swarms"),
        ));
    }
    if cloud.store.swarm(&body.name).await?.is_some() {
        return Err(ApiError::new(
            409,
            "swarm_exists",
            format!("swarm {:?} exists; change it with PATCH", body.name),
        ));
    }
    let mut row = SwarmRow {
        name: body.name.clone(),
        mode: "auto".into(),
        brain: serde_json::to_value(BrainConfig::None).expect("json"),
        budget_per_day: 200,
        max_auto_turns: 4,
        memory_messages: 20,
        memory_chars: 8000,
        created_at: 0,
    };
    let with_key = body.settings.api_key.is_some();
    apply(&cloud, &mut row, body.settings).await?;
    if !cloud.store.create_swarm(&row).await? {
        return Err(ApiError::new(
            409,
            "swarm_exists",
            format!("swarm {:?} exists", body.name),
        ));
    }
    if !with_key {
        // A fresh swarm starts with an empty soul the owner can fill in.
        cloud
            .write_swarm_file(&row.name, SwarmFile::Soul, "")
            .await?;
    }
    let row = existing(&cloud, &row.name).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(view(&cloud, &row).await?),
    ))
}

#[utoipa::path(get, path = "/swarms/{name}", tag = "swarms", params(("name" = String, Path)), responses((status = 200, body = Swarm), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn get_swarm(
    State(cloud): State<Arc<Cloud>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Swarm>> {
    let row = existing(&cloud, &name).await?;
    Ok(Json(view(&cloud, &row).await?))
}

#[utoipa::path(patch, path = "/swarms/{name}", tag = "swarms", request_body = SwarmSettings, params(("name" = String, Path)), responses((status = 200, body = Swarm), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn update_swarm(
    State(cloud): State<Arc<Cloud>>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<SwarmSettings>,
) -> ApiResult<Json<Swarm>> {
    let mut row = existing(&cloud, &name).await?;
    apply(&cloud, &mut row, body).await?;
    if !cloud.store.update_swarm(&row).await? {
        return Err(ApiError::not_found(
            "unknown_swarm",
            format!("no swarm {name:?}"),
        ));
    }
    let row = existing(&cloud, &name).await?;
    Ok(Json(view(&cloud, &row).await?))
}

#[utoipa::path(delete, path = "/swarms/{name}", tag = "swarms", params(("name" = String, Path)), responses((status = 200, body = SwarmRemoved), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn remove_swarm(
    State(cloud): State<Arc<Cloud>>,
    Path(name): Path<String>,
) -> ApiResult<Json<SwarmRemoved>> {
    existing(&cloud, &name).await?;
    if name == MAIN {
        return Err(ApiError::new(
            409,
            "swarm_in_use",
            "main is every peer's default swarm and cannot be removed",
        ));
    }
    match cloud.store.remove_swarm(&name).await? {
        Ok(true) => {}
        Ok(false) => {
            return Err(ApiError::not_found(
                "unknown_swarm",
                format!("no swarm {name:?}"),
            ));
        }
        Err(SwarmInUse::Peers(n)) => {
            return Err(ApiError::new(
                409,
                "swarm_in_use",
                format!("{n} peer(s) are answered by {name}; route them elsewhere first"),
            ));
        }
        Err(SwarmInUse::Capabilities(n)) => {
            return Err(ApiError::new(
                409,
                "swarm_in_use",
                format!("{n} capabilit(ies) belong to {name}; withdraw them first"),
            ));
        }
    }
    cloud.remove_swarm_files(&name).await;
    Ok(Json(SwarmRemoved { removed: name }))
}

async fn get_file(cloud: &Cloud, name: &str, file: SwarmFile) -> ApiResult<Json<SwarmText>> {
    existing(cloud, name).await?;
    Ok(Json(SwarmText {
        swarm: name.to_owned(),
        text: cloud.read_swarm_file(name, file).await,
    }))
}

async fn put_file(
    cloud: &Cloud,
    name: &str,
    file: SwarmFile,
    text: &str,
) -> ApiResult<Json<TextSaved>> {
    existing(cloud, name).await?;
    if text.len() > MAX_TEXT_FILE {
        return Err(ApiError::new(
            413,
            "wrong_size",
            format!("at most {MAX_TEXT_FILE} bytes"),
        ));
    }
    cloud.write_swarm_file(name, file, text).await?;
    Ok(Json(TextSaved {
        swarm: name.to_owned(),
        bytes: text.len(),
    }))
}

#[utoipa::path(get, path = "/swarms/{name}/soul", tag = "swarms", params(("name" = String, Path)), responses((status = 200, body = SwarmText), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn get_soul(
    State(cloud): State<Arc<Cloud>>,
    Path(name): Path<String>,
) -> ApiResult<Json<SwarmText>> {
    get_file(&cloud, &name, SwarmFile::Soul).await
}

#[utoipa::path(put, path = "/swarms/{name}/soul", tag = "swarms", request_body = NewText, params(("name" = String, Path)), responses((status = 200, body = TextSaved), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn put_soul(
    State(cloud): State<Arc<Cloud>>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<NewText>,
) -> ApiResult<Json<TextSaved>> {
    put_file(&cloud, &name, SwarmFile::Soul, &body.text).await
}

#[utoipa::path(get, path = "/swarms/{name}/memory", tag = "swarms", params(("name" = String, Path)), responses((status = 200, body = SwarmText), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn get_memory(
    State(cloud): State<Arc<Cloud>>,
    Path(name): Path<String>,
) -> ApiResult<Json<SwarmText>> {
    get_file(&cloud, &name, SwarmFile::Notes).await
}

#[utoipa::path(put, path = "/swarms/{name}/memory", tag = "swarms", request_body = NewText, params(("name" = String, Path)), responses((status = 200, body = TextSaved), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn put_memory(
    State(cloud): State<Arc<Cloud>>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<NewText>,
) -> ApiResult<Json<TextSaved>> {
    put_file(&cloud, &name, SwarmFile::Notes, &body.text).await
}

#[utoipa::path(post, path = "/swarms/{name}/tokens", tag = "swarms", params(("name" = String, Path)), responses((status = 200, body = AgentToken), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn create_token(
    State(cloud): State<Arc<Cloud>>,
    Path(name): Path<String>,
) -> ApiResult<Json<AgentToken>> {
    existing(&cloud, &name).await?;
    if cloud.store.agent_token_count(&name).await? >= MAX_TOKENS {
        return Err(ApiError::new(
            409,
            "too_many_tokens",
            format!("a swarm has at most {MAX_TOKENS} live tokens; revoke them first"),
        ));
    }
    let token = new_token();
    cloud
        .store
        .add_agent_token(&crate::bearer::digest(&token), &name)
        .await?;
    Ok(Json(AgentToken { swarm: name, token }))
}

#[utoipa::path(delete, path = "/swarms/{name}/tokens", tag = "swarms", params(("name" = String, Path)), responses((status = 200, body = TokensRevoked), (status = "4XX", description = "a refusal", body = crate::owner::openapi::ErrorBody)))]
pub async fn revoke_tokens(
    State(cloud): State<Arc<Cloud>>,
    Path(name): Path<String>,
) -> ApiResult<Json<TokensRevoked>> {
    existing(&cloud, &name).await?;
    let n = cloud.store.revoke_agent_tokens(&name).await?;
    Ok(Json(TokensRevoked {
        swarm: name,
        revoked: n,
    }))
}
