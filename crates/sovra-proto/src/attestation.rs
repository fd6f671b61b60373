//! Phone attestations (docs/PROTOCOL.md §16.3): a registry's signed word that a phone it
//! verified just now vouches for a cloud key, to one audience, without naming the phone. A
//! node hosting by phone (§19.3) admits one cloud per attestation tag.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::canonical::Canonical;
use crate::encoding::b64;
use crate::error::ProtoError;
use crate::keys::{PublicKey, SigningKeypair, signature_from_b64};
use crate::registry::PhoneProof;
use crate::time;

/// `POST /v1/attestations`: a verified phone vouches for `cloud_key`, for one `audience` (the
/// URL of the node that asked), without naming the phone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationRequest {
    #[serde(flatten)]
    pub phone: PhoneProof,
    pub cloud_key: String,
    pub audience: String,
}

pub const ATTESTATION_LABEL: &str = "sovra-registry/1/phone-attestation";
/// How long an attestation may be presented.
pub const ATTESTATION_TTL: jiff::SignedDuration = jiff::SignedDuration::from_mins(15);

/// The registry's statement that a phone it verified just now vouches for a cloud key. The
/// `phone_tag` is the same for one phone and one audience and differs across audiences, so a
/// node can count clouds per phone without learning the phone, and two nodes cannot link them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneAttestation {
    pub registry: String,
    pub cloud_key: String,
    pub audience: String,
    pub phone_tag: String,
    pub issued_at: String,
    pub expires_at: String,
    pub sig: String,
}

fn attestation_bytes(
    a: &PhoneAttestation,
    registry: &PublicKey,
    cloud: &PublicKey,
    tag: &[u8; 32],
) -> Vec<u8> {
    Canonical::new(ATTESTATION_LABEL)
        .bytes(registry.as_bytes())
        .bytes(cloud.as_bytes())
        .str(&a.audience)
        .bytes(tag)
        .str(&a.issued_at)
        .str(&a.expires_at)
        .finish()
}

impl PhoneAttestation {
    pub fn sign(
        registry: &SigningKeypair,
        cloud_key: &PublicKey,
        audience: &str,
        phone_tag: &[u8; 32],
        now: Timestamp,
    ) -> PhoneAttestation {
        let mut a = PhoneAttestation {
            registry: registry.public().to_b64(),
            cloud_key: cloud_key.to_b64(),
            audience: audience.into(),
            phone_tag: crate::encoding::hex(phone_tag),
            issued_at: time::format(now),
            expires_at: time::format(now + ATTESTATION_TTL),
            sig: String::new(),
        };
        a.sig = b64(&registry.sign(&attestation_bytes(
            &a,
            &registry.public(),
            cloud_key,
            phone_tag,
        )));
        a
    }

    /// Checks it is `registry`'s, for `audience`, and fresh at `now`; the cloud key and tag.
    pub fn verify(
        &self,
        registry: &PublicKey,
        audience: &str,
        now: Timestamp,
    ) -> Result<(PublicKey, [u8; 32]), ProtoError> {
        let named = PublicKey::from_b64("registry", &self.registry)?;
        if named != *registry {
            return Err(ProtoError::BadSignature {
                what: "phone attestation (another registry)",
            });
        }
        if self.audience != audience {
            return Err(ProtoError::malformed("audience", "made for another node"));
        }
        let cloud = PublicKey::from_b64("cloud_key", &self.cloud_key)?;
        let tag = crate::encoding::hex_array::<32>("phone_tag", &self.phone_tag)?;
        let issued = time::parse("issued_at", &self.issued_at)?;
        let expires = time::parse("expires_at", &self.expires_at)?;
        let sig = signature_from_b64("sig", &self.sig)?;
        registry.verify(
            "phone attestation",
            &attestation_bytes(self, registry, &cloud, &tag),
            &sig,
        )?;
        if expires.duration_since(issued) > ATTESTATION_TTL
            || issued > now + crate::handshake::MAX_CLOCK_SKEW
            || now >= expires
        {
            return Err(ProtoError::StaleTimestamp {
                at: self.expires_at.clone(),
            });
        }
        Ok((cloud, tag))
    }
}

/// `POST /v1/elevations`: the phone registered for `handle` proves itself again, so the node
/// serving the cloud (`audience`) lets a device do high-trust operations for a while (§15.6).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElevationRequest {
    #[serde(flatten)]
    pub phone: PhoneProof,
    pub handle: String,
    pub cloud_key: String,
    pub audience: String,
}

pub const ELEVATION_LABEL: &str = "sovra-registry/1/elevation";
/// The longest elevated window one proof opens.
pub const ELEVATION_TTL: jiff::SignedDuration = jiff::SignedDuration::from_mins(15);

/// The registry's word that the phone on record for `cloud_key` answered a code just now.
/// Its own label: an onboarding attestation (a phone vouching for a new key) is never one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Elevation {
    pub registry: String,
    pub cloud_key: String,
    pub audience: String,
    pub issued_at: String,
    pub expires_at: String,
    pub sig: String,
}

fn elevation_bytes(e: &Elevation, registry: &PublicKey, cloud: &PublicKey) -> Vec<u8> {
    Canonical::new(ELEVATION_LABEL)
        .bytes(registry.as_bytes())
        .bytes(cloud.as_bytes())
        .str(&e.audience)
        .str(&e.issued_at)
        .str(&e.expires_at)
        .finish()
}

impl Elevation {
    pub fn sign(
        registry: &SigningKeypair,
        cloud_key: &PublicKey,
        audience: &str,
        now: Timestamp,
    ) -> Elevation {
        let mut e = Elevation {
            registry: registry.public().to_b64(),
            cloud_key: cloud_key.to_b64(),
            audience: audience.into(),
            issued_at: time::format(now),
            expires_at: time::format(now + ELEVATION_TTL),
            sig: String::new(),
        };
        e.sig = b64(&registry.sign(&elevation_bytes(&e, &registry.public(), cloud_key)));
        e
    }

    /// Checks it is `registry`'s, for `cloud` at `audience`, and fresh at `now`; returns when it
    /// expires.
    pub fn verify(
        &self,
        registry: &PublicKey,
        cloud: &PublicKey,
        audience: &str,
        now: Timestamp,
    ) -> Result<Timestamp, ProtoError> {
        if PublicKey::from_b64("registry", &self.registry)? != *registry {
            return Err(ProtoError::BadSignature {
                what: "elevation (another registry)",
            });
        }
        if PublicKey::from_b64("cloud_key", &self.cloud_key)? != *cloud {
            return Err(ProtoError::BadSignature {
                what: "elevation (another cloud)",
            });
        }
        if self.audience != audience {
            return Err(ProtoError::malformed("audience", "made for another node"));
        }
        let issued = time::parse("issued_at", &self.issued_at)?;
        let expires = time::parse("expires_at", &self.expires_at)?;
        let sig = signature_from_b64("sig", &self.sig)?;
        registry.verify("elevation", &elevation_bytes(self, registry, cloud), &sig)?;
        if expires.duration_since(issued) > ELEVATION_TTL
            || issued > now + crate::handshake::MAX_CLOCK_SKEW
            || now >= expires
        {
            return Err(ProtoError::StaleTimestamp {
                at: self.expires_at.clone(),
            });
        }
        Ok(expires)
    }
}
