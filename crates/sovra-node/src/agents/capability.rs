//! Capability adapters: how an exposed capability runs.
//!
//! * `exec` — a local command (argv, no shell); the call's `args` JSON on stdin, a JSON value
//!   expected on stdout; killed at its timeout; stdout capped.
//! * `http` — POSTs `args` as JSON to a local URL and returns its JSON answer.
//! * `chat` — an OpenAI-compatible `/v1/chat/completions` endpoint: the cloud's soul file is the
//!   system prompt, the peer's text (or `args.prompt`) the user message. The soul never leaves
//!   the cloud; only the model's answer does.
//!
//! A failing, slow or crashing adapter yields `ok: false` with a reason — never a node failure.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sovra_proto::CallResult;

use super::invoke;

pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_MAX_OUTPUT: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Adapter {
    Exec {
        command: Vec<String>,
        #[serde(default = "default_timeout")]
        timeout_ms: u64,
        #[serde(default = "default_max_output")]
        max_output_bytes: usize,
    },
    Http {
        url: String,
        #[serde(default = "default_timeout")]
        timeout_ms: u64,
    },
    Chat {
        url: String,
        model: String,
        #[serde(default = "default_timeout")]
        timeout_ms: u64,
    },
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}
fn default_max_output() -> usize {
    DEFAULT_MAX_OUTPUT
}

impl Adapter {
    /// Checks what can be checked before the first call.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Adapter::Exec {
                command,
                timeout_ms,
                ..
            } => {
                if command.is_empty() || command[0].is_empty() {
                    return Err("exec needs a command".into());
                }
                check_timeout(*timeout_ms)
            }
            Adapter::Http { url, timeout_ms }
            | Adapter::Chat {
                url, timeout_ms, ..
            } => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(format!("{url:?} is not an http(s) URL"));
                }
                check_timeout(*timeout_ms)
            }
        }
    }
}

fn check_timeout(ms: u64) -> Result<(), String> {
    if (1..=600_000).contains(&ms) {
        Ok(())
    } else {
        Err("timeout_ms must be 1..=600000".into())
    }
}

fn failure(name: &str, error: impl Into<String>) -> CallResult {
    CallResult {
        capability: name.into(),
        ok: false,
        output: None,
        error: Some(error.into()),
    }
}

fn outcome(name: &str, result: Result<Value, String>) -> CallResult {
    match result {
        Ok(v) => success(name, v),
        Err(e) => failure(name, e),
    }
}

fn success(name: &str, output: Value) -> CallResult {
    CallResult {
        capability: name.into(),
        ok: true,
        output: Some(output),
        error: None,
    }
}

/// Runs one call. `text` is the message's text (for `chat`), `soul` the cloud's soul file.
pub async fn run(
    http: &reqwest::Client,
    name: &str,
    adapter: &Adapter,
    args: &Value,
    text: &str,
    soul: &Path,
) -> CallResult {
    match adapter {
        Adapter::Exec {
            command,
            timeout_ms,
            max_output_bytes,
        } => outcome(
            name,
            invoke::exec_json(
                command,
                args,
                Duration::from_millis(*timeout_ms),
                *max_output_bytes,
            )
            .await,
        ),
        Adapter::Http { url, timeout_ms } => outcome(
            name,
            invoke::post_json(http, url, args, Duration::from_millis(*timeout_ms)).await,
        ),
        Adapter::Chat {
            url,
            model,
            timeout_ms,
        } => {
            let soul = tokio::fs::read_to_string(soul).await.unwrap_or_default();
            let prompt = args.get("prompt").and_then(Value::as_str).unwrap_or(text);
            let mut messages = Vec::new();
            if !soul.is_empty() {
                messages.push(json!({"role": "system", "content": soul}));
            }
            messages.push(json!({"role": "user", "content": prompt}));
            let resp = http
                .post(format!("{}/v1/chat/completions", url.trim_end_matches('/')))
                .timeout(Duration::from_millis(*timeout_ms))
                .json(&json!({"model": model, "messages": messages}))
                .send()
                .await;
            match resp {
                Ok(r) if r.status().is_success() => match invoke::read_json(r).await {
                    Ok(v) => match v["choices"][0]["message"]["content"].as_str() {
                        Some(answer) => success(name, json!({ "text": answer })),
                        None => failure(name, "model answer has no choices[0].message.content"),
                    },
                    Err(e) => failure(name, format!("model {e}")),
                },
                Ok(r) => failure(name, format!("model endpoint answered {}", r.status())),
                Err(e) if e.is_timeout() => failure(name, "timed out"),
                Err(e) => failure(name, format!("model endpoint unreachable: {e}")),
            }
        }
    }
}
