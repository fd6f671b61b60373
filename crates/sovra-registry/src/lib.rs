//! `sovra-registry`: who controls `@alice.cloud`.
//!
//! A human proves a phone number by SMS code, claims a handle, and publishes the cloud's
//! record (keys, endpoint, relays) signed by the cloud key. Anyone can look a handle up and gets
//! the record, the chain of the cloud's key changes, and the registry's signature over both.
//! See docs/PROTOCOL.md §16.
//!
//! # Layout
//!
//! * `phone` — E.164 normalization and the keyed phone hash (phones are never stored in clear).
//! * `handle` — handle syntax, reserved names, the look-alike skeleton used for uniqueness.
//! * `sms` — the gateway trait and its console, Twilio and webhook implementations.
//! * `store` — the storage trait and its SQLite implementation.
//! * `codes` — one-time phone codes: sending (limits, SMS budgets) and spending them.
//! * `registry` — the rules: claims, lookups, rotation, rename, devices, the lock,
//!   attestations and elevations; `operator` — the operator's actions and bulk import.
//! * `api` — the HTTP surface; `home` — the registry's directory and secrets.
//! * `error` — every refusal with its stable code.

pub mod api;
pub mod codes;
pub mod error;
pub mod handle;
pub mod home;
pub mod operator;
pub mod phone;
pub mod registry;
pub mod sms;
pub mod store;

pub use error::RegistryError;
pub use registry::{Registry, Settings};
pub use store::{RegistryStore, SqliteStore};
