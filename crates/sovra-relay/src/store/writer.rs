//! The one task that writes the relay's database: batches of changes, one transaction and
//! one fsync each, with as few statements per batch as the changes allow.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::quota::Queues;
use super::{NewEnvelope, Quota, StoreError, StoredEnvelope};
use crate::mailbox::Mailboxes;

/// Most changes committed together.
pub(super) const MAX_BATCH: usize = 256;

pub(super) enum Op {
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

/// What an op did.
#[derive(Debug)]
pub(super) enum Done {
    Inserted,
    /// Whether the ack removed an envelope (false: already acked or never addressed to the
    /// acker), and who now has a response waiting.
    Acked {
        removed: bool,
        notify: Option<String>,
    },
    /// How many envelopes expired.
    Expired {
        count: usize,
    },
}

pub(super) type Reply = oneshot::Sender<Result<Done, StoreError>>;

/// Bound values per multi-row statement: far below SQLite's limit (32,766).
const MAX_VARIABLES: usize = 6_000;

/// Stores `rows` with as few statements as their size allows; returns each one's recipient and
/// stored form, in `seq` order, for the mailboxes.
async fn insert_all(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    rows: Vec<NewEnvelope>,
) -> Result<Vec<(String, StoredEnvelope)>, sqlx::Error> {
    let mut seqs = HashMap::with_capacity(rows.len());
    for chunk in rows.chunks(MAX_VARIABLES / 12) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO envelopes (id, recipient, sender, kind, path, reply_to, status, body, size, created_at, expires_at, source) ",
        );
        q.push_values(chunk, |mut row, e| {
            row.push_bind(&e.id)
                .push_bind(&e.recipient)
                .push_bind(&e.sender)
                .push_bind(e.kind)
                .push_bind(&e.path)
                .push_bind(&e.reply_to)
                .push_bind(e.status.map(i64::from))
                .push_bind(&e.body)
                .push_bind(e.size())
                .push_bind(e.created_at)
                .push_bind(e.expires_at)
                .push_bind(&e.source);
        });
        q.push(" RETURNING id, seq");
        for r in q.build().fetch_all(&mut **tx).await? {
            seqs.insert(r.get::<String, _>("id"), r.get::<i64, _>("seq"));
        }
    }
    let mut stored: Vec<(String, StoredEnvelope)> = rows
        .into_iter()
        .map(|e| {
            let seq = seqs.get(&e.id).copied().unwrap_or_default();
            (
                e.recipient,
                StoredEnvelope {
                    seq,
                    id: e.id,
                    sender: e.sender,
                    kind: e.kind.to_owned(),
                    path: e.path,
                    reply_to: e.reply_to,
                    status: e.status,
                    body: e.body,
                    created_at: e.created_at,
                },
            )
        })
        .collect();
    stored.sort_by_key(|(_, e)| e.seq);
    Ok(stored)
}

/// An envelope an ack removed.
struct Removed {
    recipient: String,
    sender: String,
    kind: String,
    size: i64,
    source: Option<String>,
}

/// Deletes every acked envelope of a batch in as few statements as possible; an ack removes an
/// envelope only if the acker is its recipient.
async fn delete_acked(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    acks: &[(&str, &str)],
) -> Result<HashMap<String, Removed>, sqlx::Error> {
    let mut removed = HashMap::with_capacity(acks.len());
    for chunk in acks.chunks(MAX_VARIABLES / 2) {
        let mut q =
            // Through a join on the id index: `(id, recipient) IN (VALUES …)` scans the table.
            QueryBuilder::<Sqlite>::new("DELETE FROM envelopes WHERE seq IN (SELECT e.seq FROM (VALUES ");
        let mut list = q.separated(", ");
        for (id, by) in chunk {
            list.push("(")
                .push_bind_unseparated(*id)
                .push_unseparated(", ")
                .push_bind_unseparated(*by)
                .push_unseparated(")");
        }
        q.push(
            ") AS v JOIN envelopes e ON e.id = v.column1 AND e.recipient = v.column2)
             RETURNING id, recipient, sender, kind, size, source",
        );
        for r in q.build().fetch_all(&mut **tx).await? {
            removed.insert(
                r.get("id"),
                Removed {
                    recipient: r.get("recipient"),
                    sender: r.get("sender"),
                    kind: r.get("kind"),
                    size: r.get("size"),
                    source: r.get("source"),
                },
            );
        }
    }
    Ok(removed)
}

