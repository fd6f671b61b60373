//! The native chat loop (the seed's receive step 3): an accepted inbound message with text goes
//! to its swarm's brain, with the soul as system prompt and memory injected; the answer goes
//! back in the reply that also carries the message's call results (`d2d/calls.rs`).
//!
//! The rules, in order:
//! 1. A message answering one of ours (`in_reply_to`), or a refusal, goes to whoever asked —
//!    the owner or the agent API caller — never to our brain.
//! 2. The peer may address a swarm other than its own only with a `swarm:<name>` grant;
//!    otherwise it is refused `swarm_not_granted` (an unknown swarm looks the same).
//! 3. No brain, mode `off` or no text: the message waits for the owner.
//! 4. A brain never runs twice for one message: the job was marked `started` before this runs,
//!    and an interrupted job is refused `interrupted`.
//! 5. At most `max_auto_turns` automatic messages in a row are answered; then the conversation
//!    waits for a human.
//! 6. Each brain run counts against the peer's rate limit (`rate_limited`) and the swarm's daily
//!    budget (`budget_exhausted`).
//! 7. A brain that fails answers `brain_failed`; the owner sees why.

use serde_json::json;
use sovra_proto::Payload;

use super::brain::{ApiKeySource, BrainConfig};
use super::events::{Event, event_now};
use super::swarm::{Mode, Swarm, SwarmFile};
use crate::cloud::Cloud;
use crate::error::ApiResult;
use crate::store::{Conversation, NewBrainRun as BrainRun, Peer};

