//! The whitelist, the requests waiting for the owner and registry checks of peers (§15.2, §15.4).

use serde::{Deserialize, Serialize};

use super::HandleStatus;
use crate::whitelist::WhitelistEntry;

/// A whitelist entry with what the node learned about the peer (`GET /peers`, and the answer
/// of every write of an entry).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Peer {
    pub entry: WhitelistEntry,
    pub url: Option<String>,
    pub fingerprint: String,
    pub handle_status: HandleStatus,
    /// The registry the entry was resolved through and follows.
    pub registry: Option<String>,
    /// When that registry last confirmed the key, RFC 3339.
    #[serde(with = "crate::time::as_rfc3339_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub checked_at: Option<i64>,
    pub relays: Vec<String>,
    /// The swarm that answers this peer.
    pub swarm: String,
    /// The nym presented to this peer instead of the handle (§19.7).
    pub present_as: Option<String>,
}

/// `GET /peers`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Peers {
    pub peers: Vec<Peer>,
}

/// A registry's verified answer for a handle, as the owner sees it (§15.2).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lookup {
    pub handle: String,
    pub pubkey: String,
    pub fingerprint: String,
    pub safety_code: String,
    pub endpoint: Option<String>,
    pub relays: Vec<String>,
    pub key_changes: usize,
    pub was_reset: bool,
}

/// `POST /peers/by-handle`: the stored peer and the lookup it came from.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerByHandle {
    #[serde(flatten)]
    pub peer: Peer,
    pub lookup: Lookup,
}

/// `DELETE /peers/{who}`: the handle of the entry removed.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerRemoved {
    pub removed: String,
}

/// One request waiting for the owner (`GET /pending`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingRequest {
    pub id: String,
    pub peer_pubkey: String,
    pub peer_handle: Option<String>,
    pub topic: String,
    /// RFC 3339 (§15).
    #[serde(with = "crate::time::as_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub received_at: i64,
    pub state: String,
    /// `handshake` (a stranger knocked) or `key_reset` (§15.4).
    pub reason: String,
    pub handle_status: HandleStatus,
    /// The safety code of this cloud's key and the requester's (§3.4), for the owner to compare
    /// with the requester's human before approving.
    #[serde(default)]
    pub safety_code: String,
}

/// `GET /pending[?limit=N&after=ID]`: oldest first; `next` is the following page's `after`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingPage {
    pub pending: Vec<PendingRequest>,
    pub total: i64,
    pub next: Option<String>,
}

/// `POST /pending/{id}/deny`: the key refused from now on.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingDenied {
    pub denied: String,
}

/// `GET /registry/lookup/{handle}`: the verified lookup and the registry that answered.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LookupAt {
    #[serde(flatten)]
    pub lookup: Lookup,
    pub registry: String,
}

/// What checking one registry-resolved peer found (`POST /peers/check`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PeerCheck {
    Unchanged {
        handle: String,
    },
    /// The peer rotated; the entry now holds `to`, grants kept.
    Rotated {
        handle: String,
        to: String,
    },
    /// The handle was reset to `to`; the pending request `request` waits for the owner.
    Reset {
        handle: String,
        to: String,
        request: String,
    },
    Failed {
        handle: String,
        error: String,
    },
}

/// `POST /peers/check`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerChecks {
    pub checks: Vec<PeerCheck>,
}

/// `PUT /peers`: a whitelist entry and what the node needs to reach the peer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerBody {
    #[serde(flatten)]
    pub entry: WhitelistEntry,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Relays the peer can be reached through (`ws://…`), for a peer without a reachable URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relays: Option<Vec<String>>,
    /// The peer's X25519 key (base64): needed to open a conversation through relays alone,
    /// where no identity document can be fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<String>,
    /// The swarm that answers this peer (default `main`; kept as it was on update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swarm: Option<String>,
    /// A nym of this cloud to present to the peer instead of the handle; `""` clears it; absent
    /// keeps it as it was (§19.7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present_as: Option<String>,
}

/// `POST /peers/by-handle`: resolve a handle at a registry and whitelist what it vouches for.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ByHandleBody {
    pub handle: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_day: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swarm: Option<String>,
}

/// `POST /pending/{id}/approve`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApproveBody {
    /// Absent: none for a stranger; for a key reset, the grants the old key had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_capabilities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_day: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    /// Approve even though a registry says the handle belongs to another key.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}
