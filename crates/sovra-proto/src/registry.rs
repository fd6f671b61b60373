//! Registry records: what a cloud publishes under its handle, the chain of its key changes, and
//! the registry's signature over both (docs/PROTOCOL.md §16).
//!
//! Trust runs two ways. The *record* is signed by the cloud's own key, so a registry cannot
//! invent an encryption key or endpoint for a cloud. The *lookup* is signed by the registry's
//! key, which a node pins on first use, so a network attacker cannot serve an old record or hide
//! a key change. A key change is a *link* in the chain: a rotation is signed by the old key and
//! the new one (a peer that pinned the old key may follow it silently); a reset — recovery after
//! the registration lock, when the old key is lost — is signed by the new key and the registry
//! only, and a peer must not follow it without asking its human.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::canonical::Canonical;
use crate::encoding::b64;
use crate::error::ProtoError;
use crate::identity::validate_handle;
use crate::keys::{CloudKeys, EncryptionKey, PublicKey, SigningKeypair, signature_from_b64};
use crate::time;
use crate::urls::{ENDPOINT_SCHEMES, RELAY_SCHEMES, validate_url, validate_urls};

pub const RECORD_LABEL: &str = "sovra-registry/1/record";
pub const LINK_LABEL: &str = "sovra-registry/1/link";
pub const LOOKUP_LABEL: &str = "sovra-registry/1/lookup";
pub const OPERATION_LABEL: &str = "sovra-registry/1/operation";

pub use crate::attestation::{
    ATTESTATION_LABEL, ATTESTATION_TTL, AttestationRequest, ELEVATION_LABEL, ELEVATION_TTL,
    Elevation, ElevationRequest, PhoneAttestation,
};

/// Longest chain a lookup may carry; a cloud rotating daily for a decade stays below it.
pub const MAX_CHAIN: usize = 4096;

/// What a cloud publishes under its handle, self-signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudRecord {
    pub handle: String,
    pub pubkey: String,
    pub encryption_key: String,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub relays: Vec<String>,
    pub issued_at: String,
    pub sig: String,
}

/// A record whose fields and self-signature have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRecord {
    pub handle: String,
    pub pubkey: PublicKey,
    pub encryption_key: EncryptionKey,
    pub endpoint: Option<String>,
    pub relays: Vec<String>,
    pub issued_at: Timestamp,
}

fn record_bytes(
    handle: &str,
    pubkey: &PublicKey,
    encryption_key: &EncryptionKey,
    endpoint: Option<&str>,
    relays: &[String],
    issued_at: &str,
) -> Vec<u8> {
    Canonical::new(RECORD_LABEL)
        .str(handle)
        .bytes(pubkey.as_bytes())
        .bytes(encryption_key.as_bytes())
        .str_list(endpoint.into_iter())
        .str_list(relays.iter().map(String::as_str))
        .str(issued_at)
        .finish()
}

fn validate_where(endpoint: Option<&str>, relays: &[String]) -> Result<(), ProtoError> {
    if let Some(e) = endpoint {
        validate_url("endpoint", e, ENDPOINT_SCHEMES)?;
    }
    validate_urls("relays", relays, RELAY_SCHEMES)
}

impl CloudRecord {
    pub fn sign(
        keys: &CloudKeys,
        handle: &str,
        endpoint: Option<String>,
        relays: Vec<String>,
        now: Timestamp,
    ) -> Result<CloudRecord, ProtoError> {
        validate_handle(handle)?;
        validate_where(endpoint.as_deref(), &relays)?;
        let (pubkey, encryption_key) = (keys.public(), keys.encryption.public());
        let issued_at = time::format(now);
        let sig = keys.signing.sign(&record_bytes(
            handle,
            &pubkey,
            &encryption_key,
            endpoint.as_deref(),
            &relays,
            &issued_at,
        ));
        Ok(CloudRecord {
            handle: handle.into(),
            pubkey: pubkey.to_b64(),
            encryption_key: encryption_key.to_b64(),
            endpoint,
            relays,
            issued_at,
            sig: b64(&sig),
        })
    }

