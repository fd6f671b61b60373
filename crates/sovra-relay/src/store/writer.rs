//! The one task that writes the relay's database: batches of changes, one transaction and
//! one fsync each, with as few statements per batch as the changes allow.

use std::collections::HashMap;
use std::sync::Arc;

use sovra_sqlite::Script;
use sqlx::sqlite::SqliteConnection;
use sqlx::{Row, SqlitePool};
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
    /// Who now has a response waiting (none: no response, or the ack removed nothing —
    /// already acked, or never addressed to the acker).
    Acked {
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

/// Adds the statements storing `rows` (as few as their size allows), each returning the `seq`
/// it gave.
fn insert_all(script: &mut Script, rows: &[NewEnvelope]) {
    for chunk in rows.chunks(MAX_VARIABLES / 12) {
        let q = script.statement(
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
    }
}

/// `rows` as stored (with the `seq` each got, from `returned`), in `seq` order, for the
/// mailboxes.
fn as_stored(
    rows: Vec<NewEnvelope>,
    returned: &[sqlx::sqlite::SqliteRow],
) -> Vec<(String, StoredEnvelope)> {
    let seqs: HashMap<String, i64> = returned
        .iter()
        .map(|r| (r.get("id"), r.get("seq")))
        .collect();
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
    stored
}

/// An envelope an ack or an expiry removed.
struct Removed {
    id: String,
    recipient: String,
    sender: String,
    kind: String,
    size: i64,
    source: Option<String>,
}

impl Removed {
    /// Takes the removed envelope out of every count; whether it was a request.
    fn count_out(&self, queues: &mut Queues) -> bool {
        let request = self.kind == "request";
        queues.count(
            &self.recipient,
            &self.sender,
            request,
            self.source.as_deref(),
            self.size,
            -1,
        );
        request
    }
}

/// Which deletion removed a row: an ack (`ACKED`) or the expiry op at that index of the batch.
const ACKED: i64 = -1;

/// Adds the statements deleting every acked envelope of a batch (an ack removes an envelope
/// only if the acker is its recipient).
fn delete_acked(script: &mut Script, acks: &[(&str, &str)]) {
    for chunk in acks.chunks(MAX_VARIABLES / 2) {
        // Through a join on the id index: `(id, recipient) IN (VALUES …)` scans the table.
        let q = script.statement("DELETE FROM envelopes WHERE seq IN (SELECT e.seq FROM (VALUES ");
        let mut list = q.separated(", ");
        for (id, by) in chunk {
            list.push("(")
                .push_bind_unseparated(*id)
                .push_unseparated(", ")
                .push_bind_unseparated(*by)
                .push_unseparated(")");
        }
        q.push(format!(
            ") AS v JOIN envelopes e ON e.id = v.column1 AND e.recipient = v.column2)
             RETURNING {ACKED} AS cause, id, recipient, sender, kind, size, source"
        ));
    }
}

/// Adds the statements writing the batch's contact changes (the last word per pair wins) and
/// queue sizes.
fn write_contacts_and_queues(
    script: &mut Script,
    contacts: &HashMap<(String, String), Option<i64>>,
    queue_changes: &HashMap<String, (i64, i64)>,
) {
    let added: Vec<_> = contacts
        .iter()
        .filter_map(|(pair, since)| since.map(|s| (pair, s)))
        .collect();
    for chunk in added.chunks(MAX_VARIABLES / 3) {
        let q = script.statement("INSERT INTO contacts (sender, recipient, since) ");
        q.push_values(chunk, |mut row, ((sender, recipient), since)| {
            row.push_bind(sender).push_bind(recipient).push_bind(*since);
        });
        q.push(" ON CONFLICT DO NOTHING");
    }
    let withdrawn: Vec<_> = contacts
        .iter()
        .filter(|(_, since)| since.is_none())
        .map(|(pair, _)| pair)
        .collect();
    for chunk in withdrawn.chunks(MAX_VARIABLES / 2) {
        let q =
            script.statement("DELETE FROM contacts WHERE rowid IN (SELECT c.rowid FROM (VALUES ");
        let mut list = q.separated(", ");
        for (sender, recipient) in chunk {
            list.push("(")
                .push_bind_unseparated(sender)
                .push_unseparated(", ")
                .push_bind_unseparated(recipient)
                .push_unseparated(")");
        }
        q.push(") AS v JOIN contacts c ON c.sender = v.column1 AND c.recipient = v.column2)");
    }
    // One row write per recipient touched, however many envelopes it gained or lost.
    let changes: Vec<_> = queue_changes.iter().collect();
    for chunk in changes.chunks(MAX_VARIABLES / 3) {
        let q = script.statement("INSERT INTO queues (recipient, count, bytes) ");
        q.push_values(chunk, |mut row, (recipient, (count, bytes))| {
            row.push_bind(*recipient)
                .push_bind(*count)
                .push_bind(*bytes);
        });
        q.push(
            " ON CONFLICT (recipient) DO UPDATE SET count = count + excluded.count,
              bytes = bytes + excluded.bytes",
        );
    }
}

/// What a batch writes besides deletions, gathered while its ops are decided in order.
#[derive(Default)]
struct Writes {
    envelopes: Vec<NewEnvelope>,
    /// (sender, recipient) → since (vouched) or `None` (withdrawn); the last word wins.
    contacts: HashMap<(String, String), Option<i64>>,
}

/// Applies one batch as one transaction in two hand-overs to SQLite's thread
/// ([`Script`]; one when it deletes nothing): first every deletion (acks, expiries) with the
/// rows they removed, then —
/// each op decided in order against the quotas (an ack frees room for an insert after it) —
/// every new envelope, contact and queue size, and the commit.
async fn write_batch(
    conn: &mut SqliteConnection,
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
    let mut deletions = Script::default();
    delete_acked(&mut deletions, &acks);
    for (i, (op, _)) in batch.iter().enumerate() {
        if let Op::Expire { now, .. } = op {
            deletions
                .statement("DELETE FROM envelopes WHERE expires_at <= ")
                .push_bind(*now)
                .push(format!(
                    " RETURNING {i} AS cause, id, recipient, sender, kind, size, source"
                ));
        }
    }
    let deletes = !acks.is_empty() || batch.iter().any(|(op, _)| matches!(op, Op::Expire { .. }));
    let mut acked = HashMap::new();
    let mut expired: HashMap<i64, Vec<Removed>> = HashMap::new();
    // A batch of sends only deletes nothing: its transaction opens with the writes, one
    // hand-over in all.
    let removed_rows = match deletes {
        true => deletions.run(conn).await?,
        false => Vec::new(),
    };
    for r in removed_rows {
        let cause: i64 = r.get("cause");
        let removed = Removed {
            id: r.get("id"),
            recipient: r.get("recipient"),
            sender: r.get("sender"),
            kind: r.get("kind"),
            size: r.get("size"),
            source: r.get("source"),
        };
        if cause == ACKED {
            acked.insert(removed.id.clone(), removed);
        } else {
            expired.entry(cause).or_default().push(removed);
        }
    }

    let mut writes = Writes::default();
    let mut out = Vec::with_capacity(batch.len());
    for (i, (op, _)) in batch.iter().enumerate() {
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
                &mut acked,
                queues,
                &mut writes,
            )),
            Op::Expire { now, notice_ttl_ms } => Ok(expire(
                expired.remove(&(i as i64)).unwrap_or_default(),
                *now,
                *notice_ttl_ms,
                queues,
                &mut writes,
            )),
        });
    }
    let mut rest = match deletes {
        true => Script::continuing(),
        false => Script::default(),
    };
    insert_all(&mut rest, &writes.envelopes);
    write_contacts_and_queues(&mut rest, &writes.contacts, &queues.recipients.batch);
    let returned = rest.commit_on(conn).await?;
    Ok((out, as_stored(writes.envelopes, &returned)))
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
        return Done::Acked { notify: None };
    };
    let request = gone.count_out(queues);
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
    Done::Acked { notify }
}

/// What expired before `now` (already deleted): each expired request becomes a notice to its
/// sender.
fn expire(
    gone: Vec<Removed>,
    now: i64,
    notice_ttl_ms: i64,
    queues: &mut Queues,
    writes: &mut Writes,
) -> Done {
    let count = gone.len();
    for row in gone {
        if row.count_out(queues) {
            let notice = NewEnvelope {
                id: crate::relay::envelope_id(),
                recipient: row.sender,
                sender: row.recipient,
                kind: "expired",
                path: None,
                reply_to: Some(row.id),
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
    Done::Expired { count }
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
            let mut conn = pool.acquire().await?;
            let written = write_batch(&mut conn, &batch, &mut queues).await;
            if written.is_err() {
                sovra_sqlite::rollback(&mut conn).await;
            }
            written
        }
        .await;
        match result {
            Ok((outcomes, committed)) => {
                queues.commit();
                metrics::gauge!("sovra_relay_envelopes_waiting").set(queues.total.0 as f64);
                metrics::gauge!("sovra_relay_bytes_waiting").set(queues.total.1 as f64);
                mailboxes.deliver(committed);
                for ((_, reply), outcome) in batch.drain(..).zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                queues.abandon();
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
