//! Replay state of handshakes (conversation ids seen in the last day) and its sweep, with the
//! owner nonces and old rate buckets that expire alongside.

use super::{DAY_MS, HOUR_MS, Store, Tx, now_ms};

impl Store {
    pub async fn handshake_seen(&self, id: &str) -> Result<bool, sqlx::Error> {
        Ok(
            sqlx::query("SELECT 1 FROM handshakes_seen WHERE conversation_id = ?")
                .bind(id)
                .fetch_optional(&self.read)
                .await?
                .is_some(),
        )
    }

    pub async fn mark_handshake_seen(tx: &mut Tx<'_>, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO handshakes_seen (conversation_id, seen_at) VALUES (?, ?)")
            .bind(id)
            .bind(now_ms())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Forgets handshake ids and owner nonces past their replay windows, and old rate events.
    pub async fn sweep_replay_state(&self) -> Result<(), sqlx::Error> {
        let now = now_ms();
        sqlx::query("DELETE FROM handshakes_seen WHERE seen_at < ?")
            .bind(now - DAY_MS)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM owner_nonces WHERE expires_at < ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM rate_buckets WHERE hour <= ?")
            .bind(now / HOUR_MS - 24)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
