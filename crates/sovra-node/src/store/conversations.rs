//! Conversations: one row per handshake that succeeded, holding its session, its send counter
//! and its receive window. State changes clear the route memo.

use std::sync::Arc;

use sovra_proto::{PublicKey, ReplayWindow, Session, StoredSession};
use sqlx::Row;

use super::{Store, Tx, now_ms};

/// The part of a conversation an inbound message is checked against. Immutable but for
/// `state`, whose changes clear the memo holding it. The session is kept parsed: rebuilding it
/// decompresses two Ed25519 points, a fifth of a signature check.
#[derive(Clone)]
pub struct Route {
    pub id: String,
    pub peer_pubkey: String,
    pub session: Arc<Session>,
    pub state: String,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Conversation {
    pub id: String,
    #[serde(skip)]
    pub token: String,
    pub peer_pubkey: String,
    pub role: String,
    pub topic: String,
    #[serde(skip)]
    pub session: String,
    pub state: String,
    pub granted: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub next_send_seq: i64,
    #[serde(skip)]
    pub window: ReplayWindow,
}

fn conversation(row: &sqlx::sqlite::SqliteRow) -> Conversation {
    Conversation {
        id: row.get("id"),
        token: row.get("token"),
        peer_pubkey: row.get("peer_pubkey"),
        role: row.get("role"),
        topic: row.get("topic"),
        session: row.get("session"),
        state: row.get("state"),
        granted: serde_json::from_str(row.get::<&str, _>("granted")).unwrap_or_default(),
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
        closed_at: row.get("closed_at"),
        next_send_seq: row.get("next_send_seq"),
        window: ReplayWindow {
            highest: row.get::<i64, _>("recv_highest") as u64,
            seen: row.get::<i64, _>("recv_seen") as u64,
        },
    }
}

impl Store {
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_conversation(
        tx: &mut Tx<'_>,
        id: &str,
        token: &str,
        peer: &str,
        role: &str,
        topic: &str,
        session: &str,
        granted: &[String],
        expires_at: Option<i64>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO conversations (id, token, peer_pubkey, role, topic, session, granted, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(token)
        .bind(peer)
        .bind(role)
        .bind(topic)
        .bind(session)
        .bind(serde_json::to_string(granted).expect("json"))
        .bind(now_ms())
        .bind(expires_at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    pub async fn route(&self, token: &str) -> Result<Option<Route>, sqlx::Error> {
        let generation = match self.routes.get(&token.to_owned()) {
            Ok(route) => return Ok(Some(route)),
            Err(generation) => generation,
        };
        let found = sqlx::query(
            "SELECT id, peer_pubkey, session, state, expires_at FROM conversations WHERE token = ?",
        )
        .bind(token)
        .fetch_optional(&self.read)
        .await?
        .map(|row| -> Result<Route, sqlx::Error> {
            let stored: StoredSession = serde_json::from_str(row.get("session"))
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok(Route {
                id: row.get("id"),
                peer_pubkey: row.get("peer_pubkey"),
                session: Arc::new(
                    Session::from_stored(&stored).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                ),
                state: row.get("state"),
                expires_at: row.get("expires_at"),
            })
        })
        .transpose()?;
        // Unknown tokens are not memoized, like unknown peers.
        if let Some(found) = &found {
            self.routes
                .fill(token.to_owned(), found.clone(), generation);
        }
        Ok(found)
    }

    pub async fn conversation(&self, id: &str) -> Result<Option<Conversation>, sqlx::Error> {
        Ok(sqlx::query("SELECT * FROM conversations WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(conversation))
    }

    /// The newest open, unexpired conversation with `peer`.
    pub async fn open_conversation_with(
        &self,
        peer: &PublicKey,
    ) -> Result<Option<Conversation>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT * FROM conversations WHERE peer_pubkey = ? AND state = 'open'
             AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at DESC LIMIT 1",
        )
        .bind(peer.to_b64())
        .bind(now_ms())
        .fetch_optional(&self.read)
        .await?
        .as_ref()
        .map(conversation))
    }

    pub async fn conversations(&self) -> Result<Vec<Conversation>, sqlx::Error> {
        Ok(
            sqlx::query("SELECT * FROM conversations ORDER BY created_at DESC")
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(conversation)
                .collect(),
        )
    }

    /// Closes a conversation and deletes its `session`-retention messages (PROTOCOL.md §9.5),
    /// with the brain contexts that held them; its pending drafts are discarded.
    pub async fn close_conversation(&self, id: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.begin().await?;
        let closed = Self::close_in(&mut tx, id).await?;
        tx.commit().await?;
        self.routes.clear();
        Ok(closed)
    }

    /// Closes a conversation inside `tx`: its state, and everything a close deletes or
    /// discards. True if it was open.
    pub(super) async fn close_in(tx: &mut Tx<'_>, id: &str) -> Result<bool, sqlx::Error> {
        let n = sqlx::query("UPDATE conversations SET state = 'closed', closed_at = ? WHERE id = ? AND state = 'open'")
            .bind(now_ms())
            .bind(id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM messages WHERE conversation_id = ? AND retention = 'session'")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        // What brains saw of session content goes with it; drafts answer a closed conversation.
        sqlx::query("DELETE FROM brain_runs WHERE conversation_id = ? AND retention = 'session'")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        sqlx::query("DELETE FROM brain_sessions WHERE conversation_id = ?")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "UPDATE drafts SET state = 'discarded' WHERE conversation_id = ? AND state = 'pending'",
        )
        .bind(id)
        .execute(&mut **tx)
        .await?;
        Ok(n > 0)
    }
}
