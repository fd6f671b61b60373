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

    /// Messages in the order they were written: within one conversation and direction by
    /// `seq` (a message retried after an outage can arrive after a later one), interleaved by
    /// time of storage.
    pub async fn messages(
        &self,
        conversation_id: Option<&str>,
    ) -> Result<Vec<StoredMessage>, sqlx::Error> {
        let stored: Vec<StoredMessage> = sqlx::query(
            "SELECT * FROM messages WHERE (?1 IS NULL OR conversation_id = ?1) ORDER BY at, seq",
        )
        .bind(conversation_id)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(message)
        .collect();
        Ok(in_seq_order(stored))
    }

    /// Deletes `90d` content older than 90 days; returns how many messages went.
    /// Brain contexts holding `90d` content go after 90 days too.
    /// Messages stored (both directions) since `at`.
    pub async fn messages_since(&self, at: i64) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE at > ?")
            .bind(at)
            .fetch_one(&self.read)
            .await
    }

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

/// Reorders messages sorted by time so that each (conversation, direction) stream is in `seq`
/// order: every message keeps the slot in time order that one of its stream held, and the
/// stream's messages fill its slots by ascending `seq`.
fn in_seq_order(mut by_time: Vec<StoredMessage>) -> Vec<StoredMessage> {
    use std::collections::HashMap;
    let mut streams: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for (i, m) in by_time.iter().enumerate() {
        streams
            .entry((m.conversation_id.clone(), m.direction.clone()))
            .or_default()
            .push(i);
    }
    let mut slots: Vec<Option<StoredMessage>> = by_time.drain(..).map(Some).collect();
    let mut out: Vec<Option<StoredMessage>> = (0..slots.len()).map(|_| None).collect();
    for positions in streams.into_values() {
        let mut members: Vec<StoredMessage> = positions
            .iter()
            .map(|&i| slots[i].take().expect("each slot once"))
            .collect();
        members.sort_by_key(|m| m.seq);
        for (&i, m) in positions.iter().zip(members) {
            out[i] = Some(m);
        }
    }
    out.into_iter().flatten().collect()
}