/// Writes the batch's contact changes (the last word per pair wins) and queue sizes.
async fn write_contacts_and_queues(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    contacts: &HashMap<(String, String), Option<i64>>,
    queue_changes: &HashMap<String, (i64, i64)>,
) -> Result<(), sqlx::Error> {
    let added: Vec<_> = contacts
        .iter()
        .filter_map(|(pair, since)| since.map(|s| (pair, s)))
        .collect();
    for chunk in added.chunks(MAX_VARIABLES / 3) {
        let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO contacts (sender, recipient, since) ");
        q.push_values(chunk, |mut row, ((sender, recipient), since)| {
            row.push_bind(sender).push_bind(recipient).push_bind(*since);
        });
        q.push(" ON CONFLICT DO NOTHING");
        q.build().execute(&mut **tx).await?;
    }
    let withdrawn: Vec<_> = contacts
        .iter()
        .filter(|(_, since)| since.is_none())
        .map(|(pair, _)| pair)
        .collect();
    for chunk in withdrawn.chunks(MAX_VARIABLES / 2) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "DELETE FROM contacts WHERE rowid IN (SELECT c.rowid FROM (VALUES ",
        );
        let mut list = q.separated(", ");
        for (sender, recipient) in chunk {
            list.push("(")
                .push_bind_unseparated(sender)
                .push_unseparated(", ")
                .push_bind_unseparated(recipient)
                .push_unseparated(")");
        }
        q.push(") AS v JOIN contacts c ON c.sender = v.column1 AND c.recipient = v.column2)");
        q.build().execute(&mut **tx).await?;
    }
    // One row write per recipient touched, however many envelopes it gained or lost.
    let changes: Vec<_> = queue_changes.iter().collect();
    for chunk in changes.chunks(MAX_VARIABLES / 3) {
        let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO queues (recipient, count, bytes) ");
        q.push_values(chunk, |mut row, (recipient, (count, bytes))| {
            row.push_bind(*recipient)
                .push_bind(*count)
                .push_bind(*bytes);
        });
        q.push(
            " ON CONFLICT (recipient) DO UPDATE SET count = count + excluded.count,
              bytes = bytes + excluded.bytes",
        );
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// What a batch writes besides deletions, gathered while its ops are decided in order.
#[derive(Default)]
struct Writes {
    envelopes: Vec<NewEnvelope>,
    /// (sender, recipient) → since (vouched) or `None` (withdrawn); the last word wins.
    contacts: HashMap<(String, String), Option<i64>>,
}

/// Applies one batch in `tx`: acks' deletions in one statement, then each op decided in
/// order against the quotas (an ack frees room for an insert after it), then every new
/// envelope, contact and queue size in multi-row statements. Each statement is a round trip to
/// SQLite's worker thread, so their number per batch, not per envelope, bounds the writer.
async fn write_batch(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    batch: &[(Op, Reply)],
    queues: &mut Queues,
) -> Result<(Vec<Result<Done, StoreError>>, Vec<(String, StoredEnvelope)>), sqlx::Error> {
    let acks: Vec<(&str, &str)> = batch
        .iter()
        .filter_map(|(op, _)| match op {
            Op::Ack { id, by, .. } => Some((id.as_str(), by.as_str())),
            _ => None,
        })
        .collect();
    let mut removed = if acks.is_empty() {
        HashMap::new()
    } else {
        delete_acked(tx, &acks).await?
    };
    let mut writes = Writes::default();
    let mut out = Vec::with_capacity(batch.len());
    for (op, _) in batch {
        out.push(match op {
            Op::Insert(e, quota) => queues.admit(e, quota).map(|()| {
                queues.count_in(e);
                writes.envelopes.push(e.clone());
                Done::Inserted
            }),
            Op::Ack {
                id,
                by,
                response,
                contact,
            } => Ok(ack(
                id,
                by,
                response,
                *contact,
                &mut removed,
                queues,
                &mut writes,
            )),
            Op::Expire { now, notice_ttl_ms } => {
                Ok(expire(tx, *now, *notice_ttl_ms, queues, &mut writes).await?)
            }
        });
    }
    let committed = insert_all(tx, std::mem::take(&mut writes.envelopes)).await?;
    write_contacts_and_queues(tx, &writes.contacts, &queues.batch).await?;
    Ok((out, committed))
}

/// One ack, its envelope already deleted (or not: already acked, or not the acker's).
fn ack(
    id: &str,
    by: &str,
    response: &Option<NewEnvelope>,
    contact: bool,
    removed: &mut HashMap<String, Removed>,
    queues: &mut Queues,
    writes: &mut Writes,
) -> Done {
    let Some(gone) = removed.remove(id).filter(|g| g.recipient == by) else {
        return Done::Acked {
            removed: false,
            notify: None,
        };
    };
    let request = gone.kind == "request";
    queues.count(
        by,
        &gone.sender,
        request,
        gone.source.as_deref(),
        gone.size,
        -1,
    );
    let mut notify = None;
    if let Some(r) = response
        && request
    {
        let r = NewEnvelope {
            recipient: gone.sender.clone(),
            ..r.clone()
        };
        queues.count(&r.recipient, &r.sender, false, None, r.size(), 1);
        // The recipient vouched for the sender (no more proof of work between them), or
        // answered without vouching, which withdraws an earlier word.
        writes.contacts.insert(
            (gone.sender.clone(), by.to_owned()),
            contact.then_some(r.created_at),
        );
        writes.envelopes.push(r);
        notify = Some(gone.sender);
    }
    Done::Acked {
        removed: true,
        notify,
    }
}

/// Deletes what expired before `now`; each expired request becomes a notice to its sender.
async fn expire(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    now: i64,
    notice_ttl_ms: i64,
    queues: &mut Queues,
    writes: &mut Writes,
) -> Result<Done, sqlx::Error> {
    let gone = sqlx::query(
        "DELETE FROM envelopes WHERE expires_at <= ?
         RETURNING id, recipient, sender, kind, size, source",
    )
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    for row in &gone {
        let recipient: String = row.get("recipient");
        let sender: String = row.get("sender");
        let request = row.get::<String, _>("kind") == "request";
        queues.count(
            &recipient,
            &sender,
            request,
            row.get::<Option<String>, _>("source").as_deref(),
            row.get("size"),
            -1,
        );
        if request {
            let notice = NewEnvelope {
                id: crate::relay::envelope_id(),
                recipient: sender,
                sender: recipient,
                kind: "expired",
                path: None,
                reply_to: Some(row.get("id")),
                status: None,
                body: None,
                created_at: now,
                expires_at: now + notice_ttl_ms,
                source: None,
            };
            queues.count_in(&notice);
            writes.envelopes.push(notice);
        }
    }
    Ok(Done::Expired { count: gone.len() })
}

/// The writer task: batches of ops, one transaction each; after each commit, the new
/// envelopes go to their recipients' mailboxes.
pub(super) async fn write_loop(
    pool: SqlitePool,
    mut rx: mpsc::Receiver<(Op, Reply)>,
    mut queues: Queues,
    mailboxes: Arc<Mailboxes>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let result = async {
            let mut tx = pool.begin().await?;
            let written = write_batch(&mut tx, &batch, &mut queues).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(written)
        }
        .await;
        let changes = std::mem::take(&mut queues.batch);
        match result {
            Ok((outcomes, committed)) => {
                queues.commit_tallies();
                for (recipient, (count, bytes)) in changes {
                    let c = queues.committed.entry(recipient).or_default();
                    c.0 += count;
                    c.1 += bytes;
                }
                mailboxes.deliver(committed);
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
