//! Devices the cloud key certified for the owner API, and the owner-request nonces used.

use sqlx::Row;

use super::{Store, now_ms};

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

    /// Unrevoked devices attached by a cloud-key-signed attachment (client instances, not the
    /// CLI device a home makes for itself): each can be another device's second factor.
    pub async fn attached_devices(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM devices WHERE revoked_at IS NULL AND pubkey IN
               (SELECT device FROM device_artifacts WHERE kind = 'attachment')",
        )
        .fetch_one(&self.read)
        .await
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

/// A device as the owner sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceRow {
    pub device: String,
    pub label: String,
    /// The cloud key's certificate of the device (JSON).
    #[serde(skip)]
    pub certificate: String,
    pub revoked_at: Option<i64>,
}

impl Store {
    pub async fn device_list(&self) -> Result<Vec<DeviceRow>, sqlx::Error> {
        Ok(
            sqlx::query(
                "SELECT pubkey, label, certificate, revoked_at FROM devices ORDER BY rowid",
            )
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| DeviceRow {
                device: r.get("pubkey"),
                label: r.get("label"),
                certificate: r.get("certificate"),
                revoked_at: r.get("revoked_at"),
            })
            .collect(),
        )
    }

    /// Records an artifact and applies it to the device, in one transaction: an attachment
    /// adds (or re-adds) the device with its certificate, a detachment revokes it, a recovery
    /// lifts the revocation.
    pub async fn apply_device_artifact(
        &self,
        id: &str,
        kind: &str,
        device: &str,
        body: &str,
        certificate: Option<(&str, &str)>,
    ) -> Result<(), sqlx::Error> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO device_artifacts (id, kind, device, body, at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(kind)
        .bind(device)
        .bind(body)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        match (kind, certificate) {
            ("attachment", Some((cert, label))) => {
                sqlx::query(
                    "INSERT INTO devices (pubkey, certificate, label) VALUES (?, ?, ?)
                     ON CONFLICT (pubkey) DO UPDATE SET certificate = excluded.certificate,
                       label = excluded.label, revoked_at = NULL",
                )
                .bind(device)
                .bind(cert)
                .bind(label)
                .execute(&mut *tx)
                .await?;
            }
            ("detachment", _) => {
                sqlx::query("UPDATE devices SET revoked_at = ? WHERE pubkey = ?")
                    .bind(now)
                    .bind(device)
                    .execute(&mut *tx)
                    .await?;
            }
            ("recovery", _) => {
                sqlx::query("UPDATE devices SET revoked_at = NULL WHERE pubkey = ?")
                    .bind(device)
                    .execute(&mut *tx)
                    .await?;
            }
            _ => {}
        }
        tx.commit().await
    }

    /// A stored artifact's body by id and kind.
    pub async fn device_artifact(
        &self,
        id: &str,
        kind: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT body FROM device_artifacts WHERE id = ? AND kind = ?")
            .bind(id)
            .bind(kind)
            .fetch_optional(&self.read)
            .await
    }

    /// Every artifact of `device`, oldest first.
    pub async fn device_artifacts(
        &self,
        device: &str,
    ) -> Result<Vec<(String, String)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT kind, body FROM device_artifacts WHERE device = ? ORDER BY at, rowid",
        )
        .bind(device)
        .fetch_all(&self.read)
        .await
    }
}
