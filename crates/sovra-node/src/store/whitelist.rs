//! The whitelist: one row per peer key with its grant and what the node learned about reaching
//! it. Every write clears the peer memo (the hot path reads the memo, not the table).

use sovra_proto::{Grant, PublicKey, WhitelistEntry};
use sqlx::Row;

use super::{Store, now_ms};

/// A whitelist entry with what the node learned about the peer.
#[derive(Debug, Clone)]
pub struct Peer {
    pub grant: Grant,
    pub peer_url: Option<String>,
    pub peer_encryption_key: Option<String>,
    /// The registry this entry was resolved through and is refreshed from.
    pub registry_url: Option<String>,
    /// When the registry last confirmed (or moved) this entry's key, unix ms.
    pub checked_at: Option<i64>,
    /// Relays the peer can be reached through.
    pub peer_relays: Vec<String>,
    /// The swarm that answers this peer.
    pub swarm: String,
    /// The nym this cloud presents to the peer instead of its handle (§19.7).
    pub present_as: Option<String>,
    /// The `seq` of the peer's last move statement followed here (§20.4); 0: none.
    pub moved_seq: u64,
    /// `read` or `control` once this cloud's inheritance switch fired and named the peer (§22).
    pub heir: Option<String>,
}

impl Peer {
    /// An entry resolved through a registry follows that registry's record for its handle;
    /// any other handle is the owner's own label for the key.
    pub fn handle_status(&self) -> super::HandleStatus {
        if self.registry_url.is_some() {
            super::HandleStatus::Verified
        } else {
            super::HandleStatus::Unverified
        }
    }
}

pub(super) fn peer(row: &sqlx::sqlite::SqliteRow) -> Result<Peer, sqlx::Error> {
    let entry = WhitelistEntry {
        peer_pubkey: row.get("peer_pubkey"),
        peer_handle: row.get("peer_handle"),
        allowed_capabilities: serde_json::from_str(row.get::<&str, _>("allowed_capabilities"))
            .unwrap_or_default(),
        rate_limit_per_day: row.get::<i64, _>("rate_limit_per_day") as u32,
        expires_at: row
            .get::<Option<i64>, _>("expires_at")
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .map(sovra_proto::time::format),
    };
    let grant = entry
        .validate()
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Peer {
        grant,
        peer_url: row.get("peer_url"),
        peer_encryption_key: row.get("peer_encryption_key"),
        registry_url: row.get("registry_url"),
        checked_at: row.get("checked_at"),
        peer_relays: serde_json::from_str(row.get::<&str, _>("peer_relays")).unwrap_or_default(),
        swarm: row.get("swarm"),
        present_as: row.get("present_as"),
        moved_seq: row.get::<i64, _>("moved_seq") as u64,
        heir: row.get("heir"),
    })
}

impl Store {
    /// Adds or updates an entry set by the owner. Reachability the owner did not give
    /// (`None`) is kept as it was.
    pub async fn whitelist_upsert(
        &self,
        grant: &Grant,
        peer_url: Option<&str>,
        relays: Option<&[String]>,
        encryption_key: Option<&str>,
        swarm: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        self.whitelist_upsert_presenting(grant, peer_url, relays, encryption_key, swarm, None)
            .await
    }

    /// `whitelist_upsert`, also setting (`Some(Some(nym))`) or clearing (`Some(None)`) the nym
    /// presented to the peer, in the same transaction.
    pub async fn whitelist_upsert_presenting(
        &self,
        grant: &Grant,
        peer_url: Option<&str>,
        relays: Option<&[String]>,
        encryption_key: Option<&str>,
        swarm: Option<&str>,
        present_as: Option<Option<&str>>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO whitelist (peer_pubkey, peer_handle, allowed_capabilities, rate_limit_per_day, expires_at, peer_url, peer_relays, peer_encryption_key, created_at, swarm)
             VALUES (?, ?, ?, ?, ?, ?, COALESCE(?, '[]'), ?, ?, COALESCE(?, 'main'))
             ON CONFLICT (peer_pubkey) DO UPDATE SET peer_handle = excluded.peer_handle,
               allowed_capabilities = excluded.allowed_capabilities,
               rate_limit_per_day = excluded.rate_limit_per_day, expires_at = excluded.expires_at,
               peer_url = COALESCE(excluded.peer_url, whitelist.peer_url),
               peer_relays = COALESCE(?, whitelist.peer_relays),
               peer_encryption_key = COALESCE(excluded.peer_encryption_key, whitelist.peer_encryption_key),
               swarm = COALESCE(?, whitelist.swarm)",
        )
        .bind(grant.peer_pubkey.to_b64())
        .bind(&grant.peer_handle)
        .bind(serde_json::to_string(&grant.allowed_capabilities).expect("json"))
        .bind(i64::from(grant.rate_limit_per_day))
        .bind(grant.expires_at.map(|t| t.as_millisecond()))
        .bind(peer_url)
        .bind(relays.map(|r| serde_json::to_string(r).expect("json")))
        .bind(encryption_key)
        .bind(now_ms())
        .bind(swarm)
        .bind(relays.map(|r| serde_json::to_string(r).expect("json")))
        .bind(swarm)
        .execute(&mut *tx)
        .await?;
        if let Some(nym) = present_as {
            sqlx::query("UPDATE whitelist SET present_as = ? WHERE peer_pubkey = ?")
                .bind(nym)
                .bind(grant.peer_pubkey.to_b64())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.peers.clear();
        Ok(())
    }