    pub fn verify(&self) -> Result<VerifiedRecord, ProtoError> {
        validate_handle(&self.handle)?;
        validate_where(self.endpoint.as_deref(), &self.relays)?;
        let pubkey = PublicKey::from_b64("pubkey", &self.pubkey)?;
        let encryption_key = EncryptionKey::from_b64("encryption_key", &self.encryption_key)?;
        let issued_at = time::parse("issued_at", &self.issued_at)?;
        let sig = signature_from_b64("sig", &self.sig)?;
        pubkey.verify(
            "registry record",
            &self.signing_bytes(&pubkey, &encryption_key),
            &sig,
        )?;
        Ok(VerifiedRecord {
            handle: self.handle.clone(),
            pubkey,
            encryption_key,
            endpoint: self.endpoint.clone(),
            relays: self.relays.clone(),
            issued_at,
        })
    }

    fn signing_bytes(&self, pubkey: &PublicKey, encryption_key: &EncryptionKey) -> Vec<u8> {
        record_bytes(
            &self.handle,
            pubkey,
            encryption_key,
            self.endpoint.as_deref(),
            &self.relays,
            &self.issued_at,
        )
    }
}

/// How a link changed the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    /// Signed by the old and the new key: the cloud moved its own key.
    Rotation,
    /// Signed by the new key and the registry: the old key was lost and the phone alone
    /// recovered the handle after the registration lock ran out.
    Reset,
}

impl LinkKind {
    fn as_str(self) -> &'static str {
        match self {
            LinkKind::Rotation => "rotation",
            LinkKind::Reset => "reset",
        }
    }
}

/// One key change of a cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLink {
    pub kind: LinkKind,
    pub old_pubkey: String,
    pub new_pubkey: String,
    pub at: String,
    /// By the old key; rotations only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_sig: Option<String>,
    /// By the new key; rotations only (a reset's new key consents by signing its record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_sig: Option<String>,
    /// By the registry; resets only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_sig: Option<String>,
}

fn link_bytes(kind: LinkKind, old: &PublicKey, new: &PublicKey, at: &str) -> Vec<u8> {
    Canonical::new(LINK_LABEL)
        .str(kind.as_str())
        .bytes(old.as_bytes())
        .bytes(new.as_bytes())
        .str(at)
        .finish()
}

/// A link whose signatures have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLink {
    pub kind: LinkKind,
    pub old: PublicKey,
    pub new: PublicKey,
    pub at: Timestamp,
}

impl ChainLink {
    /// A rotation from `old` to `new`, signed by both.
    pub fn rotation(old: &SigningKeypair, new: &SigningKeypair, now: Timestamp) -> ChainLink {
        let at = time::format(now);
        let bytes = link_bytes(LinkKind::Rotation, &old.public(), &new.public(), &at);
        ChainLink {
            kind: LinkKind::Rotation,
            old_pubkey: old.public().to_b64(),
            new_pubkey: new.public().to_b64(),
            old_sig: Some(b64(&old.sign(&bytes))),
            new_sig: Some(b64(&new.sign(&bytes))),
            registry_sig: None,
            at,
        }
    }

    /// A reset from the lost key `old` to `new`, signed by the registry that performed it.
    pub fn reset(
        registry: &SigningKeypair,
        old: &PublicKey,
        new: &PublicKey,
        now: Timestamp,
    ) -> ChainLink {
        let at = time::format(now);
        let bytes = link_bytes(LinkKind::Reset, old, new, &at);
        ChainLink {
            kind: LinkKind::Reset,
            old_pubkey: old.to_b64(),
            new_pubkey: new.to_b64(),
            old_sig: None,
            new_sig: None,
            registry_sig: Some(b64(&registry.sign(&bytes))),
            at,
        }
    }

    fn keys(&self) -> Result<(PublicKey, PublicKey), ProtoError> {
        Ok((
            PublicKey::from_b64("old_pubkey", &self.old_pubkey)?,
            PublicKey::from_b64("new_pubkey", &self.new_pubkey)?,
        ))
    }

