//! A serving node's own identity (docs/PROTOCOL.md §19): the *node-id*, an Ed25519 key of the
//! node itself, distinct from every cloud it serves. It carries hosting responsibility — who
//! runs the machine, under what policy, for how many clouds — and never signs for a cloud.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::canonical::Canonical;
use crate::encoding::b64;
use crate::error::ProtoError;
use crate::keys::{PublicKey, SigningKeypair, signature_from_b64};
use crate::time;

pub const NODE_SCHEMA: &str = "sovra-node/1";
const NODE_LABEL: &str = "sovra-node/1/node";

/// Who may get a cloud on the node: nobody new, holders of an operator's invite, or anyone
/// whose phone the node's registry verified (one cloud per phone).
pub const HOSTING_POLICIES: [&str; 3] = ["closed", "invite", "phone"];

/// Longest operator contact (an address, a URL).
pub const MAX_OPERATOR_CONTACT: usize = 256;

/// `GET /api/node`: the node's self-signed statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDocument {
    pub schema: String,
    /// The node key, base64 (the *node-id*).
    pub node_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_contact: Option<String>,
    pub hosting_policy: String,
    /// Policy `phone`: the registry whose phone attestations the node accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_registry: Option<String>,
    pub clouds_hosted: u64,
    pub issued_at: String,
    pub sig: String,
}

fn node_bytes(doc: &NodeDocument, node: &PublicKey) -> Vec<u8> {
    Canonical::new(NODE_LABEL)
        .bytes(node.as_bytes())
        .str(doc.operator_contact.as_deref().unwrap_or(""))
        .str(&doc.hosting_policy)
        .str(doc.phone_registry.as_deref().unwrap_or(""))
        .u64(doc.clouds_hosted)
        .str(&doc.issued_at)
        .finish()
}

fn validate(contact: Option<&str>, policy: &str, registry: Option<&str>) -> Result<(), ProtoError> {
    if (policy == "phone") != registry.is_some() {
        return Err(ProtoError::malformed(
            "phone_registry",
            "named exactly when the policy is phone",
        ));
    }
    if let Some(r) = registry {
        crate::urls::validate_url("phone_registry", r, &["http", "https"])?;
    }
    if let Some(c) = contact
        && (c.is_empty() || c.len() > MAX_OPERATOR_CONTACT || c.chars().any(char::is_control))
    {
        return Err(ProtoError::malformed(
            "operator_contact",
            format!("1 to {MAX_OPERATOR_CONTACT} bytes of printable text"),
        ));
    }
    if !HOSTING_POLICIES.contains(&policy) {
        return Err(ProtoError::malformed(
            "hosting_policy",
            "closed, invite or phone",
        ));
    }
    Ok(())
}

impl NodeDocument {
    pub fn sign(
        node: &SigningKeypair,
        operator_contact: Option<String>,
        hosting_policy: &str,
        phone_registry: Option<String>,
        clouds_hosted: u64,
        now: Timestamp,
    ) -> Result<NodeDocument, ProtoError> {
        validate(
            operator_contact.as_deref(),
            hosting_policy,
            phone_registry.as_deref(),
        )?;
        let mut doc = NodeDocument {
            schema: NODE_SCHEMA.into(),
            node_id: node.public().to_b64(),
            operator_contact,
            hosting_policy: hosting_policy.into(),
            phone_registry,
            clouds_hosted,
            issued_at: time::format(now),
            sig: String::new(),
        };
        doc.sig = b64(&node.sign(&node_bytes(&doc, &node.public())));
        Ok(doc)
    }

    /// Checks the schema, fields and self-signature; the node-id.
    pub fn verify(&self) -> Result<PublicKey, ProtoError> {
        if self.schema != NODE_SCHEMA {
            return Err(ProtoError::UnsupportedVersion(self.schema.clone()));
        }
        let node = PublicKey::from_b64("node_id", &self.node_id)?;
        validate(
            self.operator_contact.as_deref(),
            &self.hosting_policy,
            self.phone_registry.as_deref(),
        )?;
        time::parse("issued_at", &self.issued_at)?;
        let sig = signature_from_b64("sig", &self.sig)?;
        node.verify("node document", &node_bytes(self, &node), &sig)?;
        Ok(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_and_refuses_edits() {
        let node = SigningKeypair::from_seed(&[4; 32]);
        let now: Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
        let doc = NodeDocument::sign(
            &node,
            Some("ops@node.example".into()),
            "invite",
            None,
            3,
            now,
        )
        .unwrap();
        assert_eq!(doc.verify().unwrap(), node.public());
        let mut more = doc.clone();
        more.clouds_hosted = 4;
        assert_eq!(more.verify().unwrap_err().code(), "bad_signature");
        assert!(NodeDocument::sign(&node, None, "anyone", None, 0, now).is_err());
        assert!(NodeDocument::sign(&node, Some("a\nb".into()), "invite", None, 0, now).is_err());
    }
}
