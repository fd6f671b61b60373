//! The owner API: what the cloud's human (through the CLI, later a web page) may do, under
//! `/api/owner/` (docs/PROTOCOL.md §15).
//!
//! Separate from the D2D surface and never usable unauthenticated: `auth` checks every request's
//! device signature before a handler runs. The route table is in `server.rs`.
//!
//! # Layout
//!
//! One file per endpoint family, each opening with its methods and paths: `auth`, `whoami`,
//! `peers`, `pending`, `capabilities`, `conversations` (with messages, the outbox and sending),
//! `registry`, `relays`, `swarms` (and agent tokens), `drafts` (with the live event stream and
//! brain contexts), `host` (a hosted cloud revoking its node's host key), `devices` (client
//! instances attached, detached and recovered by artifacts the cloud key signed), `nyms`,
//! `actions` (follows, connections, posts and files of the actions surface), `openapi` (the
//! document generated from the shared types).

pub mod actions;
pub mod auth;
pub mod capabilities;
pub mod conversations;
pub mod devices;
pub mod drafts;
pub mod elevation;
pub mod heirs;
pub mod host;
pub mod migration;
pub mod nyms;
pub mod openapi;
pub mod peers;
pub mod pending;
pub mod registry;
pub mod relays;
pub mod swarms;
pub mod whoami;
