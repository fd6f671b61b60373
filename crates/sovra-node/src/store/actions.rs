//! Federation actions (§23): tokens issued and accepted, what they change in the relations
//! (`relations.rs`), the keys this cloud signed with, and action deliveries in the shared outbox.

use sqlx::Row;

use super::{Store, now_ms};

/// One stored action (the owner API's view is `sovra_proto::action::owner::Action`).
#[derive(Debug, Clone)]
pub struct ActionRow {
    pub id: String,
    pub token: String,
    pub direction: String,
    pub issuer: String,
    pub kind: String,
    pub audience: Option<String>,
    pub parent: Option<String>,
    pub subject: Option<String>,
    pub content: Option<serde_json::Value>,
    pub attachments: Vec<String>,
    pub public: bool,
    pub iat: i64,
    pub origin: Option<String>,
    pub state: String,
    pub received_at: i64,
}

fn action_row(r: &sqlx::sqlite::SqliteRow) -> ActionRow {
    let json = |c: &str| {
        r.get::<Option<String>, _>(c)
            .and_then(|t| serde_json::from_str(&t).ok())
    };
    ActionRow {
        id: r.get("id"),
        token: r.get("token"),
        direction: r.get("direction"),
        issuer: r.get("issuer"),
        kind: r.get("type"),
        audience: r.get("audience"),
        parent: r.get("parent"),
        subject: r.get("subject"),
        content: json("content"),
        attachments: r
            .get::<Option<String>, _>("attachments")
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default(),
        public: r.get::<i64, _>("public") != 0,
        iat: r.get("iat"),
        origin: r.get("origin"),
        state: r.get("state"),
        received_at: r.get("received_at"),
    }
}

/// An action to store: the verified claims and where they came from.
pub struct NewAction<'a> {
    pub id: &'a str,
    pub token: &'a str,
    pub direction: &'static str,
    pub claims: &'a sovra_proto::action::ActionClaims,
    pub origin: Option<&'a str>,
    pub state: &'static str,
}

/// A verified inbound action, waiting for its commit.
pub struct InboundAction {
    pub id: String,
    pub token: String,
    pub claims: sovra_proto::action::ActionClaims,
    /// The issuer's actions base URL, as resolved.
    pub origin: String,
}

/// A delivery of one action token to one inbox.
pub struct ActionDelivery {
    pub action_id: String,
    pub inbox_url: String,
    pub body: String,
}

/// What an action changes in this cloud's relations, written in the commit that stores
/// (issued) or applies (accepted) it. `direction` of a follow: `in` (they follow us) or `out`.
pub enum Effect {
    None,
    Follow {
        id_tag: String,
        direction: &'static str,
        base_url: String,
    },
    Unfollow {
        id_tag: String,
        direction: &'static str,
    },
    /// A connection in `state` (`requested` by us, `connected`), set as this cloud decides.
    Connection {
        id_tag: String,
        state: &'static str,
        base_url: String,
    },
    /// They asked: `asked`, or `connected` if we had asked them.
    Asked {
        id_tag: String,
        base_url: String,
    },
    /// They approved our request.
    Connected {
        id_tag: String,
    },
    Disconnected {
        id_tag: String,
    },
}

async fn insert_action(
    tx: &mut super::Tx<'_>,
    a: &NewAction<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let c = a.claims;
    let n = sqlx::query(
        "INSERT INTO actions (id, token, direction, issuer, type, audience, parent, subject,
           content, attachments, public, iat, origin, state, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
    )
    .bind(a.id)
    .bind(a.token)
    .bind(a.direction)
    .bind(&c.iss)
    .bind(&c.t)
    .bind(&c.aud)
    .bind(&c.p)
    .bind(&c.sub)
    .bind(c.c.as_ref().map(|v| v.to_string()))
    .bind(
        c.a.as_ref()
            .map(|v| serde_json::to_string(v).expect("json")),
    )
    .bind(c.is_public() as i64)
    .bind(c.iat)
    .bind(a.origin)
    .bind(a.state)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n > 0)
}

async fn apply_one(tx: &mut super::Tx<'_>, id: &str, effect: &Effect) -> Result<bool, sqlx::Error> {
    let n = sqlx::query("UPDATE actions SET state = 'done' WHERE id = ? AND state = 'queued'")
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Ok(false);
    }
    write_effect(tx, id, effect).await?;
    Ok(true)
}

