//! The bundle: the archive encrypted and signed by the cloud key (§20.1).

use jiff::Timestamp;
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::Archive;
use crate::canonical::Canonical;
use crate::encoding::{b64, b64_array, hex, hex_array};
use crate::error::ProtoError;
use crate::keys::{EncryptionKey, EncryptionSecret, PublicKey, SigningKeypair, signature_from_b64};
use crate::seal;
use crate::time;

const BUNDLE_LABEL: &str = "sovra-migration/1/bundle";
const BUNDLE_SIG_LABEL: &str = "sovra-migration/1/bundle-sig";
/// HPKE `info` and exporter context of a bundle locked to a recipient key.
const BUNDLE_KEY_LABEL: &str = "sovra-migration/1/bundle-key";

pub const BUNDLE_FORMAT: &str = "sovra-bundle/1";
/// Longest header line a reader accepts.
pub const MAX_HEADER: usize = 4096;
/// Argon2id parameters `sovra export` uses (RFC 9106's second recommended option, one lane).
pub const DEFAULT_ARGON2: Argon2Params = Argon2Params {
    m_kib: 64 * 1024,
    t: 3,
    p: 1,
};
/// The most memory (KiB), passes and lanes a reader spends on a bundle's passphrase: a bundle
/// is untrusted input, and its header chooses them.
pub const MAX_ARGON2: Argon2Params = Argon2Params {
    m_kib: 1024 * 1024,
    t: 16,
    p: 16,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

/// How the bundle's key is found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Lock {
    /// Argon2id (version 0x13) of the passphrase's UTF-8 bytes with a 16-byte salt.
    Passphrase {
        salt: String,
        #[serde(flatten)]
        params: Argon2Params,
    },
    /// HPKE (the handshake's suite) to the recipient's X25519 key `to`; `enc` is the
    /// encapsulated key, and the bundle key is exported from the context.
    X25519 { to: String, enc: String },
}

/// The header line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleHeader {
    pub format: String,
    pub cloud: String,
    pub archive_sha256: String,
    pub created_at: String,
    pub lock: Lock,
    pub ciphertext_len: u64,
    pub ciphertext_sha256: String,
    pub sig: String,
}

/// What to lock a new bundle with.
pub enum LockWith<'a> {
    Passphrase(&'a str, Argon2Params),
    Recipient(EncryptionKey),
}

/// What to open a bundle with.
pub enum Unlock<'a> {
    Passphrase(&'a str),
    Secret(&'a EncryptionSecret),
}

fn lock_bytes(c: Canonical, lock: &Lock) -> Canonical {
    match lock {
        Lock::Passphrase { salt, params } => c
            .str("passphrase")
            .str(salt)
            .u64(params.m_kib.into())
            .u64(params.t.into())
            .u64(params.p.into()),
        Lock::X25519 { to, enc } => c.str("x25519").str(to).str(enc),
    }
}

/// The header's fields the AEAD binds (its associated data) and the signature covers.
fn header_bytes(
    cloud: &PublicKey,
    archive_sha256: &[u8; 32],
    created_at: &str,
    lock: &Lock,
) -> Vec<u8> {
    lock_bytes(
        Canonical::new(BUNDLE_LABEL)
            .bytes(cloud.as_bytes())
            .bytes(archive_sha256)
            .str(created_at),
        lock,
    )
    .finish()
}

fn sig_bytes(header: &[u8], ciphertext_sha256: &[u8; 32]) -> Vec<u8> {
    Canonical::new(BUNDLE_SIG_LABEL)
        .bytes(header)
        .bytes(ciphertext_sha256)
        .finish()
}

fn argon2_key(
    passphrase: &str,
    salt: &[u8; 16],
    params: Argon2Params,
) -> Result<Zeroizing<[u8; 32]>, ProtoError> {
    use argon2::{Algorithm, Argon2, Params, Version};
    let bad = |why: String| ProtoError::malformed("lock", why);
    if params.m_kib > MAX_ARGON2.m_kib || params.t > MAX_ARGON2.t || params.p > MAX_ARGON2.p {
        return Err(bad(format!(
            "Argon2id parameters above the limits (m_kib ≤ {}, t ≤ {}, p ≤ {})",
            MAX_ARGON2.m_kib, MAX_ARGON2.t, MAX_ARGON2.p
        )));
    }
    let p = Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|e| bad(format!("Argon2id parameters: {e}")))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .map_err(|e| bad(format!("Argon2id: {e}")))?;
    Ok(key)
}

