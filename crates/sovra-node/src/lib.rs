//! `sovra-node`: the cloud host.
//!
//! # Layout
//!
//! * `home` — the home directory: one subdirectory per hosted cloud (`sovra init`).
//! * `cloud` — one hosted cloud: keys, store handle, settings, wake-ups. No protocol rules.
//! * `store/` — a cloud's SQLite database, one file per table family, and the in-memory
//!   mirrors the hot path reads instead of querying (memos, the rolling-day rate book).
//! * `d2d/` — the rapp-d2d/1.0 rules and the endpoints peers call: receive (handshake,
//!   message), the inbox's group commit, calls, send, outbox, relay links.
//! * `owner/` — the signed owner API the CLI calls: `auth` and one file per endpoint family.
//! * `actions/` — the second federation surface (Cloudillo's): profiles, signed action
//!   tokens, the inbox and its processing, issuing and delivering actions, files.
//! * `agents/` — what answers inside a cloud: today the capability adapters.
//! * `hosting/` — the node apart from its clouds: its own key (node-id) and `GET /api/node`.
//! * `registry` — the cloud and its registries: registering and heartbeating its handle,
//!   rotating its key, resolving peers by handle and following their rotations (resets wait
//!   for the owner).
//! * `server` — routing and serving; `workers` — the per-cloud background loops and sweep.
//! * `web/` — the owner's web page: pairing a browser as a device, its session, the page and
//!   its assets, all served from the binary.
//! * `bearer` — bearer secrets (agent tokens, invites, pairing codes, sessions): made and
//!   digested in one place.
//! * `error` — the `{"error", "message"}` body.

pub mod actions;
pub mod agents;
pub mod bearer;
pub mod cloud;
pub mod d2d;
pub mod error;
pub mod home;
pub mod hosting;
pub mod migration;
pub mod owner;
pub mod registry;
pub mod server;
pub mod store;
pub mod web;
pub mod workers;

pub use cloud::{Cloud, Settings};
pub use server::{Node, open_node, router, serve};
