//! Delegated host keys (docs/PROTOCOL.md §19.2): a hosted human keeps the cloud key on their
//! own device; the node serving the cloud holds only a *host key* pair (Ed25519 to sign D2D,
//! X25519 to open intros) that the cloud key certifies for a period, naming the node.
//!
//! Peers verify a hosted cloud through the certificate: [`signer_for`] is the one rule —
//! "the cloud key, or the host key it currently certifies" — and every D2D signature check goes
//! through it. The node never holds the cloud's secret, so it cannot mint devices, rotate the
//! cloud's key, or outlive a certificate the human stops renewing.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::canonical::Canonical;
use crate::encoding::b64;
use crate::error::ProtoError;
use crate::handshake::MAX_CLOCK_SKEW;
use crate::keys::{EncryptionKey, PublicKey, SigningKeypair, signature_from_b64};
use crate::time;

const HOST_LABEL: &str = "rapp-d2d/1.0/host-certificate";

/// Longest period a host certificate may cover; the human's device renews it before then.
pub const MAX_HOST_PERIOD: SignedDuration = SignedDuration::from_hours(90 * 24);

/// `cloud` lets `host_key` (and `host_encryption_key`) act for it on `node_id` until
/// `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCertificate {
    pub cloud: String,
    pub host_key: String,
    pub host_encryption_key: String,
    pub node_id: String,
    pub issued_at: String,
    pub expires_at: String,
    pub sig: String,
}

/// A certificate that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedHost {
    pub cloud: PublicKey,
    pub host_key: PublicKey,
    pub host_encryption_key: EncryptionKey,
    pub node_id: PublicKey,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
}

#[allow(clippy::too_many_arguments)]
fn host_bytes(
    cloud: &PublicKey,
    host_key: &PublicKey,
    host_encryption_key: &EncryptionKey,
    node_id: &PublicKey,
    issued_at: &str,
    expires_at: &str,
) -> Vec<u8> {
    Canonical::new(HOST_LABEL)
        .bytes(cloud.as_bytes())
        .bytes(host_key.as_bytes())
        .bytes(host_encryption_key.as_bytes())
        .bytes(node_id.as_bytes())
        .str(issued_at)
        .str(expires_at)
        .finish()
}

impl HostCertificate {
    /// Signed by the cloud key, on the human's device.
    pub fn issue(
        cloud: &SigningKeypair,
        host_key: &PublicKey,
        host_encryption_key: &EncryptionKey,
        node_id: &PublicKey,
        now: Timestamp,
        period: SignedDuration,
    ) -> Result<HostCertificate, ProtoError> {
        if period <= SignedDuration::ZERO || period > MAX_HOST_PERIOD {
            return Err(ProtoError::malformed(
                "expires_at",
                "a host certificate covers at most 90 days",
            ));
        }
        let issued_at = time::format(now);
        let expires_at = time::format(
            now.checked_add(period)
                .map_err(|_| ProtoError::malformed("expires_at", "out of range"))?,
        );
        let cloud_key = cloud.public();
        let sig = cloud.sign(&host_bytes(
            &cloud_key,
            host_key,
            host_encryption_key,
            node_id,
            &issued_at,
            &expires_at,
        ));
        Ok(HostCertificate {
            cloud: cloud_key.to_b64(),
            host_key: host_key.to_b64(),
            host_encryption_key: host_encryption_key.to_b64(),
            node_id: node_id.to_b64(),
            issued_at,
            expires_at,
            sig: b64(&sig),
        })
    }

    /// Checks that `cloud` signed it and that it holds at `now`: issued no later than the
    /// clock skew ahead, not expired, covering at most 90 days.
    pub fn verify(&self, cloud: &PublicKey, now: Timestamp) -> Result<VerifiedHost, ProtoError> {
        let named = PublicKey::from_b64("host_certificate.cloud", &self.cloud)?;
        if named != *cloud {
            return Err(ProtoError::BadSignature {
                what: "host certificate (issued for another cloud)",
            });
        }
        let host_key = PublicKey::from_b64("host_certificate.host_key", &self.host_key)?;
        let host_encryption_key = EncryptionKey::from_b64(
            "host_certificate.host_encryption_key",
            &self.host_encryption_key,
        )?;
        let node_id = PublicKey::from_b64("host_certificate.node_id", &self.node_id)?;
        let issued_at = time::parse("host_certificate.issued_at", &self.issued_at)?;
        let expires_at = time::parse("host_certificate.expires_at", &self.expires_at)?;
        let sig = signature_from_b64("host_certificate.sig", &self.sig)?;
        cloud.verify(
            "host certificate",
            &host_bytes(
                cloud,
                &host_key,
                &host_encryption_key,
                &node_id,
                &self.issued_at,
                &self.expires_at,
            ),
            &sig,
        )?;
        let period = expires_at.duration_since(issued_at);
        if period <= SignedDuration::ZERO || period > MAX_HOST_PERIOD {
            return Err(ProtoError::malformed(
                "host_certificate.expires_at",
                "a host certificate covers at most 90 days",
            ));
        }
        if issued_at > now + MAX_CLOCK_SKEW || now >= expires_at {
            return Err(ProtoError::StaleTimestamp {
                at: if now >= expires_at {
                    self.expires_at.clone()
                } else {
                    self.issued_at.clone()
                },
            });
        }
        Ok(VerifiedHost {
            cloud: *cloud,
            host_key,
            host_encryption_key,
            node_id,
            issued_at,
            expires_at,
        })
    }
}

