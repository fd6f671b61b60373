//! Brains: what writes a swarm's answers. One trait, one adapter per file:
//!
//! * `openai` — any OpenAI-compatible `POST {base}/chat/completions` (Ollama, llama.cpp server,
//!   vLLM, hosted APIs); the base is given as OpenAI clients take it (`…/v1`).
//! * `brainstem` — a RAPP brainstem: `POST {base}/chat` with `{user_input, session_id}`; it keeps
//!   its own memory, so only the new text goes, under the conversation's brainstem session.
//! * `exec` and `http` — the capability adapters' JSON contract: `{"system", "messages"}` in,
//!   `{"text"}` out.
//!
//! A brain that fails, hangs or answers junk yields a [`BrainError`] with a short reason; the
//! node answers the peer with a refusal and keeps running.

use std::time::Duration;

use serde::{Deserialize, Serialize};

mod brainstem;
mod exec;
mod http;
mod openai;

pub use brainstem::Brainstem;
pub use exec::ExecBrain;
pub use http::HttpBrain;
pub use openai::OpenAi;

pub const DEFAULT_TIMEOUT_MS: u64 = 60_000;

/// Longest answer a brain may give; a longer one is cut at a character boundary.
pub const MAX_ANSWER: usize = 32 * 1024;

/// One turn of the conversation as a brain sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// `user` (the peer) or `assistant` (this cloud).
    pub role: String,
    pub content: String,
}

/// What a brain is given: the soul (with the long-term notes) as the system prompt, and the
/// recent turns ending with the message to answer.
#[derive(Debug, Clone, Serialize)]
pub struct BrainInput {
    pub system: String,
    pub messages: Vec<Turn>,
    /// Stable per conversation and swarm: brainstem sessions are kept under it.
    #[serde(skip)]
    pub session: Option<String>,
}

/// A brain's answer, with the brainstem session to keep for the next turn.
#[derive(Debug, Clone)]
pub struct BrainOutput {
    pub text: String,
    pub session: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct BrainError(pub String);

/// Where an API key comes from: an environment variable of the node, or the swarm's 0600
/// `api-key` file. The key itself is never in this value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiKeySource {
    Env(String),
    File,
}

/// A swarm's brain as stored (no secrets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum BrainConfig {
    /// Messages wait for the owner.
    None,
    Openai {
        url: String,
        model: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        api_key: Option<ApiKeySource>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        temperature: Option<f32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_tokens: Option<u32>,
        #[serde(default = "default_timeout")]
        timeout_ms: u64,
    },
    Brainstem {
        url: String,
        #[serde(default = "default_timeout")]
        timeout_ms: u64,
    },
    Exec {
        command: Vec<String>,
        #[serde(default = "default_timeout")]
        timeout_ms: u64,
    },
    Http {
        url: String,
        #[serde(default = "default_timeout")]
        timeout_ms: u64,
    },
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

/// What every adapter does.
pub trait Brain {
    fn answer(
        &self,
        http: &reqwest::Client,
        input: &BrainInput,
    ) -> impl Future<Output = Result<BrainOutput, BrainError>> + Send;
}

impl BrainConfig {
    /// Checks what can be checked before the first message.
    pub fn validate(&self) -> Result<(), String> {
        let (url, timeout_ms) = match self {
            BrainConfig::None => return Ok(()),
            BrainConfig::Openai {
                url,
                model,
                api_key,
                temperature,
                timeout_ms,
                ..
            } => {
                if model.is_empty() || model.len() > 256 {
                    return Err("model must be 1-256 bytes".into());
                }
                if let Some(ApiKeySource::Env(var)) = api_key
                    && (var.is_empty()
                        || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
                {
                    return Err(format!("{var:?} is not an environment variable name"));
                }
                if temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
                    return Err("temperature must be 0..=2".into());
                }
                (Some(url), *timeout_ms)
            }
            BrainConfig::Brainstem { url, timeout_ms } | BrainConfig::Http { url, timeout_ms } => {
                (Some(url), *timeout_ms)
            }
            BrainConfig::Exec {
                command,
                timeout_ms,
            } => {
                if command.is_empty() || command[0].is_empty() || command.len() > 64 {
                    return Err("exec needs a command (at most 64 arguments)".into());
                }
                (None, *timeout_ms)
            }
        };
        if let Some(url) = url
            && (!(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048)
        {
            return Err(format!("{url:?} is not an http(s) URL"));
        }
        if !(1..=600_000).contains(&timeout_ms) {
            return Err("timeout_ms must be 1..=600000".into());
        }
        Ok(())
    }

    /// Runs the brain. `api_key` is the key read for this call (`Openai` only).
    pub async fn answer(
        &self,
        http: &reqwest::Client,
        input: &BrainInput,
        api_key: Option<String>,
    ) -> Result<BrainOutput, BrainError> {
        let mut out = match self {
            BrainConfig::None => return Err(BrainError("this swarm has no brain".into())),
            BrainConfig::Openai {
                url,
                model,
                temperature,
                max_tokens,
                timeout_ms,
                ..
            } => {
                OpenAi {
                    url,
                    model,
                    api_key,
                    temperature: *temperature,
                    max_tokens: *max_tokens,
                    timeout: Duration::from_millis(*timeout_ms),
                }
                .answer(http, input)
                .await
            }
            BrainConfig::Brainstem { url, timeout_ms } => {
                Brainstem {
                    url,
                    timeout: Duration::from_millis(*timeout_ms),
                }
                .answer(http, input)
                .await
            }
            BrainConfig::Exec {
                command,
                timeout_ms,
            } => {
                ExecBrain {
                    command,
                    timeout: Duration::from_millis(*timeout_ms),
                }
                .answer(http, input)
                .await
            }
            BrainConfig::Http { url, timeout_ms } => {
                HttpBrain {
                    url,
                    timeout: Duration::from_millis(*timeout_ms),
                }
                .answer(http, input)
                .await
            }
        }?;
        if out.text.trim().is_empty() {
            return Err(BrainError("the brain answered nothing".into()));
        }
        if out.text.len() > MAX_ANSWER {
            let mut cut = MAX_ANSWER;
            while !out.text.is_char_boundary(cut) {
                cut -= 1;
            }
            out.text.truncate(cut);
        }
        Ok(out)
    }
}

/// The `text` of a `{"text": …}` answer (exec and http brains).
fn text_answer(v: serde_json::Value) -> Result<BrainOutput, BrainError> {
    match v.get("text").and_then(serde_json::Value::as_str) {
        Some(t) => Ok(BrainOutput {
            text: t.to_owned(),
            session: None,
        }),
        None => Err(BrainError("answer has no \"text\" string".into())),
    }
}
