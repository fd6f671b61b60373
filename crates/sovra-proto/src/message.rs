//! `POST /api/d2d/message` and the sealed payload it carries.

use serde::{Deserialize, Serialize};

use crate::error::ProtoError;
use crate::identity::validate_capability_name;

/// Most calls one message may carry.
pub const MAX_CALLS: usize = 16;

/// The message request as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRequest {
    pub conversation_token: String,
    pub seq: u64,
    pub sealed_payload: String,
    pub sig: String,
}

/// The answer to an accepted message: sent only after the receiver has committed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageResponse {
    pub received: bool,
}

/// The sealed payload's plaintext (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<Call>,
    /// Results of the calls in the message this one answers (`in_reply_to`), in call order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<CallResult>,
    #[serde(default)]
    pub data_policy: DataPolicy,
    /// The `seq` (in the other direction) of the message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<u64>,
}

/// A request to run one of the receiver's exposed capabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub capability: String,
    #[serde(default)]
    pub args: serde_json::Value,
}

/// The outcome of one call: `ok` with an `output`, or not `ok` with an `error` reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallResult {
    pub capability: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How long the receiver may keep the content, and what for. Enforcement is the receiver's
/// (docs/PROTOCOL.md §Data policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataPolicy {
    pub retention: Retention,
    #[serde(default)]
    pub usage: String,
}

impl Default for DataPolicy {
    /// The most protective policy: keep it for the conversation only.
    fn default() -> Self {
        DataPolicy {
            retention: Retention::Session,
            usage: String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Retention {
    /// Delete when the conversation is closed.
    #[serde(rename = "session")]
    Session,
    /// Delete 90 days after receipt.
    #[serde(rename = "90d")]
    Days90,
    /// Keep.
    #[serde(rename = "permanent")]
    Permanent,
}

impl Payload {
    pub fn text(text: impl Into<String>) -> Self {
        Payload {
            text: text.into(),
            calls: Vec::new(),
            results: Vec::new(),
            data_policy: DataPolicy::default(),
            in_reply_to: None,
        }
    }

    fn validate(&self) -> Result<(), ProtoError> {
        if self.calls.len() > MAX_CALLS {
            return Err(ProtoError::WrongSize {
                field: "calls",
                expected: format!("at most {MAX_CALLS}"),
                got: self.calls.len(),
            });
        }
        for call in &self.calls {
            validate_capability_name(&call.capability)?;
        }
        if self.in_reply_to == Some(0) {
            return Err(ProtoError::malformed(
                "in_reply_to",
                "seq numbers start at 1",
            ));
        }
        Ok(())
    }

    pub fn to_json(&self) -> Result<Vec<u8>, ProtoError> {
        self.validate()?;
        Ok(serde_json::to_vec(self).expect("payload serializes"))
    }

    pub fn from_json(bytes: &[u8]) -> Result<Payload, ProtoError> {
        let payload: Payload = serde_json::from_slice(bytes)
            .map_err(|e| ProtoError::malformed("payload", e.to_string()))?;
        payload.validate()?;
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_payload_shape() {
        let json = br#"{"text":"plaintext message","calls":[{"capability":"RecentHN","args":{"count":5}}],"data_policy":{"retention":"90d","usage":"answer me"}}"#;
        let p = Payload::from_json(json).unwrap();
        assert_eq!(p.calls[0].capability, "RecentHN");
        assert_eq!(p.data_policy.retention, Retention::Days90);
        let p = Payload::from_json(br#"{"text":"hi"}"#).unwrap();
        assert_eq!(p.data_policy.retention, Retention::Session);
        let err = Payload::from_json(br#"{"text":"hi","data_policy":{"retention":"forever"}}"#);
        assert_eq!(err.unwrap_err().code(), "malformed");
    }
}
