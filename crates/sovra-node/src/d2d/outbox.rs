//! Delivering queued messages: every due row is attempted concurrently, over the peer's
//! endpoint and then its relays; transport failures back off exponentially (full jitter) until
//! the delivery horizon, refusals end the row (and, for a dead token, the conversation).

use std::sync::Arc;

use rand_core::Rng;
use sovra_client::ClientError;
use sovra_proto::{MessageRequest, MessageResponse, PublicKey, os_rng};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::now_ms;

impl Cloud {
    /// Attempts every due delivery, concurrently.
    pub async fn deliver_due(self: &Arc<Self>) -> ApiResult<usize> {
        let due = self.store.due_outbox(64).await?;
        let n = due.len();
        let mut set = tokio::task::JoinSet::new();
        for item in due {
            let cloud = Arc::clone(self);
            set.spawn(async move { cloud.deliver_one(item).await });
        }
        while let Some(r) = set.join_next().await {
            if let Ok(Err(e)) = r {
                tracing::warn!(cloud = %self.name, "delivery bookkeeping failed: {}", e.message);
            }
        }
        Ok(n)
    }

    async fn deliver_one(self: &Arc<Self>, item: crate::store::OutboxItem) -> ApiResult<()> {
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
        match outcome {
            Ok(_) => {
                self.store
                    .outbox_result(item.id, "delivered", attempts, now_ms(), None)
                    .await?
            }
            Err(e) if e.is_retryable() => {
                let now = now_ms();
                let horizon = self.settings.delivery_horizon.as_millis() as i64;
                if now - item.created_at >= horizon {
                    let why = format!(
                        "gave up after {attempts} attempts over {} s: {e}",
                        horizon / 1000
                    );
                    tracing::warn!(cloud = %self.name, outbox = item.id, "{why}");
                    self.store
                        .outbox_result(item.id, "failed", attempts, now, Some(&why))
                        .await?;
                } else {
                    let delay = self.backoff(attempts);
                    self.store
                        .outbox_result(
                            item.id,
                            "pending",
                            attempts,
                            now + delay,
                            Some(&e.to_string()),
                        )
                        .await?;
                }
            }
            Err(e) => {
                // The peer ended the conversation: stop using it, so the next send opens a new one.
                if matches!(e.code(), Some("expired_token" | "unknown_token")) {
                    self.store.close_conversation(&item.conversation_id).await?;
                }
                let why = format!("refused by the peer: {e}");
                self.store
                    .outbox_result(item.id, "failed", attempts, now_ms(), Some(&why))
                    .await?;
            }
        }
        Ok(())
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
