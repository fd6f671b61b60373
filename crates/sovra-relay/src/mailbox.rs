//! Who is connected, and the envelopes committed for them that their connection has not sent.
//!
//! The writer hands every envelope it committed to its recipient's mailbox right after the
//! commit, in `seq` order (one writer, one commit at a time), so a connected recipient is pushed
//! from memory instead of re-reading its queue after each batch. A mailbox holds at most
//! [`MAILBOX_CAP`] envelopes and [`MAILBOX_BYTES`] of bodies; past that it only records that it
//! overflowed and its connection
//! reads the queue from the database, which holds everything until it is acked — so nothing is
//! lost either way, and a slow reader costs the relay a bounded amount of memory.
//!
//! Invariant: the connection sends envelopes in increasing `seq` and skips any at or below the
//! last one it sent. Its first database read happens after its mailbox is registered, so an
//! envelope committed later is in the mailbox, and one committed earlier is in the read.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::store::StoredEnvelope;

/// Envelopes a mailbox holds before it overflows to a database read.
pub const MAILBOX_CAP: usize = 64;
/// Body bytes a mailbox holds before it overflows: a recipient that connects and never reads
/// costs the relay at most this (plus what its socket buffers), not 64 envelopes of 1 MiB.
pub const MAILBOX_BYTES: usize = 1024 * 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The connection of one key (the newest: an older one is closed when a newer registers).
pub struct Mailbox {
    generation: u64,
    waiting: Mutex<Waiting>,
    wake: Notify,
}

#[derive(Default)]
struct Waiting {
    envelopes: VecDeque<StoredEnvelope>,
    bytes: usize,
    overflow: bool,
    closed: bool,
}

/// What a connection finds in its mailbox.
pub enum Taken {
    /// Committed envelopes, oldest first (possibly none).
    Envelopes(VecDeque<StoredEnvelope>),
    /// More came than the mailbox holds: read the queue from the database.
    Overflow,
    /// A newer connection of the same key replaced this one.
    Closed,
}

impl Mailbox {
    /// Waits until something was delivered or the mailbox closed (a wake-up that finds
    /// nothing is possible and harmless).
    pub async fn notified(&self) {
        self.wake.notified().await;
    }

    /// Empties the mailbox.
    pub fn take(&self) -> Taken {
        let mut w = lock(&self.waiting);
        if w.closed {
            Taken::Closed
        } else if std::mem::take(&mut w.overflow) {
            w.envelopes.clear();
            w.bytes = 0;
            Taken::Overflow
        } else {
            w.bytes = 0;
            Taken::Envelopes(std::mem::take(&mut w.envelopes))
        }
    }

    fn put(&self, e: StoredEnvelope) {
        {
            let mut w = lock(&self.waiting);
            if w.overflow {
                return;
            }
            let size = e.body.as_ref().map_or(0, String::len);
            if w.envelopes.len() >= MAILBOX_CAP || w.bytes + size > MAILBOX_BYTES {
                w.overflow = true;
                w.envelopes.clear();
                w.bytes = 0;
            } else {
                w.bytes += size;
                w.envelopes.push_back(e);
            }
        }
        self.wake.notify_one();
    }

    fn close(&self) {
        lock(&self.waiting).closed = true;
        self.wake.notify_one();
    }
}

/// Every connected key's mailbox.
#[derive(Default)]
pub struct Mailboxes {
    open: Mutex<HashMap<String, Arc<Mailbox>>>,
}

impl Mailboxes {
    /// Registers the connection `generation` of `key`, closing the one it replaces.
    pub fn open(&self, key: &str, generation: u64) -> Arc<Mailbox> {
        let mailbox = Arc::new(Mailbox {
            generation,
            waiting: Mutex::default(),
            wake: Notify::new(),
        });
        let mut open = lock(&self.open);
        if let Some(old) = open.insert(key.to_owned(), mailbox.clone()) {
            old.close();
        }
        metrics::gauge!("sovra_relay_connections").set(open.len() as f64);
        mailbox
    }

    /// Forgets `key`'s connection `generation`, unless a newer one replaced it.
    pub fn close(&self, key: &str, generation: u64) {
        let mut open = lock(&self.open);
        if open.get(key).is_some_and(|m| m.generation == generation) {
            open.remove(key);
            metrics::gauge!("sovra_relay_connections").set(open.len() as f64);
        }
    }

    /// Hands committed envelopes to their recipients' connections. `committed` is in `seq`
    /// order; envelopes for keys not connected stay in the database only.
    pub fn deliver(&self, committed: Vec<(String, StoredEnvelope)>) {
        if committed.is_empty() {
            return;
        }
        let open = lock(&self.open);
        for (recipient, e) in committed {
            if let Some(m) = open.get(&recipient) {
                m.put(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(seq: i64) -> StoredEnvelope {
        StoredEnvelope {
            seq,
            id: format!("e{seq}"),
            sender: "s".into(),
            kind: "request".into(),
            path: None,
            reply_to: None,
            status: None,
            body: None,
            created_at: 0,
        }
    }

    #[test]
    fn holds_in_order_then_overflows_then_starts_over() {
        let boxes = Mailboxes::default();
        let m = boxes.open("k", 1);
        boxes.deliver(vec![
            ("k".into(), envelope(1)),
            ("other".into(), envelope(2)),
        ]);
        boxes.deliver(vec![("k".into(), envelope(3))]);
        let Taken::Envelopes(got) = m.take() else {
            panic!("expected envelopes")
        };
        assert_eq!(got.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 3]);

        boxes.deliver(
            (0..=MAILBOX_CAP as i64)
                .map(|s| ("k".to_owned(), envelope(10 + s)))
                .collect(),
        );
        assert!(matches!(m.take(), Taken::Overflow));
        // After an overflow is taken, the mailbox fills again from the next delivery.
        boxes.deliver(vec![("k".into(), envelope(500))]);
        let Taken::Envelopes(got) = m.take() else {
            panic!("expected envelopes")
        };
        assert_eq!(got.len(), 1);
    }

    #[test]
    fn large_bodies_overflow_by_bytes() {
        let boxes = Mailboxes::default();
        let m = boxes.open("k", 1);
        let big = |seq| StoredEnvelope {
            body: Some("x".repeat(600 * 1024)),
            ..envelope(seq)
        };
        boxes.deliver(vec![("k".into(), big(1))]);
        assert!(matches!(m.take(), Taken::Envelopes(e) if e.len() == 1));
        boxes.deliver(vec![("k".into(), big(2)), ("k".into(), big(3))]);
        assert!(matches!(m.take(), Taken::Overflow));
    }

    #[test]
    fn a_newer_connection_closes_the_older() {
        let boxes = Mailboxes::default();
        let old = boxes.open("k", 1);
        let new = boxes.open("k", 2);
        assert!(matches!(old.take(), Taken::Closed));
        boxes.close("k", 1); // the old connection leaving does not unregister the new one
        boxes.deliver(vec![("k".into(), envelope(1))]);
        assert!(matches!(new.take(), Taken::Envelopes(e) if e.len() == 1));
        boxes.close("k", 2);
        assert!(lock(&boxes.open).is_empty());
    }
}
