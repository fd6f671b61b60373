//! What the brains did: runs (the context each answer was given), brainstem sessions, drafts
//! waiting for the owner, and the message history a brain's memory is read from.

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row, Sqlite};

use super::{DAY_MS, HOUR_MS, Store, StoredMessage, Tx, now_ms};

/// What a brain saw and said for one inbound message.
pub use sovra_proto::owner::BrainRun;

/// A brain run to write: what it was given and what came of it, with the counts it costs.
#[derive(Debug)]
pub struct NewBrainRun {
    /// The peer whose rate limit it counts against (base64 key).
    pub peer: String,
    pub swarm: String,
    pub context: serde_json::Value,
    pub answer: Option<String>,
    pub error: Option<String>,
    /// The most protective retention of what `context` holds.
    pub retention: &'static str,
}

/// An answer a review-mode swarm drafted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Draft {
    pub id: i64,
    pub conversation_id: String,
    pub in_reply_to: i64,
    pub swarm: String,
    pub payload: serde_json::Value,
    pub state: String,
    #[serde(serialize_with = "sovra_proto::time::as_rfc3339::serialize")]
    pub created_at: i64,
}

fn draft(r: &sqlx::sqlite::SqliteRow) -> Draft {
    Draft {
        id: r.get("id"),
        conversation_id: r.get("conversation_id"),
        in_reply_to: r.get("in_reply_to"),
        swarm: r.get("swarm"),
        payload: serde_json::from_str(r.get::<&str, _>("payload")).unwrap_or_default(),
        state: r.get("state"),
        created_at: r.get("created_at"),
    }
}

