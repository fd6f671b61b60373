//! The owner API's view of the actions surface (PROTOCOL.md §23.10): one type per request and answer,
//! shared by the node, `sovra-client` and the CLI. Times are RFC 3339.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /actions/follow|unfollow|connect|deny|disconnect`: the other cloud.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub id_tag: String,
}

/// `POST /actions/approve`: answers a connection request; with `whitelist`, the other
/// cloud (a Sovra handle) is also resolved at its registry and put on the D2D whitelist
/// with no capabilities.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Approve {
    pub id_tag: String,
    #[serde(default)]
    pub whitelist: bool,
}

/// `POST /actions/post`: a post to followers and connections (`public`: visible to
/// anyone at `GET /api/action/{id}`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Post {
    pub text: String,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default = "yes")]
    pub public: bool,
}

fn yes() -> bool {
    true
}

/// `POST /actions/send`: one action of `type` (`MSG`, `CMNT`, `REACT:LIKE`, `FSHR`…) to
/// one connected cloud.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Send {
    pub to: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub content: Option<Value>,
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default)]
    pub files: Vec<String>,
}

/// One stored action.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Action {
    pub id: String,
    /// `in` (accepted) or `out` (issued here).
    pub direction: String,
    pub issuer: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub audience: Option<String>,
    pub parent: Option<String>,
    pub subject: Option<String>,
    pub content: Option<Value>,
    pub attachments: Vec<String>,
    pub public: bool,
    pub issued_at: String,
    pub received_at: String,
    /// `queued` (accepted, effects not applied yet) or `done`.
    pub state: String,
    /// The compact JWS, as signed.
    pub token: String,
}

/// `POST /actions/*`: the action issued and how many inboxes it is queued for.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Issued {
    pub action: Action,
    pub deliveries: usize,
}

/// `GET /actions/feed`, `GET /actions/sent`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Actions {
    pub actions: Vec<Action>,
}

/// A follower, a followed cloud or a connection.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Relation {
    pub id_tag: String,
    /// Follows: `in` (follows us) or `out` (we follow). Connections: `requested` (we
    /// asked), `asked` (they asked, waiting for the owner) or `connected`.
    pub state: String,
    pub action_id: String,
    pub since: String,
}

/// `GET /actions/followers|following|connections`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Relations {
    pub relations: Vec<Relation>,
}

/// A stored file (`PUT /files`, `POST /files/fetch`, `GET /files`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct File {
    pub id: String,
    pub content_type: String,
    pub size: u64,
    /// The id tag it was fetched from; absent for a file uploaded here.
    pub origin: Option<String>,
}

/// `POST /actions/deny`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Denied {
    pub denied: bool,
}

/// `POST /actions/block`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Blocked {
    pub blocked: bool,
}

/// `POST /actions/unblock`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Unblocked {
    pub unblocked: bool,
}

/// `GET /files`: newest first, without their bytes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Files {
    pub files: Vec<File>,
}

/// `POST /files/fetch`: fetch `id` from `id_tag`'s `/api/file/{id}` and keep it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FetchFile {
    pub id_tag: String,
    pub id: String,
}
