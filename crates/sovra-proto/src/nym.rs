//! Nyms (docs/PROTOCOL.md §19.7): public faces a cloud key issues for itself — a name it may
//! present to some peers instead of its handle. The cloud key signs each (on the human's device
//! when hosted); the serving node keeps the mapping from nym to cloud for accountability and
//! bounds how many one cloud keeps active.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::canonical::Canonical;
use crate::encoding::b64;
use crate::error::ProtoError;
use crate::identity::validate_handle;
use crate::keys::{PublicKey, SigningKeypair, signature_from_b64};
use crate::time;

const NYM_LABEL: &str = "rapp-d2d/1.0/nym";

/// `cloud` presents itself as `nym` (handle syntax, e.g. `@amber-river.nym`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NymCertificate {
    pub cloud: String,
    pub nym: String,
    pub issued_at: String,
    pub sig: String,
}

fn nym_bytes(cloud: &PublicKey, nym: &str, issued_at: &str) -> Vec<u8> {
    Canonical::new(NYM_LABEL)
        .bytes(cloud.as_bytes())
        .str(nym)
        .str(issued_at)
        .finish()
}

impl NymCertificate {
    pub fn issue(cloud: &SigningKeypair, nym: &str, now: Timestamp) -> Result<Self, ProtoError> {
        validate_handle(nym)?;
        let issued_at = time::format(now);
        let sig = cloud.sign(&nym_bytes(&cloud.public(), nym, &issued_at));
        Ok(NymCertificate {
            cloud: cloud.public().to_b64(),
            nym: nym.into(),
            issued_at,
            sig: b64(&sig),
        })
    }

    /// Checks it is `cloud`'s; the nym.
    pub fn verify(&self, cloud: &PublicKey) -> Result<String, ProtoError> {
        let named = PublicKey::from_b64("cloud", &self.cloud)?;
        if named != *cloud {
            return Err(ProtoError::BadSignature {
                what: "nym certificate (another cloud's)",
            });
        }
        validate_handle(&self.nym)?;
        time::parse("issued_at", &self.issued_at)?;
        let sig = signature_from_b64("sig", &self.sig)?;
        cloud.verify(
            "nym certificate",
            &nym_bytes(cloud, &self.nym, &self.issued_at),
            &sig,
        )?;
        Ok(self.nym.clone())
    }
}
