//! What lives inside a cloud and answers for it.
//!
//! # Layout
//!
//! * `swarm` — swarms: settings, modes, and their files (soul, notes, API key).
//! * `brain/` — the `Brain` trait and one adapter per file: `openai`, `brainstem`, `exec`, `http`.
//! * `memory` — what a brain is given: soul, notes and the conversation's recent turns.
//! * `answer` — the native chat loop's rules: routing, refusals, loop control, budgets.
//! * `events` — the live event stream the owner and agents follow (SSE).
//! * `api` — the agent API (`/api/agent/*`) and its per-swarm tokens.
//! * `capability` — the `exec`, `http` and `chat` adapters that run exposed capabilities.
//! * `invoke` — JSON in, JSON out over a local command or HTTP endpoint (shared by both).

pub mod answer;
pub mod api;
pub mod brain;
pub mod capability;
pub mod events;
pub mod invoke;
pub mod memory;
pub mod swarm;
