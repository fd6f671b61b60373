//! `openai` brain: `POST {base}/chat/completions` as OpenAI specifies it, which Ollama,
//! llama.cpp's server, vLLM and the hosted APIs all speak. The soul goes as the `system`
//! message, memory as the earlier turns; the answer is `choices[0].message.content`.

use std::time::Duration;

use serde_json::json;

use super::{Brain, BrainError, BrainInput, BrainOutput};
use crate::agents::invoke;

pub struct OpenAi<'a> {
    /// The base URL as OpenAI clients take it, e.g. `http://127.0.0.1:11434/v1`.
    pub url: &'a str,
    pub model: &'a str,
    pub api_key: Option<String>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    pub timeout: Duration,
}

impl Brain for OpenAi<'_> {
    async fn answer(
        &self,
        http: &reqwest::Client,
        input: &BrainInput,
    ) -> Result<BrainOutput, BrainError> {
        let mut messages = Vec::with_capacity(input.messages.len() + 1);
        if !input.system.is_empty() {
            messages.push(json!({"role": "system", "content": input.system}));
        }
        for t in &input.messages {
            messages.push(json!({"role": t.role, "content": t.content}));
        }
        let mut body = json!({"model": self.model, "messages": messages});
        if let Some(t) = self.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(n) = self.max_tokens {
            body["max_tokens"] = json!(n);
        }
        let mut req = http
            .post(format!(
                "{}/chat/completions",
                self.url.trim_end_matches('/')
            ))
            .timeout(self.timeout)
            .json(&body);
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        let r = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Err(BrainError("the model timed out".into())),
            Err(e) => return Err(BrainError(format!("the model is unreachable: {e}"))),
        };
        if !r.status().is_success() {
            return Err(BrainError(format!("the model answered {}", r.status())));
        }
        let v = invoke::read_json(r)
            .await
            .map_err(|e| BrainError(format!("the model's {e}")))?;
        match v["choices"][0]["message"]["content"].as_str() {
            Some(text) => Ok(BrainOutput {
                text: text.to_owned(),
                session: None,
            }),
            None => Err(BrainError(
                "the model's answer has no choices[0].message.content".into(),
            )),
        }
    }
}
