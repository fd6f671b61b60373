//! `brainstem` brain: a RAPP brainstem. `POST {base}/chat` with `{"user_input", "session_id"}`,
//! answered `{"response", "agent_logs", "session_id"}`; errors are HTTP 422
//! `{"error": {"code", "step"}}`. The brainstem keeps its own memory under `session_id`, which
//! the node keeps per conversation; `agent_logs` are the brainstem's internals and never leave
//! the node.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Brain, BrainError, BrainInput, BrainOutput};
use crate::agents::invoke;

pub struct Brainstem<'a> {
    pub url: &'a str,
    pub timeout: Duration,
}

impl Brain for Brainstem<'_> {
    async fn answer(
        &self,
        http: &reqwest::Client,
        input: &BrainInput,
    ) -> Result<BrainOutput, BrainError> {
        let text = input
            .messages
            .last()
            .map(|t| t.content.as_str())
            .unwrap_or_default();
        let mut body = json!({"user_input": text});
        if let Some(s) = &input.session {
            body["session_id"] = json!(s);
        }
        let r = http
            .post(format!("{}/chat", self.url.trim_end_matches('/')))
            .timeout(self.timeout)
            .json(&body)
            .send()
            .await;
        let r = match r {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Err(BrainError("the brainstem timed out".into())),
            Err(e) => return Err(BrainError(format!("the brainstem is unreachable: {e}"))),
        };
        let status = r.status();
        let v = invoke::read_json(r)
            .await
            .map_err(|e| BrainError(format!("the brainstem's {e}")))?;
        if status.as_u16() == 422 {
            let code = v["error"]["code"].as_str().unwrap_or("unknown");
            let step = v["error"]["step"].as_str().unwrap_or("unknown");
            return Err(BrainError(format!(
                "the brainstem refused: {code} (step {step})"
            )));
        }
        if !status.is_success() {
            return Err(BrainError(format!("the brainstem answered {status}")));
        }
        match v.get("response").and_then(Value::as_str) {
            Some(text) => Ok(BrainOutput {
                text: text.to_owned(),
                session: v
                    .get("session_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            }),
            None => Err(BrainError(
                "the brainstem's answer has no \"response\" string".into(),
            )),
        }
    }
}
