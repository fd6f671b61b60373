//! The identity document: the body of `GET /api/d2d/identity`.
//!
//! It keeps the seed's fields under the seed's names (`schema`, `daemon_id`, `pubkey`, `handle`,
//! `capabilities`) and adds what a peer needs to act on it safely: the X25519 `encryption_key`
//! that intros are sealed to, where the cloud can be reached (`endpoints`, `relays`), when it
//! was issued, and a self-signature (`sig`) by the Ed25519 key over all of it. The signature is
//! what binds the encryption key to the identity: a relay or a lying registry cannot swap in
//! its own encryption key without the cloud's signing key.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::canonical::Canonical;
use crate::encoding::b64;
use crate::error::ProtoError;
use crate::host::HostCertificate;
use crate::keys::{CloudKeys, EncryptionKey, PublicKey, signature_from_b64};
use crate::time;
use crate::urls::{ANY_SCHEMES, validate_urls};

/// The protocol name and version every document carries.
pub const SCHEMA: &str = "rapp-d2d/1.0";

/// Limits that keep a document small enough to fetch and verify cheaply.
pub const MAX_CAPABILITIES: usize = 128;
pub const MAX_CAPABILITY_NAME: usize = 64;
pub const MAX_CAPABILITY_DESCRIPTION: usize = 1024;
pub use crate::urls::{MAX_URL, MAX_URLS};
pub const MAX_HANDLE: usize = 64;

/// A capability as peers see it: a name and a description, never its adapter or source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capability {
    pub name: String,
    pub description: String,
}

/// `GET /api/d2d/identity` as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityDocument {
    pub schema: String,
    pub daemon_id: String,
    pub pubkey: String,
    pub handle: String,
    pub capabilities: Vec<Capability>,
    pub encryption_key: String,
    #[serde(default)]
    pub endpoints: Vec<String>,
    #[serde(default)]
    pub relays: Vec<String>,
    pub issued_at: String,
    pub sig: String,
    /// For a hosted cloud: the cloud key's certificate of the host key that signed (`sig`) and
    /// of `encryption_key` (§19.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_certificate: Option<HostCertificate>,
}

/// An identity document whose signature and fields have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub pubkey: PublicKey,
    pub encryption_key: EncryptionKey,
    pub handle: String,
    pub capabilities: Vec<Capability>,
    pub endpoints: Vec<String>,
    pub relays: Vec<String>,
    pub issued_at: Timestamp,
    /// The node-id serving a hosted cloud (from its host certificate); `None` for a
    /// self-hosted cloud.
    pub hosted_by: Option<PublicKey>,
}

/// Checks handle syntax: `@` then dot-separated labels of `a-z`, `0-9` and `-`, at least two
/// labels (`@alice.cloud`). Registries add their own rules on top (reserved names, lengths).
pub fn validate_handle(handle: &str) -> Result<(), ProtoError> {
    let bad = |detail: &str| Err(ProtoError::malformed("handle", detail));
    if handle.len() > MAX_HANDLE {
        return bad("longer than 64 bytes");
    }
    let Some(rest) = handle.strip_prefix('@') else {
        return bad("must start with '@'");
    };
    let labels: Vec<&str> = rest.split('.').collect();
    if labels.len() < 2 {
        return bad("must look like @name.domain");
    }
    for label in labels {
        if label.is_empty()
            || label.starts_with('-')
            || label.ends_with('-')
            || !label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return bad("labels are lowercase a-z, 0-9 and inner '-'");
        }
    }
    Ok(())
}

/// Checks a capability name: an ASCII letter, then letters, digits, `_`, `-` or `.`.
pub fn validate_capability_name(name: &str) -> Result<(), ProtoError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_CAPABILITY_NAME
        && name.as_bytes()[0].is_ascii_alphabetic()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ProtoError::malformed(
            "capability name",
            format!("{name:?}: 1-64 chars, a letter then letters, digits, '_', '-', '.'"),
        ))
    }
}

fn validate_capabilities(caps: &[Capability]) -> Result<(), ProtoError> {
    if caps.len() > MAX_CAPABILITIES {
        return Err(ProtoError::TooMany {
            field: "capabilities",
            max: MAX_CAPABILITIES,
            got: caps.len(),
        });
    }
    let mut names = std::collections::HashSet::new();
    for cap in caps {
        validate_capability_name(&cap.name)?;
        if cap.description.len() > MAX_CAPABILITY_DESCRIPTION {
            return Err(ProtoError::WrongSize {
                field: "capabilities.description",
                expected: format!("at most {MAX_CAPABILITY_DESCRIPTION}"),
                got: cap.description.len(),
            });
        }
        if !names.insert(cap.name.as_str()) {
            return Err(ProtoError::malformed(
                "capabilities",
                format!("{} listed twice", cap.name),
            ));
        }
    }
    Ok(())
}

