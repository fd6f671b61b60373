//! `sovra-sqlite`: how the node, the registry and (later) the relay open their SQLite databases,
//! so the traps of STACK.md are handled once.
//!
//! * WAL, so readers run beside the writer (sqlx does not set it by default).
//! * **One writer connection**: SQLite serializes writers anyway, and a single connection never
//!   hits SQLITE_BUSY when a deferred transaction upgrades to a write (STACK.md trap 4).
//!   Code must not query the writer pool while holding one of its transactions.
//! * A read-only pool of four for everything that only reads.
//! * No ping before each acquire: a local connection does not go stale, and the ping doubled
//!   the round trips of every query.
//! * `synchronous` is the caller's choice: `FULL` makes a 2xx survive power loss.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

pub use sqlx::sqlite::SqliteSynchronous;

/// The two pools of one database.
#[derive(Clone)]
pub struct Pools {
    /// Exactly one connection: every write goes here.
    pub write: SqlitePool,
    /// Read-only connections.
    pub read: SqlitePool,
}

/// Opens (creating if missing) the database at `path` and runs `migrator` on it.
pub async fn open(
    path: &Path,
    synchronous: SqliteSynchronous,
    migrator: &Migrator,
) -> Result<Pools, sqlx::Error> {
    make_private(path).map_err(sqlx::Error::Io)?;
    let options = SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let write = SqlitePoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .connect_with(options.clone())
        .await?;
    migrator.run(&write).await?;
    let read = SqlitePoolOptions::new()
        .max_connections(4)
        .test_before_acquire(false)
        .connect_with(options.read_only(true))
        .await?;
    Ok(Pools { write, read })
}

/// The database holds secrets (session keys, phone hashes, queued envelopes): it is created 0600
/// before SQLite first opens it, so its WAL and shared-memory files, which SQLite creates with the
/// database's mode, are 0600 too; files from before are tightened.
fn make_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if !path.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        // The WAL and shared-memory files come and go with connections (a closing pool of a
        // previous open may delete them right now): gone is fine.
        match std::fs::set_permissions(Path::new(&p), std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(())
}
