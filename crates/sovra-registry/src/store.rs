//! The registry's storage, behind a trait so that a PostgreSQL backend can run through the
//! same conformance tests (`tests/store.rs`) as the SQLite one.
//!
//! Every method is one statement or one transaction: a handler that answers 2xx has committed,
//! and a failure writes nothing. The `lookup` column is the whole signed answer to
//! `GET /v1/handles/{handle}`, so the hot path is a single indexed read.

use std::future::Future;
use std::path::Path;

use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

pub type StoreResult<T> = Result<T, sqlx::Error>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub id: String,
    pub phone_hash: String,
    pub pepper_version: i64,
    pub code_mac: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub attempts: i64,
    /// `open`, `used` or `locked`.
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudRow {
    /// Assigned by the store; ignored on insert.
    pub id: i64,
    pub phone_hash: String,
    pub pepper_version: i64,
    pub handle: String,
    pub skeleton: String,
    pub pubkey: String,
    pub lookup: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_active_at: i64,
    /// The operator's reason, while the cloud is suspended (§16.8).
    pub suspended: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retired {
    pub skeleton: String,
    pub handle: String,
    pub successor: String,
    pub until: i64,
}

/// Whether an error is a uniqueness conflict (two claims racing for one handle, phone or key).
pub fn is_conflict(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

pub trait RegistryStore: Send + Sync + 'static {
    /// Whether the database answers (readiness).
    fn ping(&self) -> impl Future<Output = StoreResult<()>> + Send;
    fn insert_verification(&self, v: &Verification)
    -> impl Future<Output = StoreResult<()>> + Send;
    fn verification(
        &self,
        id: &str,
    ) -> impl Future<Output = StoreResult<Option<Verification>>> + Send;
    /// Counts a wrong code; locks the verification when the count reaches `lock_at`.
    /// Returns the attempts so far.
    fn fail_attempt(&self, id: &str, lock_at: i64)
    -> impl Future<Output = StoreResult<i64>> + Send;
    /// Marks an open verification used; false if it was not open (raced, used, locked).
    fn consume_verification(&self, id: &str) -> impl Future<Output = StoreResult<bool>> + Send;

    fn record_send(
        &self,
        phone_hash: &str,
        client: &str,
        at: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Codes sent since `since` to this phone, and from this client.
    fn sends_since(
        &self,
        phone_hash: &str,
        client: &str,
        since: i64,
    ) -> impl Future<Output = StoreResult<(i64, i64)>> + Send;

    fn cloud_by_phone(
        &self,
        phone_hash: &str,
    ) -> impl Future<Output = StoreResult<Option<CloudRow>>> + Send;
    fn cloud_by_handle(
        &self,
        handle: &str,
    ) -> impl Future<Output = StoreResult<Option<CloudRow>>> + Send;
    fn cloud_by_skeleton(
        &self,
        skeleton: &str,
    ) -> impl Future<Output = StoreResult<Option<CloudRow>>> + Send;
    /// The signed lookup JSON of a handle, unless it is suspended: the hot path.
    fn lookup_json(&self, handle: &str)
    -> impl Future<Output = StoreResult<Option<String>>> + Send;
    /// Inserts a new cloud and returns its id; a uniqueness conflict is an error
    /// ([`is_conflict`]).
    fn insert_cloud(&self, row: &CloudRow) -> impl Future<Output = StoreResult<i64>> + Send;
    /// Operator: clouds in handle order after `after`, at most `limit`.
    fn list_clouds(
        &self,
        after: &str,
        limit: i64,
    ) -> impl Future<Output = StoreResult<Vec<CloudRow>>> + Send;
    /// Operator: suspends the cloud of `handle` (`Some(reason)`) or lifts its suspension
    /// (`None`); false if no cloud has that handle.
    fn set_suspended(
        &self,
        handle: &str,
        reason: Option<&str>,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Operator: takes the registration lock off (as if the cloud had been idle for ever).
    fn lift_lock(&self, handle: &str) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Operator: deletes cloud `cloud_id` and its devices and retires its handle, in one
    /// transaction.
    fn take_down(
        &self,
        cloud_id: i64,
        retire: &Retired,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Replaces a cloud's handle, key and lookup (by id), optionally retiring its old handle in
    /// the same transaction.
    fn update_cloud(
        &self,
        row: &CloudRow,
        retire: Option<&Retired>,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn retired(
        &self,
        skeleton: &str,
        now: i64,
    ) -> impl Future<Output = StoreResult<Option<Retired>>> + Send;
    fn add_device(
        &self,
        cloud_id: i64,
        pubkey: &str,
        certificate: &str,
        at: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn devices(&self, cloud_id: i64) -> impl Future<Output = StoreResult<Vec<String>>> + Send;
    /// Many clouds in one transaction (benchmark setup, imports).
    fn bulk_insert_clouds(&self, rows: &[CloudRow])
    -> impl Future<Output = StoreResult<()>> + Send;
    /// Forgets verifications and send records older than `before`, and expired retirements.
    fn sweep(&self, before: i64, now: i64) -> impl Future<Output = StoreResult<()>> + Send;
}

/// SQLite through `sovra-sqlite`: WAL, one writer connection, a pool of readers.
#[derive(Clone)]
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
}

impl SqliteStore {
    pub async fn open(path: &Path) -> StoreResult<SqliteStore> {
        let sovra_sqlite::Pools { write, read } = sovra_sqlite::open(
            path,
            sovra_sqlite::SqliteSynchronous::Full,
            &sqlx::migrate!("./migrations"),
        )
        .await?;
        let store = SqliteStore { write, read };
        store.recompute_skeletons().await?;
        Ok(store)
    }

    /// Brings stored skeletons (clouds and retired handles) up to `SKELETON_VERSION`, kept in
    /// `PRAGMA user_version`. Two handles registered under an older rule that the new one
    /// finds confusable both stay (the later keeps its old skeleton, with a warning): a
    /// registry never takes a handle away on its own.
    async fn recompute_skeletons(&self) -> StoreResult<()> {
        use crate::handle::{SKELETON_VERSION, skeleton};
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&self.write)
            .await?;
        if version >= SKELETON_VERSION {
            return Ok(());
        }
        let name = |handle: &str| {
            let bare = handle.trim_start_matches('@');
            bare.split_once('.').map_or(bare, |(n, _)| n).to_owned()
        };
        let mut tx = self.write.begin().await?;
        const TABLES: [(&str, &str); 2] = [
            (
                "SELECT CAST(id AS TEXT), handle FROM clouds ORDER BY id",
                "UPDATE OR IGNORE clouds SET skeleton = ? WHERE id = CAST(? AS INTEGER)",
            ),
            (
                "SELECT skeleton, handle FROM retired_handles ORDER BY rowid",
                "UPDATE OR IGNORE retired_handles SET skeleton = ? WHERE skeleton = ?",
            ),
        ];
        for (select, update) in TABLES {
            let rows: Vec<(String, String)> = sqlx::query_as(select).fetch_all(&mut *tx).await?;
            for (id, handle) in rows {
                let new = skeleton(&name(&handle));
                let updated = sqlx::query(update)
                    .bind(&new)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                if updated.rows_affected() == 0 {
                    tracing::warn!(
                        "{handle} is confusable with an older handle under the new skeleton; kept"
                    );
                }
            }
        }
        const _: () = assert!(SKELETON_VERSION == 2, "update the PRAGMA below");
        sqlx::query("PRAGMA user_version = 2")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn verification(r: &sqlx::sqlite::SqliteRow) -> Verification {
    Verification {
        id: r.get("id"),
        phone_hash: r.get("phone_hash"),
        pepper_version: r.get("pepper_version"),
        code_mac: r.get("code_mac"),
        created_at: r.get("created_at"),
        expires_at: r.get("expires_at"),
        attempts: r.get("attempts"),
        state: r.get("state"),
    }
}

fn cloud(r: &sqlx::sqlite::SqliteRow) -> CloudRow {
    CloudRow {
        id: r.get("id"),
        phone_hash: r.get("phone_hash"),
        pepper_version: r.get("pepper_version"),
        handle: r.get("handle"),
        skeleton: r.get("skeleton"),
        pubkey: r.get("pubkey"),
        lookup: r.get("lookup"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
        last_active_at: r.get("last_active_at"),
        suspended: r.get("suspended"),
    }
}

/// Retires a handle (a rename: `successor` names the new one; a takedown: empty), replacing
/// an earlier retirement of the same skeleton.
async fn retire_handle(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    r: &Retired,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO retired_handles (skeleton, handle, successor, until) VALUES (?, ?, ?, ?)
         ON CONFLICT (skeleton) DO UPDATE SET handle = excluded.handle,
           successor = excluded.successor, until = excluded.until",
    )
    .bind(&r.skeleton)
    .bind(&r.handle)
    .bind(&r.successor)
    .bind(r.until)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl SqliteStore {
    /// `sql` is one of the fixed `SELECT * FROM clouds WHERE <unique column> = ?` queries.
    async fn cloud_where(&self, sql: &'static str, value: &str) -> StoreResult<Option<CloudRow>> {
        Ok(sqlx::query(sql)
            .bind(value)
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(cloud))
    }
}

impl RegistryStore for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn insert_verification(&self, v: &Verification) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO verifications (id, phone_hash, pepper_version, code_mac, created_at, expires_at, attempts, state)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&v.id)
        .bind(&v.phone_hash)
        .bind(v.pepper_version)
        .bind(&v.code_mac)
        .bind(v.created_at)
        .bind(v.expires_at)
        .bind(v.attempts)
        .bind(&v.state)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn verification(&self, id: &str) -> StoreResult<Option<Verification>> {
        // The writer, not a reader: attempts and state must be read after the last write.
        Ok(sqlx::query("SELECT * FROM verifications WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.write)
            .await?
            .as_ref()
            .map(verification))
    }

    async fn fail_attempt(&self, id: &str, lock_at: i64) -> StoreResult<i64> {
        Ok(sqlx::query(
            "UPDATE verifications SET attempts = attempts + 1,
               state = CASE WHEN attempts + 1 >= ?2 THEN 'locked' ELSE state END
             WHERE id = ?1 RETURNING attempts",
        )
        .bind(id)
        .bind(lock_at)
        .fetch_optional(&self.write)
        .await?
        .map(|r| r.get("attempts"))
        .unwrap_or(lock_at))
    }

    async fn consume_verification(&self, id: &str) -> StoreResult<bool> {
        Ok(
            sqlx::query("UPDATE verifications SET state = 'used' WHERE id = ? AND state = 'open'")
                .bind(id)
                .execute(&self.write)
                .await?
                .rows_affected()
                == 1,
        )
    }

    async fn record_send(&self, phone_hash: &str, client: &str, at: i64) -> StoreResult<()> {
        sqlx::query("INSERT INTO sends (phone_hash, client, at) VALUES (?, ?, ?)")
            .bind(phone_hash)
            .bind(client)
            .bind(at)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn sends_since(
        &self,
        phone_hash: &str,
        client: &str,
        since: i64,
    ) -> StoreResult<(i64, i64)> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM sends WHERE phone_hash = ?1 AND at >= ?3) AS by_phone,
                    (SELECT COUNT(*) FROM sends WHERE client = ?2 AND at >= ?3) AS by_client",
        )
        .bind(phone_hash)
        .bind(client)
        .bind(since)
        .fetch_one(&self.write)
        .await?;
        Ok((row.get("by_phone"), row.get("by_client")))
    }

    async fn cloud_by_phone(&self, phone_hash: &str) -> StoreResult<Option<CloudRow>> {
        self.cloud_where("SELECT * FROM clouds WHERE phone_hash = ?", phone_hash)
            .await
    }

    async fn cloud_by_handle(&self, handle: &str) -> StoreResult<Option<CloudRow>> {
        self.cloud_where("SELECT * FROM clouds WHERE handle = ?", handle)
            .await
    }

    async fn cloud_by_skeleton(&self, skeleton: &str) -> StoreResult<Option<CloudRow>> {
        self.cloud_where("SELECT * FROM clouds WHERE skeleton = ?", skeleton)
            .await
    }

    async fn lookup_json(&self, handle: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query("SELECT lookup FROM clouds WHERE handle = ? AND suspended IS NULL")
                .bind(handle)
                .fetch_optional(&self.read)
                .await?
                .map(|r| r.get("lookup")),
        )
    }

    async fn list_clouds(&self, after: &str, limit: i64) -> StoreResult<Vec<CloudRow>> {
        Ok(
            sqlx::query("SELECT * FROM clouds WHERE handle > ? ORDER BY handle LIMIT ?")
                .bind(after)
                .bind(limit)
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(cloud)
                .collect(),
        )
    }

    async fn set_suspended(&self, handle: &str, reason: Option<&str>) -> StoreResult<bool> {
        Ok(
            sqlx::query("UPDATE clouds SET suspended = ? WHERE handle = ?")
                .bind(reason)
                .bind(handle)
                .execute(&self.write)
                .await?
                .rows_affected()
                == 1,
        )
    }

    async fn lift_lock(&self, handle: &str) -> StoreResult<bool> {
        Ok(
            sqlx::query("UPDATE clouds SET last_active_at = 0 WHERE handle = ?")
                .bind(handle)
                .execute(&self.write)
                .await?
                .rows_affected()
                == 1,
        )
    }

    async fn take_down(&self, cloud_id: i64, retire: &Retired) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM devices WHERE cloud_id = ?")
            .bind(cloud_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM clouds WHERE id = ?")
            .bind(cloud_id)
            .execute(&mut *tx)
            .await?;
        retire_handle(&mut tx, retire).await?;
        tx.commit().await
    }

    async fn insert_cloud(&self, row: &CloudRow) -> StoreResult<i64> {
        Ok(sqlx::query(
            "INSERT INTO clouds (phone_hash, pepper_version, handle, skeleton, pubkey, lookup, created_at, updated_at, last_active_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&row.phone_hash)
        .bind(row.pepper_version)
        .bind(&row.handle)
        .bind(&row.skeleton)
        .bind(&row.pubkey)
        .bind(&row.lookup)
        .bind(row.created_at)
        .bind(row.updated_at)
        .bind(row.last_active_at)
        .fetch_one(&self.write)
        .await?
        .get("id"))
    }

    async fn update_cloud(&self, row: &CloudRow, retire: Option<&Retired>) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "UPDATE clouds SET handle = ?, skeleton = ?, pubkey = ?, lookup = ?, updated_at = ?, last_active_at = ?
             WHERE id = ?",
        )
        .bind(&row.handle)
        .bind(&row.skeleton)
        .bind(&row.pubkey)
        .bind(&row.lookup)
        .bind(row.updated_at)
        .bind(row.last_active_at)
        .bind(row.id)
        .execute(&mut *tx)
        .await?;
        if let Some(r) = retire {
            retire_handle(&mut tx, r).await?;
        }
        tx.commit().await
    }

    async fn retired(&self, skeleton: &str, now: i64) -> StoreResult<Option<Retired>> {
        Ok(
            sqlx::query("SELECT * FROM retired_handles WHERE skeleton = ? AND until > ?")
                .bind(skeleton)
                .bind(now)
                .fetch_optional(&self.read)
                .await?
                .map(|r| Retired {
                    skeleton: r.get("skeleton"),
                    handle: r.get("handle"),
                    successor: r.get("successor"),
                    until: r.get("until"),
                }),
        )
    }

    async fn add_device(
        &self,
        cloud_id: i64,
        pubkey: &str,
        certificate: &str,
        at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO devices (cloud_id, pubkey, certificate, added_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (cloud_id, pubkey) DO UPDATE SET certificate = excluded.certificate",
        )
        .bind(cloud_id)
        .bind(pubkey)
        .bind(certificate)
        .bind(at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn devices(&self, cloud_id: i64) -> StoreResult<Vec<String>> {
        Ok(
            sqlx::query("SELECT pubkey FROM devices WHERE cloud_id = ? ORDER BY added_at")
                .bind(cloud_id)
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(|r| r.get("pubkey"))
                .collect(),
        )
    }

    async fn bulk_insert_clouds(&self, rows: &[CloudRow]) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        // 9 parameters per row; SQLite allows 32,766 per statement.
        for chunk in rows.chunks(1000) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO clouds (phone_hash, pepper_version, handle, skeleton, pubkey, lookup, created_at, updated_at, last_active_at) ",
            );
            q.push_values(chunk, |mut b, r| {
                b.push_bind(&r.phone_hash)
                    .push_bind(r.pepper_version)
                    .push_bind(&r.handle)
                    .push_bind(&r.skeleton)
                    .push_bind(&r.pubkey)
                    .push_bind(&r.lookup)
                    .push_bind(r.created_at)
                    .push_bind(r.updated_at)
                    .push_bind(r.last_active_at);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    async fn sweep(&self, before: i64, now: i64) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM verifications WHERE expires_at < ?")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sends WHERE at < ?")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM retired_handles WHERE until <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
}
