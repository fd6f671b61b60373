//! This cloud's handle at its registry (§16): registering, rotating, heartbeats.

use serde::{Deserialize, Serialize};

/// A registry whose key this cloud pinned (on first use, or from `registry_key`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PinnedRegistry {
    pub url: String,
    pub registry_key: String,
    pub domain: String,
    #[serde(with = "crate::time::as_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub pinned_at: i64,
}

/// This cloud's own registration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Registration {
    pub registry_url: String,
    pub handle: String,
    #[serde(with = "crate::time::as_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub registered_at: i64,
    /// The `issued_at` of the record the registry holds (as it signed it).
    pub record_issued_at: String,
    #[serde(with = "crate::time::as_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub last_heartbeat: i64,
}

/// `GET /registry`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegistryStatus {
    pub registration: Option<Registration>,
    pub pinned: Vec<PinnedRegistry>,
}

/// `POST /registry/verifications`: have `registry` text a code to `phone`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendCode {
    pub registry: String,
    pub phone: String,
    /// The registry's key from a trusted source (`ed25519:…` or base64): pinned instead of
    /// trusting first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_key: Option<String>,
}

/// `POST /registry/register`: claim this cloud's handle at `registry` with a phone code.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Register {
    pub registry: String,
    #[serde(flatten)]
    pub proof: crate::registry::PhoneProof,
}

/// `POST /registry/register`: the record the registry now holds, and the key pinned for it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Registered {
    pub handle: String,
    pub pubkey: String,
    pub fingerprint: String,
    pub endpoint: Option<String>,
    pub registry: String,
    pub registry_key: String,
    /// The phone's previous key was replaced: peers are asked to re-approve.
    pub was_reset: bool,
}

/// `POST /registry/rotate`: the cloud's new key.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rotated {
    pub handle: String,
    pub pubkey: String,
    pub fingerprint: String,
    pub key_changes: usize,
}

/// `POST /registry/heartbeat`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Published {
    pub published: bool,
}
