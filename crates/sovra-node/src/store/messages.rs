//! Messages in and out, as their data policies allow them to be kept; the retention sweep.

use sqlx::Row;

use super::{DAY_MS, Store, now_ms};

#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredMessage {
    pub conversation_id: String,
    pub direction: String,
    pub seq: i64,
    #[serde(skip)]
    pub request_hash: String,
    pub payload: serde_json::Value,
    pub retention: String,
    pub in_reply_to: Option<i64>,
    pub at: i64,
}

pub(super) fn message(row: &sqlx::sqlite::SqliteRow) -> StoredMessage {
    StoredMessage {
        conversation_id: row.get("conversation_id"),
        direction: row.get("direction"),
        seq: row.get("seq"),
        request_hash: row.get("request_hash"),
        payload: serde_json::from_str(row.get::<&str, _>("payload")).unwrap_or_default(),
        retention: row.get("retention"),
        in_reply_to: row.get("in_reply_to"),
        at: row.get("at"),
    }
}

impl Store {
    pub async fn message(
        &self,
        conversation_id: &str,
        direction: &str,
        seq: u64,
    ) -> Result<Option<StoredMessage>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT * FROM messages WHERE conversation_id = ? AND direction = ? AND seq = ?",
        )
        .bind(conversation_id)
        .bind(direction)
        .bind(seq as i64)
        .fetch_optional(&self.read)
        .await?
        .as_ref()
        .map(message))
    }

    /// The swarm that wrote one of our outbound messages, if a swarm did.
    pub async fn sent_by_swarm(
        &self,
        conversation_id: &str,
        seq: u64,
    ) -> Result<Option<String>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT swarm FROM messages WHERE conversation_id = ? AND direction = 'out' AND seq = ?",
        )
        .bind(conversation_id)
        .bind(seq as i64)
        .fetch_optional(&self.read)
        .await?
        .and_then(|r| r.get("swarm")))
    }

    pub async fn messages(
        &self,
        conversation_id: Option<&str>,
    ) -> Result<Vec<StoredMessage>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT * FROM messages WHERE (?1 IS NULL OR conversation_id = ?1) ORDER BY at, seq",
        )
        .bind(conversation_id)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(message)
        .collect())
    }

    /// Deletes `90d` content older than 90 days; returns how many messages went.
    /// Brain contexts holding `90d` content go after 90 days too.
    pub async fn sweep_retention(&self) -> Result<u64, sqlx::Error> {
        let cutoff = now_ms() - 90 * DAY_MS;
        sqlx::query("DELETE FROM brain_runs WHERE retention = '90d' AND at < ?")
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        Ok(
            sqlx::query("DELETE FROM messages WHERE retention = '90d' AND at < ?")
                .bind(cutoff)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}
