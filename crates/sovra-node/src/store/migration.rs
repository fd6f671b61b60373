//! Moves and seals: this copy's move state (`migration`, node-local), the cloud's own move
//! statements (`moves`), what peers were told, and sealed swarms (`seals`).

use sqlx::Row;

use super::{Store, now_ms};

/// A move statement of ours still to be told to the node the cloud left.
pub struct OldNode {
    pub seq: u64,
    pub statement: String,
    pub endpoint: String,
}

impl Store {
    /// `(state, statement JSON)` of the `migration` row.
    pub async fn migration_state(&self) -> Result<(String, Option<String>), sqlx::Error> {
        let row = sqlx::query("SELECT state, statement FROM migration WHERE id = 1")
            .fetch_one(&self.read)
            .await?;
        Ok((row.get("state"), row.get("statement")))
    }

    pub async fn set_migration_state(
        &self,
        state: &str,
        statement: Option<String>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE migration SET state = ?, statement = ?, at = ? WHERE id = 1")
            .bind(state)
            .bind(statement)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The last move statement this cloud signed: `(seq, JSON)`.
    pub async fn last_move(&self) -> Result<Option<(u64, String)>, sqlx::Error> {
        Ok(
            sqlx::query("SELECT seq, statement FROM moves ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&self.read)
                .await?
                .map(|r| (r.get::<i64, _>("seq") as u64, r.get("statement"))),
        )
    }

    /// Records a move statement of ours; whitelisted peers are then told of it one by one.
    pub async fn add_move(
        &self,
        seq: u64,
        statement: &str,
        old_endpoint: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO moves (seq, statement, old_endpoint, at) VALUES (?, ?, ?, ?)")
            .bind(seq as i64)
            .bind(statement)
            .bind(old_endpoint)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The last move, if the node it left has not acknowledged it yet.
    pub async fn old_node_to_tell(&self) -> Result<Option<OldNode>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT seq, statement, old_endpoint FROM moves
             WHERE old_told = 0 AND old_endpoint IS NOT NULL ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(&self.read)
        .await?
        .map(|r| OldNode {
            seq: r.get::<i64, _>("seq") as u64,
            statement: r.get("statement"),
            endpoint: r.get("old_endpoint"),
        }))
    }

    pub async fn old_node_told(&self, seq: u64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE moves SET old_told = 1 WHERE seq = ?")
            .bind(seq as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Peers not yet told of move `seq`.
    pub async fn peers_untold(&self, seq: u64) -> Result<Vec<super::Peer>, sqlx::Error> {
        sqlx::query("SELECT * FROM whitelist WHERE told_move_seq < ? ORDER BY peer_pubkey")
            .bind(seq as i64)
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(super::whitelist::peer)
            .collect()
    }

    pub async fn peer_told(&self, peer: &str, seq: u64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE whitelist SET told_move_seq = MAX(told_move_seq, ?) WHERE peer_pubkey = ?",
        )
        .bind(seq as i64)
        .bind(peer)
        .execute(&self.pool)
        .await?;
        self.peers.clear();
        Ok(())
    }

    /// Follows a peer's move: its new endpoint, relays and encryption key, the statement's
    /// `seq`, and in its open conversations the key that now signs for it (the sessions keep
    /// their keys and counters). Only a higher `seq` than the one followed last changes
    /// anything; returns whether it did. One transaction.
    pub async fn follow_peer_move(
        &self,
        peer: &sovra_proto::PublicKey,
        seq: u64,
        endpoint: Option<&str>,
        relays: &[String],
        encryption_key: &str,
        signer: &sovra_proto::PublicKey,
    ) -> Result<bool, sqlx::Error> {
        let key = peer.to_b64();
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE whitelist SET peer_url = ?, peer_relays = ?, peer_encryption_key = ?, moved_seq = ?
             WHERE peer_pubkey = ? AND moved_seq < ?",
        )
        .bind(endpoint)
        .bind(serde_json::to_string(relays).expect("json"))
        .bind(encryption_key)
        .bind(seq as i64)
        .bind(&key)
        .bind(seq as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            let open = sqlx::query(
                "SELECT id, session FROM conversations WHERE peer_pubkey = ? AND state = 'open'",
            )
            .bind(&key)
            .fetch_all(&mut *tx)
            .await?;
            for row in open {
                let Ok(mut stored) =
                    serde_json::from_str::<sovra_proto::StoredSession>(row.get("session"))
                else {
                    continue;
                };
                stored.peer_signer = (signer != peer).then(|| signer.to_b64());
                sqlx::query("UPDATE conversations SET session = ? WHERE id = ?")
                    .bind(serde_json::to_string(&stored).expect("json"))
                    .bind(row.get::<String, _>("id"))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        self.peers.clear();
        self.routes.clear();
        Ok(n > 0)
    }

    pub async fn seals(
        &self,
    ) -> Result<Vec<(String, super::super::migration::seal::Unseal)>, sqlx::Error> {
        Ok(
            sqlx::query("SELECT swarm, unseal FROM seals ORDER BY swarm")
                .fetch_all(&self.read)
                .await?
                .iter()
                .filter_map(|r| {
                    let policy = r.get::<String, _>("unseal").parse().ok()?;
                    Some((r.get("swarm"), policy))
                })
                .collect(),
        )
    }

    pub async fn set_seal(&self, swarm: &str, unseal: Option<&str>) -> Result<(), sqlx::Error> {
        match unseal {
            Some(policy) => {
                sqlx::query(
                    "INSERT INTO seals (swarm, unseal, sealed_at) VALUES (?, ?, ?)
                     ON CONFLICT (swarm) DO UPDATE SET unseal = excluded.unseal",
                )
                .bind(swarm)
                .bind(policy)
                .bind(now_ms())
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM seals WHERE swarm = ?")
                    .bind(swarm)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// Whether this cloud has any peer or conversation (an import goes only into one without).
    pub async fn has_talked(&self) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM whitelist) OR EXISTS (SELECT 1 FROM conversations)",
        )
        .fetch_one(&self.read)
        .await
    }

    /// Jobs started and not yet answered.
    pub async fn started_jobs(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'started'")
            .fetch_one(&self.pool)
            .await
    }
}
