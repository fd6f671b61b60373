//! A cloud's storage: one SQLite database (WAL) in the cloud's directory.
//!
//! Opened through `sovra-sqlite` (WAL, one writer connection, a reader pool). `synchronous=FULL`
//! by default, so a request answered 2xx has reached the disk. Every multi-row change is one
//! transaction.

use std::path::Path;
use std::sync::Arc;

use sovra_proto::{Grant, PublicKey, ReplayWindow, Session, StoredSession, WhitelistEntry};
use sovra_sqlite::SqliteSynchronous;
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

use crate::inbox::{Accepted, Inbound, Inbox, Rejected};
use crate::memo::Memo;
use crate::rate::RateBook;

mod registry;
mod relay;
pub use registry::{PinnedRegistry, Registration};

pub type Tx<'a> = Transaction<'a, Sqlite>;

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

pub const HOUR_MS: i64 = 60 * 60 * 1000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

#[derive(Clone)]
pub struct Store {
    /// The one writer connection.
    pool: SqlitePool,
    /// Readers: WAL lets them run beside the writer and each other.
    read: SqlitePool,
    /// Accepts inbound messages with group commit (`inbox.rs`).
    inbox: Inbox,
    rates: Arc<RateBook>,
    /// Whitelist entries by base64 key; cleared by every whitelist write.
    peers: Arc<Memo<String, Peer>>,
    /// What an inbound message needs of its conversation, by token; cleared by every
    /// conversation state change.
    routes: Arc<Memo<String, Route>>,
}

