//! Rows about registries: pinned registry keys, this cloud's own registration, whitelist
//! entries that follow a peer's registry record, and this cloud's own key rotation.

use sovra_proto::registry::VerifiedRecord;
use sovra_proto::{Grant, PublicKey};
use sqlx::Row;

use super::{Store, now_ms};

pub use sovra_proto::owner::{PinnedRegistry, Registration};

fn pinned(r: &sqlx::sqlite::SqliteRow) -> PinnedRegistry {
    PinnedRegistry {
        url: r.get("url"),
        registry_key: r.get("registry_key"),
        domain: r.get("domain"),
        pinned_at: r.get("pinned_at"),
    }
}

impl Store {
    pub async fn pinned_registry(&self, url: &str) -> Result<Option<PinnedRegistry>, sqlx::Error> {
        Ok(sqlx::query("SELECT * FROM registries WHERE url = ?")
            .bind(url)
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(pinned))
    }

    pub async fn pinned_registries(&self) -> Result<Vec<PinnedRegistry>, sqlx::Error> {
        Ok(sqlx::query("SELECT * FROM registries ORDER BY pinned_at")
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(pinned)
            .collect())
    }

    /// The registry pinned for a handle domain (the most recently pinned, if several).
    pub async fn registry_for_domain(
        &self,
        domain: &str,
    ) -> Result<Option<PinnedRegistry>, sqlx::Error> {
        Ok(
            sqlx::query("SELECT * FROM registries WHERE domain = ? ORDER BY pinned_at DESC")
                .bind(domain)
                .fetch_optional(&self.read)
                .await?
                .as_ref()
                .map(pinned),
        )
    }

    /// Pins `key` for `url` unless a key is pinned already; returns what is pinned, so two
    /// racing first contacts agree on the first one.
    pub async fn pin_registry(
        &self,
        url: &str,
        key: &PublicKey,
        domain: &str,
    ) -> Result<PinnedRegistry, sqlx::Error> {
        sqlx::query(
            "INSERT INTO registries (url, registry_key, domain, pinned_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (url) DO NOTHING",
        )
        .bind(url)
        .bind(key.to_b64())
        .bind(domain)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        sqlx::query("SELECT * FROM registries WHERE url = ?")
            .bind(url)
            .fetch_one(&self.pool)
            .await
            .map(|r| pinned(&r))
    }

    pub async fn registration(&self) -> Result<Option<Registration>, sqlx::Error> {
        Ok(sqlx::query("SELECT * FROM registration WHERE id = 1")
            .fetch_optional(&self.read)
            .await?
            .map(|r| Registration {
                registry_url: r.get("registry_url"),
                handle: r.get("handle"),
                registered_at: r.get("registered_at"),
                record_issued_at: r.get("record_issued_at"),
                last_heartbeat: r.get("last_heartbeat"),
            }))
    }

    /// Records that the registry at `url` now holds this cloud's record issued at `issued_at`.
    pub async fn set_registration(
        &self,
        url: &str,
        handle: &str,
        issued_at: &str,
    ) -> Result<(), sqlx::Error> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO registration (id, registry_url, handle, registered_at, record_issued_at, last_heartbeat)
             VALUES (1, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET registry_url = excluded.registry_url,
               handle = excluded.handle, record_issued_at = excluded.record_issued_at,
               last_heartbeat = excluded.last_heartbeat",
        )
        .bind(url)
        .bind(handle)
        .bind(now)
        .bind(issued_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Adds or updates a whitelist entry resolved through a registry: grants from the owner,
    /// key, URL and encryption key from the verified record.
    pub async fn whitelist_resolved(
        &self,
        grant: &Grant,
        record: &VerifiedRecord,
        registry_url: &str,
        swarm: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let (peer_url, encryption_key) =
            (record.endpoint.as_deref(), record.encryption_key.to_b64());
        let now = now_ms();
        sqlx::query(
            "INSERT INTO whitelist (peer_pubkey, peer_handle, allowed_capabilities, rate_limit_per_day, expires_at, peer_url, peer_encryption_key, registry_url, checked_at, created_at, peer_relays, swarm)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, COALESCE(?, 'main'))
             ON CONFLICT (peer_pubkey) DO UPDATE SET peer_handle = excluded.peer_handle,
               allowed_capabilities = excluded.allowed_capabilities,
               rate_limit_per_day = excluded.rate_limit_per_day, expires_at = excluded.expires_at,
               peer_url = excluded.peer_url,
               peer_encryption_key = excluded.peer_encryption_key,
               registry_url = excluded.registry_url, checked_at = excluded.checked_at,
               peer_relays = excluded.peer_relays, swarm = COALESCE(?, whitelist.swarm)",
        )
        .bind(grant.peer_pubkey.to_b64())
        .bind(&grant.peer_handle)
        .bind(serde_json::to_string(&grant.allowed_capabilities).expect("json"))
        .bind(i64::from(grant.rate_limit_per_day))
        .bind(grant.expires_at.map(|t| t.as_millisecond()))
        .bind(peer_url)
        .bind(&encryption_key)
        .bind(registry_url)
        .bind(now)
        .bind(now)
        .bind(serde_json::to_string(&record.relays).expect("json"))
        .bind(swarm)
        .bind(swarm)
        .execute(&self.pool)
        .await?;
        self.peers.clear();
        Ok(())
    }

    /// Whitelist entries kept in step with a registry, least recently checked first.
    pub async fn registry_peers(&self) -> Result<Vec<super::Peer>, sqlx::Error> {
        sqlx::query(
            "SELECT * FROM whitelist WHERE registry_url IS NOT NULL
             ORDER BY COALESCE(checked_at, 0)",
        )
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(super::whitelist::peer)
        .collect()
    }

    /// The registry still vouches for this entry's key: note when, and take its current
    /// endpoint and encryption key.
    pub async fn peer_confirmed(
        &self,
        peer: &PublicKey,
        record: &VerifiedRecord,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE whitelist SET checked_at = ?, peer_url = ?, peer_encryption_key = ?,
               peer_relays = ? WHERE peer_pubkey = ?",
        )
        .bind(now_ms())
        .bind(record.endpoint.as_deref())
        .bind(record.encryption_key.to_b64())
        .bind(serde_json::to_string(&record.relays).expect("json"))
        .bind(peer.to_b64())
        .execute(&self.pool)
        .await?;
        self.peers.clear();
        Ok(())
    }

