//! The cloud itself: identity, capabilities, relays, devices, nyms, the second factor, its
//! host certificate, the web page's pairing and the small answers of moving and heirs.

use serde::{Deserialize, Serialize};

/// `GET /whoami`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Whoami {
    pub handle: String,
    /// `ed25519:<base64>`.
    pub pubkey: String,
    pub daemon_id: String,
    pub fingerprint: String,
    /// The cloud's base URL on its node.
    pub url: String,
    /// For a hosted cloud: the node-id its host key is certified for (§19.2).
    pub hosted_by: Option<String>,
    pub host_certificate_expires_at: Option<String>,
}

/// An exposed capability (`GET /capabilities`, `PUT /capabilities/{name}`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Capability {
    pub name: String,
    pub description: String,
    /// `{"kind": "exec"|"http"|"chat", …}` as §15.2 lists.
    pub adapter: serde_json::Value,
    /// The swarm it belongs to (its `chat` adapter speaks with that swarm's soul).
    pub swarm: String,
}

/// `GET /capabilities`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Capabilities {
    pub capabilities: Vec<Capability>,
}

/// `DELETE /capabilities/{name}`: the name withdrawn.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Withdrawn {
    pub withdrawn: String,
}

/// `GET /relays`: `ws://` or `wss://` URLs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Relays {
    pub relays: Vec<String>,
}

/// `PUT /relays`: the relay as stored, whether it is new, and whether the registry record now
/// lists it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RelayAdded {
    pub relay: String,
    pub added: bool,
    pub published: bool,
}

/// `DELETE /relays`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RelayRemoved {
    pub removed: String,
}

/// `POST /web/pairings`: a one-time code that makes a browser a session of `device`, an
/// attached device the cloud key certified for the owner API (§24.1).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewWebPairing {
    /// The device's key (standard base64, as `GET /devices` lists it).
    pub device: String,
}

/// The pairing code, shown once; `path` (below the cloud's base URL) is the page that spends
/// it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebPairing {
    pub code: String,
    pub path: String,
    #[serde(with = "crate::time::as_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: i64,
}

/// One device of the cloud (`GET /devices`), with the artifacts that attached, detached or
/// recovered it, oldest first, as signed.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Device {
    /// The device's key, standard base64.
    pub device: String,
    pub client_instance_id: String,
    pub label: String,
    /// `attached` or `detached`.
    pub state: String,
    pub artifacts: Vec<serde_json::Value>,
}

/// `GET /devices`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Devices {
    pub devices: Vec<Device>,
}

/// The answers of `POST /devices/attach`, `/detach` and `/recover`: the client instance each
/// changed (exactly one field is present).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceChanged {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detached: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<String>,
}

/// `POST /devices/attach`. The artifact travels as JSON: the node checks it against its JSON
/// Schema before reading it (§19.4).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachDevice {
    pub attachment: serde_json::Value,
    pub device_certificate: crate::device::KeyCertificate,
}

/// `POST /devices/detach`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetachDevice {
    pub detachment: serde_json::Value,
}

/// `POST /devices/recover`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverDevice {
    pub recovery: serde_json::Value,
}

/// One of the cloud's nyms (`GET /nyms`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Nym {
    pub nym: String,
    #[serde(with = "crate::time::as_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: i64,
    /// Null while active.
    #[serde(with = "crate::time::as_rfc3339_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub retired_at: Option<i64>,
}

/// `GET /nyms`: oldest first.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Nyms {
    pub nyms: Vec<Nym>,
}

/// `POST /nyms`: a nym certificate the cloud key signed (§19.7).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddNym {
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub certificate: crate::nym::NymCertificate,
}

/// `POST /nyms`: the nym now this cloud's.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NymAdded {
    pub nym: String,
}

/// `POST /nyms/{nym}/retire`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NymRetired {
    pub retired: String,
}

/// `GET /elevation`: whether high-trust operations need a second factor here (§15.6), which
/// the cloud has, and until when the asking device is elevated.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ElevationStatus {
    pub two_factor: bool,
    /// `phone` (the cloud has a registration), `second_device` (another device is attached).
    pub factors: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::as_rfc3339_opt"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub elevated_until: Option<i64>,
}

/// `POST /elevation/approve`: another attached device to elevate (not the asking one).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApproveDevice {
    /// The device's key, standard base64.
    pub device: String,
}

/// The answer of `POST /elevation` (`device` absent) and `POST /elevation/approve`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Elevated {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(with = "crate::time::as_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub elevated_until: i64,
}

/// `DELETE /elevation`: the asking device's window is closed.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ElevationDropped {
    pub elevated: bool,
}

/// `PUT /host/certificate`: a renewed host certificate the cloud key signed (§19.2).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewCertificate {
    pub host_certificate: crate::host::HostCertificate,
}

/// `PUT /host/certificate`: until when the node may now speak for the cloud.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Renewed {
    pub expires_at: String,
}

/// `POST /host/revoke`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostRevoked {
    pub revoked: bool,
}

/// `POST /migration/import`: how many rows the archive brought.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Imported {
    pub rows: u64,
}

/// `DELETE /heirs`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeirsRemoved {
    pub removed: bool,
}

/// `PUT /capabilities/{name}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CapabilityBody {
    pub description: String,
    /// `{"kind": "exec", "command": [argv…], "timeout_ms"?, "max_output_bytes"?}`,
    /// `{"kind": "http", "url", "timeout_ms"?}` or `{"kind": "chat", "url", "model", "timeout_ms"?}`.
    pub adapter: serde_json::Value,
    /// The swarm it belongs to (default `main`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swarm: Option<String>,
}

/// `DELETE /relays`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RelayBody {
    pub url: String,
}

/// `PUT /relays`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddRelayBody {
    pub url: String,
    /// PEM certificates of a private CA to trust for this `wss://` relay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}