/// The key whose signatures speak for `cloud`: the cloud key itself, or — when a certificate
/// comes with the object — the host key it certifies, if it holds at `now`. The one rule every
/// D2D signature check uses.
pub fn signer_for(
    cloud: &PublicKey,
    certificate: Option<&HostCertificate>,
    now: Timestamp,
) -> Result<PublicKey, ProtoError> {
    match certificate {
        None => Ok(*cloud),
        Some(c) => c.verify(cloud, now).map(|v| v.host_key),
    }
}

/// `POST /api/host/clouds` (§19.3): a human's device asks a node to host its cloud.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnboardRequest {
    pub handle: String,
    /// The cloud key (base64), generated and kept on the device.
    pub cloud_key: String,
    /// Policy `invite`: the operator's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<String>,
    /// Policy `phone`: the node's registry vouching for `cloud_key`, for this node (§19.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_attestation: Option<crate::registry::PhoneAttestation>,
}

/// The node's answer: the host key pair it drew, for the device to certify.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OnboardResponse {
    pub name: String,
    pub base_url: String,
    pub node_id: String,
    pub host_key: String,
    pub host_encryption_key: String,
}

/// `POST /api/host/clouds/{name}/activate`: the cloud key's certificates of the host key pair
/// and of the device that will use the owner API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    pub host_certificate: HostCertificate,
    pub device_key: String,
    pub device_certificate: crate::device::KeyCertificate,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActivateResponse {
    pub handle: String,
    pub base_url: String,
}

/// A hosted cloud's keys as its node holds them: the host key pair, and the certificate that
/// ties them to the cloud key (kept on the human's device).
#[derive(Debug, Clone)]
pub struct Delegation {
    pub cloud: PublicKey,
    pub certificate: HostCertificate,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::EncryptionSecret;

    #[test]
    fn certifies_for_a_period_and_only_for_its_cloud() {
        let cloud = SigningKeypair::from_seed(&[1; 32]);
        let host = SigningKeypair::from_seed(&[2; 32]);
        let host_x = EncryptionSecret::from_bytes([3; 32]).public();
        let node = SigningKeypair::from_seed(&[4; 32]).public();
        let now: Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
        let cert = HostCertificate::issue(
            &cloud,
            &host.public(),
            &host_x,
            &node,
            now,
            SignedDuration::from_hours(24 * 30),
        )
        .unwrap();
        let v = cert.verify(&cloud.public(), now).unwrap();
        assert_eq!((v.host_key, v.node_id), (host.public(), node));
        assert_eq!(
            signer_for(&cloud.public(), Some(&cert), now).unwrap(),
            host.public()
        );
        assert_eq!(
            signer_for(&cloud.public(), None, now).unwrap(),
            cloud.public()
        );
        // Another cloud, an edited field, after expiry, before issue: refused.
        let other = SigningKeypair::from_seed(&[5; 32]).public();
        assert_eq!(
            cert.verify(&other, now).unwrap_err().code(),
            "bad_signature"
        );
        let mut edited = cert.clone();
        edited.node_id = other.to_b64();
        assert_eq!(
            edited.verify(&cloud.public(), now).unwrap_err().code(),
            "bad_signature"
        );
        let later = now + SignedDuration::from_hours(24 * 31);
        assert_eq!(
            cert.verify(&cloud.public(), later).unwrap_err().code(),
            "stale_timestamp"
        );
        let earlier = now - SignedDuration::from_hours(1);
        assert_eq!(
            cert.verify(&cloud.public(), earlier).unwrap_err().code(),
            "stale_timestamp"
        );
        assert!(
            HostCertificate::issue(
                &cloud,
                &host.public(),
                &host_x,
                &node,
                now,
                SignedDuration::from_hours(24 * 91)
            )
            .is_err()
        );
    }
}
