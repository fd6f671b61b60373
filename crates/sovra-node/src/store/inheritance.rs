//! Inheritance: the policy and its switch (`inheritance`), heirs told (`heir_notices`), heirs
//! on the whitelist (`whitelist.heir`), and on the heir's side, clouds inherited (`inherited`).

use sqlx::Row;

use super::{Store, now_ms};

pub struct InheritanceRow {
    pub policy: String,
    pub active_at: i64,
    pub warned_at: Option<i64>,
    pub fired_at: Option<i64>,
}

pub use sovra_proto::owner::lifecycle::InheritedRow;

/// Most clouds one cloud holds inheritance notices from.
pub const MAX_INHERITED: i64 = 64;

impl Store {
    pub async fn inheritance(&self) -> Result<Option<InheritanceRow>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT policy, active_at, warned_at, fired_at FROM inheritance WHERE id = 1",
        )
        .fetch_optional(&self.read)
        .await?
        .map(|r| InheritanceRow {
            policy: r.get("policy"),
            active_at: r.get("active_at"),
            warned_at: r.get("warned_at"),
            fired_at: r.get("fired_at"),
        }))
    }

    /// Sets (or, with `None`, removes) the policy. A new policy starts its clock now and
    /// clears a switch that fired, and the record of heirs told.
    pub async fn set_inheritance(&self, policy: Option<&str>) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        match policy {
            Some(p) => {
                sqlx::query(
                    "INSERT INTO inheritance (id, policy, active_at) VALUES (1, ?, ?)
                     ON CONFLICT (id) DO UPDATE SET policy = excluded.policy,
                       active_at = excluded.active_at, warned_at = NULL, fired_at = NULL",
                )
                .bind(p)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM inheritance")
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query("DELETE FROM heir_notices")
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE whitelist SET heir = NULL")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.peers.clear();
        Ok(())
    }

    pub async fn set_inheritance_clock(
        &self,
        active_at: i64,
        warned_at: Option<i64>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE inheritance SET active_at = MAX(active_at, ?), warned_at = ? WHERE id = 1",
        )
        .bind(active_at)
        .bind(warned_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Fires the switch: records when, and marks the heirs on the whitelist with their grants.
    pub async fn fire_inheritance(
        &self,
        at: i64,
        heirs: &[(String, &'static str)],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE inheritance SET fired_at = ? WHERE id = 1 AND fired_at IS NULL")
            .bind(at)
            .execute(&mut *tx)
            .await?;
        for (key, grant) in heirs {
            sqlx::query("UPDATE whitelist SET heir = ? WHERE peer_pubkey = ?")
                .bind(grant)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.peers.clear();
        Ok(())
    }

    pub async fn heirs_told(&self) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT heir FROM heir_notices")
            .fetch_all(&self.read)
            .await
    }

    pub async fn heir_told(&self, heir: &str) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT OR IGNORE INTO heir_notices (heir, told_at) VALUES (?, ?)")
            .bind(heir)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a notice; false when this cloud already holds as many as it keeps.
    pub async fn add_inherited(
        &self,
        cloud: &str,
        handle: Option<&str>,
        grant: &str,
        notice: &str,
    ) -> Result<bool, sqlx::Error> {
        let n = sqlx::query(
            "INSERT INTO inherited (cloud, handle, grant_kind, notice, received_at)
             SELECT ?1, ?2, ?3, ?4, ?5
             WHERE EXISTS (SELECT 1 FROM inherited WHERE cloud = ?1)
                OR (SELECT COUNT(*) FROM inherited) < ?6
             ON CONFLICT (cloud) DO UPDATE SET grant_kind = excluded.grant_kind,
               notice = excluded.notice, handle = excluded.handle",
        )
        .bind(cloud)
        .bind(handle)
        .bind(grant)
        .bind(notice)
        .bind(now_ms())
        .bind(MAX_INHERITED)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    pub async fn inherited(&self) -> Result<Vec<InheritedRow>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT cloud, handle, grant_kind, received_at FROM inherited ORDER BY received_at",
        )
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|r| InheritedRow {
            cloud: r.get("cloud"),
            handle: r.get("handle"),
            grant: r.get("grant_kind"),
            received_at: r.get("received_at"),
        })
        .collect())
    }
}
