//! Swarms, their daily brain budgets, and the agent API tokens that act for them.

use sqlx::Row;

use super::{DAY_MS, Store, now_ms};

/// A swarm's settings as stored. `brain` is the adapter JSON (never a secret); `agents/`
/// parses it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SwarmRow {
    pub name: String,
    pub mode: String,
    pub brain: serde_json::Value,
    pub budget_per_day: i64,
    pub max_auto_turns: i64,
    pub memory_messages: i64,
    pub memory_chars: i64,
    pub created_at: i64,
}

fn swarm(r: &sqlx::sqlite::SqliteRow) -> SwarmRow {
    SwarmRow {
        name: r.get("name"),
        mode: r.get("mode"),
        brain: serde_json::from_str(r.get::<&str, _>("brain")).unwrap_or_default(),
        budget_per_day: r.get("budget_per_day"),
        max_auto_turns: r.get("max_auto_turns"),
        memory_messages: r.get("memory_messages"),
        memory_chars: r.get("memory_chars"),
        created_at: r.get("created_at"),
    }
}

/// Why a swarm cannot be removed.
#[derive(Debug)]
pub enum SwarmInUse {
    Peers(i64),
    Capabilities(i64),
}

impl Store {
    pub async fn swarms(&self) -> Result<Vec<SwarmRow>, sqlx::Error> {
        Ok(sqlx::query("SELECT * FROM swarms ORDER BY name")
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(swarm)
            .collect())
    }

    /// One swarm, through the memo: every inbound message asks for its peer's swarm.
    pub async fn swarm(&self, name: &str) -> Result<Option<SwarmRow>, sqlx::Error> {
        let generation = match self.swarms.get(&name.to_owned()) {
            Ok(row) => return Ok(Some(row)),
            Err(generation) => generation,
        };
        let found = sqlx::query("SELECT * FROM swarms WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(swarm);
        if let Some(found) = &found {
            self.swarms.fill(name.to_owned(), found.clone(), generation);
        }
        Ok(found)
    }

    /// Creates a swarm; false if one by that name exists.
    pub async fn create_swarm(&self, row: &SwarmRow) -> Result<bool, sqlx::Error> {
        let created = sqlx::query(
            "INSERT INTO swarms (name, mode, brain, budget_per_day, max_auto_turns, memory_messages, memory_chars, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&row.name)
        .bind(&row.mode)
        .bind(row.brain.to_string())
        .bind(row.budget_per_day)
        .bind(row.max_auto_turns)
        .bind(row.memory_messages)
        .bind(row.memory_chars)
        .bind(now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        self.swarms.clear();
        Ok(created)
    }

    /// Replaces a swarm's settings; false if there is no such swarm.
    pub async fn update_swarm(&self, row: &SwarmRow) -> Result<bool, sqlx::Error> {
        let n = sqlx::query(
            "UPDATE swarms SET mode = ?, brain = ?, budget_per_day = ?, max_auto_turns = ?,
               memory_messages = ?, memory_chars = ? WHERE name = ?",
        )
        .bind(&row.mode)
        .bind(row.brain.to_string())
        .bind(row.budget_per_day)
        .bind(row.max_auto_turns)
        .bind(row.memory_messages)
        .bind(row.memory_chars)
        .bind(&row.name)
        .execute(&self.pool)
        .await?
        .rows_affected();
        self.swarms.clear();
        Ok(n == 1)
    }

    /// Removes a swarm and its tokens, unless a peer is routed to it or a capability belongs
    /// to it. Ok(false): no such swarm.
    pub async fn remove_swarm(&self, name: &str) -> Result<Result<bool, SwarmInUse>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM whitelist WHERE swarm = ?1) AS peers,
                    (SELECT COUNT(*) FROM capabilities WHERE swarm = ?1) AS caps",
        )
        .bind(name)
        .fetch_one(&self.read)
        .await?;
        match (row.get::<i64, _>("peers"), row.get::<i64, _>("caps")) {
            (0, 0) => {}
            (0, caps) => return Ok(Err(SwarmInUse::Capabilities(caps))),
            (peers, _) => return Ok(Err(SwarmInUse::Peers(peers))),
        }
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM swarms WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "UPDATE agent_tokens SET revoked_at = ? WHERE swarm = ? AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(name)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.swarms.clear();
        Ok(Ok(n == 1))
    }

    /// Reserves one brain answer of the swarm's budget for today (UTC) in memory; false if the
    /// budget is spent. The durable count is written with the answer ([`Store::record_runs`]);
    /// a crash in between forgets at most the answers that were never sent.
    pub async fn take_budget(&self, swarm: &str, per_day: i64) -> Result<bool, sqlx::Error> {
        let day = now_ms() / DAY_MS;
        let used = self.budget_used(swarm).await?;
        let mut book = self.budgets.lock().unwrap_or_else(|p| p.into_inner());
        let entry = book.entry(swarm.to_owned()).or_insert((day, used));
        if entry.0 != day {
            *entry = (day, used);
        }
        if entry.1 >= per_day {
            return Ok(false);
        }
        entry.1 += 1;
        Ok(true)
    }

    /// Brain answers today over every swarm: reserved in memory, or committed.
    pub async fn brain_answers_today(&self) -> Result<i64, sqlx::Error> {
        let day = now_ms() / DAY_MS;
        let mut by_swarm: std::collections::HashMap<String, i64> =
            sqlx::query_as("SELECT swarm, n FROM swarm_usage WHERE day = ?")
                .bind(day)
                .fetch_all(&self.read)
                .await?
                .into_iter()
                .collect();
        for (swarm, (d, n)) in self
            .budgets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            if *d == day {
                let e = by_swarm.entry(swarm.clone()).or_default();
                *e = (*e).max(*n);
            }
        }
        Ok(by_swarm.values().sum())
    }

    /// Brain answers counted today (reserved in memory, or committed).
    pub async fn budget_used(&self, swarm: &str) -> Result<i64, sqlx::Error> {
        let day = now_ms() / DAY_MS;
        if let Some((d, n)) = self
            .budgets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(swarm)
            && *d == day
        {
            return Ok(*n);
        }
        Ok(
            sqlx::query("SELECT n FROM swarm_usage WHERE swarm = ? AND day = ?")
                .bind(swarm)
                .bind(day)
                .fetch_optional(&self.read)
                .await?
                .map(|r| r.get("n"))
                .unwrap_or(0),
        )
    }

    // --- agent API tokens ------------------------------------------------------------------

    pub async fn add_agent_token(&self, hash: &str, swarm: &str) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO agent_tokens (hash, swarm, created_at) VALUES (?, ?, ?)")
            .bind(hash)
            .bind(swarm)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The swarm an unrevoked token acts for.
    pub async fn agent_token_swarm(&self, hash: &str) -> Result<Option<String>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT agent_tokens.swarm FROM agent_tokens JOIN swarms ON swarms.name = agent_tokens.swarm
             WHERE hash = ? AND revoked_at IS NULL",
        )
        .bind(hash)
        .fetch_optional(&self.read)
        .await?
        .map(|r| r.get("swarm")))
    }

    /// Revokes every token of a swarm; returns how many.
    pub async fn revoke_agent_tokens(&self, swarm: &str) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "UPDATE agent_tokens SET revoked_at = ? WHERE swarm = ? AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(swarm)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    pub async fn agent_token_count(&self, swarm: &str) -> Result<i64, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM agent_tokens WHERE swarm = ? AND revoked_at IS NULL",
        )
        .bind(swarm)
        .fetch_one(&self.read)
        .await?
        .get("n"))
    }
}
