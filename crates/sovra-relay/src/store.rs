//! The relay's SQLite database, and the one task that writes it.
//!
//! Every change (store an envelope, ack one, expire some) goes through [`Writer`], which takes
//! all the changes waiting, applies them in one transaction with one fsync, then answers each
//! caller. A sender hears `accepted` only after that commit: an envelope the relay accepted
//! survives SIGKILL and power loss (`synchronous = FULL`).

use std::collections::HashMap;
use std::path::Path;

use sovra_sqlite::{Pools, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use tokio::sync::{mpsc, oneshot};

/// Most changes committed together.
const MAX_BATCH: usize = 256;

/// An envelope to store.
#[derive(Debug, Clone)]
pub struct NewEnvelope {
    pub id: String,
    pub recipient: String,
    pub sender: String,
    pub kind: &'static str,
    pub path: Option<String>,
    pub reply_to: Option<String>,
    pub status: Option<u16>,
    pub body: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// A request's source address, counted against its share (`None`: not counted).
    pub source: Option<String>,
}

impl NewEnvelope {
    fn size(&self) -> i64 {
        (self.body.as_ref().map_or(0, String::len) + self.path.as_ref().map_or(0, String::len))
            as i64
            + 128
    }
}

/// A stored envelope, as delivered.
#[derive(Debug, Clone)]
pub struct StoredEnvelope {
    pub seq: i64,
    pub id: String,
    pub sender: String,
    pub kind: String,
    pub path: Option<String>,
    pub reply_to: Option<String>,
    pub status: Option<u16>,
    pub body: Option<String>,
    pub created_at: i64,
}

/// Per-recipient limits on what waits, and the share of them one sender may hold: without a
/// share, one sender could fill a recipient's queue and lock every other sender out.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    pub envelopes: i64,
    pub bytes: i64,
    /// Envelopes and bytes one sender may have waiting for one recipient.
    pub per_sender_envelopes: i64,
    pub per_sender_bytes: i64,
    /// Requests and bytes one sender key may have waiting, all recipients together.
    pub per_key_envelopes: i64,
    pub per_key_bytes: i64,
    /// The same for one source address, all its keys together (keys are free; addresses
    /// are not).
    pub per_source_envelopes: i64,
    pub per_source_bytes: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the recipient's queue is full")]
    QuotaExceeded,
    #[error("this sender key's, or this address's, share of the relay's storage is full")]
    StorageShareExceeded,
    #[error("this sender's share of the recipient's queue is full")]
    ShareExceeded,
    #[error("storage: {0}")]
    Db(#[from] sqlx::Error),
    #[error("the writer stopped")]
    WriterGone,
}

enum Op {
    Insert(NewEnvelope, Quota),
    /// `by` acks envelope `id`; with a response, it is queued for the request's sender.
    Ack {
        id: String,
        by: String,
        response: Option<NewEnvelope>,
        /// With a response: `by` vouches for the sender (no proof of work from now on), or
        /// withdraws that.
        contact: bool,
    },
    /// Delete what expired before `now`; each expired request becomes a notice to its sender.
    Expire {
        now: i64,
        notice_ttl_ms: i64,
    },
}

/// Envelopes pushed to a connection per read of its queue.
pub const PUSH_BATCH: i64 = 64;

/// What an op did.
#[derive(Debug)]
pub enum Done {
    Inserted,
    /// Whether the ack removed an envelope (false: already acked or never addressed to the
    /// acker), and who now has a response waiting.
    Acked {
        removed: bool,
        notify: Option<String>,
    },
    /// Recipients of new expiry notices, and how many envelopes expired.
    Expired {
        notify: Vec<String>,
        count: usize,
    },
}

type Reply = oneshot::Sender<Result<Done, StoreError>>;

#[derive(Clone)]
pub struct Store {
    read: SqlitePool,
    writer: mpsc::Sender<(Op, Reply)>,
}

async fn add_to_queue(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    recipient: &str,
    count: i64,
    bytes: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO queues (recipient, count, bytes) VALUES (?, ?, ?)
         ON CONFLICT (recipient) DO UPDATE SET count = count + excluded.count,
           bytes = bytes + excluded.bytes",
    )
    .bind(recipient)
    .bind(count)
    .bind(bytes)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    e: &NewEnvelope,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO envelopes (id, recipient, sender, kind, path, reply_to, status, body, size, created_at, expires_at, source)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&e.id)
    .bind(&e.recipient)
    .bind(&e.sender)
    .bind(e.kind)
    .bind(&e.path)
    .bind(&e.reply_to)
    .bind(e.status.map(i64::from))
    .bind(&e.body)
    .bind(e.size())
    .bind(e.created_at)
    .bind(e.expires_at)
    .bind(&e.source)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Waiting envelopes and bytes per key, in memory only (rebuilt from `envelopes` at open):