    /// Checks the signatures a link of its kind needs (`registry` for resets).
    pub fn verify(&self, registry: &PublicKey) -> Result<VerifiedLink, ProtoError> {
        let (old, new) = self.keys()?;
        let at = time::parse("at", &self.at)?;
        let bytes = link_bytes(self.kind, &old, &new, &self.at);
        let need = |field: &'static str, sig: &Option<String>| {
            sig.as_deref()
                .ok_or_else(|| ProtoError::malformed(field, "missing"))
                .and_then(|s| signature_from_b64(field, s))
        };
        match self.kind {
            LinkKind::Rotation => {
                old.verify(
                    "chain link (old key)",
                    &bytes,
                    &need("old_sig", &self.old_sig)?,
                )?;
                new.verify(
                    "chain link (new key)",
                    &bytes,
                    &need("new_sig", &self.new_sig)?,
                )?;
            }
            LinkKind::Reset => registry.verify(
                "chain link (registry)",
                &bytes,
                &need("registry_sig", &self.registry_sig)?,
            )?,
        }
        Ok(VerifiedLink {
            kind: self.kind,
            old,
            new,
            at,
        })
    }

    /// The three signature slots, absent ones as empty strings.
    fn sigs(&self) -> [&str; 3] {
        [
            self.old_sig.as_deref().unwrap_or(""),
            self.new_sig.as_deref().unwrap_or(""),
            self.registry_sig.as_deref().unwrap_or(""),
        ]
    }
}

/// `GET /v1/handles/{handle}`: the record, the chain, and the registry's signature over both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup {
    pub record: CloudRecord,
    pub chain: Vec<ChainLink>,
    /// The registry's Ed25519 key (for display; verification uses the pinned key).
    pub registry: String,
    pub signed_at: String,
    pub sig: String,
}

fn lookup_bytes(record: &CloudRecord, chain: &[ChainLink], signed_at: &str) -> Vec<u8> {
    let mut c = Canonical::new(LOOKUP_LABEL)
        .str(&record.handle)
        .str(&record.pubkey)
        .str(&record.encryption_key)
        .str_list(record.endpoint.as_deref().into_iter())
        .str_list(record.relays.iter().map(String::as_str))
        .str(&record.issued_at)
        .str(&record.sig)
        .u64(chain.len() as u64);
    for link in chain {
        c = c
            .str(link.kind.as_str())
            .str(&link.old_pubkey)
            .str(&link.new_pubkey)
            .str(&link.at)
            .str_list(link.sigs().into_iter());
    }
    c.str(signed_at).finish()
}

/// How a pinned key relates to a verified lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Follow {
    /// The record still carries the pinned key.
    Unchanged,
    /// Only rotations lead from the pinned key to the current one: safe to follow.
    Rotated { to: PublicKey },
    /// A reset (or no chain at all) separates them: the human must approve the new key.
    Reset { to: PublicKey },
}

/// A lookup whose registry signature, record and chain have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLookup {
    pub record: VerifiedRecord,
    pub chain: Vec<VerifiedLink>,
    pub signed_at: Timestamp,
}

impl VerifiedLookup {
    /// Where a peer that pinned `pinned` stands.
    pub fn follow(&self, pinned: &PublicKey) -> Follow {
        let current = self.record.pubkey;
        if *pinned == current {
            return Follow::Unchanged;
        }
        // The chain is contiguous and ends at the current key (checked in verify), so the
        // path from the pinned key is the suffix starting at its last appearance as `old`.
        match self.chain.iter().rposition(|l| l.old == *pinned) {
            Some(i) if self.chain[i..].iter().all(|l| l.kind == LinkKind::Rotation) => {
                Follow::Rotated { to: current }
            }
            _ => Follow::Reset { to: current },
        }
    }

    /// Whether the newest key change was a reset (peers should be told).
    pub fn was_reset(&self) -> bool {
        self.chain.last().is_some_and(|l| l.kind == LinkKind::Reset)
    }
}

