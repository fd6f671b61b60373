//! Follows, connections and blocks of the actions surface (§23.7): who this cloud follows and
//! is followed by, its connections and requests, and the id tags it refuses.

use sqlx::Row;

use super::{Store, now_ms};

/// A follower, a followed cloud or a connection.
#[derive(Debug, Clone)]
pub struct Relation {
    pub id_tag: String,
    /// `in`/`out` for follows; `requested`/`asked`/`connected` for connections.
    pub state: String,
    pub base_url: String,
    pub action_id: String,
    pub since: i64,
}

impl Store {
    /// Follows (`table` `follows`, `state` a direction) or connections, newest first.
    pub async fn relations(
        &self,
        table: &str,
        state: Option<&str>,
    ) -> Result<Vec<Relation>, sqlx::Error> {
        self.relations_of(table, state, None).await
    }

    /// [`Store::relations`], of one id tag when `id_tag` is given (the primary key's prefix).
    async fn relations_of(
        &self,
        table: &str,
        state: Option<&str>,
        id_tag: Option<&str>,
    ) -> Result<Vec<Relation>, sqlx::Error> {
        let sql = match table {
            "follows" => {
                "SELECT id_tag, direction AS state, base_url, action_id, since FROM follows
                  WHERE (?1 IS NULL OR direction = ?1) AND (?2 IS NULL OR id_tag = ?2)
                  ORDER BY since DESC"
            }
            _ => {
                "SELECT id_tag, state, base_url, request_id AS action_id, since FROM connections
                  WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR id_tag = ?2)
                  ORDER BY since DESC"
            }
        };
        Ok(sqlx::query(sql)
            .bind(state)
            .bind(id_tag)
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| Relation {
                id_tag: r.get("id_tag"),
                state: r.get("state"),
                base_url: r.get("base_url"),
                action_id: r.get("action_id"),
                since: r.get("since"),
            })
            .collect())
    }

    pub async fn connection(&self, id_tag: &str) -> Result<Option<Relation>, sqlx::Error> {
        Ok(self
            .relations_of("connections", None, Some(id_tag))
            .await?
            .pop())
    }

    pub async fn follow(
        &self,
        id_tag: &str,
        direction: &str,
    ) -> Result<Option<Relation>, sqlx::Error> {
        Ok(self
            .relations_of("follows", Some(direction), Some(id_tag))
            .await?
            .pop())
    }

    /// Blocks `id_tag`: its follow of this cloud and any connection end in the same commit.
    pub async fn block(&self, id_tag: &str) -> Result<(), sqlx::Error> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO action_blocks (id_tag, since) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(id_tag)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM follows WHERE id_tag = ? AND direction = 'in'")
            .bind(id_tag)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM connections WHERE id_tag = ?")
            .bind(id_tag)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// `false` if `id_tag` was not blocked.
    pub async fn unblock(&self, id_tag: &str) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query("DELETE FROM action_blocks WHERE id_tag = ?")
            .bind(id_tag)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    pub async fn is_blocked(&self, id_tag: &str) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM action_blocks WHERE id_tag = ?)")
            .bind(id_tag)
            .fetch_one(&self.read)
            .await
    }

    /// Blocked id tags with when, newest first.
    pub async fn blocked(&self) -> Result<Vec<(String, i64)>, sqlx::Error> {
        Ok(
            sqlx::query("SELECT id_tag, since FROM action_blocks ORDER BY since DESC, id_tag")
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(|r| (r.get("id_tag"), r.get("since")))
                .collect(),
        )
    }

    /// Removes a connection request someone sent us, unanswered.
    pub async fn drop_asked(&self, id_tag: &str) -> Result<bool, sqlx::Error> {
        Ok(
            sqlx::query("DELETE FROM connections WHERE id_tag = ? AND state = 'asked'")
                .bind(id_tag)
                .execute(&self.pool)
                .await?
                .rows_affected()
                > 0,
        )
    }
}