/// Writes what action `id` changes.
async fn write_effect(
    tx: &mut super::Tx<'_>,
    id: &str,
    effect: &Effect,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    match effect {
        Effect::None => {}
        Effect::Follow {
            id_tag,
            direction,
            base_url,
        } => {
            sqlx::query(
                "INSERT INTO follows (id_tag, direction, base_url, action_id, since)
                     VALUES (?, ?, ?, ?, ?) ON CONFLICT (id_tag, direction) DO UPDATE SET
                     base_url = excluded.base_url, action_id = excluded.action_id",
            )
            .bind(id_tag)
            .bind(direction)
            .bind(base_url)
            .bind(id)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        Effect::Unfollow { id_tag, direction } => {
            sqlx::query("DELETE FROM follows WHERE id_tag = ? AND direction = ?")
                .bind(id_tag)
                .bind(direction)
                .execute(&mut **tx)
                .await?;
        }
        Effect::Connection {
            id_tag,
            state,
            base_url,
        } => {
            sqlx::query(
                "INSERT INTO connections (id_tag, state, base_url, request_id, since)
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (id_tag) DO UPDATE SET
                 state = excluded.state, base_url = excluded.base_url, since = excluded.since,
                 request_id = CASE WHEN excluded.state = 'requested' THEN excluded.request_id
                              ELSE connections.request_id END",
            )
            .bind(id_tag)
            .bind(state)
            .bind(base_url)
            .bind(id)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        Effect::Asked { id_tag, base_url } => {
            // Asked while we had asked them: both want it, so it is a connection.
            sqlx::query(
                "INSERT INTO connections (id_tag, state, base_url, request_id, since)
                     VALUES (?, 'asked', ?, ?, ?) ON CONFLICT (id_tag) DO UPDATE SET
                     state = CASE connections.state WHEN 'asked' THEN 'asked' ELSE 'connected' END,
                     base_url = excluded.base_url",
            )
            .bind(id_tag)
            .bind(base_url)
            .bind(id)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        Effect::Connected { id_tag } => {
            sqlx::query(
                "UPDATE connections SET state = 'connected', since = ? WHERE id_tag = ?
                     AND state = 'requested'",
            )
            .bind(now)
            .bind(id_tag)
            .execute(&mut **tx)
            .await?;
        }
        Effect::Disconnected { id_tag } => {
            sqlx::query("DELETE FROM connections WHERE id_tag = ?")
                .bind(id_tag)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

impl Store {
    /// Stores verified inbound actions (`queued`) in one commit; for each, `false` if it was
    /// already here.
    pub async fn accept_actions(&self, batch: &[InboundAction]) -> Result<Vec<bool>, sqlx::Error> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let mut fresh = Vec::with_capacity(batch.len());
        for a in batch {
            let row = NewAction {
                id: &a.id,
                token: &a.token,
                direction: "in",
                claims: &a.claims,
                origin: Some(&a.origin),
                state: "queued",
            };
            fresh.push(insert_action(&mut tx, &row, now).await?);
        }
        tx.commit().await?;
        Ok(fresh)
    }

    /// Stores an action this cloud issued, the relation it changes, and one outbox row per
    /// recipient — one commit.
    pub async fn issue_action(
        &self,
        a: &NewAction<'_>,
        effect: &Effect,
        deliveries: &[ActionDelivery],
    ) -> Result<(), sqlx::Error> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        insert_action(&mut tx, a, now).await?;
        write_effect(&mut tx, a.id, effect).await?;
        for d in deliveries {
            sqlx::query(
                "INSERT INTO outbox (conversation_id, seq, url, body, state, next_attempt_at,
                   created_at, kind) VALUES (?, 0, ?, ?, 'pending', ?, ?, 'action')",
            )
            .bind(&d.action_id)
            .bind(&d.inbox_url)
            .bind(&d.body)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    pub async fn action_exists(&self, id: &str) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM actions WHERE id = ?)")
            .bind(id)
            .fetch_one(&self.read)
            .await
    }

    pub async fn action(&self, id: &str) -> Result<Option<ActionRow>, sqlx::Error> {
        Ok(sqlx::query("SELECT * FROM actions WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(action_row))
    }

    /// Inbound actions whose effects are not applied yet, oldest first.
    pub async fn queued_actions(&self, limit: i64) -> Result<Vec<ActionRow>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT * FROM actions WHERE state = 'queued' ORDER BY received_at, id LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(action_row)
        .collect())
    }

    /// Applies inbound actions' effects and marks them `done`, all in one commit; for each,
    /// whether this call applied it (`false`: another pass already had).
    pub async fn apply_actions(
        &self,
        batch: &[(String, Effect)],
    ) -> Result<Vec<bool>, sqlx::Error> {
        let mut tx = self.begin().await?;
        let mut applied = Vec::with_capacity(batch.len());
        for (id, effect) in batch {
            applied.push(apply_one(&mut tx, id, effect).await?);
        }
        tx.commit().await?;
        Ok(applied)
    }

    /// Actions of one direction (`public_only`: only public ones), newest first.
    pub async fn action_list(
        &self,
        direction: &str,
        public_only: bool,
        limit: i64,
    ) -> Result<Vec<ActionRow>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT * FROM actions WHERE direction = ? AND (? = 0 OR public = 1)
               ORDER BY received_at DESC, id LIMIT ?",
        )
        .bind(direction)
        .bind(public_only as i64)
        .bind(limit)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(action_row)
        .collect())
    }

    /// This cloud's signing keys for /api/me: current first, then the ones still listed.
    pub async fn action_keys(&self) -> Result<Vec<(String, String, Option<i64>)>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT key_id, public_key, expires_at FROM action_keys
             WHERE expires_at IS NULL OR expires_at > ? ORDER BY expires_at IS NOT NULL, created_at DESC",
        )
        .bind(now_ms())
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|r| (r.get("key_id"), r.get("public_key"), r.get("expires_at")))
        .collect())
    }

    /// Makes `key_id` the current key: a key it replaces stays listed until `grace_ms` from now.
    pub async fn set_action_key(
        &self,
        key_id: &str,
        public_key: &str,
        grace_ms: i64,
    ) -> Result<(), sqlx::Error> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT key_id FROM action_keys WHERE expires_at IS NULL")
                .fetch_optional(&mut *tx)
                .await?;
        if current.as_deref() == Some(key_id) {
            return Ok(());
        }
        sqlx::query("UPDATE action_keys SET expires_at = ? WHERE expires_at IS NULL")
            .bind(now + grace_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO action_keys (key_id, public_key, created_at, expires_at) VALUES (?, ?, ?, NULL)
             ON CONFLICT (key_id) DO UPDATE SET expires_at = NULL",
        )
        .bind(key_id)
        .bind(public_key)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM action_keys WHERE expires_at IS NOT NULL AND expires_at <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// Inbound actions whose effects are not applied yet.
    pub async fn queued_count(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM actions WHERE state = 'queued'")
            .fetch_one(&self.read)
            .await
    }
}
