//! Rolling-day counts of accepted handshakes and messages per peer (`rate_limit_per_day`).
//!
//! The durable record is the `rate_buckets` table (one row per peer and hour, so the count
//! survives restarts); this book is its in-memory mirror, so checking a limit costs no query.
//! An entry is loaded from the table on first use and then kept current by the writers:
//! the inbox adds a batch's messages before it commits (and clears the book if the commit
//! fails), the handshake path adds after its commit.

use std::collections::HashMap;
use std::sync::Mutex;

use sovra_proto::PublicKey;
use sqlx::{Row, Sqlite};

use super::{HOUR_MS, Store, Tx, now_ms};

/// Hours in the rolling window.
const WINDOW_HOURS: i64 = 24;

#[derive(Default)]
pub struct RateBook {
    peers: Mutex<HashMap<String, PeerCount>>,
}

/// Counts per hour for the current hour and the 23 before it.
#[derive(Debug, Clone, Default)]
pub struct PeerCount {
    hours: Vec<(i64, i64)>,
}

impl PeerCount {
    pub fn from_buckets(hours: Vec<(i64, i64)>) -> Self {
        PeerCount { hours }
    }

    fn total(&self, now_hour: i64) -> i64 {
        self.hours
            .iter()
            .filter(|(h, _)| *h > now_hour - WINDOW_HOURS)
            .map(|(_, n)| n)
            .sum()
    }

    fn add(&mut self, now_hour: i64) {
        self.hours.retain(|(h, _)| *h > now_hour - WINDOW_HOURS);
        match self.hours.iter_mut().find(|(h, _)| *h == now_hour) {
            Some((_, n)) => *n += 1,
            None => self.hours.push((now_hour, 1)),
        }
    }
}

/// The first hour still inside the rolling window, for loading buckets.
pub fn window_start_hour(now_ms: i64) -> i64 {
    now_ms / HOUR_MS - WINDOW_HOURS + 1
}

impl RateBook {
    /// The peer's count, if the book holds it.
    pub fn count(&self, peer: &str, now_ms: i64) -> Option<i64> {
        self.lock().get(peer).map(|c| c.total(now_ms / HOUR_MS))
    }

    /// Installs a count loaded from the table, unless a writer got there first (its entry
    /// already includes everything committed).
    pub fn load(&self, peer: &str, count: PeerCount) {
        self.lock().entry(peer.to_owned()).or_insert(count);
    }

    /// Counts one event if the book holds the peer and it stays within `limit`; `None` when the
    /// peer must be loaded first.
    pub fn take(&self, peer: &str, limit: u32, now_ms: i64) -> Option<bool> {
        let mut peers = self.lock();
        let count = peers.get_mut(peer)?;
        let hour = now_ms / HOUR_MS;
        if count.total(hour) >= i64::from(limit) {
            return Some(false);
        }
        count.add(hour);
        Some(true)
    }

    /// Counts one committed event; a peer not in the book will be loaded with it.
    pub fn note(&self, peer: &str, now_ms: i64) {
        if let Some(count) = self.lock().get_mut(peer) {
            count.add(now_ms / HOUR_MS);
        }
    }

    /// Forgets everything: after a failed commit the book may count events that never happened.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PeerCount>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store {
    /// Accepted handshakes and messages from `peer` in the current hour and the 23 before it.
    pub async fn rate_count(&self, peer: &PublicKey) -> Result<i64, sqlx::Error> {
        let key = peer.to_b64();
        let now = now_ms();
        if let Some(n) = self.rates.count(&key, now) {
            return Ok(n);
        }
        let loaded = load_rate(&self.read, &key, now).await?;
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
}

pub async fn load_rate<'e, E>(executor: E, peer: &str, now: i64) -> Result<PeerCount, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    let rows = sqlx::query("SELECT hour, n FROM rate_buckets WHERE peer_pubkey = ? AND hour >= ?")
        .bind(peer)
        .bind(window_start_hour(now))
        .fetch_all(executor)
        .await?;
    Ok(PeerCount::from_buckets(
        rows.iter().map(|r| (r.get("hour"), r.get("n"))).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_roll_off_after_a_day() {
        let book = RateBook::default();
        let t0 = 1_000 * HOUR_MS;
        assert_eq!(
            book.take("p", 2, t0),
            None,
            "unknown peers are loaded first"
        );
        book.load("p", PeerCount::from_buckets(vec![(999, 1)]));
        assert_eq!(book.take("p", 2, t0), Some(true));
        assert_eq!(book.take("p", 2, t0), Some(false));
        assert_eq!(book.count("p", t0), Some(2));
        // 23 hours later the hour-999 event has left the window, the hour-1000 one has not.
        assert_eq!(book.count("p", t0 + 23 * HOUR_MS), Some(1));
        assert_eq!(book.take("p", 2, t0 + 23 * HOUR_MS), Some(true));
        assert_eq!(book.count("p", t0 + 24 * HOUR_MS), Some(1));
        book.note("p", t0 + 24 * HOUR_MS);
        assert_eq!(book.count("p", t0 + 24 * HOUR_MS), Some(2));
    }
}