/// The part of a conversation an inbound message is checked against. Immutable but for
/// `state`, whose changes clear the memo holding it. The session is kept parsed: rebuilding it
/// decompresses two Ed25519 points, a fifth of a signature check.
#[derive(Clone)]
pub struct Route {
    pub id: String,
    pub peer_pubkey: String,
    pub session: Arc<Session>,
    pub state: String,
    pub expires_at: Option<i64>,
}

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
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Conversation {
    pub id: String,
    #[serde(skip)]
    pub token: String,
    pub peer_pubkey: String,
    pub role: String,
    pub topic: String,
    #[serde(skip)]
    pub session: String,
    pub state: String,
    pub granted: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub next_send_seq: i64,
    #[serde(skip)]
    pub window: ReplayWindow,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredMessage {
    pub conversation_id: String,
    pub direction: String,
    pub seq: i64,
    #[serde(skip)]
    pub request_hash: String,
    pub payload: serde_json::Value,
    pub retention: String,
    pub in_reply_to: Option<i64>,
    pub at: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OutboxItem {
    pub id: i64,
    pub conversation_id: String,
    /// The conversation's peer, whose whitelist entry says where to deliver.
    #[serde(skip)]
    pub peer_pubkey: String,
    pub seq: i64,
    pub url: String,
    #[serde(skip)]
    pub body: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PendingRequest {
    pub id: String,
    pub peer_pubkey: String,
    pub peer_handle: Option<String>,
    pub topic: String,
    pub received_at: i64,
    pub state: String,
    /// `handshake` (a stranger knocked) or `key_reset` (a peer's registry record moved to a
    /// new key by a reset).
    pub reason: String,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CapabilityRow {
    pub name: String,
    pub description: String,
    pub adapter: serde_json::Value,
}

fn conversation(row: &sqlx::sqlite::SqliteRow) -> Conversation {
    Conversation {
        id: row.get("id"),
        token: row.get("token"),
        peer_pubkey: row.get("peer_pubkey"),
        role: row.get("role"),
        topic: row.get("topic"),
        session: row.get("session"),
        state: row.get("state"),
        granted: serde_json::from_str(row.get::<&str, _>("granted")).unwrap_or_default(),
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
        closed_at: row.get("closed_at"),
        next_send_seq: row.get("next_send_seq"),
        window: ReplayWindow {
            highest: row.get::<i64, _>("recv_highest") as u64,
            seen: row.get::<i64, _>("recv_seen") as u64,
        },
    }
}

fn message(row: &sqlx::sqlite::SqliteRow) -> StoredMessage {
    StoredMessage {
        conversation_id: row.get("conversation_id"),
        direction: row.get("direction"),
        seq: row.get("seq"),
        request_hash: row.get("request_hash"),
        payload: serde_json::from_str(row.get::<&str, _>("payload")).unwrap_or_default(),
        retention: row.get("retention"),
        in_reply_to: row.get("in_reply_to"),
        at: row.get("at"),
    }
}

fn pending_request(r: &sqlx::sqlite::SqliteRow) -> PendingRequest {
    PendingRequest {
        id: r.get("id"),
        peer_pubkey: r.get("peer_pubkey"),
        peer_handle: r.get("peer_handle"),
        topic: r.get("topic"),
        received_at: r.get("received_at"),
        state: r.get("state"),
        reason: r.get("reason"),
    }
}

fn outbox_item(row: &sqlx::sqlite::SqliteRow) -> OutboxItem {
    OutboxItem {
        id: row.get("id"),
        conversation_id: row.get("conversation_id"),
        peer_pubkey: row.get("peer_pubkey"),
        seq: row.get("seq"),
        url: row.get("url"),
        body: row.get("body"),
        state: row.get("state"),
        attempts: row.get("attempts"),
        next_attempt_at: row.get("next_attempt_at"),
        created_at: row.get("created_at"),
        last_error: row.get("last_error"),
    }
}

fn peer(row: &sqlx::sqlite::SqliteRow) -> Result<Peer, sqlx::Error> {
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
    })
}

/// `FULL` by default: a 2xx answer survives power loss, not only a process crash.
/// `SOVRA_SYNC=normal` trades that for throughput (WAL + NORMAL still survives SIGKILL);
/// docs/BENCHMARKS.md has both figures.
fn synchronous() -> SqliteSynchronous {
    match std::env::var("SOVRA_SYNC").as_deref() {
        Ok("normal") => SqliteSynchronous::Normal,
        _ => SqliteSynchronous::Full,
    }
}

impl Store {
    pub async fn open(path: &Path) -> Result<Store, sqlx::Error> {
        let sovra_sqlite::Pools { write: pool, read } =
            sovra_sqlite::open(path, synchronous(), &sqlx::migrate!("./migrations")).await?;
        let rates = Arc::new(RateBook::default());
        Ok(Store {
            inbox: Inbox::start(pool.clone(), rates.clone()),
            pool,
            read,
            rates,
            peers: Arc::default(),
            routes: Arc::default(),
        })
    }

    pub async fn begin(&self) -> Result<Tx<'static>, sqlx::Error> {
        self.pool.begin().await
    }

    // --- whitelist -------------------------------------------------------------------------

    /// Adds or updates an entry set by the owner. Reachability the owner did not give
    /// (`None`) is kept as it was.
    pub async fn whitelist_upsert(
        &self,
        grant: &Grant,
        peer_url: Option<&str>,
        relays: Option<&[String]>,
        encryption_key: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO whitelist (peer_pubkey, peer_handle, allowed_capabilities, rate_limit_per_day, expires_at, peer_url, peer_relays, peer_encryption_key, created_at)
             VALUES (?, ?, ?, ?, ?, ?, COALESCE(?, '[]'), ?, ?)
             ON CONFLICT (peer_pubkey) DO UPDATE SET peer_handle = excluded.peer_handle,
               allowed_capabilities = excluded.allowed_capabilities,
               rate_limit_per_day = excluded.rate_limit_per_day, expires_at = excluded.expires_at,
               peer_url = COALESCE(excluded.peer_url, whitelist.peer_url),
               peer_relays = COALESCE(?, whitelist.peer_relays),
               peer_encryption_key = COALESCE(excluded.peer_encryption_key, whitelist.peer_encryption_key)",
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
        .bind(relays.map(|r| serde_json::to_string(r).expect("json")))
        .execute(&self.pool)
        .await?;
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
        // Removing a peer ends its conversations.
        sqlx::query("UPDATE conversations SET state = 'closed', closed_at = ? WHERE peer_pubkey = ? AND state = 'open'")
            .bind(now_ms())
            .bind(pubkey.to_b64())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.peers.clear();
        self.routes.clear();
        Ok(n > 0)
    }

    // --- pending handshakes ----------------------------------------------------------------

    pub async fn pending(&self) -> Result<Vec<PendingRequest>, sqlx::Error> {
        Ok(
            sqlx::query("SELECT * FROM pending WHERE state = 'pending' ORDER BY received_at")
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(pending_request)
                .collect(),
        )
    }

    pub async fn pending_all_for(
        &self,
        peer: &PublicKey,
    ) -> Result<Vec<PendingRequest>, sqlx::Error> {
        Ok(sqlx::query("SELECT * FROM pending WHERE peer_pubkey = ?")
            .bind(peer.to_b64())
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(pending_request)
            .collect())
    }

    /// A request still waiting for a decision.
    pub async fn pending_get(&self, id: &str) -> Result<Option<PendingRequest>, sqlx::Error> {
        Ok(
            sqlx::query("SELECT * FROM pending WHERE id = ? AND state = 'pending'")
                .bind(id)
                .fetch_optional(&self.read)
                .await?
                .as_ref()
                .map(pending_request),
        )
    }

    /// Settles a request, and every other pending request from the same peer with it.
    pub async fn pending_settle(&self, peer_pubkey: &str, state: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE pending SET state = ? WHERE peer_pubkey = ? AND state = 'pending'")
            .bind(state)
            .bind(peer_pubkey)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // --- handshakes and rate limits --------------------------------------------------------

    pub async fn handshake_seen(&self, id: &str) -> Result<bool, sqlx::Error> {
        Ok(
            sqlx::query("SELECT 1 FROM handshakes_seen WHERE conversation_id = ?")
                .bind(id)
                .fetch_optional(&self.read)
                .await?
                .is_some(),
        )
    }

    pub async fn mark_handshake_seen(tx: &mut Tx<'_>, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO handshakes_seen (conversation_id, seen_at) VALUES (?, ?)")
            .bind(id)
            .bind(now_ms())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    pub async fn insert_pending(
        tx: &mut Tx<'_>,
        id: &str,
        peer: &PublicKey,
        handle: Option<&str>,
        topic: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO pending (id, peer_pubkey, peer_handle, topic, received_at) VALUES (?, ?, ?, ?, ?)")
            .bind(id)
            .bind(peer.to_b64())
            .bind(handle)
            .bind(topic)
            .bind(now_ms())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Accepted handshakes and messages from `peer` in the current hour and the 23 before it.
    pub async fn rate_count(&self, peer: &PublicKey) -> Result<i64, sqlx::Error> {
        let key = peer.to_b64();
        let now = now_ms();
        if let Some(n) = self.rates.count(&key, now) {
            return Ok(n);
        }
        let loaded = crate::inbox::load_rate(&self.read, &key, now).await?;
        self.rates.load(&key, loaded);
        Ok(self.rates.count(&key, now).unwrap_or_default())
    }

    /// Counts a committed handshake in the in-memory mirror of `rate_buckets`.
    pub fn rate_noted(&self, peer: &str) {
        self.rates.note(peer, now_ms());
    }

    pub async fn add_rate_event(tx: &mut Tx<'_>, peer: &str) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO rate_buckets (peer_pubkey, hour, n) VALUES (?, ?, 1) ON CONFLICT DO UPDATE SET n = n + 1")
            .bind(peer)
            .bind(now_ms() / HOUR_MS)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    // --- conversations ---------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_conversation(
        tx: &mut Tx<'_>,
        id: &str,
        token: &str,
        peer: &str,
        role: &str,
        topic: &str,
        session: &str,
        granted: &[String],
        expires_at: Option<i64>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO conversations (id, token, peer_pubkey, role, topic, session, granted, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(token)
        .bind(peer)
        .bind(role)
        .bind(topic)
        .bind(session)
        .bind(serde_json::to_string(granted).expect("json"))
        .bind(now_ms())
        .bind(expires_at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    pub async fn route(&self, token: &str) -> Result<Option<Route>, sqlx::Error> {
        let generation = match self.routes.get(&token.to_owned()) {
            Ok(route) => return Ok(Some(route)),
            Err(generation) => generation,
        };
        let found = sqlx::query(
            "SELECT id, peer_pubkey, session, state, expires_at FROM conversations WHERE token = ?",
        )
        .bind(token)
        .fetch_optional(&self.read)
        .await?
        .map(|row| -> Result<Route, sqlx::Error> {
            let stored: StoredSession = serde_json::from_str(row.get("session"))
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok(Route {
                id: row.get("id"),
                peer_pubkey: row.get("peer_pubkey"),
                session: Arc::new(
                    Session::from_stored(&stored).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                ),
                state: row.get("state"),
                expires_at: row.get("expires_at"),
            })
        })
        .transpose()?;
        // Unknown tokens are not memoized, like unknown peers.
        if let Some(found) = &found {
            self.routes
                .fill(token.to_owned(), found.clone(), generation);
        }
        Ok(found)
    }

    /// Accepts a verified inbound message: replay window, rate limit, insert, commit — batched
    /// with whatever else is arriving (`inbox.rs`).
    pub async fn accept_inbound(&self, message: Inbound) -> Result<Accepted, Rejected> {
        self.inbox.accept(message).await
    }

    pub async fn conversation(&self, id: &str) -> Result<Option<Conversation>, sqlx::Error> {
        Ok(sqlx::query("SELECT * FROM conversations WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(conversation))
    }

    /// The newest open, unexpired conversation with `peer`.
    pub async fn open_conversation_with(
        &self,
        peer: &PublicKey,
    ) -> Result<Option<Conversation>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT * FROM conversations WHERE peer_pubkey = ? AND state = 'open'
             AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at DESC LIMIT 1",
        )
        .bind(peer.to_b64())
        .bind(now_ms())
        .fetch_optional(&self.read)
        .await?
        .as_ref()
        .map(conversation))
    }

    pub async fn conversations(&self) -> Result<Vec<Conversation>, sqlx::Error> {
        Ok(
            sqlx::query("SELECT * FROM conversations ORDER BY created_at DESC")
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(conversation)
                .collect(),
        )
    }

    /// Closes a conversation and deletes its `session`-retention messages (PROTOCOL.md §9.5).
    pub async fn close_conversation(&self, id: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("UPDATE conversations SET state = 'closed', closed_at = ? WHERE id = ? AND state = 'open'")
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM messages WHERE conversation_id = ? AND retention = 'session'")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.routes.clear();
        Ok(n > 0)
    }

    /// Takes the next send `seq` of a conversation inside `tx`, so it is persisted before use.
    pub async fn take_send_seq(tx: &mut Tx<'_>, id: &str) -> Result<u64, sqlx::Error> {
        let seq: i64 = sqlx::query("UPDATE conversations SET next_send_seq = next_send_seq + 1 WHERE id = ? RETURNING next_send_seq - 1 AS seq")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?
            .get("seq");
        Ok(seq as u64)
    }

    // --- messages --------------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_message(
        tx: &mut Tx<'_>,
        conversation_id: &str,
        direction: &str,
        seq: u64,
        request_hash: &str,
        payload: &str,
        retention: &str,
        in_reply_to: Option<u64>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO messages (conversation_id, direction, seq, request_hash, payload, retention, in_reply_to, at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(conversation_id)
        .bind(direction)
        .bind(seq as i64)
        .bind(request_hash)
        .bind(payload)
        .bind(retention)
        .bind(in_reply_to.map(|s| s as i64))
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    pub async fn message(
        &self,
        conversation_id: &str,
        direction: &str,
        seq: u64,
    ) -> Result<Option<StoredMessage>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT * FROM messages WHERE conversation_id = ? AND direction = ? AND seq = ?",
        )
        .bind(conversation_id)
        .bind(direction)
        .bind(seq as i64)
        .fetch_optional(&self.read)
        .await?
        .as_ref()
        .map(message))
    }

    pub async fn messages(
        &self,
        conversation_id: Option<&str>,
    ) -> Result<Vec<StoredMessage>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT * FROM messages WHERE (?1 IS NULL OR conversation_id = ?1) ORDER BY at, seq",
        )
        .bind(conversation_id)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(message)
        .collect())
    }

    /// Deletes `90d` content older than 90 days; returns how many messages went.
    pub async fn sweep_retention(&self) -> Result<u64, sqlx::Error> {
        Ok(
            sqlx::query("DELETE FROM messages WHERE retention = '90d' AND at < ?")
                .bind(now_ms() - 90 * DAY_MS)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// Forgets handshake ids and owner nonces past their replay windows, and old rate events.
    pub async fn sweep_replay_state(&self) -> Result<(), sqlx::Error> {
        let now = now_ms();
        sqlx::query("DELETE FROM handshakes_seen WHERE seen_at < ?")
            .bind(now - DAY_MS)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM owner_nonces WHERE expires_at < ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM rate_buckets WHERE hour <= ?")
            .bind(now / HOUR_MS - 24)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // --- jobs (calls to run) ---------------------------------------------------------------

    pub async fn jobs(&self, state: &str) -> Result<Vec<(String, u64)>, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT conversation_id, seq FROM jobs WHERE state = ? ORDER BY created_at LIMIT 64",
        )
        .bind(state)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|r| (r.get("conversation_id"), r.get::<i64, _>("seq") as u64))
        .collect())
    }

    /// Marks a job started; false if another worker got it first.
    pub async fn start_job(&self, conversation_id: &str, seq: u64) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query("UPDATE jobs SET state = 'started' WHERE conversation_id = ? AND seq = ? AND state = 'queued'")
            .bind(conversation_id)
            .bind(seq as i64)
            .execute(&self.pool)
            .await?
            .rows_affected()
            == 1)
    }

    pub async fn finish_job(
        tx: &mut Tx<'_>,
        conversation_id: &str,
        seq: u64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE jobs SET state = 'done' WHERE conversation_id = ? AND seq = ?")
            .bind(conversation_id)
            .bind(seq as i64)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    // --- outbox ----------------------------------------------------------------------------

    /// Queues a sealed message; with no known endpoint it is recorded as failed right away.
    pub async fn insert_outbox(
        tx: &mut Tx<'_>,
        conversation_id: &str,
        seq: u64,
        url: Option<&str>,
        body: &str,
    ) -> Result<(), sqlx::Error> {
        let now = now_ms();
        let (state, error) = match url {
            Some(_) => ("pending", None),
            None => ("failed", Some("no endpoint is known for this peer")),
        };
        sqlx::query("INSERT INTO outbox (conversation_id, seq, url, body, state, last_error, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(conversation_id)
            .bind(seq as i64)
            .bind(url.unwrap_or(""))
            .bind(body)
            .bind(state)
            .bind(error)
            .bind(now)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    pub async fn due_outbox(&self, limit: i64) -> Result<Vec<OutboxItem>, sqlx::Error> {
        Ok(sqlx::query("SELECT outbox.*, conversations.peer_pubkey FROM outbox JOIN conversations ON conversations.id = outbox.conversation_id WHERE outbox.state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?")
            .bind(now_ms())
            .bind(limit)
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(outbox_item)
            .collect())
    }

    /// When the next pending delivery is due, if any.
    pub async fn next_outbox_due(&self) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query("SELECT MIN(next_attempt_at) AS t FROM outbox WHERE state = 'pending'")
            .fetch_one(&self.read)
            .await
            .map(|r| r.get("t"))
    }

    pub async fn outbox(&self) -> Result<Vec<OutboxItem>, sqlx::Error> {
        Ok(
            sqlx::query("SELECT outbox.*, conversations.peer_pubkey FROM outbox JOIN conversations ON conversations.id = outbox.conversation_id ORDER BY outbox.id DESC LIMIT 200")
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(outbox_item)
                .collect(),
        )
    }

    pub async fn outbox_result(
        &self,
        id: i64,
        state: &str,
        attempts: i64,
        next_attempt_at: i64,
        error: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE outbox SET state = ?, attempts = ?, next_attempt_at = ?, last_error = COALESCE(?, last_error) WHERE id = ?")
            .bind(state)
            .bind(attempts)
            .bind(next_attempt_at)
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // --- capabilities ----------------------------------------------------------------------

    pub async fn capabilities(&self) -> Result<Vec<CapabilityRow>, sqlx::Error> {
        Ok(sqlx::query("SELECT * FROM capabilities ORDER BY name")
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| CapabilityRow {
                name: r.get("name"),
                description: r.get("description"),
                adapter: serde_json::from_str(r.get::<&str, _>("adapter")).unwrap_or_default(),
            })
            .collect())
    }

    pub async fn upsert_capability(&self, cap: &CapabilityRow) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO capabilities (name, description, adapter) VALUES (?, ?, ?)
                     ON CONFLICT (name) DO UPDATE SET description = excluded.description, adapter = excluded.adapter")
            .bind(&cap.name)
            .bind(&cap.description)
            .bind(cap.adapter.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn remove_capability(&self, name: &str) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query("DELETE FROM capabilities WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    // --- devices and owner nonces ----------------------------------------------------------

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