/// Encrypts `archive` (the bytes of an [`Archive`]) for the cloud whose key signs it. Returns
/// the bundle file's bytes.
pub fn seal_bundle(
    rng: &mut impl CryptoRng,
    cloud: &SigningKeypair,
    archive: &[u8],
    lock: LockWith<'_>,
    now: Timestamp,
) -> Result<Vec<u8>, ProtoError> {
    let archive_sha256: [u8; 32] = Sha256::digest(archive).into();
    let (lock, key) = match lock {
        LockWith::Passphrase(pass, params) => {
            let mut salt = [0u8; 16];
            rng.fill_bytes(&mut salt);
            let key = argon2_key(pass, &salt, params)?;
            (
                Lock::Passphrase {
                    salt: b64(&salt),
                    params,
                },
                key,
            )
        }
        LockWith::Recipient(to) => {
            let (enc, key) = seal::hpke_export_to(rng, to, BUNDLE_KEY_LABEL.as_bytes())?;
            (
                Lock::X25519 {
                    to: to.to_b64(),
                    enc: b64(&enc),
                },
                key,
            )
        }
    };
    let created_at = time::format(now);
    let cloud_key = cloud.public();
    let aad = header_bytes(&cloud_key, &archive_sha256, &created_at, &lock);
    let ciphertext = seal::payload_seal(rng, &key, &aad, archive);
    let ciphertext_sha256: [u8; 32] = Sha256::digest(&ciphertext).into();
    let sig = cloud.sign(&sig_bytes(&aad, &ciphertext_sha256));
    let header = BundleHeader {
        format: BUNDLE_FORMAT.into(),
        cloud: cloud_key.to_b64(),
        archive_sha256: hex(&archive_sha256),
        created_at,
        lock,
        ciphertext_len: ciphertext.len() as u64,
        ciphertext_sha256: hex(&ciphertext_sha256),
        sig: b64(&sig),
    };
    let mut out = serde_json::to_vec(&header).expect("a header serializes");
    out.push(b'\n');
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Reads a bundle's header line without opening it (what `import` shows before asking for a
/// passphrase), and checks its signature against the cloud key it names.
pub fn read_header(bundle: &[u8]) -> Result<(BundleHeader, &[u8]), ProtoError> {
    let end = bundle
        .iter()
        .take(MAX_HEADER + 1)
        .position(|&b| b == b'\n')
        .ok_or_else(|| {
            ProtoError::malformed(
                "bundle",
                format!("no header line within {MAX_HEADER} bytes"),
            )
        })?;
    let header: BundleHeader = serde_json::from_slice(&bundle[..end])
        .map_err(|e| ProtoError::malformed("bundle header", e.to_string()))?;
    if header.format != BUNDLE_FORMAT {
        return Err(ProtoError::malformed(
            "format",
            format!("expected {BUNDLE_FORMAT}"),
        ));
    }
    let ciphertext = &bundle[end + 1..];
    if ciphertext.len() as u64 != header.ciphertext_len {
        return Err(ProtoError::WrongSize {
            field: "ciphertext",
            expected: format!("{} bytes (ciphertext_len)", header.ciphertext_len),
            got: ciphertext.len(),
        });
    }
    let cloud = PublicKey::from_b64("cloud", &header.cloud)?;
    let archive_sha256 = hex_array::<32>("archive_sha256", &header.archive_sha256)?;
    let named_sha256 = hex_array::<32>("ciphertext_sha256", &header.ciphertext_sha256)?;
    time::parse("created_at", &header.created_at)?;
    let ciphertext_sha256: [u8; 32] = Sha256::digest(ciphertext).into();
    if ciphertext_sha256 != named_sha256 {
        return Err(ProtoError::BadSignature {
            what: "bundle (the ciphertext is not the one signed)",
        });
    }
    let aad = header_bytes(&cloud, &archive_sha256, &header.created_at, &header.lock);
    cloud.verify(
        "bundle",
        &sig_bytes(&aad, &ciphertext_sha256),
        &signature_from_b64("sig", &header.sig)?,
    )?;
    Ok((header, ciphertext))
}

/// Opens a bundle: checks the signature, derives the key, decrypts, and checks the archive's
/// hash and that the archive is the signing cloud's. Returns the header and the archive.
pub fn open_bundle(
    bundle: &[u8],
    unlock: Unlock<'_>,
) -> Result<(BundleHeader, Archive), ProtoError> {
    let (header, ciphertext) = read_header(bundle)?;
    let cloud = PublicKey::from_b64("cloud", &header.cloud)?;
    let archive_sha256 = hex_array::<32>("archive_sha256", &header.archive_sha256)?;
    let key = match (&header.lock, unlock) {
        (Lock::Passphrase { salt, params }, Unlock::Passphrase(pass)) => {
            argon2_key(pass, &b64_array::<16>("lock.salt", salt)?, *params)?
        }
        (Lock::X25519 { to, enc }, Unlock::Secret(secret)) => {
            if EncryptionKey::from_b64("lock.to", to)? != secret.public() {
                return Err(ProtoError::WrongRecipient);
            }
            seal::hpke_export_from(
                secret,
                &b64_array::<32>("lock.enc", enc)?,
                BUNDLE_KEY_LABEL.as_bytes(),
            )?
        }
        (Lock::Passphrase { .. }, Unlock::Secret(_)) => {
            return Err(ProtoError::malformed(
                "lock",
                "this bundle is locked with a passphrase",
            ));
        }
        (Lock::X25519 { .. }, Unlock::Passphrase(_)) => {
            return Err(ProtoError::malformed(
                "lock",
                "this bundle is locked to an X25519 key, not a passphrase",
            ));
        }
    };
    let aad = header_bytes(&cloud, &archive_sha256, &header.created_at, &header.lock);
    let plain =
        seal::payload_open(&key, &aad, ciphertext).map_err(|_| ProtoError::CannotUnseal {
            what: "bundle (wrong passphrase or key)",
        })?;
    let got: [u8; 32] = Sha256::digest(&plain).into();
    if got != archive_sha256 {
        return Err(ProtoError::malformed(
            "archive_sha256",
            "the archive is not the one named",
        ));
    }
    let archive = Archive::parse(&plain)?;
    if archive.public_key()? != cloud {
        return Err(ProtoError::malformed(
            "archive.cloud",
            "the archive is another cloud's than the key that signed the bundle",
        ));
    }
    if archive.keys.is_none() {
        return Err(ProtoError::malformed(
            "archive.keys",
            "a bundle carries the cloud's keys",
        ));
    }
    Ok((header, archive))
}
