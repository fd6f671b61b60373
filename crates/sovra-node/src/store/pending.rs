//! Pending requests: handshakes from keys not on the whitelist, and registry key resets, kept
//! for the owner to approve or deny.

use sovra_proto::PublicKey;
use sqlx::Row;

use super::{Store, Tx, now_ms};

pub use sovra_proto::owner::{HandleStatus, PendingRequest};

fn status_from_column(text: &str) -> HandleStatus {
    match text {
        "verified" => HandleStatus::Verified,
        "impostor" => HandleStatus::Impostor,
        _ => HandleStatus::Unverified,
    }
}

fn status_column(status: HandleStatus) -> &'static str {
    match status {
        HandleStatus::Verified => "verified",
        HandleStatus::Unverified => "unverified",
        HandleStatus::Impostor => "impostor",
    }
}

fn pending_request(r: &sqlx::sqlite::SqliteRow) -> PendingRequest {
    PendingRequest {
        id: r.get("id"),
        peer_pubkey: r.get("peer_pubkey"),
        peer_handle: r.get("peer_handle"),
        topic: r.get("topic"),
        received_at: r.get("received_at"),
        state: r.get("state"),
        reason: r.get("reason"),
        handle_status: status_from_column(r.get("handle_status")),
        // Filled in where the cloud's key is known (the owner API).
        safety_code: String::new(),
    }
}

impl Store {
    /// Requests waiting, oldest first, `limit` at a time after the request `after` (an id).
    pub async fn pending(
        &self,
        limit: i64,
        after: Option<&str>,
    ) -> Result<Vec<PendingRequest>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT * FROM pending WHERE state = 'pending' AND (?1 IS NULL OR (received_at, id) >
               (SELECT received_at, id FROM pending WHERE id = ?1))
             ORDER BY received_at, id LIMIT ?2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(pending_request)
        .collect())
    }

    /// Waiting requests whose claimed handle was not checked yet, oldest first.
    pub async fn pending_unchecked(&self, limit: i64) -> Result<Vec<PendingRequest>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT * FROM pending WHERE state = 'pending' AND handle_status = 'unchecked'
               AND peer_handle IS NOT NULL ORDER BY received_at LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(pending_request)
        .collect())
    }

    pub async fn set_handle_status(
        &self,
        id: &str,
        status: HandleStatus,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE pending SET handle_status = ? WHERE id = ?")
            .bind(status_column(status))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// How many requests wait for the owner.
    pub async fn pending_count(&self) -> Result<i64, sqlx::Error> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM pending WHERE state = 'pending'")
                .fetch_one(&self.read)
                .await?
                .get("n"),
        )
    }

    pub async fn pending_all_for(
        &self,
        peer: &PublicKey,
    ) -> Result<Vec<PendingRequest>, sqlx::Error> {
        Ok(sqlx::query("SELECT * FROM pending WHERE peer_pubkey = ?")
            .bind(peer.to_b64())
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(pending_request)
            .collect())
    }

    /// A request still waiting for a decision.
    pub async fn pending_get(&self, id: &str) -> Result<Option<PendingRequest>, sqlx::Error> {
        Ok(
            sqlx::query("SELECT * FROM pending WHERE id = ? AND state = 'pending'")
                .bind(id)
                .fetch_optional(&self.read)
                .await?
                .as_ref()
                .map(pending_request),
        )
    }

    /// Settles a request, and every other pending request from the same peer with it.
    pub async fn pending_settle(&self, peer_pubkey: &str, state: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE pending SET state = ? WHERE peer_pubkey = ? AND state = 'pending'")
            .bind(state)
            .bind(peer_pubkey)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn insert_pending(
        tx: &mut Tx<'_>,
        id: &str,
        peer: &PublicKey,
        handle: Option<&str>,
        topic: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO pending (id, peer_pubkey, peer_handle, topic, received_at) VALUES (?, ?, ?, ?, ?)")
            .bind(id)
            .bind(peer.to_b64())
            .bind(handle)
            .bind(topic)
            .bind(now_ms())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}
