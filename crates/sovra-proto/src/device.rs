//! Keys a cloud key certifies, and owner-API request signatures.
//!
//! A cloud's owner acts through devices (the CLI, later a phone). Each device has its own
//! Ed25519 key; the cloud key signs a *certificate* for it, naming the purpose. A device can
//! then be revoked alone without touching the cloud key (seeds/002: "revocable alone"). The
//! same certificate shape will carry a delegated host key when a cloud key lives on the human's
//! phone and the node holds only a certified key (DESIGN.md §Identity layers): all checks go
//! through `verify_certified`, which accepts "the cloud key, or a key it certifies for this
//! purpose".

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::canonical::Canonical;
use crate::encoding::b64;
use crate::error::ProtoError;
use crate::keys::{PublicKey, SigningKeypair, signature_from_b64};
use crate::time;

/// Purpose of a device key that may use the owner API.
pub const PURPOSE_OWNER: &str = "owner";
/// How far an owner request's timestamp may be from the node's clock.
pub const OWNER_REQUEST_WINDOW_MS: i64 = 60_000;

/// `cloud` certifies `key` for `purpose`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCertificate {
    pub cloud: String,
    pub key: String,
    pub purpose: String,
    pub label: String,
    pub issued_at: String,
    pub sig: String,
}

fn certificate_bytes(
    cloud: &PublicKey,
    key: &PublicKey,
    purpose: &str,
    label: &str,
    at: &str,
) -> Vec<u8> {
    Canonical::new("rapp-d2d/1.0/key-certificate")
        .bytes(cloud.as_bytes())
        .bytes(key.as_bytes())
        .str(purpose)
        .str(label)
        .str(at)
        .finish()
}

impl KeyCertificate {
    pub fn issue(
        cloud: &SigningKeypair,
        key: &PublicKey,
        purpose: &str,
        label: &str,
        now: Timestamp,
    ) -> KeyCertificate {
        let at = time::format(now);
        let cloud_pub = cloud.public();
        let sig = cloud.sign(&certificate_bytes(&cloud_pub, key, purpose, label, &at));
        KeyCertificate {
            cloud: cloud_pub.to_b64(),
            key: key.to_b64(),
            purpose: purpose.into(),
            label: label.into(),
            issued_at: at,
            sig: b64(&sig),
        }
    }

    /// Checks the certificate was issued by `cloud`; returns the certified key.
    pub fn verify(&self, cloud: &PublicKey) -> Result<PublicKey, ProtoError> {
        let issuer = PublicKey::from_b64("cloud", &self.cloud)?;
        if &issuer != cloud {
            return Err(ProtoError::malformed(
                "cloud",
                "certificate issued by another cloud",
            ));
        }
        let key = PublicKey::from_b64("key", &self.key)?;
        time::parse("issued_at", &self.issued_at)?;
        let sig = signature_from_b64("sig", &self.sig)?;
        cloud.verify(
            "key certificate",
            &certificate_bytes(cloud, &key, &self.purpose, &self.label, &self.issued_at),
            &sig,
        )?;
        Ok(key)
    }
}

/// Verifies `signature` over `message` by `signer`, which must be the cloud key itself or a key
/// one of `certificates` (already filtered to unrevoked ones) certifies for `purpose`.
pub fn verify_certified(
    cloud: &PublicKey,
    signer: &PublicKey,
    certificates: &[KeyCertificate],
    purpose: &str,
    what: &'static str,
    message: &[u8],
    signature: &[u8; 64],
) -> Result<(), ProtoError> {
    let authorized = signer == cloud
        || certificates
            .iter()
            .filter(|c| c.purpose == purpose)
            .any(|c| c.verify(cloud).is_ok_and(|k| &k == signer));
    if !authorized {
        return Err(ProtoError::BadSignature { what });
    }
    signer.verify(what, message, signature)
}

