//! What waits where, counted in memory for the quotas (§17.4): rebuilt from the database at
//! open, changed by the writer as it decides each op, folded in when its batch commits.

use std::collections::HashMap;

use super::{NewEnvelope, Quota, StoreError};

/// Waiting envelopes and bytes per key, in memory only (rebuilt from `envelopes` at open):
/// the committed counts and the changes of the batch being written.
pub(super) struct Tally<K> {
    pub(super) committed: HashMap<K, (i64, i64)>,
    pub(super) batch: HashMap<K, (i64, i64)>,
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
    pub(super) fn used(&self, key: &K) -> (i64, i64) {
        let c = self.committed.get(key).copied().unwrap_or_default();
        let b = self.batch.get(key).copied().unwrap_or_default();
        (c.0 + b.0, c.1 + b.1)
    }

    pub(super) fn change(&mut self, key: K, count: i64, bytes: i64) {
        let e = self.batch.entry(key).or_default();
        e.0 += count;
        e.1 += bytes;
    }

    /// Folds a committed batch in, forgetting keys with nothing waiting.
    pub(super) fn commit(&mut self) {
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
pub(super) struct Queues {
    /// Envelopes and bytes waiting at the relay, all recipients together (for `/metrics`).
    pub(super) total: (i64, i64),
    pub(super) recipients: Tally<String>,
    pub(super) pairs: Tally<(String, String)>,
    pub(super) keys: Tally<String>,
    pub(super) sources: Tally<String>,
}

impl Queues {
    /// Counts an envelope in (`sign` 1) or out (-1) everywhere it counts.
    pub(super) fn count(
        &mut self,
        recipient: &str,
        sender: &str,
        request: bool,
        source: Option<&str>,
        size: i64,
        sign: i64,
    ) {
        self.recipients
            .change(recipient.to_owned(), sign, sign * size);
        self.pairs
            .change((recipient.to_owned(), sender.to_owned()), sign, sign * size);
        if request {
            self.keys.change(sender.to_owned(), sign, sign * size);
            if let Some(source) = source {
                self.sources.change(source.to_owned(), sign, sign * size);
            }
        }
    }

    /// Folds a committed batch's changes in.
    pub(super) fn commit(&mut self) {
        for (count, bytes) in self.recipients.batch.values() {
            self.total.0 += count;
            self.total.1 += bytes;
        }
        self.recipients.commit();
        self.pairs.commit();
        self.keys.commit();
        self.sources.commit();
    }

    /// Forgets a failed batch's changes.
    pub(super) fn abandon(&mut self) {
        self.recipients.batch.clear();
        self.pairs.batch.clear();
        self.keys.batch.clear();
        self.sources.batch.clear();
    }

    /// Whether `e` fits every quota, counting the batch so far.
    pub(super) fn admit(&self, e: &NewEnvelope, quota: &Quota) -> Result<(), StoreError> {
        let used = self.recipients.used(&e.recipient);
        if used.0 + 1 > quota.envelopes || used.1 + e.size() > quota.bytes {
            return Err(StoreError::QuotaExceeded);
        }
        let mine = self.pairs.used(&(e.recipient.clone(), e.sender.clone()));
        if mine.0 + 1 > quota.per_sender_envelopes || mine.1 + e.size() > quota.per_sender_bytes {
            return Err(StoreError::ShareExceeded);
        }
        let key = self.keys.used(&e.sender);
        let source = e
            .source
            .as_ref()
            .map(|s| self.sources.used(s))
            .unwrap_or_default();
        if key.0 + 1 > quota.per_key_envelopes
            || key.1 + e.size() > quota.per_key_bytes
            || source.0 + 1 > quota.per_source_envelopes
            || source.1 + e.size() > quota.per_source_bytes
        {
            return Err(StoreError::StorageShareExceeded);
        }
        Ok(())
    }

    pub(super) fn count_in(&mut self, e: &NewEnvelope) {
        self.count(
            &e.recipient,
            &e.sender,
            e.kind == "request",
            e.source.as_deref(),
            e.size(),
            1,
        );
    }
}
