//! What lives inside a cloud and answers for it.
//!
//! # Layout
//!
//! * `capability` — the `exec`, `http` and `chat` adapters that run the capabilities a cloud
//!   exposes to its peers.
//!
//! Swarms, brains and memory join this folder (one file per brain adapter); see ARCHITECTURE.md.

pub mod capability;
