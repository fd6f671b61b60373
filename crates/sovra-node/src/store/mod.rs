//! A cloud's storage: one SQLite database (WAL) in the cloud's directory.
//!
//! Opened through `sovra-sqlite` (WAL, one writer connection, a reader pool). `synchronous=FULL`
//! by default, so a request answered 2xx has reached the disk. Every multi-row change is one
//! transaction.
//!
//! # Layout
//!
//! One file per table family, each adding its queries to `Store`: `whitelist`, `pending`,
//! `handshakes` (replay state), `conversations`, `messages`, `jobs`, `outbox`,
//! `capabilities`, `devices` (and owner nonces), `web` (pairing codes and browser sessions), `rate` (rolling-day counts and their
//! in-memory book), `registry`, `relay`; `memo` is the generation-checked read-through cache
//! the hot path reads. Migrations are in `../migrations/`.

use std::path::Path;
use std::sync::Arc;

use sovra_sqlite::SqliteSynchronous;
use sqlx::{Sqlite, SqlitePool, Transaction};

mod actions;
mod archive;
mod brain;
mod capabilities;
mod conversations;
mod devices;
mod files;
mod handshakes;
mod inheritance;
mod jobs;
mod memo;
mod messages;
mod migration;
mod outbox;
mod pending;
pub(crate) mod rate;
mod registry;
mod relations;
mod relay;
mod swarms;
mod web;
mod whitelist;

pub use actions::{ActionDelivery, ActionRow, Effect, InboundAction, NewAction};
pub use archive::ArchiveError;
pub use brain::{BrainRun, Draft, NewBrainRun};
pub use capabilities::CapabilityRow;
pub use conversations::{Conversation, Route};
pub use devices::DeviceRow;
pub use files::StoredFile;
pub use inheritance::{InheritanceRow, InheritedRow, MAX_INHERITED};
use memo::Memo;
pub use messages::StoredMessage;
pub use migration::OldNode;
pub use outbox::{OutboxItem, OutboxOutcome};
pub use pending::{HandleStatus, PendingRequest};
use rate::RateBook;
pub use registry::{PinnedRegistry, Registration};
pub use relations::Relation;
pub use swarms::{SwarmInUse, SwarmRow};
pub use web::{MAX_PAIRINGS, MAX_SESSIONS, WebSession};
pub use whitelist::{NymRow, Peer};

pub type Tx<'a> = Transaction<'a, Sqlite>;

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

pub const HOUR_MS: i64 = 60 * 60 * 1000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

#[derive(Clone)]
pub struct Store {
    /// The one writer connection.
    pool: SqlitePool,
    /// Readers: WAL lets them run beside the writer and each other.
    read: SqlitePool,
    rates: Arc<RateBook>,
    /// Whitelist entries by base64 key; cleared by every whitelist write.
    peers: Arc<Memo<String, Peer>>,
    /// What an inbound message needs of its conversation, by token; cleared by every
    /// conversation state change.
    routes: Arc<Memo<String, Route>>,
    /// Swarm settings by name; cleared by every swarm write.
    swarms: Arc<Memo<String, SwarmRow>>,
    /// Brain answers per swarm today `(day, count)`: reserved here, written with each answer.
    budgets: Arc<std::sync::Mutex<std::collections::HashMap<String, (i64, i64)>>>,
}

/// `FULL` by default: a 2xx answer survives power loss, not only a process crash.
/// `SOVRA_SYNC=normal` trades that for throughput (WAL + NORMAL still survives SIGKILL);
/// docs/BENCHMARKS.md has both figures.
fn synchronous() -> SqliteSynchronous {
    match std::env::var("SOVRA_SYNC").as_deref() {
        Ok("normal") => SqliteSynchronous::Normal,
        _ => SqliteSynchronous::Full,
    }
}

impl Store {
    pub async fn open(path: &Path) -> Result<Store, sqlx::Error> {
        let sovra_sqlite::Pools { write: pool, read } =
            sovra_sqlite::open(path, synchronous(), &sqlx::migrate!("./migrations")).await?;
        let rates = Arc::new(RateBook::default());
        Ok(Store {
            pool,
            read,
            rates,
            peers: Arc::default(),
            routes: Arc::default(),
            swarms: Arc::default(),
            budgets: Arc::default(),
        })
    }

    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map(|_| ())
    }

    /// Closes both pools, checkpointing the WAL: for a database written by a process that
    /// then hands it to the node (an import).
    pub async fn close(&self) {
        self.pool.close().await;
        self.read.close().await;
    }

    pub async fn begin(&self) -> Result<Tx<'static>, sqlx::Error> {
        self.pool.begin().await
    }

    /// The writer connection, for the inbox's group commit (`d2d/inbox.rs`), the one writer
    /// outside this folder.
    pub(crate) fn writer(&self) -> SqlitePool {
        self.pool.clone()
    }

    /// The in-memory book of rolling-day counts, shared with the inbox, which advances it.
    pub(crate) fn rates(&self) -> Arc<RateBook> {
        self.rates.clone()
    }

    /// Drops every read-through memo, after a change that bypassed the family files (an
    /// import writes whole tables).
    pub(crate) fn forget_cached(&self) {
        self.peers.clear();
        self.routes.clear();
        self.swarms.clear();
        self.budgets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
