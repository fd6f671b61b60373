//! Inheritance (docs/PROTOCOL.md §22): the cloud key names heirs and how long the owner may be
//! inactive before they inherit; when that time passes, the node seals the cloud and tells each
//! heir with a notice it signs for the cloud. An heir with `control` may then ask for the cloud
//! itself, as a migration bundle sealed to its own key.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::canonical::Canonical;
use crate::encoding::b64;
use crate::error::ProtoError;
use crate::host::{HostCertificate, signer_for};
use crate::identity::validate_handle;
use crate::keys::{PublicKey, SigningKeypair, signature_from_b64};
use crate::time;

const POLICY_LABEL: &str = "sovra-inheritance/1/policy";
const NOTICE_LABEL: &str = "sovra-inheritance/1/notice";
const CLAIM_LABEL: &str = "sovra-inheritance/1/claim";

/// Most heirs one policy names.
pub const MAX_HEIRS: usize = 16;
/// Longest endowment text, in bytes.
pub const MAX_ENDOWMENT: usize = 16 * 1024;
/// Shortest and longest inactivity before the switch fires, in days.
pub const MIN_INACTIVE_DAYS: u64 = 1;
pub const MAX_INACTIVE_DAYS: u64 = 3650;

/// What an heir gets when the switch fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeirGrant {
    /// Talk to the sealed cloud (it answers from its frozen memory).
    Read,
    /// That, and take the cloud: a migration bundle sealed to the heir's key.
    Control,
}

impl HeirGrant {
    pub fn as_str(self) -> &'static str {
        match self {
            HeirGrant::Read => "read",
            HeirGrant::Control => "control",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heir {
    pub pubkey: String,
    pub handle: String,
    pub grant: HeirGrant,
}

/// The cloud key's inheritance policy. A newer one (later `issued_at`) replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InheritancePolicy {
    pub cloud: String,
    pub heirs: Vec<Heir>,
    pub inactive_days: u64,
    /// Free-form text for the heirs (wishes, instructions), signed with the rest.
    #[serde(default)]
    pub endowment: String,
    pub issued_at: String,
    pub sig: String,
}

fn policy_bytes(p: &InheritancePolicy, cloud: &PublicKey, heirs: &[PublicKey]) -> Vec<u8> {
    let mut c = Canonical::new(POLICY_LABEL)
        .bytes(cloud.as_bytes())
        .u64(heirs.len() as u64);
    for (h, key) in p.heirs.iter().zip(heirs) {
        c = c.bytes(key.as_bytes()).str(&h.handle).str(h.grant.as_str());
    }
    c.u64(p.inactive_days)
        .str(&p.endowment)
        .str(&p.issued_at)
        .finish()
}

impl InheritancePolicy {
    /// Signed by the cloud key (never a host key: a node cannot name heirs).
    pub fn issue(
        cloud: &SigningKeypair,
        heirs: Vec<Heir>,
        inactive_days: u64,
        endowment: &str,
        now: Timestamp,
    ) -> Result<InheritancePolicy, ProtoError> {
        let mut p = InheritancePolicy {
            cloud: cloud.public().to_b64(),
            heirs,
            inactive_days,
            endowment: endowment.to_owned(),
            issued_at: time::format(now),
            sig: String::new(),
        };
        let keys = p.check()?;
        p.sig = b64(&cloud.sign(&policy_bytes(&p, &cloud.public(), &keys)));
        Ok(p)
    }

    fn check(&self) -> Result<Vec<PublicKey>, ProtoError> {
        if self.heirs.len() > MAX_HEIRS {
            return Err(ProtoError::TooMany {
                field: "heirs",
                max: MAX_HEIRS,
                got: self.heirs.len(),
            });
        }
        if !(MIN_INACTIVE_DAYS..=MAX_INACTIVE_DAYS).contains(&self.inactive_days) {
            return Err(ProtoError::malformed(
                "inactive_days",
                format!("between {MIN_INACTIVE_DAYS} and {MAX_INACTIVE_DAYS}"),
            ));
        }
        if self.endowment.len() > MAX_ENDOWMENT {
            return Err(ProtoError::WrongSize {
                field: "endowment",
                expected: format!("at most {MAX_ENDOWMENT} bytes"),
                got: self.endowment.len(),
            });
        }
        let mut keys = Vec::with_capacity(self.heirs.len());
        for h in &self.heirs {
            validate_handle(&h.handle)?;
            let key = PublicKey::from_b64("heirs.pubkey", &h.pubkey)?;
            if keys.contains(&key) {
                return Err(ProtoError::malformed("heirs", "an heir is named twice"));
            }
            keys.push(key);
        }
        Ok(keys)
    }

    /// Checks it is `cloud`'s and well formed.
    pub fn verify(&self, cloud: &PublicKey) -> Result<(), ProtoError> {
        if PublicKey::from_b64("cloud", &self.cloud)? != *cloud {
            return Err(ProtoError::BadSignature {
                what: "inheritance policy (another cloud's)",
            });
        }
        let keys = self.check()?;
        if keys.contains(cloud) {
            return Err(ProtoError::malformed(
                "heirs",
                "a cloud is not its own heir",
            ));
        }
        time::parse("issued_at", &self.issued_at)?;
        cloud.verify(
            "inheritance policy",
            &policy_bytes(self, cloud, &keys),
            &signature_from_b64("sig", &self.sig)?,
        )
    }

