//! `sovra-node`: the cloud host.
//!
//! # Layout
//!
//! * `home` — the home directory: one subdirectory per hosted cloud (`sovra init`).
//! * `store` — a cloud's SQLite database and every query against it; `inbox` — the group
//!   commit that accepts inbound messages; `memo` and `rate` — the in-memory mirrors the hot
//!   path reads instead of querying (conversation by token, whitelist entry, rolling-day counts).
//! * `cloud` — one hosted cloud: the rapp-d2d/1.0 rules applied to its store (receive a
//!   handshake or message, send, run calls, deliver the outbox, sweep).
//! * `d2d` — the endpoints peers call; `owner` — the signed owner API the CLI calls.
//! * `registry` — the cloud and its registries: registering and heartbeating its handle,
//!   rotating its key, resolving peers by handle and following their rotations (resets wait
//!   for the owner).
//! * `relay` — the cloud's relay links: reachable without a public endpoint, and a second
//!   way out when a peer's endpoint does not answer.
//! * `capability` — the `exec`, `http` and `chat` adapters that run exposed capabilities.
//! * `server` — routing, workers, graceful shutdown.
//! * `error` — the `{"error", "message"}` body.

pub mod capability;
pub mod cloud;
pub mod d2d;
pub mod error;
pub mod home;
pub mod inbox;
mod memo;
pub mod owner;
mod rate;
pub mod registry;
pub mod relay;
pub mod server;
pub mod store;

pub use cloud::{Cloud, Settings};
pub use server::{Node, open_node, router, serve};
