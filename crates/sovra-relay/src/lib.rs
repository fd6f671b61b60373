//! `sovra-relay`: ciphertext-only store-and-forward (docs/PROTOCOL.md §17).
//!
//! Clouds that are offline or behind NAT keep one WebSocket to a relay; anyone who
//! authenticates with a cloud key can leave envelopes there for a key, and the relay pushes
//! them when the recipient is connected. Envelopes hold the unchanged, end-to-end sealed D2D
//! bodies: the relay can route them, count them and expire them, never read them.
//!
//! # Layout
//!
//! * `store` — SQLite (WAL, FULL): envelopes, per-recipient queue sizes, who answered whom;
//!   `store/writer.rs` is the one task that commits changes in batches (multi-row statements),
//!   `store/quota.rs` the in-memory counts the quotas are checked against.
//! * `mailbox` — each connected key's envelopes committed but not yet pushed: the writer hands
//!   them over after each commit, so a connection pushes from memory, not by re-reading.
//! * `relay` — the rules: proof of work for first contact, token buckets, what a `send` and an
//!   `ack` must carry, expiry notices.
//! * `connection` — one task per connection: challenge–response auth, the frame loop (up to 64
//!   frames waiting for their commit at once), pushing from the mailbox.
//! * `server` — the HTTP side: `GET /v1/connect` (the WebSocket), `GET /v1/relay`, the sweeper.

pub mod connection;
pub mod mailbox;
pub mod relay;
pub mod server;
pub mod store;

pub use relay::{Relay, Settings};
pub use store::{Quota, Store};
