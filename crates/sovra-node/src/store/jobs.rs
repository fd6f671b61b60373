//! Jobs: inbound messages whose calls are to run (`queued` → `started` → `done`).

use sqlx::Row;

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

    /// Marks a job started; false if another worker got it first.
    pub async fn start_job(&self, conversation_id: &str, seq: u64) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query("UPDATE jobs SET state = 'started' WHERE conversation_id = ? AND seq = ? AND state = 'queued'")
            .bind(conversation_id)
            .bind(seq as i64)
            .execute(&self.pool)
            .await?
            .rows_affected()
            == 1)
    }

    pub async fn finish_job(
        tx: &mut Tx<'_>,
        conversation_id: &str,
        seq: u64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE jobs SET state = 'done' WHERE conversation_id = ? AND seq = ?")
            .bind(conversation_id)
            .bind(seq as i64)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}
