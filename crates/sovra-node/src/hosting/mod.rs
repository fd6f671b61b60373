//! Hosting: what a node is apart from the clouds it serves (docs/PROTOCOL.md §19).
//!
//! # Layout
//!
//! * `node_id.rs` — the node's own key (`node.key`) and operator settings
//!   (`node-config.json`), and `GET /api/node`, its signed statement: node-id, operator
//!   contact, hosting policy, how many clouds it hosts.
//! * `invites.rs` — the node's own database (`node.db`): operator invites, one per cloud.
//! * `onboard.rs` — a hosted human's cloud arriving: invite, host key pair, the human's
//!   certificates (the cloud key never leaves their device).
//! * `served.rs` — clouds added while the node runs, routed and worked like the rest.
//! * `schemas.rs` — the client-instance artifacts' JSON Schemas, checked on input.
//! * `quota.rs` — what one tenant may take of the node: storage, messages and brain answers a
//!   day, capabilities.
//! * `reports.rs` — reports attached to the responsible layer: a cloud's pod-user id or the
//!   node-id (never a device).
//!
//! The node key carries hosting responsibility only: it never signs for a cloud, and a cloud's
//! peers never need it to verify the cloud.

pub mod invites;
pub mod node_id;
pub mod onboard;
pub mod quota;
pub mod reports;
pub mod schemas;
pub mod served;

pub use invites::NodeDb;
pub use node_id::{NodeConfig, NodeIdentity};
pub use served::Hosting;
