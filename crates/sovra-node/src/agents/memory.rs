//! A swarm's memory as its brain receives it: the soul and the long-term notes as the system
//! prompt, then the conversation's recent turns within the swarm's budget (messages and
//! characters), ending with the message to answer.
//!
//! Memory is read from what the cloud keeps, so it obeys each message's `data_policy` by
//! construction: `session` content is gone from the table when its conversation closes, `90d`
//! content after 90 days. The context given to a brain is kept for the owner (`log --context`)
//! under the most protective retention of what it holds, and deleted on the same schedule.

use super::brain::{BrainInput, Turn};
use super::swarm::{Swarm, SwarmFile};
use crate::cloud::Cloud;
use crate::error::ApiResult;

/// The input for one answer and how long it may be kept.
pub struct Memory {
    pub input: BrainInput,
    pub retention: &'static str,
}

/// Orders retentions from most to least protective.
fn protectiveness(r: &str) -> u8 {
    match r {
        "session" => 0,
        "90d" => 1,
        _ => 2,
    }
}

impl Cloud {
    pub(crate) async fn brain_memory(
        &self,
        swarm: &Swarm,
        conversation_id: &str,
    ) -> ApiResult<Memory> {
        let soul = self.read_swarm_file(&swarm.name, SwarmFile::Soul).await;
        let notes = self.read_swarm_file(&swarm.name, SwarmFile::Notes).await;
        let mut system = soul.trim().to_owned();
        if !notes.trim().is_empty() {
            if !system.is_empty() {
                system.push_str("\n\n");
            }
            system.push_str("## Notes\n");
            system.push_str(notes.trim());
        }
        let turns = self
            .store
            .recent_turns(conversation_id, swarm.memory_messages.max(1))
            .await?;
        // Newest first until the character budget is spent; the message being answered is
        // always kept.
        let mut kept = Vec::new();
        let mut chars = 0usize;
        let budget = swarm.memory_chars.max(0) as usize;
        for (i, m) in turns.iter().rev().enumerate() {
            let text = m.payload["text"].as_str().unwrap_or_default();
            let len = text.chars().count();
            if i > 0 && chars + len > budget {
                break;
            }
            chars += len;
            kept.push(m);
        }
        kept.reverse();
        let retention = kept
            .iter()
            .map(|m| m.retention.as_str())
            .min_by_key(|r| protectiveness(r))
            .unwrap_or("session");
        let retention = match retention {
            "session" => "session",
            "90d" => "90d",
            _ => "permanent",
        };
        let messages = kept
            .iter()
            .map(|m| Turn {
                role: if m.direction == "in" {
                    "user"
                } else {
                    "assistant"
                }
                .into(),
                content: m.payload["text"].as_str().unwrap_or_default().to_owned(),
            })
            .collect();
        Ok(Memory {
            input: BrainInput {
                system,
                messages,
                session: None,
            },
            retention,
        })
    }
}
