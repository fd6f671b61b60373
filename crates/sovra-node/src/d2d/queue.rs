//! Queueing outbound messages with group commit — the sending twin of `inbox.rs`.
//!
//! Every message a cloud sends (the owner's, an agent's, a brain's answer) is numbered, sealed
//! and written to the outbox and the message log in a transaction before delivery starts. One
//! transaction per message made an agent cloud's answers writer-bound: ~9 statements and an
//! fsync per answer, all through the one writer connection. Here one task takes every message
//! waiting when it is free, numbers and seals each inside one transaction, writes them with a
//! handful of multi-row statements (with, for answers, the brain run, the swarm's budget count,
//! the peer's rate event and the job's `done`), commits once, and only then answers each
//! waiter. Delivery outcomes ride in the same commits. A lone message is committed at once;
//! under load the batch grows by itself.

use std::sync::Arc;

use sovra_proto::{CloudKeys, Session, os_rng};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::hash_request;
use crate::store::{NewBrainRun, OutboxOutcome, Store, now_ms};

/// Largest batch; keeps each multi-row statement far below SQLite's bound-parameter limit.
const MAX_BATCH: usize = 128;

/// One message to number, seal and queue.
pub struct Outgoing {
    pub conversation_id: String,
    pub session: Arc<Session>,
    pub keys: Arc<CloudKeys>,
    /// Where delivery will go first, for the owner's view; `None`: no way to reach the peer
    /// (queued as failed).
    pub url: Option<String>,
    pub plaintext: Vec<u8>,
    pub retention: &'static str,
    pub in_reply_to: Option<u64>,
    /// The swarm that wrote it, if one did.
    pub swarm: Option<String>,
    /// For an answer: the inbound `seq` whose job it finishes, and the brain run behind it.
    pub job: Option<(u64, Option<NewBrainRun>)>,
}

type Reply = oneshot::Sender<Result<u64, String>>;

/// What the writer task takes: a message to queue, or delivery outcomes to record.
enum Item {
    Send(Box<Outgoing>, Reply),
    Outcomes(Vec<OutboxOutcome>, oneshot::Sender<Result<(), String>>),
}

#[derive(Clone)]
pub struct Queue {
    tx: mpsc::Sender<Item>,
}

impl Queue {
    pub fn start(pool: SqlitePool) -> Queue {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(pool, rx));
        Queue { tx }
    }

    /// Numbers, seals and commits one message; returns its `seq`.
    pub async fn push(&self, message: Outgoing) -> Result<u64, String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Item::Send(Box::new(message), reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Records delivery outcomes, in the same commits as the messages being queued.
    pub async fn record(&self, outcomes: Vec<OutboxOutcome>) -> Result<(), String> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Item::Outcomes(outcomes, reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> String {
    "the send queue has stopped".to_owned()
}

async fn run(pool: SqlitePool, mut rx: mpsc::Receiver<Item>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut messages = Vec::new();
        let mut replies = Vec::new();
        let mut outcomes = Vec::new();
        let mut recorded = Vec::new();
        for item in batch.drain(..) {
            match item {
                Item::Send(m, r) => {
                    messages.push(*m);
                    replies.push(r);
                }
                Item::Outcomes(o, r) => {
                    outcomes.extend(o);
                    recorded.push(r);
                }
            }
        }
        match commit(&pool, &messages, &outcomes).await {
            Ok(seqs) => {
                for (reply, seq) in replies.into_iter().zip(seqs) {
                    let _ = reply.send(seq);
                }
                for r in recorded {
                    let _ = r.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, batch = messages.len(), "send queue commit failed");
                for reply in replies {
                    let _ = reply.send(Err(e.to_string()));
                }
                for r in recorded {
                    let _ = r.send(Err(e.to_string()));
                }
            }
        }
    }
}

/// A sealed message ready to write.
struct Sealed<'a> {
    m: &'a Outgoing,
    seq: i64,
    request_hash: String,
    body: String,
}

