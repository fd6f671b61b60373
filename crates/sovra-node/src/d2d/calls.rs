//! Running the capability calls an inbound message carries (the seed's receive step 4) and
//! queueing their results as one reply. At most once: a job is marked `started` (committed)
//! before its adapter runs, and a job found `started` after a restart is answered with an
//! error, never run again.

use sovra_proto::{CallResult, Payload, PublicKey};

use crate::agents::capability::{self, Adapter};
use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::Store;

impl Cloud {
    /// Calls whose adapter was started before a crash are not run again (at most once): they
    /// are answered with an error result.
    pub async fn recover_interrupted_jobs(&self) -> ApiResult<()> {
        for (conv, seq) in self.store.jobs("started").await? {
            self.answer_calls(&conv, seq, true).await?;
        }
        Ok(())
    }

    /// Runs queued calls and queues their replies.
    pub async fn run_jobs(&self) -> ApiResult<()> {
        for (conv, seq) in self.store.jobs("queued").await? {
            if self.store.start_job(&conv, seq).await? {
                self.answer_calls(&conv, seq, false).await?;
            }
        }
        Ok(())
    }

    async fn answer_calls(&self, conv_id: &str, seq: u64, interrupted: bool) -> ApiResult<()> {
        let conv = self
            .store
            .conversation(conv_id)
            .await?
            .ok_or_else(|| ApiError::internal("job without conversation"))?;
        let Some(message) = self.store.message(conv_id, "in", seq).await? else {
            // The content was deleted (conversation closed): nothing to answer.
            let mut tx = self.store.begin().await?;
            Store::finish_job(&mut tx, conv_id, seq).await?;
            tx.commit().await?;
            return Ok(());
        };
        let payload: Payload =
            serde_json::from_value(message.payload).map_err(ApiError::internal)?;
        let peer = self
            .store
            .peer(&PublicKey::from_b64("peer", &conv.peer_pubkey)?)
            .await?;
        let exposed = self.store.capabilities().await?;
        let soul = self.dir.join("soul.md");
        let mut results = Vec::with_capacity(payload.calls.len());
        for call in &payload.calls {
            let fail = |why: &str| CallResult {
                capability: call.capability.clone(),
                ok: false,
                output: None,
                error: Some(why.to_owned()),
            };
            let granted = peer
                .as_ref()
                .is_some_and(|p| p.grant.allows(&call.capability));
            let adapter = exposed
                .iter()
                .find(|c| c.name == call.capability)
                .and_then(|c| serde_json::from_value::<Adapter>(c.adapter.clone()).ok());
            results.push(match (interrupted, granted, adapter) {
                (true, _, _) => fail(
                    "interrupted: the node restarted while this call ran; it was not run again",
                ),
                (_, false, _) => fail("not granted"),
                (_, true, None) => fail("no such capability"),
                (_, true, Some(adapter)) => {
                    capability::run(
                        &self.http,
                        &call.capability,
                        &adapter,
                        &call.args,
                        &payload.text,
                        &soul,
                    )
                    .await
                }
            });
        }
        let ok = results.iter().filter(|r| r.ok).count();
        let mut reply = Payload::text(format!("{ok} of {} call(s) succeeded", results.len()));
        reply.results = results;
        reply.in_reply_to = Some(seq);
        reply.data_policy = payload.data_policy.clone();
        match self.enqueue(&conv, &reply).await {
            Ok(_)
            | Err(ApiError {
                code: "no_endpoint",
                ..
            }) => {}
            Err(e) => return Err(e),
        }
        let mut tx = self.store.begin().await?;
        Store::finish_job(&mut tx, conv_id, seq).await?;
        tx.commit().await?;
        Ok(())
    }
}
