//! Operator invites (`sovra host invite`): one code, one hosted cloud. Kept in the node's own
//! database, `$SOVRA_HOME/node.db`, which the operator's CLI and the running node both open
//! (SQLite WAL). Codes are 128 random bits, shown once, stored as SHA-256.

use std::path::Path;

use sovra_sqlite::SqliteSynchronous;
use sqlx::SqlitePool;

use crate::bearer::digest as hash;
use crate::store::now_ms;

/// The node's database: invites today.
#[derive(Clone)]
pub struct NodeDb {
    write: SqlitePool,
}

impl NodeDb {
    /// Whether node.db answers (readiness).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.write)
            .await
            .map(|_| ())
    }
}

/// Why an invite did not open the door. All look alike to the holder (`invite_invalid`), so
/// codes cannot be probed for state.
#[derive(Debug, PartialEq, Eq)]
pub enum InviteRefusal {
    Unknown,
    Used,
    Expired,
}

impl NodeDb {
    pub async fn open(home: &Path) -> Result<NodeDb, sqlx::Error> {
        let pools = sovra_sqlite::open(
            &home.join("node.db"),
            SqliteSynchronous::Full,
            &sqlx::migrate!("./migrations-node"),
        )
        .await?;
        Ok(NodeDb { write: pools.write })
    }

    /// A new invite valid for `days`; the code is returned once and never stored.
    pub async fn create_invite(&self, days: u32) -> Result<String, sqlx::Error> {
        let code = crate::bearer::new_secret("sovra-invite-", 16);
        let now = now_ms();
        sqlx::query("INSERT INTO invites (code_hash, created_at, expires_at) VALUES (?, ?, ?)")
            .bind(hash(&code))
            .bind(now)
            .bind(now + i64::from(days) * 86_400_000)
            .execute(&self.write)
            .await?;
        Ok(code)
    }

    /// Spends `code` for the cloud `name`, at most once.
    pub async fn redeem(
        &self,
        code: &str,
        name: &str,
    ) -> Result<Result<(), InviteRefusal>, sqlx::Error> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE invites SET used_by = ?, used_at = ?
             WHERE code_hash = ? AND used_by IS NULL AND expires_at > ?",
        )
        .bind(name)
        .bind(now)
        .bind(hash(code))
        .bind(now)
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(Ok(()));
        }
        let row: Option<(Option<String>, i64)> =
            sqlx::query_as("SELECT used_by, expires_at FROM invites WHERE code_hash = ?")
                .bind(hash(code))
                .fetch_optional(&self.write)
                .await?;
        Ok(Err(match row {
            None => InviteRefusal::Unknown,
            Some((Some(_), _)) => InviteRefusal::Used,
            Some(_) => InviteRefusal::Expired,
        }))
    }

    /// Gives an invite back (the cloud it was spent on was never completed).
    pub async fn release(&self, name: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE invites SET used_by = NULL, used_at = NULL WHERE used_by = ?")
            .bind(name)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Records the cloud a phone (by its tag) got; false if that phone already has one here.
    pub async fn claim_phone_tag(&self, tag: &str, name: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO phone_tags (tag, name, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(tag)
        .bind(name)
        .bind(now_ms())
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a phone's claim back (its cloud was never completed).
    pub async fn release_phone(&self, name: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM phone_tags WHERE name = ?")
            .bind(name)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// (waiting, used) invite counts, for `sovra host status`.
    pub async fn invite_counts(&self) -> Result<(i64, i64), sqlx::Error> {
        let now = now_ms();
        sqlx::query_as(
            "SELECT COALESCE(SUM(used_by IS NULL AND expires_at > ?), 0),
                    COALESCE(SUM(used_by IS NOT NULL), 0) FROM invites",
        )
        .bind(now)
        .fetch_one(&self.write)
        .await
    }
}

/// A report as the operator reads it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct Report {
    pub id: String,
    pub subject_kind: String,
    pub subject: String,
    pub reason: String,
    pub reporter: Option<String>,
    pub at: i64,
}

impl NodeDb {
    /// Files a report unless `max` are already kept (the operator clears them); false then.
    pub async fn file_report(&self, r: &Report, max: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO reports (id, subject_kind, subject, reason, reporter, at)
             SELECT ?, ?, ?, ?, ?, ? WHERE (SELECT COUNT(*) FROM reports) < ?",
        )
        .bind(&r.id)
        .bind(&r.subject_kind)
        .bind(&r.subject)
        .bind(&r.reason)
        .bind(&r.reporter)
        .bind(r.at)
        .bind(max)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every report, newest first.
    pub async fn reports(&self) -> Result<Vec<Report>, sqlx::Error> {
        sqlx::query_as("SELECT * FROM reports ORDER BY at DESC")
            .fetch_all(&self.write)
            .await
    }
}