impl Store {
    /// The latest `limit` messages of a conversation, both directions, oldest first. Read per
    /// direction along the primary key (`seq` grows in each), so the cost does not grow with
    /// the conversation's length.
    async fn latest(
        &self,
        conversation_id: &str,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, sqlx::Error> {
        let mut all = Vec::new();
        for direction in ["in", "out"] {
            let rows = sqlx::query(
                "SELECT * FROM messages WHERE conversation_id = ? AND direction = ?
                 ORDER BY seq DESC LIMIT ?",
            )
            .bind(conversation_id)
            .bind(direction)
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
            all.extend(rows.iter().map(super::messages::message));
        }
        all.sort_by_key(|m| (m.at, m.seq));
        let skip = all.len().saturating_sub(limit as usize);
        Ok(all.split_off(skip))
    }

    /// The latest messages of a conversation with text, oldest first: a brain's short-term
    /// memory. Only what retention left in the table is there to read.
    pub async fn recent_turns(
        &self,
        conversation_id: &str,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, sqlx::Error> {
        let mut turns = self.latest(conversation_id, limit * 2).await?;
        turns.retain(|m| m.payload["text"].as_str().is_some_and(|t| !t.is_empty()));
        let skip = turns.len().saturating_sub(limit as usize);
        Ok(turns.split_off(skip))
    }

    /// Inbound automatic messages since a human last wrote in this conversation (either way);
    /// looks back at most 256 messages.
    pub async fn automatic_run(&self, conversation_id: &str) -> Result<i64, sqlx::Error> {
        let mut n = 0;
        for m in self.latest(conversation_id, 256).await?.iter().rev() {
            if m.payload["automatic"] != true {
                break;
            }
            if m.direction == "in" {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Writes brain runs — each answering inbound `seq` of a conversation — with the swarms'
    /// budget counts and the peers' rate events, one statement each, inside `tx`.
    pub async fn record_runs(
        tx: &mut Tx<'_>,
        runs: &[(&str, u64, &NewBrainRun)],
    ) -> Result<(), sqlx::Error> {
        if runs.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO brain_runs (conversation_id, seq, swarm, context, answer, error, retention, at) ",
        );
        q.push_values(runs, |mut row, (c, seq, r)| {
            row.push_bind(*c)
                .push_bind(*seq as i64)
                .push_bind(&r.swarm)
                .push_bind(r.context.to_string())
                .push_bind(r.answer.as_deref())
                .push_bind(r.error.as_deref())
                .push_bind(r.retention)
                .push_bind(now);
        });
        q.push(" ON CONFLICT DO NOTHING");
        q.build().execute(&mut **tx).await?;

        let mut per_swarm: HashMap<&str, i64> = HashMap::new();
        let mut per_peer: HashMap<&str, i64> = HashMap::new();
        for (_, _, r) in runs {
            *per_swarm.entry(r.swarm.as_str()).or_default() += 1;
            *per_peer.entry(r.peer.as_str()).or_default() += 1;
        }
        let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO swarm_usage (swarm, day, n) ");
        q.push_values(per_swarm, |mut row, (swarm, n)| {
            row.push_bind(swarm).push_bind(now / DAY_MS).push_bind(n);
        });
        q.push(" ON CONFLICT (swarm, day) DO UPDATE SET n = n + excluded.n");
        q.build().execute(&mut **tx).await?;
        let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO rate_buckets (peer_pubkey, hour, n) ");
        q.push_values(per_peer, |mut row, (peer, n)| {
            row.push_bind(peer).push_bind(now / HOUR_MS).push_bind(n);
        });
        q.push(" ON CONFLICT DO UPDATE SET n = n + excluded.n");
        q.build().execute(&mut **tx).await?;
        Ok(())
    }

    pub async fn brain_runs(&self, conversation_id: &str) -> Result<Vec<BrainRun>, sqlx::Error> {
        Ok(
            sqlx::query("SELECT * FROM brain_runs WHERE conversation_id = ? ORDER BY seq")
                .bind(conversation_id)
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(|r| BrainRun {
                    conversation_id: r.get("conversation_id"),
                    seq: r.get("seq"),
                    swarm: r.get("swarm"),
                    context: serde_json::from_str(r.get::<&str, _>("context")).unwrap_or_default(),
                    answer: r.get("answer"),
                    error: r.get("error"),
                    retention: r.get("retention"),
                    at: r.get("at"),
                })
                .collect(),
        )
    }

    pub async fn brain_session(
        &self,
        conversation_id: &str,
        swarm: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT session_id FROM brain_sessions WHERE conversation_id = ? AND swarm = ?",
        )
        .bind(conversation_id)
        .bind(swarm)
        .fetch_optional(&self.read)
        .await?
        .map(|r| r.get("session_id")))
    }

    pub async fn set_brain_session(
        &self,
        conversation_id: &str,
        swarm: &str,
        session_id: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO brain_sessions (conversation_id, swarm, session_id) VALUES (?, ?, ?)
             ON CONFLICT DO UPDATE SET session_id = excluded.session_id",
        )
        .bind(conversation_id)
        .bind(swarm)
        .bind(session_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // --- drafts ----------------------------------------------------------------------------

    pub async fn insert_draft(
        tx: &mut Tx<'_>,
        conversation_id: &str,
        in_reply_to: u64,
        swarm: &str,
        payload: &str,
    ) -> Result<i64, sqlx::Error> {
        Ok(sqlx::query(
            "INSERT INTO drafts (conversation_id, in_reply_to, swarm, payload, created_at)
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(conversation_id)
        .bind(in_reply_to as i64)
        .bind(swarm)
        .bind(payload)
        .bind(now_ms())
        .fetch_one(&mut **tx)
        .await?
        .get("id"))
    }

    /// Drafts waiting for the owner, oldest first.
    pub async fn drafts(&self) -> Result<Vec<Draft>, sqlx::Error> {
        Ok(
            sqlx::query("SELECT * FROM drafts WHERE state = 'pending' ORDER BY id LIMIT 500")
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(draft)
                .collect(),
        )
    }

    pub async fn draft(&self, id: i64) -> Result<Option<Draft>, sqlx::Error> {
        Ok(
            sqlx::query("SELECT * FROM drafts WHERE id = ? AND state = 'pending'")
                .bind(id)
                .fetch_optional(&self.read)
                .await?
                .as_ref()
                .map(draft),
        )
    }

    /// Settles a pending draft; false if it was not pending (a second send or discard).
    pub async fn settle_draft(&self, id: i64, state: &str) -> Result<bool, sqlx::Error> {
        Ok(
            sqlx::query("UPDATE drafts SET state = ? WHERE id = ? AND state = 'pending'")
                .bind(state)
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1,
        )
    }
}
