//! `sovra agent NAME` (hidden): built-in agents used by quickstart.
//!
//! * `word-count` — an exec capability: `{"text": …}` on stdin, `{"words": N}` on stdout.
//! * `model` — a small OpenAI-compatible server (`POST /v1/chat/completions`). No model weights
//!   can be fetched here, so its answers are rules, but they really use what they are given:
//!   the system prompt names who answers, and the conversation history is searched (asked
//!   "what is my name?", it looks for "my name is …" in earlier user turns). It stands where
//!   Ollama, llama.cpp's server, vLLM or a hosted API would.

use anyhow::{Context, Result, bail};
use axum::Json;
use axum::routing::post;
use serde_json::{Value, json};

/// The built-in word counter: `{"text": …}` → `{"words": N}`.
pub(crate) fn word_count(args: &Value) -> Result<Value> {
    let text = args["text"]
        .as_str()
        .context("args.text must be a string")?;
    Ok(json!({"words": text.split_whitespace().count()}))
}

pub async fn run(name: &str, listen: &str) -> Result<()> {
    match name {
        "word-count" => {
            let input: Value =
                serde_json::from_reader(std::io::stdin()).context("stdin is not JSON")?;
            println!("{}", word_count(&input)?);
            Ok(())
        }
        "model" => {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            println!("model on http://{}/v1", listener.local_addr()?);
            serve_model(listener).await?;
            Ok(())
        }
        other => bail!("no built-in agent {other:?}"),
    }
}

/// Serves the rule-based model on `listener` until the task is dropped.
pub(crate) async fn serve_model(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let app = axum::Router::new().route("/v1/chat/completions", post(completions));
    axum::serve(listener, app).await
}

async fn completions(Json(body): Json<Value>) -> Json<Value> {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let text = answer(&messages);
    Json(json!({
        "id": "chatcmpl-sovra-mini",
        "object": "chat.completion",
        "model": body["model"],
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
    }))
}

/// The rules: who answers comes from the system prompt ("You are X."), the answer from the
/// last user turn and the turns before it.
pub(crate) fn answer(messages: &[Value]) -> String {
    let content = |m: &Value| m["content"].as_str().unwrap_or("").to_owned();
    let system = messages
        .iter()
        .filter(|m| m["role"] == "system")
        .map(content)
        .collect::<Vec<_>>()
        .join("\n");
    let me = system
        .split_once("You are ")
        .and_then(|(_, rest)| rest.split(['.', '\n', ',']).next())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("an assistant")
        .to_owned();
    let users: Vec<String> = messages
        .iter()
        .filter(|m| m["role"] == "user")
        .map(content)
        .collect();
    let Some(last) = users.last() else {
        return format!("{me} here. What can I do for you?");
    };
    let lower = last.to_lowercase();
    let earlier = &users[..users.len() - 1];
    if lower.contains("my name") && lower.contains('?') {
        let name = earlier.iter().rev().find_map(|t| {
            let l = t.to_lowercase();
            let at = l.find("my name is ")? + "my name is ".len();
            t.get(at..)?
                .split(|c: char| !c.is_alphanumeric() && c != '-')
                .next()
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
        });
        return match name {
            Some(n) => format!("You told me your name is {n}. ({me})"),
            None => format!("You have not told me your name yet. ({me})"),
        };
    }
    format!(
        "{me} here: I read \"{}\" ({} earlier turn(s) in memory).",
        last.trim(),
        messages.iter().filter(|m| m["role"] != "system").count() - 1
    )
}
