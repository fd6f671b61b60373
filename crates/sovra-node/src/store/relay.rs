//! Rows about relays: this cloud's own relays and the envelopes it processed.

use sqlx::Row;

use super::{Store, now_ms};

impl Store {
    pub async fn relays(&self) -> Result<Vec<String>, sqlx::Error> {
        Ok(sqlx::query("SELECT url FROM relays ORDER BY added_at")
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| r.get("url"))
            .collect())
    }

    /// Adds a relay, or replaces the private CA of one already there; false if it was there.
    pub async fn add_relay(&self, url: &str, ca_pem: Option<&str>) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let existed = sqlx::query("SELECT 1 FROM relays WHERE url = ?")
            .bind(url)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        sqlx::query(
            "INSERT INTO relays (url, added_at, ca_pem) VALUES (?, ?, ?) \
             ON CONFLICT (url) DO UPDATE SET ca_pem = excluded.ca_pem",
        )
        .bind(url)
        .bind(now_ms())
        .bind(ca_pem)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(!existed)
    }

    /// The private CA trusted for the relay at `url`, if the owner gave one.
    pub async fn relay_ca(&self, url: &str) -> Result<Option<String>, sqlx::Error> {
        Ok(
            sqlx::query_scalar("SELECT ca_pem FROM relays WHERE url = ?")
                .bind(url)
                .fetch_optional(&self.read)
                .await?
                .flatten(),
        )
    }

    pub async fn remove_relay(&self, url: &str) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query("DELETE FROM relays WHERE url = ?")
            .bind(url)
            .execute(&self.pool)
            .await?
            .rows_affected()
            == 1)
    }

    /// The answer given to a relay envelope processed before, if any.
    pub async fn relay_answer(
        &self,
        envelope: &str,
    ) -> Result<Option<(u16, serde_json::Value)>, sqlx::Error> {
        Ok(
            sqlx::query("SELECT status, body FROM relay_seen WHERE envelope = ?")
                .bind(envelope)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| {
                    (
                        r.get::<i64, _>("status") as u16,
                        serde_json::from_str(r.get::<&str, _>("body")).unwrap_or_default(),
                    )
                }),
        )
    }

    pub async fn relay_answered(
        &self,
        envelope: &str,
        status: u16,
        body: &serde_json::Value,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO relay_seen (envelope, status, body, seen_at) VALUES (?, ?, ?, ?)
             ON CONFLICT DO NOTHING",
        )
        .bind(envelope)
        .bind(i64::from(status))
        .bind(body.to_string())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
