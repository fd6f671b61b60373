//! Hosting: what a node is apart from the clouds it serves (docs/PROTOCOL.md §19).
//!
//! # Layout
//!
//! * `node_id.rs` — the node's own key (`node.key`) and operator settings
//!   (`node-config.json`), and `GET /api/node`, its signed statement: node-id, operator
//!   contact, hosting policy, how many clouds it hosts.
//!
//! The node key carries hosting responsibility only: it never signs for a cloud, and a cloud's
//! peers never need it to verify the cloud.

pub mod node_id;

pub use node_id::{NodeConfig, NodeIdentity};
