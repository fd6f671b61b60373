//! A cloud as the unit that moves (docs/PROTOCOL.md §20) and that can be sealed (§21).
//!
//! # Layout
//!
//! * this file — this copy's place in a move (`serving` → `moving` → `moved`), persisted in
//!   the `migration` row, and the gate every request that writes passes through, so that
//!   freezing the cloud for an export waits for what is in flight and lets nothing in after.
//! * `export` — the archive of the cloud's content (tables, swarm files), frozen or not.
//! * `import` — a cloud directory recreated from an opened bundle, in a node's home.
//! * `moves` — move statements: the new node announcing one, the old node standing down,
//!   peers following one (pushed, or met as a 410 `moved` answer).
//! * `seal` — sealed swarms and clouds: read-only, answered from frozen memory.
//! * `heirs` — inheritance: the dead-man's switch, notices to heirs, an heir's claim.

use sovra_proto::migration::MoveStatement;

use crate::error::{ApiError, ApiResult};
use crate::store::Store;

pub mod export;
pub mod heirs;
pub mod import;
pub mod moves;
pub mod seal;

/// Where this copy of the cloud stands in a move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Serving,
    /// Frozen for an export that moves it: peers are told to retry (503 `moving`), nothing
    /// is written, the outbox waits, no call starts.
    Moving,
    /// Served elsewhere now: peers are shown the move statement (410 `moved`).
    Moved(Box<MoveStatement>),
}

/// The cloud's move state and its write gate.
pub struct Migration {
    state: std::sync::RwLock<State>,
    /// Held shared by every request that may write (D2D receives, owner and agent writes,
    /// relayed requests) for its whole run; held exclusively while the state changes, so a
    /// freeze waits for them and the snapshot sees every write that was answered.
    gate: tokio::sync::RwLock<()>,
    /// Sealed swarms (`seal.rs`), `*` for the whole cloud, with their unseal policy.
    pub(crate) seals: std::sync::RwLock<std::collections::HashMap<String, seal::Unseal>>,
}

impl Migration {
    pub async fn load(store: &Store) -> Result<Migration, sqlx::Error> {
        let (state, statement) = store.migration_state().await?;
        let state = match state.as_str() {
            "moving" => State::Moving,
            "moved" => match statement.as_deref().map(serde_json::from_str) {
                Some(Ok(s)) => State::Moved(Box::new(s)),
                _ => State::Serving,
            },
            _ => State::Serving,
        };
        Ok(Migration {
            state: std::sync::RwLock::new(state),
            gate: Default::default(),
            seals: std::sync::RwLock::new(store.seals().await?.into_iter().collect()),
        })
    }

    pub fn state(&self) -> State {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Enters the gate for a request that may write.
    pub async fn enter(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.gate.read().await
    }

    /// Changes the state once every request in flight has finished; none starts meanwhile.
    pub(crate) async fn change(&self, store: &Store, to: State) -> ApiResult<()> {
        let _all = self.gate.write().await;
        let (name, statement) = match &to {
            State::Serving => ("serving", None),
            State::Moving => ("moving", None),
            State::Moved(s) => ("moved", Some(serde_json::to_string(s).expect("json"))),
        };
        store.set_migration_state(name, statement).await?;
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = to;
        Ok(())
    }

    /// Refuses what a cloud that is not served here any more (or not for the moment) cannot
    /// do: 503 `moving` while frozen for a move, 410 `moved` with the statement after it.
    pub fn serving(&self) -> ApiResult<()> {
        match self.state() {
            State::Serving => Ok(()),
            State::Moving => Err(ApiError::new(
                503,
                "moving",
                "this cloud is being moved to another node; retry shortly",
            )),
            State::Moved(statement) => {
                let mut e = ApiError::new(
                    410,
                    "moved",
                    format!(
                        "this cloud is served elsewhere now: {}",
                        statement
                            .endpoint
                            .as_deref()
                            .unwrap_or("through its relays")
                    ),
                );
                e.extra = Some(("statement", serde_json::to_value(&statement).expect("json")));
                Err(e)
            }
        }
    }
}
