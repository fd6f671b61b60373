//! Swarms, their souls and notes, and their agent tokens (§18).

use serde::{Deserialize, Serialize};

/// A swarm with its settings, today's budget use and what belongs to it (`GET /swarms`,
/// `GET|PATCH /swarms/{name}`, `POST /swarms`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Swarm {
    pub name: String,
    /// `auto`, `review` or `off`.
    pub mode: String,
    /// `{"kind": "none"|"openai"|"brainstem"|"exec"|"http", …}` as §18.1 lists; never a key.
    pub brain: serde_json::Value,
    pub budget_per_day: i64,
    pub used_today: i64,
    pub max_auto_turns: i64,
    pub memory_messages: i64,
    pub memory_chars: i64,
    pub soul_bytes: usize,
    pub notes_bytes: usize,
    /// Live agent tokens.
    pub tokens: i64,
    pub capabilities: Vec<String>,
    /// Handles of the peers this swarm answers.
    pub peers: Vec<String>,
    #[serde(with = "crate::time::as_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: i64,
}

/// `GET /swarms`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Swarms {
    pub swarms: Vec<Swarm>,
}

/// `PATCH /swarms/{name}` (and the settings of `POST /swarms`): absent fields keep their value
/// (or the default).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SwarmSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brain: Option<serde_json::Value>,
    /// An `openai` brain's API key, kept in the swarm's 0600 `api-key` file (never in the
    /// database); the brain then reads it from there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_per_day: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_auto_turns: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_messages: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_chars: Option<i64>,
}

/// `POST /swarms`: a name and its first settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateSwarm {
    pub name: String,
    #[serde(flatten)]
    pub settings: SwarmSettings,
}

/// `GET /swarms/{name}/soul|memory`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SwarmText {
    pub swarm: String,
    pub text: String,
}

/// `PUT /swarms/{name}/soul|memory`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewText {
    pub text: String,
}

/// The answer of `PUT /swarms/{name}/soul|memory`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TextSaved {
    pub swarm: String,
    pub bytes: usize,
}

/// `DELETE /swarms/{name}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SwarmRemoved {
    pub removed: String,
}

/// `POST /swarms/{name}/tokens`: the agent token, shown this once.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentToken {
    pub swarm: String,
    pub token: String,
}

/// `DELETE /swarms/{name}/tokens`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokensRevoked {
    pub swarm: String,
    pub revoked: u64,
}
