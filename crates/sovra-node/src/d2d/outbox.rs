//! Delivering queued messages: every due row is attempted concurrently, over the peer's
//! endpoint and then its relays; transport failures back off exponentially (full jitter) until
//! the delivery horizon, refusals end the row (and, for a dead token, the conversation).

use std::collections::HashSet;
use std::sync::Arc;

use rand_core::Rng;
use sovra_client::ClientError;
use sovra_proto::{MessageRequest, MessageResponse, PublicKey, os_rng};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::{OutboxOutcome, now_ms};

/// Deliveries attempted at once per cloud.
pub const MAX_DELIVERING: usize = 64;
/// How often the outbox depth is measured for `/metrics`.
const DEPTH_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

impl Cloud {
    /// The outbox worker: attempts due deliveries concurrently, up to [`MAX_DELIVERING`] at
    /// once, picking up new ones as each finishes; outcomes that finish together are written in
    /// one commit. On shutdown the deliveries in flight finish and are recorded.
    pub async fn deliver_outbox(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut running = tokio::task::JoinSet::new();
        let mut in_flight: HashSet<i64> = HashSet::new();
        // Whether due rows may be waiting: set by a wake-up or the timer, cleared when a read
        // finds nothing new to start.
        let mut maybe_due = true;
        let mut measured = std::time::Instant::now()
            .checked_sub(DEPTH_EVERY)
            .unwrap_or_else(std::time::Instant::now);
        loop {
            if measured.elapsed() >= DEPTH_EVERY {
                measured = std::time::Instant::now();
                if let Ok(n) = self.store.outbox_pending().await {
                    metrics::gauge!("sovra_outbox_pending", "cloud" => self.name.clone())
                        .set(n as f64);
                }
            }
            if self.speaking().is_err() {
                // Revoked: what waits is not delivered by a node that lost the right to.
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => continue,
                }
            }
            let room = MAX_DELIVERING.saturating_sub(running.len());
            if room > 0 && maybe_due {
                match self.store.due_outbox((room + in_flight.len()) as i64).await {
                    Ok(due) => {
                        let want = room + in_flight.len();
                        maybe_due = due.len() == want;
                        let fresh: Vec<_> = due
                            .into_iter()
                            .filter(|i| !in_flight.contains(&i.id))
                            .take(room)
                            .collect();
                        for item in fresh {
                            in_flight.insert(item.id);
                            let cloud = Arc::clone(&self);
                            running.spawn(async move {
                                let id = item.id;
                                (id, cloud.deliver_one(item).await)
                            });
                        }
                    }
                    Err(e) => tracing::error!(cloud = %self.name, "reading the outbox: {e}"),
                }
            }
            let wait = match running.is_empty() {
                true => match self.store.next_outbox_due().await {
                    Ok(Some(t)) => (t - now_ms()).clamp(0, 1000) as u64,
                    _ => 1000,
                },
                false => 1000,
            };
            tokio::select! {
                _ = self.outbox_wake.notified() => maybe_due = true,
                Some(first) = running.join_next(), if !running.is_empty() => {
                    let mut done = vec![first];
                    while let Some(more) = running.try_join_next() {
                        done.push(more);
                    }
                    self.record_deliveries(done, &mut in_flight).await;
                }
                _ = tokio::time::sleep(std::time::Duration::from_millis(wait)) => maybe_due = true,
                _ = stop.changed() => {
                    let mut done = Vec::new();
                    while let Some(r) = running.join_next().await {
                        done.push(r);
                    }
                    self.record_deliveries(done, &mut in_flight).await;
                    return;
                }
            }
        }
    }

    /// Writes finished deliveries' outcomes in one commit, then lets their rows be picked again.
    async fn record_deliveries(
        &self,
        done: Vec<Result<(i64, ApiResult<OutboxOutcome>), tokio::task::JoinError>>,
        in_flight: &mut HashSet<i64>,
    ) {
        let mut outcomes = Vec::with_capacity(done.len());
        let mut ids = Vec::with_capacity(done.len());
        for r in done {
            match r {
                Ok((id, Ok(o))) => {
                    metrics::counter!("sovra_outbox_attempts_total", "outcome" => o.state)
                        .increment(1);
                    ids.push(id);
                    outcomes.push(o);
                }
                Ok((id, Err(e))) => {
                    ids.push(id);
                    tracing::warn!(cloud = %self.name, "delivery bookkeeping failed: {}", e.message)
                }
                Err(e) => tracing::warn!(cloud = %self.name, "delivery task failed: {e}"),
            }
        }
        if let Err(e) = self.queue.record(outcomes).await {
            tracing::error!(cloud = %self.name, "recording deliveries: {e}");
        }
        for id in ids {
            in_flight.remove(&id);
        }
    }

    async fn deliver_one(
        self: &Arc<Self>,
        item: crate::store::OutboxItem,
    ) -> ApiResult<OutboxOutcome> {
        if item.kind == "action" {
            return Ok(self.deliver_action(&item).await);
        }
        let request: MessageRequest =
            serde_json::from_str(&item.body).map_err(ApiError::internal)?;
        let attempts = item.attempts + 1;
        let peer = self
            .store
            .peer(&PublicKey::from_b64("peer", &item.peer_pubkey)?)
            .await?;
        let outcome = match &peer {
            Some(peer) => self
                .post_to_peer::<_, MessageResponse>(peer, "/api/d2d/message", &request)
                .await
                .and_then(|r| match r.received {
                    true => Ok(r),
                    false => Err(ClientError::Decode("received: false".into())),
                }),
            None => Err(ClientError::Status {
                status: 404,
                code: "unknown_peer".into(),
                message: "the peer left the whitelist".into(),
            }),
        };
        let done =
            |state: &'static str, next_attempt_at: i64, error: Option<String>| OutboxOutcome {
                id: item.id,
                state,
                attempts,
                next_attempt_at,
                error,
            };
        Ok(match outcome {
            Ok(_) => done("delivered", now_ms(), None),
            Err(e) if e.is_retryable() => {
                let now = now_ms();
                let horizon = self.settings.delivery_horizon.as_millis() as i64;
                if now - item.created_at >= horizon {
                    let why = format!(
                        "gave up after {attempts} attempts over {} s: {e}",
                        horizon / 1000
                    );
                    tracing::warn!(cloud = %self.name, outbox = item.id, "{why}");
                    done("failed", now, Some(why))
                } else {
                    let wait = backoff(
                        self.settings.backoff_base,
                        self.settings.backoff_max,
                        attempts,
                    );
                    done("pending", now + wait, Some(e.to_string()))
                }
            }
            Err(e) => {
                // The peer ended the conversation: stop using it, so the next send opens a new one.
                if matches!(e.code(), Some("expired_token" | "unknown_token")) {
                    self.store.close_conversation(&item.conversation_id).await?;
                }
                done(
                    "failed",
                    now_ms(),
                    Some(format!("refused by the peer: {e}")),
                )
            }
        })
    }
}

/// Exponential backoff with full jitter, in ms: uniform in [0, min(max, base·2^(attempts−1))].
/// D2D messages and action deliveries use it with their own base and cap.
pub(crate) fn backoff(base: std::time::Duration, max: std::time::Duration, attempts: i64) -> i64 {
    let base = base.as_millis() as u64;
    let cap = max.as_millis() as u64;
    let exp = base
        .saturating_mul(1u64 << (attempts.clamp(1, 30) - 1))
        .min(cap)
        .max(1);
    (os_rng().next_u64() % (exp + 1)) as i64
}