/// What the chat loop decided for one inbound message.
#[derive(Debug)]
pub enum Answer {
    /// Nothing for a brain to say.
    Silent,
    /// The brain's answer, to send now.
    Text(String, BrainRun),
    /// The brain's answer, held for the owner (mode `review`).
    Draft(String, BrainRun),
    /// The brain failed: the peer is refused `brain_failed`.
    Failed(BrainRun),
    /// The message was not acted on; the peer is told why with a stable code.
    Refused { code: &'static str, text: String },
}

fn refused(code: &'static str, text: &str) -> Answer {
    Answer::Refused {
        code,
        text: text.to_owned(),
    }
}

impl Cloud {
    /// Decides, and runs the brain when the rules allow. Returns the answer and the swarm the
    /// message was routed to.
    pub(crate) async fn chat_answer(
        &self,
        conv: &Conversation,
        peer: &Peer,
        seq: u64,
        payload: &Payload,
        interrupted: bool,
    ) -> ApiResult<(Answer, Option<String>)> {
        if payload.in_reply_to.is_some() || payload.refusal.is_some() {
            return Ok((Answer::Silent, None));
        }
        let name = payload.swarm.clone().unwrap_or_else(|| peer.swarm.clone());
        let row = self.store.swarm(&name).await?;
        let addressed_other = name != peer.swarm;
        let Some(row) = row.filter(|_| !addressed_other || peer.grant.allows_swarm(&name)) else {
            return Ok((
                refused(
                    "swarm_not_granted",
                    "This message was not acted on: the swarm it names is not open to you.",
                ),
                None,
            ));
        };
        let swarm = Swarm::from_row(&row);
        let waiting = |reason: &str| Event {
            conversation_id: Some(conv.id.clone()),
            seq: Some(seq),
            peer: Some(peer.grant.peer_handle.clone()),
            swarm: Some(swarm.name.clone()),
            reason: Some(reason.to_owned()),
            ..event_now("waiting")
        };
        if payload.text.trim().is_empty() {
            return Ok((Answer::Silent, Some(swarm.name)));
        }
        if !swarm.answers() {
            let why = match swarm.mode {
                Mode::Off => "the swarm's mode is off",
                _ => "the swarm has no brain",
            };
            self.emit(waiting(why));
            return Ok((Answer::Silent, Some(swarm.name)));
        }
        if interrupted {
            return Ok((
                refused(
                    "interrupted",
                    "The node restarted while answering this message; it was not answered again.",
                ),
                Some(swarm.name),
            ));
        }
        if payload.automatic && self.store.automatic_run(&conv.id).await? > swarm.max_auto_turns {
            self.emit(waiting("automatic-turn limit reached: waiting for a human"));
            return Ok((Answer::Silent, Some(swarm.name)));
        }
        if self.store.rate_count(&peer.grant.peer_pubkey).await?
            >= i64::from(peer.grant.rate_limit_per_day)
        {
            return Ok((
                refused(
                    "rate_limited",
                    "This message was not answered: your daily rate limit is reached.",
                ),
                Some(swarm.name),
            ));
        }
        if !self.room_for_brain_answer().await? {
            return Ok((
                refused(
                    "budget_exhausted",
                    "This message was not answered: the cloud's daily quota of answers on its node is spent.",
                ),
                Some(swarm.name),
            ));
        }
        // Counted in memory before the brain runs, written in the commit that sends the answer.
        if !self
            .store
            .take_budget(&swarm.name, swarm.budget_per_day)
            .await?
        {
            return Ok((
                refused(
                    "budget_exhausted",
                    "This message was not answered: the agent's daily budget is spent. Try again tomorrow.",
                ),
                Some(swarm.name),
            ));
        }
        // The brain run counts against the peer's rate limit from now (a race with the
        // peer's own messages may take it one over).
        self.store.rate_noted(&peer.grant.peer_pubkey.to_b64());
        let mut memory = self.brain_memory(&swarm, &conv.id).await?;
        if matches!(swarm.brain, BrainConfig::Brainstem { .. }) {
            memory.input.session = self.store.brain_session(&conv.id, &swarm.name).await?;
        }
        let api_key = self.brain_api_key(&swarm).await;
        let started = std::time::Instant::now();
        let outcome = match api_key {
            Ok(key) => swarm.brain.answer(&self.http, &memory.input, key).await,
            Err(e) => Err(e),
        };
        metrics::histogram!("sovra_brain_seconds", "ok" => outcome.is_ok().to_string())
            .record(started.elapsed().as_secs_f64());
        let run = BrainRun {
            peer: peer.grant.peer_pubkey.to_b64(),
            swarm: swarm.name.clone(),
            context: json!({"system": memory.input.system, "messages": memory.input.messages}),
            answer: outcome.as_ref().ok().map(|o| o.text.clone()),
            error: outcome.as_ref().err().map(|e| e.0.clone()),
            retention: memory.retention,
        };
        match outcome {
            Ok(out) => {
                if let Some(session) = &out.session {
                    self.store
                        .set_brain_session(&conv.id, &swarm.name, session)
                        .await?;
                }
                let answer = match swarm.mode {
                    Mode::Review => Answer::Draft(out.text, run),
                    _ => Answer::Text(out.text, run),
                };
                Ok((answer, Some(swarm.name)))
            }
            Err(e) => {
                tracing::warn!(cloud = %self.name, swarm = %swarm.name, conversation = %conv.id, "brain failed: {e}");
                self.emit(Event {
                    conversation_id: Some(conv.id.clone()),
                    seq: Some(seq),
                    peer: Some(peer.grant.peer_handle.clone()),
                    swarm: Some(swarm.name.clone()),
                    reason: Some(e.0),
                    ..event_now("brain_error")
                });
                Ok((Answer::Failed(run), Some(swarm.name)))
            }
        }
    }

    /// The API key an `openai` brain sends, read fresh for each call (a rotated key takes
    /// effect at once).
    async fn brain_api_key(
        &self,
        swarm: &Swarm,
    ) -> Result<Option<String>, super::brain::BrainError> {
        let BrainConfig::Openai { api_key, .. } = &swarm.brain else {
            return Ok(None);
        };
        match api_key {
            None => Ok(None),
            Some(ApiKeySource::Env(var)) => std::env::var(var).map(Some).map_err(|_| {
                super::brain::BrainError(format!("the environment variable {var} is not set"))
            }),
            Some(ApiKeySource::File) => {
                let key = self.read_swarm_file(&swarm.name, SwarmFile::ApiKey).await;
                match key.trim() {
                    "" => Err(super::brain::BrainError(
                        "the swarm's api-key file is empty or missing".into(),
                    )),
                    k => Ok(Some(k.to_owned())),
                }
            }
        }
    }
}
