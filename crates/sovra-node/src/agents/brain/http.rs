//! `http` brain: `POST {"system", "messages"}` to a local URL, `{"text"}` in the answer.

use std::time::Duration;

use super::{Brain, BrainError, BrainInput, BrainOutput, text_answer};
use crate::agents::invoke;

pub struct HttpBrain<'a> {
    pub url: &'a str,
    pub timeout: Duration,
}

impl Brain for HttpBrain<'_> {
    async fn answer(
        &self,
        http: &reqwest::Client,
        input: &BrainInput,
    ) -> Result<BrainOutput, BrainError> {
        let body = serde_json::to_value(input).expect("json");
        let v = invoke::post_json(http, self.url, &body, self.timeout)
            .await
            .map_err(BrainError)?;
        text_answer(v)
    }
}
