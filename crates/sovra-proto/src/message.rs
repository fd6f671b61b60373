//! `POST /api/d2d/message` and the sealed payload it carries.

use serde::{Deserialize, Serialize};

use crate::error::ProtoError;
use crate::identity::validate_capability_name;

/// Most calls one message may carry.
pub const MAX_CALLS: usize = 16;

/// Most bytes of a swarm name.
pub const MAX_SWARM_NAME: usize = 32;

/// A whitelist grant of the form `swarm:<name>` lets a peer address that swarm by name.
pub const SWARM_GRANT_PREFIX: &str = "swarm:";

/// Most bytes of a refusal code.
pub const MAX_REFUSAL: usize = 64;

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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The swarm the sender addresses; absent: whichever swarm the receiver routes this peer
    /// to. Addressing another swarm needs a `swarm:<name>` grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swarm: Option<String>,
    /// Written by a brain or an agent rather than typed by a human. Receivers bound how many
    /// automatic turns in a row their own brains answer, so two agent clouds cannot talk forever.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub automatic: bool,
    /// Why the receiver did not act on the message this one answers (`in_reply_to`): a stable
    /// code (docs/PROTOCOL.md §8.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

/// A request to run one of the receiver's exposed capabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Call {
    pub capability: String,
    #[serde(default)]
    pub args: serde_json::Value,
}

/// The outcome of one call: `ok` with an `output`, or not `ok` with an `error` reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// A swarm name: 1–32 bytes, a lowercase letter, then lowercase letters, digits, `_` or `-`.
pub fn validate_swarm_name(name: &str) -> Result<(), ProtoError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_SWARM_NAME
        && name.as_bytes()[0].is_ascii_lowercase()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ProtoError::malformed(
            "swarm",
            format!(
                "{name:?}: 1-{MAX_SWARM_NAME} chars, a lowercase letter then a-z, 0-9, '_', '-'"
            ),
        ))
    }
}

impl Payload {
    pub fn text(text: impl Into<String>) -> Self {
        Payload {
            text: text.into(),
            calls: Vec::new(),
            results: Vec::new(),
            data_policy: DataPolicy::default(),
            in_reply_to: None,
            swarm: None,
            automatic: false,
            refusal: None,
        }
    }

    fn validate(&self) -> Result<(), ProtoError> {
        if self.calls.len() > MAX_CALLS {
            return Err(ProtoError::TooMany {
                field: "calls",
                max: MAX_CALLS,
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
        if let Some(swarm) = &self.swarm {
            validate_swarm_name(swarm)?;
        }
        if let Some(code) = &self.refusal {
            let ok = !code.is_empty()
                && code.len() <= MAX_REFUSAL
                && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            if !ok {
                return Err(ProtoError::malformed(
                    "refusal",
                    format!("{code:?}: 1-{MAX_REFUSAL} chars of a-z and '_'"),
                ));
            }
            if self.in_reply_to.is_none() {
                return Err(ProtoError::malformed(
                    "refusal",
                    "a refusal answers a message: in_reply_to is required",
                ));
            }
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
