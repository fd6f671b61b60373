//! The owner API's request and answer types (docs/PROTOCOL.md §15.2), one per endpoint, shared
//! by the node, `sovra-client` and the CLI, and the source of the node's OpenAPI document.
//! Families move here from untyped JSON one at a time; the actions surface's are in
//! `action::owner`.

pub mod lifecycle;

use serde::{Deserialize, Serialize};

use crate::message::{Call, Payload, Retention};
use crate::whitelist::WhitelistEntry;

/// Whether a handle shown to the owner belongs to the key beside it (§15.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HandleStatus {
    /// A registry's signed record for the handle has this key.
    Verified,
    /// Not checked, or no registry vouches either way.
    Unverified,
    /// A registry's signed record for the handle has another key.
    Impostor,
}

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

/// A conversation as the owner sees it (`GET /conversations`), with the peer's handle and its
/// mark when the peer is whitelisted.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conversation {
    pub id: String,
    pub peer_pubkey: String,
    pub peer_handle: Option<String>,
    pub handle_status: Option<HandleStatus>,
    /// `initiator` or `responder`.
    pub role: String,
    pub topic: String,
    /// `open` or `closed`.
    pub state: String,
    pub granted: Vec<String>,
    /// RFC 3339 (§15).
    #[serde(with = "crate::time::as_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: i64,
    #[serde(with = "crate::time::as_rfc3339_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<i64>,
    #[serde(with = "crate::time::as_rfc3339_opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub closed_at: Option<i64>,
    pub next_send_seq: i64,
}

/// `GET /conversations`: newest first.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conversations {
    pub conversations: Vec<Conversation>,
}

/// One message the cloud keeps, with the retention it is kept under.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub conversation_id: String,
    /// `in` or `out`.
    pub direction: String,
    pub seq: i64,
    pub payload: Payload,
    pub retention: Retention,
    pub in_reply_to: Option<i64>,
    /// RFC 3339 (§15).
    #[serde(with = "crate::time::as_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: i64,
}

/// `GET /messages[?conversation=ID]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Messages {
    pub messages: Vec<Message>,
}

/// `POST /conversations/{id}/close`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Closed {
    pub closed: String,
    /// False when it was closed already.
    pub was_open: bool,
}

/// One delivery of the outbox.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutboxEntry {
    pub id: i64,
    /// For `kind: action`, the action's id.
    pub conversation_id: String,
    pub seq: i64,
    pub url: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    /// RFC 3339 (§15).
    #[serde(with = "crate::time::as_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub next_attempt_at: i64,
    #[serde(with = "crate::time::as_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: i64,
    pub last_error: Option<String>,
    /// `d2d` or `action`.
    pub kind: String,
}

/// `GET /outbox`: the latest deliveries.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Outbox {
    pub outbox: Vec<OutboxEntry>,
}

/// `POST /outbox/{id}/cancel`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cancelled {
    pub cancelled: bool,
}

/// `POST /send`: text and calls to a peer (a conversation opens if none is), to one of its
/// swarms, or as a reply.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendRequest {
    /// A handle or a key of a whitelisted peer.
    pub to: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<Call>,
    /// Default `session`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
    /// Default `conversation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// The peer's swarm to address (the peer must grant `swarm:<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swarm: Option<String>,
    /// The `seq` of the peer's message this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<u64>,
}

/// `POST /send`: where the message went.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Sent {
    pub conversation_id: String,
    pub seq: u64,
}

/// A review-mode answer waiting for the owner (`GET /drafts`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Draft {
    pub id: i64,
    pub conversation_id: String,
    /// The `seq` of the peer's message it answers.
    pub in_reply_to: i64,
    pub swarm: String,
    pub payload: Payload,
    /// `pending`.
    pub state: String,
    /// RFC 3339 (§15).
    #[serde(with = "crate::time::as_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: i64,
}

/// `GET /drafts`: oldest first.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Drafts {
    pub drafts: Vec<Draft>,
}

/// `POST /drafts/{id}/send`: the owner's text instead of the draft's, if given.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SendDraft {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// `POST /drafts/{id}/send`: the reply it became.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DraftSent {
    pub sent: i64,
    pub conversation_id: String,
    pub seq: u64,
}

/// `POST /drafts/{id}/discard`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DraftDiscarded {
    pub discarded: i64,
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

/// What a brain was given and said for one inbound message (`GET /conversations/{id}/context`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BrainRun {
    pub conversation_id: String,
    /// The inbound message it answered.
    pub seq: i64,
    pub swarm: String,
    /// `{"system": "…", "messages": [{"role", "content"}…]}` as the brain was given it.
    pub context: serde_json::Value,
    pub answer: Option<String>,
    pub error: Option<String>,
    /// The most protective retention of what `context` holds.
    pub retention: String,
    #[serde(with = "crate::time::as_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: i64,
}

/// `GET /conversations/{id}/context`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BrainRuns {
    pub runs: Vec<BrainRun>,
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

/// One event. `kind` is `message` (a new inbound message), `reply` (an inbound message
/// answering one of ours), `draft` (a review-mode answer waiting), `pending` (a stranger's
/// handshake), `brain_error`, `waiting` (a message no brain will answer: no brain, mode off, or
/// the automatic-turn limit), `action` (an accepted federation action applied: `id`, `peer` the
/// issuer, `reason` its type, `text` its content; owner stream only) or `lagged`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: std::borrow::Cow<'static, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<u64>,
    /// The peer's handle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swarm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub automatic: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// A draft's or pending request's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Why (`waiting`, `brain_error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(with = "crate::time::as_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: i64,
}

impl Event {
    /// An event of `kind` at `at` (unix ms), its other fields empty.
    pub fn new(kind: &'static str, at: i64) -> Event {
        Event {
            kind: std::borrow::Cow::Borrowed(kind),
            at,
            ..Event::default()
        }
    }
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
