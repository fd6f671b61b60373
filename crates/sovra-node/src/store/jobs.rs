//! Jobs: inbound messages to answer (`queued` → `started` → gone). A finished job's row is
//! deleted, so the table holds only work in progress and claiming it never scans history.

use sqlx::{QueryBuilder, Row, Sqlite};

use super::{Store, Tx};

impl Store {
    pub async fn jobs(&self, state: &str) -> Result<Vec<(String, u64)>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT conversation_id, seq FROM jobs WHERE state = ? ORDER BY created_at LIMIT 64",
        )
        .bind(state)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|r| (r.get("conversation_id"), r.get::<i64, _>("seq") as u64))
        .collect())
    }

    /// Marks up to `limit` queued jobs started in one commit and returns them, oldest first:
    /// from here on each runs at most once.
    pub async fn claim_jobs(&self, limit: i64) -> Result<Vec<(String, u64)>, sqlx::Error> {
        let mut claimed: Vec<(i64, String, u64)> = sqlx::query(
            "UPDATE jobs SET state = 'started' WHERE (conversation_id, seq) IN
               (SELECT conversation_id, seq FROM jobs WHERE state = 'queued' ORDER BY created_at LIMIT ?)
             RETURNING conversation_id, seq, created_at",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            (
                r.get("created_at"),
                r.get("conversation_id"),
                r.get::<i64, _>("seq") as u64,
            )
        })
        .collect();
        claimed.sort();
        Ok(claimed.into_iter().map(|(_, c, s)| (c, s)).collect())
    }

    pub async fn finish_job(
        tx: &mut Tx<'_>,
        conversation_id: &str,
        seq: u64,
    ) -> Result<(), sqlx::Error> {
        Self::finish_jobs(tx, &[(conversation_id, seq)]).await
    }

    /// Deletes finished jobs, one statement for all.
    pub async fn finish_jobs(tx: &mut Tx<'_>, jobs: &[(&str, u64)]) -> Result<(), sqlx::Error> {
        if jobs.is_empty() {
            return Ok(());
        }
        let mut q =
            QueryBuilder::<Sqlite>::new("DELETE FROM jobs WHERE (conversation_id, seq) IN (");
        q.push_values(jobs, |mut row, (c, seq)| {
            row.push_bind(*c).push_bind(*seq as i64);
        });
        q.push(")");
        q.build().execute(&mut **tx).await?;
        Ok(())
    }
}