/// The authentication of one owner-API request, carried in headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerAuth {
    /// `x-sovra-device`: the device's Ed25519 key, base64.
    pub device: String,
    /// `x-sovra-timestamp`: unix milliseconds.
    pub timestamp_ms: i64,
    /// `x-sovra-nonce`: 16 random bytes, base64; never reused within the window.
    pub nonce: String,
    /// `x-sovra-signature`: Ed25519 over `owner_request_bytes`.
    pub signature: String,
}

/// `canonical("sovra/owner-request", method, path_and_query, timestamp_ms, nonce, SHA-256(body))`.
pub fn owner_request_bytes(
    method: &str,
    path: &str,
    timestamp_ms: i64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    Canonical::new("sovra/owner-request")
        .str(method)
        .str(path)
        .u64(timestamp_ms as u64)
        .str(nonce)
        .bytes(&Sha256::digest(body))
        .finish()
}

impl OwnerAuth {
    pub fn sign(
        rng: &mut impl rand_core::CryptoRng,
        device: &SigningKeypair,
        method: &str,
        path: &str,
        body: &[u8],
        now_ms: i64,
    ) -> OwnerAuth {
        let mut nonce = [0u8; 16];
        rng.fill_bytes(&mut nonce);
        let nonce = b64(&nonce);
        let sig = device.sign(&owner_request_bytes(method, path, now_ms, &nonce, body));
        OwnerAuth {
            device: device.public().to_b64(),
            timestamp_ms: now_ms,
            nonce,
            signature: b64(&sig),
        }
    }

    /// Checks the window and the signature; the caller checks the nonce was not seen before
    /// and that the device is certified and not revoked (via `verify_certified`).
    pub fn check_window(&self, now_ms: i64) -> Result<(), ProtoError> {
        if (now_ms - self.timestamp_ms).abs() > OWNER_REQUEST_WINDOW_MS {
            return Err(ProtoError::StaleTimestamp {
                at: self.timestamp_ms.to_string(),
            });
        }
        crate::encoding::b64_array::<16>("x-sovra-nonce", &self.nonce)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certified_device_may_sign_and_others_may_not() {
        let cloud = SigningKeypair::from_seed(&[1; 32]);
        let device = SigningKeypair::from_seed(&[2; 32]);
        let stranger = SigningKeypair::from_seed(&[3; 32]);
        let now: Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
        let cert = KeyCertificate::issue(&cloud, &device.public(), PURPOSE_OWNER, "cli", now);
        let msg = b"m";
        let ok = verify_certified(
            &cloud.public(),
            &device.public(),
            std::slice::from_ref(&cert),
            PURPOSE_OWNER,
            "x",
            msg,
            &device.sign(msg),
        );
        assert!(ok.is_ok());
        // The cloud key itself is always accepted.
        assert!(
            verify_certified(
                &cloud.public(),
                &cloud.public(),
                &[],
                PURPOSE_OWNER,
                "x",
                msg,
                &cloud.sign(msg)
            )
            .is_ok()
        );
        // Uncertified key, wrong purpose, forged certificate.
        assert!(
            verify_certified(
                &cloud.public(),
                &stranger.public(),
                std::slice::from_ref(&cert),
                PURPOSE_OWNER,
                "x",
                msg,
                &stranger.sign(msg)
            )
            .is_err()
        );
        assert!(
            verify_certified(
                &cloud.public(),
                &device.public(),
                std::slice::from_ref(&cert),
                "host",
                "x",
                msg,
                &device.sign(msg)
            )
            .is_err()
        );
        let forged = KeyCertificate::issue(&stranger, &device.public(), PURPOSE_OWNER, "cli", now);
        assert!(forged.verify(&cloud.public()).is_err());
    }

    #[test]
    fn owner_auth_window() {
        let device = SigningKeypair::from_seed(&[2; 32]);
        let auth = OwnerAuth::sign(&mut crate::os_rng(), &device, "GET", "/x", b"", 1_000_000);
        assert!(
            auth.check_window(1_000_000 + OWNER_REQUEST_WINDOW_MS)
                .is_ok()
        );
        assert_eq!(
            auth.check_window(1_000_000 + OWNER_REQUEST_WINDOW_MS + 1)
                .unwrap_err()
                .code(),
            "stale_timestamp"
        );
    }
}
