//! Read-through memos of rows the D2D hot path reads on every message (the conversation behind
//! a token, the whitelist entry behind a key).
//!
//! Every message used to cost two reader-pool queries before any crypto; on two cores that was a
//! third of the node's throughput (docs/BENCHMARKS.md). The store owns these memos and clears
//! them on every write to the rows they hold, so a removed peer or a closed conversation is seen
//! at once. A generation counter closes the one race a read-through cache has: a reader that
//! loaded a row *before* a write must not put the stale row back *after* the write cleared it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// Entries kept before the memo starts over; bounds memory under a flood of distinct keys.
const CAPACITY: usize = 16_384;

pub struct Memo<K, V> {
    inner: Mutex<Inner<K, V>>,
}

struct Inner<K, V> {
    generation: u64,
    map: HashMap<K, V>,
}

impl<K: Eq + Hash, V: Clone> Default for Memo<K, V> {
    fn default() -> Self {
        Memo {
            inner: Mutex::new(Inner {
                generation: 0,
                map: HashMap::new(),
            }),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    /// The cached value, or the generation to hand back to [`Memo::fill`] after loading it.
    pub fn get(&self, key: &K) -> Result<V, u64> {
        let inner = self.lock();
        inner.map.get(key).cloned().ok_or(inner.generation)
    }

    /// Caches a value loaded while `generation` was current; dropped if a write came between.
    pub fn fill(&self, key: K, value: V, generation: u64) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.map.len() >= CAPACITY {
            inner.map.clear();
        }
        inner.map.insert(key, value);
    }

    /// Forgets everything; called after every write to the underlying rows has committed.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.map.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        // The critical sections cannot panic halfway, so a poisoned lock still holds whole data.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_that_raced_a_write_is_dropped() {
        let memo: Memo<&str, i32> = Memo::default();
        let generation = memo.get(&"k").unwrap_err();
        memo.clear(); // a write lands while the reader was loading
        memo.fill("k", 1, generation);
        assert!(memo.get(&"k").is_err());
        let generation = memo.get(&"k").unwrap_err();
        memo.fill("k", 2, generation);
        assert_eq!(memo.get(&"k"), Ok(2));
        memo.clear();
        assert!(memo.get(&"k").is_err());
    }
}
