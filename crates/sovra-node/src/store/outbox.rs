//! The outbox: sealed messages waiting for delivery, their attempts and last error.

use sqlx::Row;

use super::{Store, now_ms};

#[derive(Debug, Clone, serde::Serialize)]
pub struct OutboxItem {
    pub id: i64,
    pub conversation_id: String,
    /// The conversation's peer, whose whitelist entry says where to deliver.
    #[serde(skip)]
    pub peer_pubkey: String,
    pub seq: i64,
    pub url: String,
    #[serde(skip)]
    pub body: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub last_error: Option<String>,
    /// `d2d` (a sealed message of `conversation_id`) or `action` (a token for a peer's
    /// `/api/inbox`; `conversation_id` holds the action's id).
    pub kind: String,
}

fn outbox_item(row: &sqlx::sqlite::SqliteRow) -> OutboxItem {
    OutboxItem {
        id: row.get("id"),
        conversation_id: row.get("conversation_id"),
        peer_pubkey: row.get("peer_pubkey"),
        seq: row.get("seq"),
        url: row.get("url"),
        body: row.get("body"),
        state: row.get("state"),
        attempts: row.get("attempts"),
        next_attempt_at: row.get("next_attempt_at"),
        created_at: row.get("created_at"),
        last_error: row.get("last_error"),
        kind: row.get("kind"),
    }
}

/// What one delivery attempt came to.
#[derive(Debug, Clone)]
pub struct OutboxOutcome {
    pub id: i64,
    /// `delivered`, `pending` (retry at `next_attempt_at`) or `failed`.
    pub state: &'static str,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub error: Option<String>,
}

impl Store {
    pub async fn due_outbox(&self, limit: i64) -> Result<Vec<OutboxItem>, sqlx::Error> {
        Ok(sqlx::query("SELECT outbox.*, COALESCE(conversations.peer_pubkey, '') AS peer_pubkey FROM outbox LEFT JOIN conversations ON conversations.id = outbox.conversation_id WHERE outbox.state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?")
            .bind(now_ms())
            .bind(limit)
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(outbox_item)
            .collect())
    }

    /// When the next pending delivery is due, if any.
    pub async fn next_outbox_due(&self) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query("SELECT MIN(next_attempt_at) AS t FROM outbox WHERE state = 'pending'")
            .fetch_one(&self.read)
            .await
            .map(|r| r.get("t"))
    }

    /// Cancels a delivery still pending: `Some(true)` if it was, `Some(false)` if it had
    /// already ended (delivered or failed), `None` for no such row.
    pub async fn cancel_outbox(&self, id: i64) -> Result<Option<bool>, sqlx::Error> {
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM outbox WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        let Some(_) = state else { return Ok(None) };
        let n = sqlx::query(
            "UPDATE outbox SET state = 'failed', last_error = 'cancelled by the owner'
             WHERE id = ? AND state = 'pending'",
        )
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(Some(n > 0))
    }

    /// Deliveries still pending (the outbox depth, for `/metrics`).
    pub async fn outbox_pending(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
            .fetch_one(&self.read)
            .await
    }

    pub async fn outbox(&self) -> Result<Vec<OutboxItem>, sqlx::Error> {
        Ok(
            sqlx::query("SELECT outbox.*, COALESCE(conversations.peer_pubkey, '') AS peer_pubkey FROM outbox LEFT JOIN conversations ON conversations.id = outbox.conversation_id ORDER BY outbox.id DESC LIMIT 200")
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(outbox_item)
                .collect(),
        )
    }
}
