//! Group commit of inbound messages.
//!
//! A message is acknowledged only after it is on disk, and with `synchronous=FULL` every commit
//! is an fsync. Committing each message alone capped a node at roughly one message per fsync
//! plus half a dozen statement round trips through SQLite's worker thread. Here one task owns
//! the acceptance of inbound messages: it takes every message waiting when it is free, decides
//! each one (replay window, rate limit), writes the accepted ones with a handful of multi-row
//! statements in one transaction handed to SQLite's thread as one script
//! ([`sovra_sqlite::Script`]: one thread hop per batch, not one per statement), and only then
//! answers each waiter. A lone message is committed at once; under load the batch grows by
//! itself.
//!
//! The task is the only writer of the receive windows, so it keeps them in memory after first
//! reading them. If a commit fails, every waiter of the batch gets the error and the task
//! forgets its windows and the rate book, which the failed batch had advanced.

use std::collections::HashMap;
use std::sync::Arc;

use sovra_proto::{ProtoError, ReplayWindow};
use sovra_sqlite::Script;
use sqlx::{Row, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::store::now_ms;
use crate::store::rate::{RateBook, load_rate};

/// Largest batch; keeps each multi-row statement far below SQLite's bound-parameter limit.
const MAX_BATCH: usize = 256;

/// A verified, decrypted message waiting to be accepted.
#[derive(Debug)]
pub struct Inbound {
    pub conversation_id: String,
    pub peer_pubkey: String,
    pub seq: u64,
    /// Identifies the exact request, to tell a retransmission from a replay.
    pub request_hash: String,
    pub payload: String,
    pub retention: &'static str,
    pub in_reply_to: Option<u64>,
    /// The payload carries calls or is for a brain: queue a job in the same transaction.
    pub queue_job: bool,
    pub rate_limit_per_day: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Newly stored.
    Stored,
    /// The same request was accepted before; nothing was written again.
    Retransmission,
}

#[derive(Debug, Clone)]
pub enum Rejected {
    Protocol(ProtoError),
    /// The batch's transaction failed; nothing of it was written.
    Storage(String),
}

/// Receive windows kept in memory before starting over (they reload on demand).
const WINDOWS_KEPT: usize = 16_384;

type Reply = oneshot::Sender<Result<Accepted, Rejected>>;

/// The handle the store keeps; dropping every clone stops the task after it drains.
#[derive(Clone)]
pub struct Inbox {
    tx: mpsc::Sender<(Inbound, Reply)>,
}

impl Inbox {
    pub fn start(pool: SqlitePool, rates: Arc<RateBook>) -> Inbox {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(pool, rates, rx));
        Inbox { tx }
    }

    pub async fn accept(&self, message: Inbound) -> Result<Accepted, Rejected> {
        let (reply, answer) = oneshot::channel();
        let stopped = || Rejected::Storage("the inbox has stopped".into());
        self.tx
            .send((message, reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(pool: SqlitePool, rates: Arc<RateBook>, mut rx: mpsc::Receiver<(Inbound, Reply)>) {
    let mut windows: HashMap<String, ReplayWindow> = HashMap::new();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if windows.len() > WINDOWS_KEPT {
            windows.clear();
        }
        let (messages, replies): (Vec<Inbound>, Vec<Reply>) = batch.drain(..).unzip();
        match commit(&pool, &rates, &mut windows, &messages).await {
            Ok(verdicts) => {
                let accepted = verdicts.iter().filter(|v| v.is_ok()).count() as u64;
                metrics::counter!("sovra_d2d_messages_accepted_total").increment(accepted);
                metrics::counter!("sovra_d2d_inbox_commits_total").increment(1);
                for (reply, verdict) in replies.into_iter().zip(verdicts) {
                    // A waiter that gave up (client timeout) still had its message stored.
                    let _ = reply.send(verdict.map_err(Rejected::Protocol));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, batch = messages.len(), "inbox commit failed");
                windows.clear();
                rates.clear();
                for reply in replies {
                    let _ = reply.send(Err(Rejected::Storage(e.to_string())));
                }
            }
        }
    }
}

type Verdict = Result<Accepted, ProtoError>;

async fn commit(
    pool: &SqlitePool,
    rates: &RateBook,
    windows: &mut HashMap<String, ReplayWindow>,
    messages: &[Inbound],
) -> Result<Vec<Verdict>, sqlx::Error> {
    let now = now_ms();
    // Reads (a window not in memory, a replay's earlier hash, a peer's rate) go before the
    // write, outside its transaction: this task is the only writer of what they read.
    let mut verdicts = Vec::with_capacity(messages.len());
    let mut stored: Vec<&Inbound> = Vec::new();
    for m in messages {
        if !windows.contains_key(&m.conversation_id) {
            let Some(w) = load_window(pool, &m.conversation_id).await? else {
                verdicts.push(Err(ProtoError::UnknownToken));
                continue;
            };
            windows.insert(m.conversation_id.clone(), w);
        }
        let Some(window) = windows.get_mut(&m.conversation_id) else {
            continue;
        };
        match window.check(m.seq) {
            Ok(()) => {}
            Err(ProtoError::ReplayedSeq { seq }) => {
                let earlier = match stored
                    .iter()
                    .find(|s| s.conversation_id == m.conversation_id && s.seq == seq)
                {
                    Some(s) => Some(s.request_hash.clone()),
                    None => stored_hash(pool, &m.conversation_id, seq).await?,
                };
                verdicts.push(if earlier.as_deref() == Some(m.request_hash.as_str()) {
                    Ok(Accepted::Retransmission)
                } else {
                    Err(ProtoError::ReplayedSeq { seq })
                });
                continue;
            }
            Err(e) => {
                verdicts.push(Err(e));
                continue;
            }
        }
        let within = match rates.take(&m.peer_pubkey, m.rate_limit_per_day, now) {
            Some(within) => within,
            None => {
                rates.load(&m.peer_pubkey, load_rate(pool, &m.peer_pubkey, now).await?);
                rates
                    .take(&m.peer_pubkey, m.rate_limit_per_day, now)
                    .unwrap_or(false)
            }
        };
        if !within {
            verdicts.push(Err(ProtoError::RateLimited {
                limit: m.rate_limit_per_day,
            }));
            continue;
        }
        window.accept(m.seq);
        stored.push(m);
        verdicts.push(Ok(Accepted::Stored));
    }
    if !stored.is_empty() {
        let mut script = Script::default();
        write(&mut script, windows, &stored, now);
        script.commit(pool).await?;
    }
    Ok(verdicts)
}

/// The accepted messages, their conversations' windows, the peers' hour buckets and the jobs,
/// one statement each, all in one script (one hand-over to SQLite's thread).
fn write(
    script: &mut Script,
    windows: &HashMap<String, ReplayWindow>,
    stored: &[&Inbound],
    now: i64,
) {
    let q = script.statement(
        "INSERT INTO messages (conversation_id, direction, seq, request_hash, payload, retention, in_reply_to, at) ",
    );
    q.push_values(stored, |mut row, m| {
        row.push_bind(&m.conversation_id)
            .push_bind("in")
            .push_bind(m.seq as i64)
            .push_bind(&m.request_hash)
            .push_bind(&m.payload)
            .push_bind(m.retention)
            .push_bind(m.in_reply_to.map(|s| s as i64))
            .push_bind(now);
    });

    let mut conversations: Vec<&str> = stored.iter().map(|m| m.conversation_id.as_str()).collect();
    conversations.sort_unstable();
    conversations.dedup();
    let q = script.statement(
        "UPDATE conversations SET recv_highest = v.column2, recv_seen = v.column3 FROM (",
    );
    q.push_values(&conversations, |mut row, id| {
        let w = windows[*id];
        row.push_bind(*id)
            .push_bind(w.highest as i64)
            .push_bind(w.seen as i64);
    });
    q.push(") AS v WHERE conversations.id = v.column1");

    let mut per_peer: HashMap<&str, i64> = HashMap::new();
    for m in stored {
        *per_peer.entry(m.peer_pubkey.as_str()).or_default() += 1;
    }
    let hour = now / crate::store::HOUR_MS;
    let q = script.statement("INSERT INTO rate_buckets (peer_pubkey, hour, n) ");
    q.push_values(per_peer, |mut row, (peer, n)| {
        row.push_bind(peer).push_bind(hour).push_bind(n);
    });
    q.push(" ON CONFLICT DO UPDATE SET n = n + excluded.n");

    let jobs: Vec<&&Inbound> = stored.iter().filter(|m| m.queue_job).collect();
    if !jobs.is_empty() {
        let q = script.statement("INSERT INTO jobs (conversation_id, seq, created_at) ");
        q.push_values(jobs, |mut row, m| {
            row.push_bind(&m.conversation_id)
                .push_bind(m.seq as i64)
                .push_bind(now);
        });
    }
}

async fn load_window(pool: &SqlitePool, id: &str) -> Result<Option<ReplayWindow>, sqlx::Error> {
    Ok(
        sqlx::query("SELECT recv_highest, recv_seen FROM conversations WHERE id = ?")
            .bind(id)
            .fetch_optional(pool)
            .await?
            .map(|row| ReplayWindow {
                highest: row.get::<i64, _>("recv_highest") as u64,
                seen: row.get::<i64, _>("recv_seen") as u64,
            }),
    )
}

async fn stored_hash(pool: &SqlitePool, id: &str, seq: u64) -> Result<Option<String>, sqlx::Error> {
    Ok(sqlx::query(
        "SELECT request_hash FROM messages WHERE conversation_id = ? AND direction = 'in' AND seq = ?",
    )
    .bind(id)
    .bind(seq as i64)
    .fetch_optional(pool)
    .await?
    .map(|row| row.get("request_hash")))
}