/// the committed counts and the changes of the batch being written.
struct Tally<K> {
    committed: HashMap<K, (i64, i64)>,
    batch: HashMap<K, (i64, i64)>,
}

impl<K> Default for Tally<K> {
    fn default() -> Self {
        Tally {
            committed: HashMap::new(),
            batch: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Tally<K> {
    fn used(&self, key: &K) -> (i64, i64) {
        let c = self.committed.get(key).copied().unwrap_or_default();
        let b = self.batch.get(key).copied().unwrap_or_default();
        (c.0 + b.0, c.1 + b.1)
    }

    fn change(&mut self, key: K, count: i64, bytes: i64) {
        let e = self.batch.entry(key).or_default();
        e.0 += count;
        e.1 += bytes;
    }

    /// Folds a committed batch in, forgetting keys with nothing waiting.
    fn commit(&mut self) {
        for (key, (count, bytes)) in std::mem::take(&mut self.batch) {
            let c = self.committed.entry(key.clone()).or_default();
            c.0 += count;
            c.1 += bytes;
            if c.0 <= 0 {
                self.committed.remove(&key);
            }
        }
    }
}

/// What the quotas count. Per recipient: committed sizes mirrored from `queues` (so a quota
/// check reads no row) and the batch's changes, written to `queues` once per recipient per
/// batch. Per (recipient, sender) pair, per sender key and per source: in memory; the last two
/// count requests only (responses and notices are bounded by the requests they answer).
#[derive(Default)]
struct Queues {
    committed: HashMap<String, (i64, i64)>,
    batch: HashMap<String, (i64, i64)>,
    pairs: Tally<(String, String)>,
    keys: Tally<String>,
    sources: Tally<String>,
}

impl Queues {
    fn used(&self, recipient: &str) -> (i64, i64) {
        let c = self.committed.get(recipient).copied().unwrap_or_default();
        let b = self.batch.get(recipient).copied().unwrap_or_default();
        (c.0 + b.0, c.1 + b.1)
    }

    /// Counts an envelope in (`sign` 1) or out (-1) everywhere it counts.
    fn count(
        &mut self,
        recipient: &str,
        sender: &str,
        request: bool,
        source: Option<&str>,
        size: i64,
        sign: i64,
    ) {
        let e = self.batch.entry(recipient.to_owned()).or_default();
        e.0 += sign;
        e.1 += sign * size;
        self.pairs
            .change((recipient.to_owned(), sender.to_owned()), sign, sign * size);
        if request {
            self.keys.change(sender.to_owned(), sign, sign * size);
            if let Some(source) = source {
                self.sources.change(source.to_owned(), sign, sign * size);
            }
        }
    }

    fn commit_tallies(&mut self) {
        self.pairs.commit();
        self.keys.commit();
        self.sources.commit();
    }

    fn abandon_tallies(&mut self) {
        self.pairs.batch.clear();
        self.keys.batch.clear();
        self.sources.batch.clear();
    }
}

async fn apply(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    op: &Op,
    queues: &mut Queues,
) -> Result<Result<Done, StoreError>, sqlx::Error> {
    match op {
        Op::Insert(e, quota) => {
            let used = queues.used(&e.recipient);
            if used.0 + 1 > quota.envelopes || used.1 + e.size() > quota.bytes {
                return Ok(Err(StoreError::QuotaExceeded));
            }
            let mine = queues.pairs.used(&(e.recipient.clone(), e.sender.clone()));
            if mine.0 + 1 > quota.per_sender_envelopes || mine.1 + e.size() > quota.per_sender_bytes
            {
                return Ok(Err(StoreError::ShareExceeded));
            }
            let key = queues.keys.used(&e.sender);
            let source = e
                .source
                .as_ref()
                .map(|s| queues.sources.used(s))
                .unwrap_or_default();
            if key.0 + 1 > quota.per_key_envelopes
                || key.1 + e.size() > quota.per_key_bytes
                || source.0 + 1 > quota.per_source_envelopes
                || source.1 + e.size() > quota.per_source_bytes
            {
                return Ok(Err(StoreError::StorageShareExceeded));
            }
            insert(tx, e).await?;
            queues.count(
                &e.recipient,
                &e.sender,
                e.kind == "request",
                e.source.as_deref(),
                e.size(),
                1,
            );
            Ok(Ok(Done::Inserted))
        }
        Op::Ack {
            id,
            by,
            response,
            contact,
        } => {
            let gone = sqlx::query(
                "DELETE FROM envelopes WHERE id = ? AND recipient = ?
                 RETURNING sender, kind, size, source",
            )
            .bind(id)
            .bind(by)
            .fetch_optional(&mut **tx)
            .await?;
            let Some(gone) = gone else {
                return Ok(Ok(Done::Acked {
                    removed: false,
                    notify: None,
                }));
            };
            let sender: String = gone.get("sender");
            queues.count(
                by,
                &sender,
                gone.get::<String, _>("kind") == "request",
                gone.get::<Option<String>, _>("source").as_deref(),
                gone.get("size"),
                -1,
            );
            let mut notify = None;
            if let Some(r) = response
                && gone.get::<String, _>("kind") == "request"
            {
                let r = NewEnvelope {
                    recipient: sender.clone(),
                    ..r.clone()
                };
                insert(tx, &r).await?;
                queues.count(&r.recipient, &r.sender, false, None, r.size(), 1);
                // The recipient vouched for the sender (no more proof of work between them), or
                // answered without vouching, which withdraws an earlier word.
                if *contact {
                    sqlx::query(
                        "INSERT INTO contacts (sender, recipient, since) VALUES (?, ?, ?)
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(&sender)
                    .bind(by)
                    .bind(r.created_at)
                    .execute(&mut **tx)
                    .await?;
                } else {
                    sqlx::query("DELETE FROM contacts WHERE sender = ? AND recipient = ?")
                        .bind(&sender)
                        .bind(by)
                        .execute(&mut **tx)
                        .await?;
                }
                notify = Some(sender);
            }
            Ok(Ok(Done::Acked {
                removed: true,
                notify,
            }))
        }
        Op::Expire { now, notice_ttl_ms } => {
            let gone = sqlx::query(
                "DELETE FROM envelopes WHERE expires_at <= ?
                 RETURNING id, recipient, sender, kind, size, source",
            )
            .bind(now)
            .fetch_all(&mut **tx)
            .await?;
            let mut notify = Vec::new();
            for row in &gone {
                let recipient: String = row.get("recipient");
                let from: String = row.get("sender");
                let request = row.get::<String, _>("kind") == "request";
                queues.count(
                    &recipient,
                    &from,
                    request,
                    row.get::<Option<String>, _>("source").as_deref(),
                    row.get("size"),
                    -1,
                );
                if request {
                    let sender: String = row.get("sender");
                    let notice = NewEnvelope {
                        id: crate::relay::envelope_id(),
                        recipient: sender.clone(),
                        sender: recipient,
                        kind: "expired",
                        path: None,
                        reply_to: Some(row.get("id")),
                        status: None,
                        body: None,
                        created_at: *now,
                        expires_at: now + notice_ttl_ms,
                        source: None,
                    };
                    insert(tx, &notice).await?;
                    queues.count(
                        &notice.recipient,
                        &notice.sender,
                        false,
                        None,
                        notice.size(),
                        1,
                    );
                    notify.push(sender);
                }
            }
            Ok(Ok(Done::Expired {
                notify,
                count: gone.len(),
            }))
        }
    }
}

/// The writer task: batches of ops, one transaction each.
async fn write_loop(pool: SqlitePool, mut rx: mpsc::Receiver<(Op, Reply)>, mut queues: Queues) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let result: Result<Vec<Result<Done, StoreError>>, sqlx::Error> = async {
            let mut tx = pool.begin().await?;
            let mut out = Vec::with_capacity(batch.len());
            for (op, _) in &batch {
                out.push(apply(&mut tx, op, &mut queues).await?);
            }
            // One row write per recipient touched, however many envelopes it gained or lost.
            for (recipient, (count, bytes)) in &queues.batch {
                add_to_queue(&mut tx, recipient, *count, *bytes).await?;
            }
            tx.commit().await?;
            Ok(out)
        }
        .await;
        let changes = std::mem::take(&mut queues.batch);
        match result {
            Ok(outcomes) => {
                queues.commit_tallies();
                for (recipient, (count, bytes)) in changes {
                    let c = queues.committed.entry(recipient).or_default();
                    c.0 += count;
                    c.1 += bytes;
                }
                for ((_, reply), outcome) in batch.drain(..).zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                queues.abandon_tallies();
                tracing::error!("relay store commit failed: {e}");
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(StoreError::Db(sqlx::Error::Protocol(
                        "commit failed".into(),
                    ))));
                }
            }
        }
    }
}

