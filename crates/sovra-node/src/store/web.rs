//! The web page's pairing codes and browser sessions (`web_pairings`, `web_sessions`): digests
//! only, each bound to an attached device, each with a bound on how many may be held.

use sqlx::Row;

use super::{Store, now_ms};

/// Unspent, unexpired pairing codes one cloud holds at once.
pub const MAX_PAIRINGS: i64 = 16;
/// Live browser sessions one cloud holds at once.
pub const MAX_SESSIONS: i64 = 64;

/// A live session: the device it acts as, and the token the page must echo on writes.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub device: String,
    pub csrf: String,
    pub expires_at: i64,
}

impl Store {
    /// Records a pairing code's digest for `device`; `false` when the cloud already holds
    /// [`MAX_PAIRINGS`] unspent codes. Expired codes are dropped first.
    pub async fn add_web_pairing(
        &self,
        code_hash: &str,
        device: &str,
        expires_at: i64,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM web_pairings WHERE expires_at <= ?")
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM web_pairings")
            .fetch_one(&mut *tx)
            .await?;
        if held >= MAX_PAIRINGS {
            return Ok(false);
        }
        sqlx::query("INSERT INTO web_pairings (code_hash, device, expires_at) VALUES (?, ?, ?)")
            .bind(code_hash)
            .bind(device)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Spends a pairing code and opens its session in one transaction: the code works once,
    /// only before it expires, only while its device is attached. `Ok(None)`: no such code
    /// (or spent, expired, its device detached) — or the cloud holds [`MAX_SESSIONS`] already,
    /// in which case the code is kept.
    pub async fn pair_web_session(
        &self,
        code_hash: &str,
        token_hash: &str,
        csrf: &str,
        expires_at: i64,
    ) -> Result<Option<String>, sqlx::Error> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let device: Option<String> = sqlx::query_scalar(
            "SELECT p.device FROM web_pairings p JOIN devices d ON d.pubkey = p.device
             WHERE p.code_hash = ? AND p.expires_at > ? AND d.revoked_at IS NULL",
        )
        .bind(code_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(device) = device else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM web_sessions WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM web_sessions")
            .fetch_one(&mut *tx)
            .await?;
        if live >= MAX_SESSIONS {
            return Ok(None);
        }
        sqlx::query("DELETE FROM web_pairings WHERE code_hash = ?")
            .bind(code_hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO web_sessions (token_hash, device, csrf, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(&device)
        .bind(csrf)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(device))
    }

    /// The live session of a token digest, if its device is still attached.
    pub async fn web_session(&self, token_hash: &str) -> Result<Option<WebSession>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT s.device, s.csrf, s.expires_at FROM web_sessions s
             JOIN devices d ON d.pubkey = s.device
             WHERE s.token_hash = ? AND s.expires_at > ? AND d.revoked_at IS NULL",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|r| WebSession {
            device: r.get("device"),
            csrf: r.get("csrf"),
            expires_at: r.get("expires_at"),
        }))
    }

    /// Ends one session (signing out); the device stays attached.
    pub async fn end_web_session(&self, token_hash: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM web_sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