    pub fn heir(&self, key: &PublicKey) -> Option<&Heir> {
        self.heirs
            .iter()
            .find(|h| PublicKey::from_b64("heirs.pubkey", &h.pubkey).is_ok_and(|k| k == *key))
    }
}

/// `POST /api/d2d/inheritance`: the switch fired; the node serving the cloud tells an heir.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InheritanceNotice {
    pub policy: InheritancePolicy,
    pub heir: String,
    pub fired_at: String,
    /// When a host key signs for a hosted cloud (§19.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_certificate: Option<HostCertificate>,
    pub sig: String,
}

fn notice_bytes(policy_sig: &[u8; 64], heir: &PublicKey, fired_at: &str) -> Vec<u8> {
    Canonical::new(NOTICE_LABEL)
        .bytes(policy_sig)
        .bytes(heir.as_bytes())
        .str(fired_at)
        .finish()
}

impl InheritanceNotice {
    /// Signed by whatever key speaks for the cloud on its node (`signer`; with the host
    /// certificate when that is a host key).
    pub fn sign(
        signer: &SigningKeypair,
        host_certificate: Option<HostCertificate>,
        policy: &InheritancePolicy,
        heir: &PublicKey,
        now: Timestamp,
    ) -> Result<InheritanceNotice, ProtoError> {
        let fired_at = time::format(now);
        let psig = signature_from_b64("policy.sig", &policy.sig)?;
        Ok(InheritanceNotice {
            policy: policy.clone(),
            heir: heir.to_b64(),
            sig: b64(&signer.sign(&notice_bytes(&psig, heir, &fired_at))),
            fired_at,
            host_certificate,
        })
    }

    /// Checks the policy (by its cloud key), that it names `heir` (us), and the notice's
    /// signature by the cloud or its certified host key. Returns the cloud key and the grant.
    pub fn verify(
        &self,
        heir: &PublicKey,
        now: Timestamp,
    ) -> Result<(PublicKey, HeirGrant), ProtoError> {
        let cloud = PublicKey::from_b64("policy.cloud", &self.policy.cloud)?;
        self.policy.verify(&cloud)?;
        if PublicKey::from_b64("heir", &self.heir)? != *heir {
            return Err(ProtoError::WrongRecipient);
        }
        let grant = self
            .policy
            .heir(heir)
            .ok_or_else(|| ProtoError::malformed("heir", "the policy does not name this heir"))?
            .grant;
        let fired = time::parse("fired_at", &self.fired_at)?;
        if fired > now + crate::handshake::MAX_CLOCK_SKEW {
            return Err(ProtoError::StaleTimestamp {
                at: self.fired_at.clone(),
            });
        }
        let signer = signer_for(&cloud, self.host_certificate.as_ref(), now)?;
        let psig = signature_from_b64("policy.sig", &self.policy.sig)?;
        signer.verify(
            "inheritance notice",
            &notice_bytes(&psig, heir, &self.fired_at),
            &signature_from_b64("sig", &self.sig)?,
        )?;
        Ok((cloud, grant))
    }
}

/// `POST /api/d2d/inheritance/claim`: an heir with `control` asks for the cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InheritanceClaim {
    pub cloud: String,
    pub heir: String,
    pub at: String,
    pub sig: String,
}

fn claim_bytes(cloud: &PublicKey, heir: &PublicKey, at: &str) -> Vec<u8> {
    Canonical::new(CLAIM_LABEL)
        .bytes(cloud.as_bytes())
        .bytes(heir.as_bytes())
        .str(at)
        .finish()
}

impl InheritanceClaim {
    pub fn sign(heir: &SigningKeypair, cloud: &PublicKey, now: Timestamp) -> InheritanceClaim {
        let at = time::format(now);
        InheritanceClaim {
            cloud: cloud.to_b64(),
            heir: heir.public().to_b64(),
            sig: b64(&heir.sign(&claim_bytes(cloud, &heir.public(), &at))),
            at,
        }
    }

    /// Checks it is for `cloud`, signed by the heir it names, within the clock skew of `now`
    /// (a claim is short-lived: it is answered with the cloud's keys). Returns the heir.
    pub fn verify(&self, cloud: &PublicKey, now: Timestamp) -> Result<PublicKey, ProtoError> {
        if PublicKey::from_b64("cloud", &self.cloud)? != *cloud {
            return Err(ProtoError::WrongRecipient);
        }
        let heir = PublicKey::from_b64("heir", &self.heir)?;
        let at = time::parse("at", &self.at)?;
        if now.duration_since(at).abs() > crate::handshake::MAX_CLOCK_SKEW {
            return Err(ProtoError::StaleTimestamp {
                at: self.at.clone(),
            });
        }
        heir.verify(
            "inheritance claim",
            &claim_bytes(cloud, &heir, &self.at),
            &signature_from_b64("sig", &self.sig)?,
        )?;
        Ok(heir)
    }
}