fn stored(r: &sqlx::sqlite::SqliteRow) -> StoredEnvelope {
    StoredEnvelope {
        seq: r.get("seq"),
        id: r.get("id"),
        sender: r.get("sender"),
        kind: r.get("kind"),
        path: r.get("path"),
        reply_to: r.get("reply_to"),
        status: r.get::<Option<i64>, _>("status").map(|s| s as u16),
        body: r.get("body"),
        created_at: r.get("created_at"),
    }
}

impl Store {
    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map(|_| ())
    }

    pub async fn open(path: &Path, synchronous: SqliteSynchronous) -> Result<Store, sqlx::Error> {
        let Pools { write, read } =
            sovra_sqlite::open(path, synchronous, &sqlx::migrate!("./migrations")).await?;
        let mut queues = Queues::default();
        for r in sqlx::query("SELECT recipient, count, bytes FROM queues")
            .fetch_all(&write)
            .await?
        {
            queues
                .committed
                .insert(r.get("recipient"), (r.get("count"), r.get("bytes")));
        }
        for r in sqlx::query(
            "SELECT recipient, sender, COUNT(*) AS n, SUM(size) AS bytes FROM envelopes
             GROUP BY recipient, sender",
        )
        .fetch_all(&write)
        .await?
        {
            queues.pairs.committed.insert(
                (r.get("recipient"), r.get("sender")),
                (r.get("n"), r.get("bytes")),
            );
        }
        for r in sqlx::query(
            "SELECT sender, COUNT(*) AS n, SUM(size) AS bytes FROM envelopes
             WHERE kind = 'request' GROUP BY sender",
        )
        .fetch_all(&write)
        .await?
        {
            queues
                .keys
                .committed
                .insert(r.get("sender"), (r.get("n"), r.get("bytes")));
        }
        for r in sqlx::query(
            "SELECT source, COUNT(*) AS n, SUM(size) AS bytes FROM envelopes
             WHERE kind = 'request' AND source IS NOT NULL GROUP BY source",
        )
        .fetch_all(&write)
        .await?
        {
            queues
                .sources
                .committed
                .insert(r.get("source"), (r.get("n"), r.get("bytes")));
        }
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(write_loop(write, rx, queues));
        Ok(Store { read, writer: tx })
    }

    async fn submit(&self, op: Op) -> Result<Done, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .send((op, tx))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Stores `e` unless its recipient's queue is full. Returns after the commit.
    pub async fn insert(&self, e: NewEnvelope, quota: Quota) -> Result<(), StoreError> {
        self.submit(Op::Insert(e, quota)).await.map(|_| ())
    }

    /// Acks envelope `id` on behalf of its recipient `by`, queueing `response` (its recipient
    /// is filled in: the request's sender). Returns (removed, who to notify).
    pub async fn ack(
        &self,
        id: &str,
        by: &str,
        response: Option<NewEnvelope>,
        contact: bool,
    ) -> Result<(bool, Option<String>), StoreError> {
        match self
            .submit(Op::Ack {
                id: id.into(),
                by: by.into(),
                response,
                contact,
            })
            .await?
        {
            Done::Acked { removed, notify } => Ok((removed, notify)),
            _ => unreachable!("ack answers Acked"),
        }
    }

    /// Expires what is due; returns the recipients of expiry notices and how many expired.
    pub async fn expire(
        &self,
        now: i64,
        notice_ttl_ms: i64,
    ) -> Result<(Vec<String>, usize), StoreError> {
        match self.submit(Op::Expire { now, notice_ttl_ms }).await? {
            Done::Expired { notify, count } => Ok((notify, count)),
            _ => unreachable!("expire answers Expired"),
        }
    }

    /// Envelopes waiting for `recipient` after `after_seq`, oldest first, `PUSH_BATCH` at
    /// most. The limit is a literal: bound as a parameter, SQLite re-plans the statement on
    /// every push (a profile showed it at ~9 % of the relay's CPU under load).
    pub async fn pending(
        &self,
        recipient: &str,
        after_seq: i64,
    ) -> Result<Vec<StoredEnvelope>, sqlx::Error> {
        const _: () = assert!(PUSH_BATCH == 64, "update the LIMIT below");
        Ok(sqlx::query(
            "SELECT * FROM envelopes WHERE recipient = ? AND seq > ? ORDER BY seq LIMIT 64",
        )
        .bind(recipient)
        .bind(after_seq)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(stored)
        .collect())
    }

    /// Whether `recipient` has ever answered `sender` through this relay.
    pub async fn answered(&self, sender: &str, recipient: &str) -> Result<bool, sqlx::Error> {
        Ok(
            sqlx::query("SELECT 1 FROM contacts WHERE sender = ? AND recipient = ?")
                .bind(sender)
                .bind(recipient)
                .fetch_optional(&self.read)
                .await?
                .is_some(),
        )
    }
}
