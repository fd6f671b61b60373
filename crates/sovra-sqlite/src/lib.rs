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
//! * [`Script`]: a batch writer's whole transaction in one hand-over to SQLite's thread.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

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

/// Several write statements run as one transaction in **one** round trip to SQLite's worker
/// thread: `BEGIN IMMEDIATE`, the statements, `COMMIT`, their `?` parameters bound in order
/// across all of them.
///
/// Why: sqlx runs every statement, `BEGIN` and `COMMIT` included, as its own command on the
/// connection's worker thread, and under load each hand-over costs a thread wake-up on busy
/// cores (measured: ~230 µs for a bare `BEGIN` with D2D traffic on both cores). A writer that
/// commits batches spent most of its time in those hops, not in SQLite.
pub struct Script {
    query: QueryBuilder<Sqlite>,
    /// Whether a statement is already in `query` (the next one needs a `;`).
    started: bool,
}

impl Default for Script {
    /// A script that opens its transaction (`BEGIN IMMEDIATE`).
    fn default() -> Self {
        Script {
            query: QueryBuilder::new("BEGIN IMMEDIATE"),
            started: true,
        }
    }
}

impl Script {
    /// A script that continues a transaction an earlier [`Script::run`] opened on the same
    /// connection: for a writer that must read what its first statements returned before it
    /// knows the rest (two hops instead of one per statement).
    pub fn continuing() -> Script {
        Script {
            query: QueryBuilder::new(""),
            started: false,
        }
    }

    /// Starts the next statement with `sql`; push the rest of it and its binds on the builder.
    pub fn statement(&mut self, sql: &str) -> &mut QueryBuilder<Sqlite> {
        if self.started {
            self.query.push(";\n");
        }
        self.started = true;
        self.query.push(sql);
        &mut self.query
    }

    /// Runs the script on `conn` without ending its transaction; the caller commits it with a
    /// [`Script::continuing`] script or rolls it back.
    pub async fn run(mut self, conn: &mut SqliteConnection) -> Result<Vec<SqliteRow>, sqlx::Error> {
        self.query.build().fetch_all(&mut *conn).await
    }

    /// Runs the script and `COMMIT` on `conn`. On an error the transaction is still open: the
    /// caller rolls it back ([`rollback`]).
    pub async fn commit_on(
        mut self,
        conn: &mut SqliteConnection,
    ) -> Result<Vec<SqliteRow>, sqlx::Error> {
        self.statement("COMMIT");
        self.run(conn).await
    }

    /// Runs the script on the writer pool; returns the rows any `RETURNING` clause gave. If a
    /// statement fails, the transaction is rolled back on the same connection before the error
    /// is returned: nothing of the script is written and the connection goes back clean.
    pub async fn commit(self, pool: &SqlitePool) -> Result<Vec<SqliteRow>, sqlx::Error> {
        let mut conn = pool.acquire().await?;
        let outcome = self.commit_on(&mut conn).await;
        if outcome.is_err() {
            rollback(&mut conn).await;
        }
        outcome
    }
}

/// Ends whatever transaction a failed script left open on `conn` (harmless when none is).
pub async fn rollback(conn: &mut SqliteConnection) {
    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
}