fn signing_bytes(
    pubkey: &PublicKey,
    encryption_key: &EncryptionKey,
    handle: &str,
    capabilities: &[Capability],
    endpoints: &[String],
    relays: &[String],
    issued_at: &str,
) -> Vec<u8> {
    let mut c = Canonical::new("rapp-d2d/1.0/identity")
        .str(SCHEMA)
        .bytes(pubkey.as_bytes())
        .bytes(encryption_key.as_bytes())
        .str(handle)
        .u64(capabilities.len() as u64);
    for cap in capabilities {
        c = c.str(&cap.name).str(&cap.description);
    }
    c.str_list(endpoints.iter().map(String::as_str))
        .str_list(relays.iter().map(String::as_str))
        .str(issued_at)
        .finish()
}

impl IdentityDocument {
    /// Builds and self-signs a document.
    pub fn sign(
        keys: &CloudKeys,
        handle: &str,
        capabilities: Vec<Capability>,
        endpoints: Vec<String>,
        relays: Vec<String>,
        issued_at: Timestamp,
    ) -> Result<Self, ProtoError> {
        validate_handle(handle)?;
        validate_capabilities(&capabilities)?;
        validate_urls("endpoints", &endpoints, ANY_SCHEMES)?;
        validate_urls("relays", &relays, ANY_SCHEMES)?;
        let pubkey = keys.public();
        let encryption_key = keys.encryption.public();
        let issued_at = time::format(issued_at);
        let sig = keys.signing.sign(&signing_bytes(
            &pubkey,
            &encryption_key,
            handle,
            &capabilities,
            &endpoints,
            &relays,
            &issued_at,
        ));
        Ok(IdentityDocument {
            schema: SCHEMA.into(),
            daemon_id: pubkey.daemon_id(),
            pubkey: pubkey.to_b64(),
            handle: handle.into(),
            capabilities,
            encryption_key: encryption_key.to_b64(),
            endpoints,
            relays,
            issued_at,
            sig: b64(&sig),
            host_certificate: keys.host_certificate(),
        })
    }

    /// Parses a document from JSON bytes and verifies it.
    pub fn from_json(json: &[u8]) -> Result<Identity, ProtoError> {
        let doc: IdentityDocument = serde_json::from_slice(json)
            .map_err(|e| ProtoError::malformed("identity document", e.to_string()))?;
        doc.verify()
    }

    /// Checks version, encodings, sizes, `daemon_id` and the self-signature.
    pub fn verify(&self) -> Result<Identity, ProtoError> {
        if self.schema != SCHEMA {
            return Err(ProtoError::UnsupportedVersion(self.schema.clone()));
        }
        let pubkey = PublicKey::from_b64("pubkey", &self.pubkey)?;
        let encryption_key = EncryptionKey::from_b64("encryption_key", &self.encryption_key)?;
        let sig = signature_from_b64("sig", &self.sig)?;
        if self.daemon_id != pubkey.daemon_id() {
            return Err(ProtoError::malformed(
                "daemon_id",
                "does not match the first 16 hex characters of SHA-256(pubkey)",
            ));
        }
        validate_handle(&self.handle)?;
        validate_capabilities(&self.capabilities)?;
        validate_urls("endpoints", &self.endpoints, ANY_SCHEMES)?;
        validate_urls("relays", &self.relays, ANY_SCHEMES)?;
        let issued_at = time::parse("issued_at", &self.issued_at)?;
        // A hosted cloud's document is signed by its host key, which the certificate must
        // cover at the time it signed, along with the encryption key it publishes.
        let host = self
            .host_certificate
            .as_ref()
            .map(|c| c.verify(&pubkey, issued_at))
            .transpose()?;
        if let Some(h) = &host
            && h.host_encryption_key != encryption_key
        {
            return Err(ProtoError::malformed(
                "encryption_key",
                "not the host encryption key the certificate names",
            ));
        }
        let signer = host.as_ref().map_or(pubkey, |h| h.host_key);
        signer.verify(
            "identity document",
            &signing_bytes(
                &pubkey,
                &encryption_key,
                &self.handle,
                &self.capabilities,
                &self.endpoints,
                &self.relays,
                &self.issued_at,
            ),
            &sig,
        )?;
        Ok(Identity {
            pubkey,
            encryption_key,
            handle: self.handle.clone(),
            capabilities: self.capabilities.clone(),
            endpoints: self.endpoints.clone(),
            relays: self.relays.clone(),
            issued_at,
            hosted_by: host.map(|h| h.node_id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles() {
        for ok in ["@alice.cloud", "@kody.cloud", "@a-b.c0.cloud"] {
            assert!(validate_handle(ok).is_ok(), "{ok}");
        }
        for bad in [
            "alice.cloud",
            "@alice",
            "@Alice.cloud",
            "@-a.cloud",
            "@a..cloud",
            "@a_b.cloud",
        ] {
            assert!(validate_handle(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn capability_names() {
        assert!(validate_capability_name("AskBrainstem").is_ok());
        assert!(validate_capability_name("Recent.HN-2_x").is_ok());
        assert!(validate_capability_name("").is_err());
        assert!(validate_capability_name("1abc").is_err());
        assert!(validate_capability_name("a b").is_err());
    }
}