    /// Follows a peer's rotation: the entry moves to the new key with its grants; the
    /// conversations under the old key are closed (their sessions were bound to it).
    pub async fn rekey_peer(
        &self,
        old: &PublicKey,
        record: &VerifiedRecord,
    ) -> Result<(), sqlx::Error> {
        let new = &record.pubkey;
        let now = now_ms();
        let mut tx = self.begin().await?;
        // An entry for the new key the owner made by hand wins; the old one goes.
        let exists = sqlx::query("SELECT 1 FROM whitelist WHERE peer_pubkey = ?")
            .bind(new.to_b64())
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if exists {
            sqlx::query("DELETE FROM whitelist WHERE peer_pubkey = ?")
                .bind(old.to_b64())
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query(
                "UPDATE whitelist SET peer_pubkey = ?, peer_url = ?, peer_encryption_key = ?,
                   peer_relays = ?, checked_at = ? WHERE peer_pubkey = ?",
            )
            .bind(new.to_b64())
            .bind(record.endpoint.as_deref())
            .bind(record.encryption_key.to_b64())
            .bind(serde_json::to_string(&record.relays).expect("json"))
            .bind(now)
            .bind(old.to_b64())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE conversations SET state = 'closed', closed_at = ?
             WHERE peer_pubkey = ? AND state = 'open'",
        )
        .bind(now)
        .bind(old.to_b64())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.peers.clear();
        self.routes.clear();
        Ok(())
    }

    /// A registry reset moved `handle` to `new`: ask the owner, once per new key. Returns
    /// whether a request was added.
    pub async fn insert_key_reset(
        &self,
        id: &str,
        new: &PublicKey,
        handle: &str,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.begin().await?;
        let asked =
            sqlx::query("SELECT 1 FROM pending WHERE peer_pubkey = ? AND reason = 'key_reset'")
                .bind(new.to_b64())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
        if !asked {
            sqlx::query(
                "INSERT INTO pending (id, peer_pubkey, peer_handle, topic, received_at, reason)
                 VALUES (?, ?, ?, ?, ?, 'key_reset')",
            )
            .bind(id)
            .bind(new.to_b64())
            .bind(handle)
            .bind(format!(
                "{handle} was reset to a new key at its registry (not a rotation signed by the old key); approve only after checking the safety code with its owner"
            ))
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE whitelist SET checked_at = ? WHERE peer_handle = ? AND registry_url IS NOT NULL")
            .bind(now_ms())
            .bind(handle)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.peers.clear();
        Ok(!asked)
    }

    /// After this cloud's own key rotated: device certificates re-issued by the new key, and
    /// every open conversation closed (its session was bound to the old key). Returns how many
    /// conversations closed.
    pub async fn keys_rotated(
        &self,
        certificates: &[(String, String)],
        handle: &str,
        issued_at: &str,
    ) -> Result<u64, sqlx::Error> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        for (device, certificate) in certificates {
            sqlx::query("UPDATE devices SET certificate = ? WHERE pubkey = ?")
                .bind(certificate)
                .bind(device)
                .execute(&mut *tx)
                .await?;
        }
        let closed = sqlx::query(
            "UPDATE conversations SET state = 'closed', closed_at = ? WHERE state = 'open'",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE registration SET handle = ?, record_issued_at = ?, last_heartbeat = ? WHERE id = 1",
        )
        .bind(handle)
        .bind(issued_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.routes.clear();
        Ok(closed)
    }
}
