//! The relay's SQLite database, and the one task that writes it.
//!
//! Every change (store an envelope, ack one, expire some) goes through the writer task
//! (`writer.rs`), which takes all the changes waiting, applies them in one transaction with one
//! fsync, then answers each caller. A sender hears `accepted` only after that commit: an
//! envelope the relay accepted survives SIGKILL and power loss (`synchronous = FULL`). The
//! quotas are counted in memory (`quota.rs`), so deciding a change reads no row.

use std::path::Path;
use std::sync::Arc;

use sovra_sqlite::{Pools, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::mailbox::Mailboxes;

mod quota;
mod writer;

use quota::Queues;
use writer::{Done, MAX_BATCH, Op, Reply, write_loop};

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

/// Envelopes pushed to a connection per read of its queue.
pub const PUSH_BATCH: i64 = 64;

/// An op the writer has, in order; its outcome once committed. Dropping it does not withdraw
/// the op.
pub struct Pending(oneshot::Receiver<Result<Done, StoreError>>);

impl Pending {
    async fn done(self) -> Result<Done, StoreError> {
        self.0.await.map_err(|_| StoreError::WriterGone)?
    }

    /// An insert's outcome.
    pub async fn inserted(self) -> Result<(), StoreError> {
        self.done().await.map(|_| ())
    }

    /// An ack's outcome: whose request it answered, if it carried a response.
    pub async fn acked(self) -> Result<Option<String>, StoreError> {
        match self.done().await? {
            Done::Acked { notify } => Ok(notify),
            _ => unreachable!("ack answers Acked"),
        }
    }
}

#[derive(Clone)]
pub struct Store {
    read: SqlitePool,
    writer: mpsc::Sender<(Op, Reply)>,
    /// Where the writer hands what it committed for connected keys.
    pub mailboxes: Arc<Mailboxes>,
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
            let (count, bytes): (i64, i64) = (r.get("count"), r.get("bytes"));
            queues.total.0 += count;
            queues.total.1 += bytes;
            queues
                .recipients
                .committed
                .insert(r.get("recipient"), (count, bytes));
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
        let mailboxes = Arc::new(Mailboxes::default());
        tokio::spawn(write_loop(write, rx, queues, mailboxes.clone()));
        Ok(Store {
            read,
            writer: tx,
            mailboxes,
        })
    }

    /// Hands `op` to the writer. Ops are applied in the order they are handed over; the
    /// outcome comes after their batch's commit.
    async fn submit(&self, op: Op) -> Result<Pending, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .send((op, tx))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        Ok(Pending(rx))
    }

    /// Queues `e` for storing unless its recipient's queue is full; [`Pending::inserted`]
    /// returns after the commit.
    pub async fn insert(&self, e: NewEnvelope, quota: Quota) -> Result<Pending, StoreError> {
        self.submit(Op::Insert(e, quota)).await
    }

    /// Queues the ack of envelope `id` on behalf of its recipient `by`, with `response` (its
    /// recipient is filled in: the request's sender); see [`Pending::acked`].
    pub async fn ack(
        &self,
        id: &str,
        by: &str,
        response: Option<NewEnvelope>,
        contact: bool,
    ) -> Result<Pending, StoreError> {
        self.submit(Op::Ack {
            id: id.into(),
            by: by.into(),
            response,
            contact,
        })
        .await
    }

    /// Expires what is due (each expired request becomes a notice to its sender); returns how
    /// many expired.
    pub async fn expire(&self, now: i64, notice_ttl_ms: i64) -> Result<usize, StoreError> {
        match self
            .submit(Op::Expire { now, notice_ttl_ms })
            .await?
            .done()
            .await?
        {
            Done::Expired { count } => Ok(count),
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
