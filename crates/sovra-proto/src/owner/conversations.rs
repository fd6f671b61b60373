//! Conversations, the messages kept, the outbox, sending, drafts, brain runs and the live
//! event stream (§15.2, §18.3).

use serde::{Deserialize, Serialize};

use super::HandleStatus;
use crate::message::{Call, Payload, Retention};

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