async fn commit(
    pool: &SqlitePool,
    messages: &[Outgoing],
    outcomes: &[OutboxOutcome],
) -> Result<Vec<Result<u64, String>>, sqlx::Error> {
    let now = now_ms();
    let mut tx = pool.begin().await?;
    let mut results = Vec::with_capacity(messages.len());
    let mut sealed = Vec::with_capacity(messages.len());
    for m in messages {
        let seq: Option<i64> = sqlx::query(
            "UPDATE conversations SET next_send_seq = next_send_seq + 1 WHERE id = ?
             RETURNING next_send_seq - 1 AS seq",
        )
        .bind(&m.conversation_id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.get("seq"));
        let Some(seq) = seq else {
            results.push(Err("the conversation is gone".to_owned()));
            continue;
        };
        match m
            .session
            .seal_bytes(&mut os_rng(), &m.keys.signing, seq as u64, &m.plaintext)
        {
            Ok(request) => {
                sealed.push(Sealed {
                    m,
                    seq,
                    request_hash: hash_request(&request),
                    body: serde_json::to_string(&request).expect("json"),
                });
                results.push(Ok(seq as u64));
            }
            Err(e) => results.push(Err(e.to_string())),
        }
    }
    if !sealed.is_empty() {
        write(&mut tx, &sealed, now).await?;
    }
    if !outcomes.is_empty() {
        let mut q = QueryBuilder::<Sqlite>::new(
            "UPDATE outbox SET state = v.column2, attempts = v.column3, next_attempt_at = v.column4,
               last_error = COALESCE(v.column5, outbox.last_error) FROM (",
        );
        q.push_values(outcomes, |mut row, o| {
            row.push_bind(o.id)
                .push_bind(o.state)
                .push_bind(o.attempts)
                .push_bind(o.next_attempt_at)
                .push_bind(o.error.as_deref());
        });
        // A row the owner cancelled meanwhile stays cancelled, unless it was delivered after all.
        q.push(
            ") AS v WHERE outbox.id = v.column1 AND (outbox.state = 'pending' OR v.column2 = 'delivered')",
        );
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(results)
}

/// Outbox rows, message log rows, brain runs, budget and rate counts and finished jobs, one
/// statement each.
async fn write(
    tx: &mut crate::store::Tx<'_>,
    sealed: &[Sealed<'_>],
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut q = QueryBuilder::<Sqlite>::new(
        "INSERT INTO outbox (conversation_id, seq, url, body, state, last_error, next_attempt_at, created_at) ",
    );
    q.push_values(sealed, |mut row, s| {
        let (state, error) = match s.m.url {
            Some(_) => ("pending", None),
            None => ("failed", Some("no endpoint is known for this peer")),
        };
        row.push_bind(&s.m.conversation_id)
            .push_bind(s.seq)
            .push_bind(s.m.url.as_deref().unwrap_or(""))
            .push_bind(&s.body)
            .push_bind(state)
            .push_bind(error)
            .push_bind(now)
            .push_bind(now);
    });
    q.build().execute(&mut **tx).await?;

    let mut q = QueryBuilder::<Sqlite>::new(
        "INSERT INTO messages (conversation_id, direction, seq, request_hash, payload, retention, in_reply_to, at, swarm) ",
    );
    q.push_values(sealed, |mut row, s| {
        row.push_bind(&s.m.conversation_id)
            .push_bind("out")
            .push_bind(s.seq)
            .push_bind(&s.request_hash)
            .push_bind(std::str::from_utf8(&s.m.plaintext).unwrap_or_default())
            .push_bind(s.m.retention)
            .push_bind(s.m.in_reply_to.map(|r| r as i64))
            .push_bind(now)
            .push_bind(s.m.swarm.as_deref());
    });
    q.build().execute(&mut **tx).await?;

    let jobs: Vec<(&str, u64, Option<&NewBrainRun>)> = sealed
        .iter()
        .filter_map(|s| {
            s.m.job
                .as_ref()
                .map(|(seq, run)| (s.m.conversation_id.as_str(), *seq, run.as_ref()))
        })
        .collect();
    let runs: Vec<(&str, u64, &NewBrainRun)> = jobs
        .iter()
        .filter_map(|(c, seq, run)| run.map(|r| (*c, *seq, r)))
        .collect();
    Store::record_runs(tx, &runs).await?;
    let done: Vec<(&str, u64)> = jobs.iter().map(|(c, seq, _)| (*c, *seq)).collect();
    Store::finish_jobs(tx, &done).await?;
    Ok(())
}