impl Lookup {
    pub fn sign(
        registry: &SigningKeypair,
        record: CloudRecord,
        chain: Vec<ChainLink>,
        now: Timestamp,
    ) -> Lookup {
        let signed_at = time::format(now);
        let sig = registry.sign(&lookup_bytes(&record, &chain, &signed_at));
        Lookup {
            record,
            chain,
            registry: registry.public().to_b64(),
            signed_at,
            sig: b64(&sig),
        }
    }

    /// Checks the registry signature against the pinned `registry` key, the record's
    /// self-signature and handle, and that the chain is a contiguous run of valid links ending
    /// at the record's key.
    pub fn verify(&self, registry: &PublicKey, handle: &str) -> Result<VerifiedLookup, ProtoError> {
        if self.chain.len() > MAX_CHAIN {
            return Err(ProtoError::TooMany {
                field: "chain",
                max: MAX_CHAIN,
                got: self.chain.len(),
            });
        }
        let sig = signature_from_b64("sig", &self.sig)?;
        registry.verify(
            "registry lookup",
            &lookup_bytes(&self.record, &self.chain, &self.signed_at),
            &sig,
        )?;
        let signed_at = time::parse("signed_at", &self.signed_at)?;
        let record = self.record.verify()?;
        if record.handle != handle {
            return Err(ProtoError::malformed(
                "record.handle",
                "not the handle looked up",
            ));
        }
        let chain = self
            .chain
            .iter()
            .map(|l| l.verify(registry))
            .collect::<Result<Vec<_>, _>>()?;
        for pair in chain.windows(2) {
            if pair[0].new != pair[1].old {
                return Err(ProtoError::malformed("chain", "links are not contiguous"));
            }
        }
        if chain.last().is_some_and(|l| l.new != record.pubkey) {
            return Err(ProtoError::malformed(
                "chain",
                "does not end at the record's key",
            ));
        }
        Ok(VerifiedLookup {
            record,
            chain,
            signed_at,
        })
    }
}

/// The bytes a cloud key signs to authorize a high-trust registry operation. Bound to the
/// phone verification it is used with, which is single-use, so it cannot be replayed.
pub fn operation_bytes(
    operation: &str,
    handle: &str,
    verification_id: &str,
    body: &[u8],
) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    Canonical::new(OPERATION_LABEL)
        .str(operation)
        .str(handle)
        .str(verification_id)
        .bytes(&Sha256::digest(body))
        .finish()
}

/// Every error code the registry answers with (docs/PROTOCOL.md §16.6), beside the common ones
/// of §10. Clients map a refusal's code onto this list to pass it on unchanged.
pub const ERROR_CODES: &[&str] = &[
    "invalid_phone",
    "invalid_handle",
    "reserved_handle",
    "handle_taken",
    "key_taken",
    "unknown_verification",
    "code_expired",
    "code_used",
    "wrong_code",
    "locked_out",
    "rate_limited",
    "registration_locked",
    "phone_mismatch",
    "not_registered",
    "unknown_handle",
    "handle_changed",
    "conflict",
    "sms_failed",
    "suspended",
    "taken_down",
];

// --- request and response bodies of the registry API (docs/PROTOCOL.md §16.3) ---------------

/// `GET /v1/registry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryInfo {
    pub registry_key: String,
    pub domain: String,
    pub code_ttl_seconds: u64,
}

/// `POST /v1/verifications`: send a code to this phone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeRequest {
    pub phone: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CodeResponse {
    pub verification_id: String,
    pub expires_at: String,
}

/// The proof of a phone that every phone-gated operation carries; its code is used up by it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhoneProof {
    pub verification_id: String,
    pub code: String,
}

/// `POST /v1/clouds`: claim a handle (or refresh, or recover) with a verified phone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterRequest {
    #[serde(flatten)]
    pub phone: PhoneProof,
    pub record: CloudRecord,
}

/// `PUT /v1/handles/{handle}/record`: a newer record under the same key (endpoint or relay
/// change; also the heartbeat that keeps the registration lock armed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordUpdate {
    pub record: CloudRecord,
}

