//! Delivering queued messages: every due row is attempted concurrently, over the peer's
//! endpoint and then its relays; transport failures back off exponentially (full jitter) until
//! the delivery horizon, refusals end the row (and, for a dead token, the conversation).

use std::sync::Arc;

use rand_core::Rng;
use sovra_client::ClientError;
use sovra_proto::{MessageRequest, MessageResponse, PublicKey, os_rng};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::{OutboxOutcome, now_ms};

impl Cloud {
    /// Attempts every due delivery, concurrently. Outcomes are written as they come in, all
    /// that finished together in one commit.
    pub async fn deliver_due(self: &Arc<Self>) -> ApiResult<usize> {
        let due = self.store.due_outbox(64).await?;
        let n = due.len();
        let mut set = tokio::task::JoinSet::new();
        for item in due {
            let cloud = Arc::clone(self);
            set.spawn(async move { cloud.deliver_one(item).await });
        }
        while let Some(first) = set.join_next().await {
            let mut done = vec![first];
            while let Some(more) = set.try_join_next() {
                done.push(more);
            }
            let mut outcomes = Vec::with_capacity(done.len());
            for r in done {
                match r {
                    Ok(Ok(o)) => outcomes.push(o),
                    Ok(Err(e)) => {
                        tracing::warn!(cloud = %self.name, "delivery bookkeeping failed: {}", e.message)
                    }
                    Err(e) => tracing::warn!(cloud = %self.name, "delivery task failed: {e}"),
                }
            }
            self.store.outbox_results(&outcomes).await?;
        }
        Ok(n)
    }

    async fn deliver_one(
        self: &Arc<Self>,
        item: crate::store::OutboxItem,
    ) -> ApiResult<OutboxOutcome> {
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
                    done("pending", now + self.backoff(attempts), Some(e.to_string()))
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

    /// Exponential backoff with full jitter: uniform in [0, min(max, base·2^(attempts−1))].
    fn backoff(&self, attempts: i64) -> i64 {
        let base = self.settings.backoff_base.as_millis() as u64;
        let cap = self.settings.backoff_max.as_millis() as u64;
        let exp = base
            .saturating_mul(1u64 << (attempts.clamp(1, 30) - 1))
            .min(cap)
            .max(1);
        (os_rng().next_u64() % (exp + 1)) as i64
    }
}
