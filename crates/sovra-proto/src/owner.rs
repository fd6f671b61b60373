//! The owner API's request and answer types (docs/PROTOCOL.md §15.2), one per endpoint, shared
//! by the node, `sovra-client` and the CLI, and the source of the node's OpenAPI document.
//! The actions surface's are in `action::owner`.
//!
//! # Layout
//!
//! `peers` (whitelist, pending, peer checks), `conversations` (messages, outbox, sending,
//! drafts, brain runs, events), `swarms`, `registry`, `cloud` (identity, capabilities, relays,
//! devices, nyms, elevation, host, web pairing), `lifecycle` (moving, sealing, heirs, the agent
//! API). Every type is re-exported here: `sovra_proto::owner::Peer`.

mod cloud;
mod conversations;
pub mod lifecycle;
mod peers;
mod registry;
mod swarms;

pub use cloud::*;
pub use conversations::*;
pub use peers::*;
pub use registry::*;
pub use swarms::*;

use serde::{Deserialize, Serialize};

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