/// `POST /v1/handles/{handle}/rotate`: high-trust.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RotateRequest {
    #[serde(flatten)]
    pub phone: PhoneProof,
    pub link: ChainLink,
    pub record: CloudRecord,
    /// By the current key over `operation_bytes("rotate", handle, verification_id, new key)`.
    pub op_sig: String,
}

/// `POST /v1/handles/{handle}/rename`: high-trust.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenameRequest {
    #[serde(flatten)]
    pub phone: PhoneProof,
    /// The record under the new handle, same key.
    pub record: CloudRecord,
    /// By the current key over `operation_bytes("rename", handle, verification_id, new handle)`.
    pub op_sig: String,
}

/// `POST /v1/handles/{handle}/devices`: high-trust.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceRequest {
    #[serde(flatten)]
    pub phone: PhoneProof,
    pub certificate: crate::device::KeyCertificate,
    /// By the current key over `operation_bytes("device", handle, verification_id, device key)`.
    pub op_sig: String,
}

/// `POST /v1/whoami`: low-trust, the phone alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WhoamiResponse {
    pub handle: String,
    pub pubkey: String,
}

/// What the current key signs for a high-trust operation, per operation.
pub mod operation {
    use super::*;

    pub fn rotate(handle: &str, verification_id: &str, new: &PublicKey) -> Vec<u8> {
        operation_bytes("rotate", handle, verification_id, new.as_bytes())
    }

    pub fn rename(handle: &str, verification_id: &str, new_handle: &str) -> Vec<u8> {
        operation_bytes("rename", handle, verification_id, new_handle.as_bytes())
    }

    pub fn device(handle: &str, verification_id: &str, device: &PublicKey) -> Vec<u8> {
        operation_bytes("device", handle, verification_id, device.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::os_rng;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn chains_are_followed_only_through_rotations() {
        let mut rng = os_rng();
        let registry = SigningKeypair::generate(&mut rng);
        let k1 = CloudKeys::generate(&mut rng);
        let k2 = CloudKeys::generate(&mut rng);
        let k3 = CloudKeys::generate(&mut rng);
        let now = t("2026-11-21T10:00:00Z");
        let rot = ChainLink::rotation(&k1.signing, &k2.signing, now);
        let record = CloudRecord::sign(&k2, "@alice.cloud", None, vec![], now).unwrap();
        let lookup = Lookup::sign(&registry, record, vec![rot.clone()], now);
        let v = lookup.verify(&registry.public(), "@alice.cloud").unwrap();
        assert_eq!(v.follow(&k1.public()), Follow::Rotated { to: k2.public() });
        assert_eq!(v.follow(&k2.public()), Follow::Unchanged);
        assert_eq!(v.follow(&k3.public()), Follow::Reset { to: k2.public() });
        assert_eq!(
            lookup
                .verify(&k1.public(), "@alice.cloud")
                .unwrap_err()
                .code(),
            "bad_signature"
        );
        assert_eq!(
            lookup
                .verify(&registry.public(), "@bob.cloud")
                .unwrap_err()
                .code(),
            "malformed"
        );

        let forged = ChainLink::reset(&k3.signing, &k2.public(), &k3.public(), now);
        let unsigned = Lookup::sign(
            &registry,
            CloudRecord::sign(&k3, "@alice.cloud", None, vec![], now).unwrap(),
            vec![rot.clone(), forged],
            now,
        );
        assert_eq!(
            unsigned
                .verify(&registry.public(), "@alice.cloud")
                .unwrap_err()
                .code(),
            "bad_signature",
            "a reset must carry the registry's signature"
        );
        let reset = ChainLink::reset(&registry, &k2.public(), &k3.public(), now);
        let lookup = Lookup::sign(
            &registry,
            CloudRecord::sign(&k3, "@alice.cloud", None, vec![], now).unwrap(),
            vec![rot, reset],
            now,
        );
        let v = lookup.verify(&registry.public(), "@alice.cloud").unwrap();
        assert!(v.was_reset());
        assert_eq!(v.follow(&k1.public()), Follow::Reset { to: k3.public() });
        assert_eq!(v.follow(&k2.public()), Follow::Reset { to: k3.public() });
    }
}
