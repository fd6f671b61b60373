//! Answering an inbound message: running the capability calls it carries (the seed's receive
//! step 4) and asking its swarm's brain (step 3, `agents/answer.rs`), then queueing one reply
//! with both. At most once: a job is marked `started` (committed)
//! before its adapter runs, and a job found `started` after a restart is answered with an
//! error, never run again.

use std::sync::Arc;

use sovra_proto::{CallResult, Payload, PublicKey};

use crate::agents::answer::Answer;
use crate::agents::capability::{self, Adapter};
use crate::agents::events::{Event, event_now};
use crate::agents::swarm::{MAIN, SwarmFile};
use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::Store;

/// Messages answered at once per cloud.
pub const MAX_ANSWERING: usize = 64;

impl Cloud {
    /// Calls whose adapter was started before a crash are not run again (at most once): they
    /// are answered with an error result.
    async fn recover_interrupted_jobs(&self) -> ApiResult<()> {
        for (conv, seq) in self.store.jobs("started").await? {
            self.answer_calls(&conv, seq, true).await?;
        }
        Ok(())
    }

    /// The jobs worker: claims up to [`MAX_ANSWERING`] queued jobs in one commit (marking them
    /// started) and answers them concurrently; a batch in flight finishes before shutdown.
    pub async fn answer_jobs(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        if let Err(e) = self.recover_interrupted_jobs().await {
            tracing::error!(cloud = %self.name, "recovering jobs: {}", e.message);
        }
        loop {
            // A batch is claimed in one commit and answered concurrently; the next batch
            // is claimed when it is done (claims are writes: batching them is what keeps the
            // writer free for answers).
            // A cloud frozen for a move starts no call: queued ones move with it (§20.3).
            let claim = match self.migration.state() {
                crate::migration::State::Serving => {
                    self.store.claim_jobs(MAX_ANSWERING as i64).await
                }
                _ => Ok(Vec::new()),
            };
            match claim {
                Ok(jobs) => {
                    let mut running = tokio::task::JoinSet::new();
                    for (conv, seq) in jobs {
                        let cloud = Arc::clone(&self);
                        running.spawn(async move {
                            if let Err(e) = cloud.answer_calls(&conv, seq, false).await {
                                tracing::error!(cloud = %cloud.name, "answering {conv}/{seq}: {}", e.message);
                            }
                        });
                    }
                    while running.join_next().await.is_some() {}
                }
                Err(e) => tracing::error!(cloud = %self.name, "claiming jobs: {e}"),
            }
            tokio::select! {
                _ = self.jobs_wake.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Answers one inbound message: its calls, then the chat loop (`agents/answer.rs`); one
    /// reply carries both, or a review-mode draft holds it for the owner.
    async fn answer_calls(&self, conv_id: &str, seq: u64, interrupted: bool) -> ApiResult<()> {
        let conv = self
            .store
            .conversation(conv_id)
            .await?
            .ok_or_else(|| ApiError::internal("job without conversation"))?;
        let Some(message) = self.store.message(conv_id, "in", seq).await? else {
            // The content was deleted (conversation closed): nothing to answer.
            return self.finish_job(conv_id, seq).await;
        };
        let payload: Payload =
            serde_json::from_value(message.payload).map_err(ApiError::internal)?;
        let peer = self
            .store
            .peer(&PublicKey::from_b64("peer", &conv.peer_pubkey)?)
            .await?;
        let exposed = match payload.calls.is_empty() {
            true => Vec::new(),
            false => self.store.capabilities().await?,
        };
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
            let exposed = exposed.iter().find(|c| c.name == call.capability);
            let adapter =
                exposed.and_then(|c| serde_json::from_value::<Adapter>(c.adapter.clone()).ok());
            results.push(match (interrupted, granted, adapter) {
                (true, _, _) => fail(
                    "interrupted: the node restarted while this call ran; it was not run again",
                ),
                (_, false, _) => fail("not granted"),
                (_, true, None) => fail("no such capability"),
                (_, true, Some(adapter)) => {
                    let swarm = exposed.map(|c| c.swarm.as_str()).unwrap_or(MAIN);
                    capability::run(
                        &self.http,
                        &call.capability,
                        &adapter,
                        &call.args,
                        &payload.text,
                        &self.swarm_path(swarm, SwarmFile::Soul),
                    )
                    .await
                }
            });
        }
        let (answer, swarm) = match &peer {
            Some(p) => {
                self.chat_answer(&conv, p, seq, &payload, interrupted)
                    .await?
            }
            None => (Answer::Silent, None),
        };
        let ok = results.iter().filter(|r| r.ok).count();
        let refusal = |code: &str, text: &str| {
            let mut p = Payload::text(text);
            p.refusal = Some(code.to_owned());
            p
        };
        let mut reply = match &answer {
            Answer::Text(text, _) | Answer::Draft(text, _) => Payload::text(text.clone()),
            Answer::Failed(_) => refusal(
                "brain_failed",
                "The agent could not answer right now; its owner has been told.",
            ),
            Answer::Refused { code, text } => refusal(code, text),
            Answer::Silent if !results.is_empty() => {
                Payload::text(format!("{ok} of {} call(s) succeeded", results.len()))
            }
            Answer::Silent => return self.finish_job(conv_id, seq).await,
        };
        reply.results = results;
        reply.in_reply_to = Some(seq);
        reply.data_policy = payload.data_policy.clone();
        reply.automatic = true;
        if let Answer::Draft(text, run) = &answer {
            let swarm = swarm.unwrap_or_else(|| MAIN.to_owned());
            let mut tx = self.store.begin().await?;
            let id = Store::insert_draft(
                &mut tx,
                conv_id,
                seq,
                &swarm,
                &serde_json::to_string(&reply).expect("json"),
            )
            .await?;
            Store::record_runs(&mut tx, &[(conv_id, seq, run)]).await?;
            Store::finish_job(&mut tx, conv_id, seq).await?;
            tx.commit().await?;
            self.emit(Event {
                conversation_id: Some(conv.id.clone()),
                in_reply_to: Some(seq),
                peer: peer.map(|p| p.grant.peer_handle),
                swarm: Some(swarm),
                text: Some(text.clone()),
                id: Some(id.to_string()),
                ..event_now("draft")
            });
            return Ok(());
        }
        let run = match answer {
            Answer::Text(_, run) | Answer::Draft(_, run) | Answer::Failed(run) => Some(run),
            Answer::Silent | Answer::Refused { .. } => None,
        };
        match self
            .enqueue(&conv, &reply, Some((seq, run)), swarm.as_deref())
            .await
        {
            Ok(_) => Ok(()),
            Err(ApiError {
                code: "no_endpoint",
                ..
            }) => self.finish_job(conv_id, seq).await,
            Err(e) => Err(e),
        }
    }

    async fn finish_job(&self, conv_id: &str, seq: u64) -> ApiResult<()> {
        let mut tx = self.store.begin().await?;
        Store::finish_job(&mut tx, conv_id, seq).await?;
        tx.commit().await?;
        Ok(())
    }
}
