//! A whitelist entry: who may open conversations with a cloud, and what they may call.
//!
//! The seed's fields under the seed's names. A peer that is not on the whitelist is refused at
//! the handshake; a peer on it with no capabilities may converse but every call it makes is
//! refused, per call. `expires_at: null` means the grant does not expire.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::ProtoError;
use crate::identity::{validate_capability_name, validate_handle};
use crate::keys::PublicKey;
use crate::message::{SWARM_GRANT_PREFIX, validate_swarm_name};
use crate::time;

/// Default `rate_limit_per_day` when the owner gives none: enough for a conversation, too few
/// for a flood.
pub const DEFAULT_RATE_LIMIT_PER_DAY: u32 = 100;

/// A whitelist entry as it travels (owner API, exports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhitelistEntry {
    pub peer_pubkey: String,
    pub peer_handle: String,
    #[serde(default)]
    pub allowed_capabilities: Vec<String>,
    #[serde(default = "default_rate")]
    pub rate_limit_per_day: u32,
    #[serde(default)]
    pub expires_at: Option<String>,
}

fn default_rate() -> u32 {
    DEFAULT_RATE_LIMIT_PER_DAY
}

/// A checked whitelist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub peer_pubkey: PublicKey,
    pub peer_handle: String,
    pub allowed_capabilities: Vec<String>,
    /// Handshakes plus messages accepted from this peer over any rolling 24 hours.
    pub rate_limit_per_day: u32,
    pub expires_at: Option<Timestamp>,
}

impl WhitelistEntry {
    pub fn validate(&self) -> Result<Grant, ProtoError> {
        let peer_pubkey = PublicKey::from_human(&self.peer_pubkey)?;
        validate_handle(&self.peer_handle)?;
        let mut allowed = Vec::with_capacity(self.allowed_capabilities.len());
        for name in &self.allowed_capabilities {
            match name.strip_prefix(SWARM_GRANT_PREFIX) {
                Some(swarm) => validate_swarm_name(swarm)?,
                None => validate_capability_name(name)?,
            }
            if !allowed.contains(name) {
                allowed.push(name.clone());
            }
        }
        let expires_at = self
            .expires_at
            .as_deref()
            .map(|t| time::parse("expires_at", t))
            .transpose()?;
        Ok(Grant {
            peer_pubkey,
            peer_handle: self.peer_handle.clone(),
            allowed_capabilities: allowed,
            rate_limit_per_day: self.rate_limit_per_day,
            expires_at,
        })
    }
}

impl Grant {
    pub fn allows(&self, capability: &str) -> bool {
        self.allowed_capabilities.iter().any(|c| c == capability)
    }

    /// Whether the peer may address `swarm` by name (a `swarm:<name>` grant).
    pub fn allows_swarm(&self, swarm: &str) -> bool {
        self.allowed_capabilities.iter().any(|c| {
            c.strip_prefix(SWARM_GRANT_PREFIX)
                .is_some_and(|name| name == swarm)
        })
    }

    /// The capability grants alone, without swarm grants: what the handshake's ack lists.
    pub fn capability_grants(&self) -> Vec<String> {
        self.allowed_capabilities
            .iter()
            .filter(|c| !c.starts_with(SWARM_GRANT_PREFIX))
            .cloned()
            .collect()
    }

    /// Expiry is inclusive: at `expires_at` the grant no longer holds.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }

    pub fn to_entry(&self) -> WhitelistEntry {
        WhitelistEntry {
            peer_pubkey: self.peer_pubkey.to_b64(),
            peer_handle: self.peer_handle.clone(),
            allowed_capabilities: self.allowed_capabilities.clone(),
            rate_limit_per_day: self.rate_limit_per_day,
            expires_at: self.expires_at.map(time::format),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningKeypair;

    fn entry() -> WhitelistEntry {
        WhitelistEntry {
            peer_pubkey: SigningKeypair::from_seed(&[3; 32]).public().to_b64(),
            peer_handle: "@alice.cloud".into(),
            allowed_capabilities: vec!["AskBrainstem".into()],
            rate_limit_per_day: 100,
            expires_at: Some("2027-04-19T00:00:00Z".into()),
        }
    }

    #[test]
    fn seed_example_parses() {
        let json = serde_json::json!({
            "peer_pubkey": entry().peer_pubkey,
            "peer_handle": "@alice.cloud",
            "allowed_capabilities": ["AskBrainstem"],
            "rate_limit_per_day": 100,
            "expires_at": "2027-04-19T00:00:00Z"
        });
        let e: WhitelistEntry = serde_json::from_value(json).unwrap();
        let g = e.validate().unwrap();
        assert!(g.allows("AskBrainstem"));
        assert!(!g.allows("RecentHN"));
        let before: Timestamp = "2027-04-18T23:59:59Z".parse().unwrap();
        let at: Timestamp = "2027-04-19T00:00:00Z".parse().unwrap();
        assert!(!g.is_expired(before));
        assert!(g.is_expired(at));
        assert_eq!(g.to_entry(), e);
    }

    #[test]
    fn rejects_bad_fields() {
        let mut e = entry();
        e.peer_pubkey = "not base64!".into();
        assert_eq!(e.validate().unwrap_err().code(), "bad_encoding");
        let mut e = entry();
        e.expires_at = Some("tomorrow".into());
        assert_eq!(e.validate().unwrap_err().code(), "malformed");
        let mut e = entry();
        e.allowed_capabilities = vec!["no spaces".into()];
        assert_eq!(e.validate().unwrap_err().code(), "malformed");
    }
}