    pub async fn set_peer_encryption_key(
        &self,
        peer: &PublicKey,
        key: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE whitelist SET peer_encryption_key = ? WHERE peer_pubkey = ?")
            .bind(key)
            .bind(peer.to_b64())
            .execute(&self.pool)
            .await?;
        self.peers.clear();
        Ok(())
    }

    pub async fn peer(&self, pubkey: &PublicKey) -> Result<Option<Peer>, sqlx::Error> {
        let key = pubkey.to_b64();
        let generation = match self.peers.get(&key) {
            Ok(peer) => return Ok(Some(peer)),
            Err(generation) => generation,
        };
        let found = sqlx::query("SELECT * FROM whitelist WHERE peer_pubkey = ?")
            .bind(&key)
            .fetch_optional(&self.read)
            .await?
            .map(|r| peer(&r))
            .transpose()?;
        // Strangers are not memoized: a flood of unknown keys must not fill memory.
        if let Some(found) = &found {
            self.peers.fill(key, found.clone(), generation);
        }
        Ok(found)
    }

    /// Finds a peer by handle or by key (wire or human form).
    pub async fn find_peer(&self, who: &str) -> Result<Option<Peer>, sqlx::Error> {
        let key = PublicKey::from_human(who)
            .map(|k| k.to_b64())
            .unwrap_or_default();
        sqlx::query("SELECT * FROM whitelist WHERE peer_handle = ? OR peer_pubkey = ?")
            .bind(who)
            .bind(key)
            .fetch_optional(&self.read)
            .await?
            .map(|r| peer(&r))
            .transpose()
    }

    pub async fn peers(&self) -> Result<Vec<Peer>, sqlx::Error> {
        sqlx::query("SELECT * FROM whitelist ORDER BY peer_handle")
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(peer)
            .collect()
    }

    pub async fn remove_peer(&self, pubkey: &PublicKey) -> Result<bool, sqlx::Error> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM whitelist WHERE peer_pubkey = ?")
            .bind(pubkey.to_b64())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // Removing a peer closes its conversations, as closing each would (session content
        // deleted with them).
        let open: Vec<String> =
            sqlx::query("SELECT id FROM conversations WHERE peer_pubkey = ? AND state = 'open'")
                .bind(pubkey.to_b64())
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.get("id"))
                .collect();
        for id in &open {
            Self::close_in(&mut tx, id).await?;
        }
        tx.commit().await?;
        self.peers.clear();
        self.routes.clear();
        Ok(n > 0)
    }
}

/// A nym as the owner sees it.
pub use sovra_proto::owner::Nym as NymRow;

impl Store {
    pub async fn add_nym(&self, nym: &str, certificate: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO nyms (nym, certificate, created_at) VALUES (?, ?, ?)
             ON CONFLICT (nym) DO UPDATE SET certificate = excluded.certificate, retired_at = NULL",
        )
        .bind(nym)
        .bind(certificate)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn nyms(&self) -> Result<Vec<NymRow>, sqlx::Error> {
        Ok(
            sqlx::query("SELECT nym, created_at, retired_at FROM nyms ORDER BY created_at")
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(|r| NymRow {
                    nym: r.get("nym"),
                    created_at: r.get("created_at"),
                    retired_at: r.get("retired_at"),
                })
                .collect(),
        )
    }

    /// Retires a nym: peers shown it are shown the handle again. False if not active.
    pub async fn retire_nym(&self, nym: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let done =
            sqlx::query("UPDATE nyms SET retired_at = ? WHERE nym = ? AND retired_at IS NULL")
                .bind(now_ms())
                .bind(nym)
                .execute(&mut *tx)
                .await?;
        sqlx::query("UPDATE whitelist SET present_as = NULL WHERE present_as = ?")
            .bind(nym)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.peers.clear();
        Ok(done.rows_affected() == 1)
    }
}
