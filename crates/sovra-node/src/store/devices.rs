//! Devices the cloud key certified for the owner API, and the owner-request nonces used.

use sqlx::Row;

use super::Store;

impl Store {
    pub async fn add_device(
        &self,
        pubkey: &str,
        certificate: &str,
        label: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO devices (pubkey, certificate, label) VALUES (?, ?, ?)")
            .bind(pubkey)
            .bind(certificate)
            .bind(label)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The certificate of an unrevoked device.
    pub async fn device_certificate(&self, pubkey: &str) -> Result<Option<String>, sqlx::Error> {
        Ok(
            sqlx::query("SELECT certificate FROM devices WHERE pubkey = ? AND revoked_at IS NULL")
                .bind(pubkey)
                .fetch_optional(&self.read)
                .await?
                .map(|r| r.get("certificate")),
        )
    }

    /// Records an owner-request nonce; false if it was already used.
    pub async fn use_nonce(&self, nonce: &str, expires_at: i64) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query(
            "INSERT INTO owner_nonces (nonce, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(nonce)
        .bind(expires_at)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }
}
