//! The owner API's types for moving, sealing and inheriting a cloud (§20–§22), and the agent
//! API's (§18.2): shared by the node, its clients and the CLI, like the rest of `owner`.

use serde::{Deserialize, Serialize};

use crate::inheritance::InheritancePolicy;
use crate::message::{Call, CallResult, Retention};
use crate::migration::MoveStatement;

/// Who may lift a seal, fixed when it is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Unseal {
    /// The owner, with the owner API.
    Owner,
    /// Nobody: the seal is final.
    Never,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MigrationStatus {
    /// `serving`, `moving` or `moved`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub statement: Option<MoveStatement>,
    /// The `seq` of the last move statement of this cloud (0: never moved).
    pub move_seq: u64,
    pub seals: Vec<SealInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SealInfo {
    /// The swarm, or `*` for the whole cloud.
    pub swarm: String,
    pub unseal: Unseal,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    #[serde(default)]
    pub freeze: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SealRequest {
    #[serde(default)]
    pub swarm: Option<String>,
    pub unseal: Unseal,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UnsealRequest {
    #[serde(default)]
    pub swarm: Option<String>,
}

/// What `POST /api/owner/migration/announce` takes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AnnounceRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub statement: MoveStatement,
    /// The cloud's base URL at the node it left (the archive's `exported_from`), told too.
    #[serde(default)]
    pub old_endpoint: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnnounceResponse {
    pub seq: u64,
    /// Peers told at once; the rest are told by the sweep as they come online.
    pub peers_told: usize,
    pub peers_waiting: usize,
    pub old_node_told: bool,
    pub registry_updated: bool,
}

/// `GET /api/owner/heirs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeirsStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub policy: Option<InheritancePolicy>,
    /// The owner's last activity and when the switch fires without more (RFC 3339).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::as_rfc3339_opt"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub active_at: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::as_rfc3339_opt"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub fires_at: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::as_rfc3339_opt"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub fired_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutHeirs {
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub policy: InheritancePolicy,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Inherited {
    pub inherited: Vec<InheritedRow>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InheritedRow {
    pub cloud: String,
    pub handle: Option<String>,
    pub grant: String,
    #[serde(with = "crate::time::as_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub received_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentSendRequest {
    /// The peer's handle or key, as on the whitelist.
    pub peer: String,
    pub text: String,
    #[serde(default)]
    pub calls: Vec<Call>,
    #[serde(default)]
    pub retention: Option<Retention>,
    /// The peer's swarm to address (needs its grant on the peer's side).
    #[serde(default)]
    pub swarm: Option<String>,
    /// `ask` only: how long to wait for the reply (1..=25000 ms).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentSent {
    pub conversation_id: String,
    pub seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentReply {
    pub seq: u64,
    pub text: String,
    #[serde(default)]
    pub results: Vec<CallResult>,
    #[serde(default)]
    pub refusal: Option<String>,
    #[serde(default)]
    pub automatic: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentAsked {
    pub conversation_id: String,
    pub seq: u64,
    pub reply: AgentReply,
}

impl std::str::FromStr for Unseal {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "owner" => Ok(Unseal::Owner),
            "never" => Ok(Unseal::Never),
            _ => Err(()),
        }
    }
}

impl Unseal {
    pub fn as_str(self) -> &'static str {
        match self {
            Unseal::Owner => "owner",
            Unseal::Never => "never",
        }
    }
}
