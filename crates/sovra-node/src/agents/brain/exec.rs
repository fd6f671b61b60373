//! `exec` brain: a local command, `{"system", "messages"}` on stdin, `{"text"}` on stdout.

use std::time::Duration;

use super::{Brain, BrainError, BrainInput, BrainOutput, text_answer};
use crate::agents::invoke;

/// Most bytes read from the command's stdout.
const MAX_OUTPUT: usize = 256 * 1024;

pub struct ExecBrain<'a> {
    pub command: &'a [String],
    pub timeout: Duration,
}

impl Brain for ExecBrain<'_> {
    async fn answer(
        &self,
        _http: &reqwest::Client,
        input: &BrainInput,
    ) -> Result<BrainOutput, BrainError> {
        let body = serde_json::to_value(input).expect("json");
        let v = invoke::exec_json(self.command, &body, self.timeout, MAX_OUTPUT)
            .await
            .map_err(BrainError)?;
        text_answer(v)
    }
}
