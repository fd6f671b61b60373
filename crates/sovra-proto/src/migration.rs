//! Moving a cloud to another node (docs/PROTOCOL.md §20): the migration bundle that carries it
//! and the move statement that tells the world where it went.
//!
//! * The **archive** is the cloud's content as one deterministic JSON document: the same content
//!   always gives the same bytes (no export time inside, rows sorted by primary key), so its
//!   SHA-256 names the content, and the move statement can name it.
//! * The **bundle** is the archive encrypted (XChaCha20-Poly1305 under a key from a passphrase
//!   through Argon2id, or exported from HPKE to a recipient's X25519 key) and signed by the cloud
//!   key: one header line of JSON, a newline, then the ciphertext. Encrypting afresh each time
//!   means two bundles of the same content differ; the archive hash in the header does not.
//! * The **move statement** is the cloud key's word that the cloud is now served at a new
//!   endpoint and relays. Peers follow it without asking their human — it is signed by the key
//!   they already trust — and refuse any statement whose `seq` is not above the last they followed.

use std::collections::BTreeMap;

use jiff::Timestamp;
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::canonical::Canonical;
use crate::encoding::{b64, b64_array, hex, hex_array};
use crate::error::ProtoError;
use crate::handshake::MAX_CLOCK_SKEW;
use crate::host::HostCertificate;
use crate::identity::validate_handle;
use crate::keys::{EncryptionKey, EncryptionSecret, PublicKey, SigningKeypair, signature_from_b64};
use crate::seal;
use crate::time;
use crate::urls::{ENDPOINT_SCHEMES, RELAY_SCHEMES, validate_url, validate_urls};

const MOVE_LABEL: &str = "sovra-migration/1/move";
const BUNDLE_LABEL: &str = "sovra-migration/1/bundle";
const BUNDLE_SIG_LABEL: &str = "sovra-migration/1/bundle-sig";
/// HPKE `info` and exporter context of a bundle locked to a recipient key.
const BUNDLE_KEY_LABEL: &str = "sovra-migration/1/bundle-key";

pub const BUNDLE_FORMAT: &str = "sovra-bundle/1";
pub const ARCHIVE_FORMAT: &str = "sovra-archive/1";
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

/// "`cloud` is now served at `endpoint` and `relays`" — signed by the cloud key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveStatement {
    pub cloud: String,
    pub handle: String,
    /// Above every earlier move statement of this cloud; peers refuse one that is not.
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub relays: Vec<String>,
    /// The X25519 key intros go to from now on (the cloud's own, or its new host's).
    pub encryption_key: String,
    /// For a cloud hosted at its new node: the cloud key's certificate of the host key that
    /// signs for it there (§19.2); absent when the cloud key signs itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_certificate: Option<HostCertificate>,
    /// SHA-256 (hex) of the archive the cloud was moved with.
    pub bundle_sha256: String,
    pub moved_at: String,
    pub sig: String,
}

/// A move statement that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedMove {
    pub cloud: PublicKey,
    pub handle: String,
    pub seq: u64,
    pub endpoint: Option<String>,
    pub relays: Vec<String>,
    pub encryption_key: EncryptionKey,
    /// The key that signs for the cloud at its new node: the cloud key, or the certified host key.
    pub signer: PublicKey,
    pub bundle_sha256: [u8; 32],
    pub moved_at: Timestamp,
}

/// Where the cloud is now and with which keys; what a move statement signs.
pub struct Destination<'a> {
    pub endpoint: Option<&'a str>,
    pub relays: &'a [String],
    pub encryption_key: &'a EncryptionKey,
    pub host_certificate: Option<&'a HostCertificate>,
}

#[allow(clippy::too_many_arguments)]
fn move_bytes(
    cloud: &PublicKey,
    handle: &str,
    seq: u64,
    to: &Destination<'_>,
    host_key: Option<&PublicKey>,
    bundle_sha256: &[u8; 32],
    moved_at: &str,
) -> Vec<u8> {
    Canonical::new(MOVE_LABEL)
        .bytes(cloud.as_bytes())
        .str(handle)
        .u64(seq)
        .str(to.endpoint.unwrap_or(""))
        .str_list(to.relays.iter().map(String::as_str))
        .bytes(to.encryption_key.as_bytes())
        .bytes(host_key.map_or(&[][..], |k| k.as_bytes()))
        .bytes(bundle_sha256)
        .str(moved_at)
        .finish()
}

fn check_move_fields(
    handle: &str,
    seq: u64,
    endpoint: Option<&str>,
    relays: &[String],
) -> Result<(), ProtoError> {
    validate_handle(handle)?;
    if seq == 0 {
        return Err(ProtoError::malformed(
            "seq",
            "a move statement's seq starts at 1",
        ));
    }
    if let Some(e) = endpoint {
        validate_url("endpoint", e, ENDPOINT_SCHEMES)?;
    }
    validate_urls("relays", relays, RELAY_SCHEMES)?;
    if endpoint.is_none() && relays.is_empty() {
        return Err(ProtoError::malformed(
            "endpoint",
            "a move statement names an endpoint or at least one relay",
        ));
    }
    Ok(())
}

impl MoveStatement {
    /// Signed with the cloud key (never a host key: a node cannot move a cloud on its own).
    #[allow(clippy::too_many_arguments)]
    pub fn issue(
        cloud: &SigningKeypair,
        handle: &str,
        seq: u64,
        to: &Destination<'_>,
        bundle_sha256: &[u8; 32],
        now: Timestamp,
    ) -> Result<MoveStatement, ProtoError> {
        check_move_fields(handle, seq, to.endpoint, to.relays)?;
        let key = cloud.public();
        let host_key = match to.host_certificate {
            Some(c) => Some(c.verify(&key, now)?.host_key),
            None => None,
        };
        let moved_at = time::format(now);
        let sig = cloud.sign(&move_bytes(
            &key,
            handle,
            seq,
            to,
            host_key.as_ref(),
            bundle_sha256,
            &moved_at,
        ));
        Ok(MoveStatement {
            cloud: key.to_b64(),
            handle: handle.to_owned(),
            seq,
            endpoint: to.endpoint.map(str::to_owned),
            relays: to.relays.to_vec(),
            encryption_key: to.encryption_key.to_b64(),
            host_certificate: to.host_certificate.cloned(),
            bundle_sha256: hex(bundle_sha256),
            moved_at,
            sig: b64(&sig),
        })
    }

    /// Checks that `cloud` signed it, that its fields are well formed, and that it was not made
    /// in the future. A statement does not expire: `seq` orders them.
    pub fn verify(&self, cloud: &PublicKey, now: Timestamp) -> Result<VerifiedMove, ProtoError> {
        let named = PublicKey::from_b64("cloud", &self.cloud)?;
        if named != *cloud {
            return Err(ProtoError::BadSignature {
                what: "move statement (made for another cloud)",
            });
        }
        check_move_fields(
            &self.handle,
            self.seq,
            self.endpoint.as_deref(),
            &self.relays,
        )?;
        let bundle_sha256 = hex_array::<32>("bundle_sha256", &self.bundle_sha256)?;
        let encryption_key = EncryptionKey::from_b64("encryption_key", &self.encryption_key)?;
        let moved_at = time::parse("moved_at", &self.moved_at)?;
        let sig = signature_from_b64("sig", &self.sig)?;
        // The certificate must hold when the statement is read: a peer that follows late
        // follows to a host key that still speaks for the cloud.
        let host_key = match &self.host_certificate {
            Some(c) => Some(c.verify(cloud, now)?.host_key),
            None => None,
        };
        let to = Destination {
            endpoint: self.endpoint.as_deref(),
            relays: &self.relays,
            encryption_key: &encryption_key,
            host_certificate: self.host_certificate.as_ref(),
        };
        cloud.verify(
            "move statement",
            &move_bytes(
                cloud,
                &self.handle,
                self.seq,
                &to,
                host_key.as_ref(),
                &bundle_sha256,
                &self.moved_at,
            ),
            &sig,
        )?;
        if moved_at > now + MAX_CLOCK_SKEW {
            return Err(ProtoError::StaleTimestamp {
                at: self.moved_at.clone(),
            });
        }
        Ok(VerifiedMove {
            cloud: named,
            handle: self.handle.clone(),
            seq: self.seq,
            endpoint: self.endpoint.clone(),
            relays: self.relays.clone(),
            encryption_key,
            signer: host_key.unwrap_or(named),
            bundle_sha256,
            moved_at,
        })
    }
}

// ---- the archive ----

/// A cloud's content, as a bundle carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Archive {
    pub format: String,
    pub cloud: ArchivedCloud,
    /// The cloud's secret keys. Present in every bundle; a node's own export of a cloud it
    /// hosts with a delegated key leaves it out, and the device holding the key adds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<ArchivedKeys>,
    /// The store schema version the tables follow (the last migration applied).
    pub schema: i64,
    /// The cloud's base URL where it was exported, which the new node tells of the move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exported_from: Option<String>,
    /// The `seq` of the last move statement the cloud signed (0: none yet).
    pub move_seq: u64,
    /// Swarm files by relative path (`swarms/<name>/soul.md`, …), UTF-8 text.
    pub files: BTreeMap<String, String>,
    pub tables: BTreeMap<String, ArchivedTable>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedCloud {
    pub handle: String,
    pub created_at: String,
    pub public_key: String,
    pub encryption_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedKeys {
    /// The Ed25519 seed (32 bytes, base64).
    pub signing: String,
    /// The X25519 secret (32 bytes, base64).
    pub encryption: String,
}

/// One table: its column names, then each row's values in that order (JSON null, integer, real
/// or string — SQLite's storage classes without BLOB), sorted by primary key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
}

impl ArchivedKeys {
    pub fn of(keys: &crate::CloudKeys) -> ArchivedKeys {
        ArchivedKeys {
            signing: b64(keys.signing.seed().as_ref()),
            encryption: b64(keys.encryption.to_bytes().as_ref()),
        }
    }

    pub fn keys(&self) -> Result<crate::CloudKeys, ProtoError> {
        let seed = Zeroizing::new(b64_array::<32>("keys.signing", &self.signing)?);
        let secret = Zeroizing::new(b64_array::<32>("keys.encryption", &self.encryption)?);
        Ok(crate::CloudKeys::new(
            SigningKeypair::from_seed(&seed),
            EncryptionSecret::from_bytes(*secret),
        ))
    }
}

impl Archive {
    /// The archive's bytes: compact JSON with fields in declaration order and maps sorted.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an archive serializes")
    }

    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.to_bytes()).into()
    }

    /// Parses an archive and checks that it is one (format, keys matching its public keys).
    pub fn parse(bytes: &[u8]) -> Result<Archive, ProtoError> {
        let archive: Archive = serde_json::from_slice(bytes)
            .map_err(|e| ProtoError::malformed("archive", e.to_string()))?;
        if archive.format != ARCHIVE_FORMAT {
            return Err(ProtoError::malformed(
                "archive.format",
                format!("expected {ARCHIVE_FORMAT}"),
            ));
        }
        validate_handle(&archive.cloud.handle)?;
        let public = PublicKey::from_b64("cloud.public_key", &archive.cloud.public_key)?;
        let encryption =
            EncryptionKey::from_b64("cloud.encryption_key", &archive.cloud.encryption_key)?;
        if let Some(k) = &archive.keys {
            let keys = k.keys()?;
            if keys.public() != public || keys.encryption.public() != encryption {
                return Err(ProtoError::malformed(
                    "archive.keys",
                    "the secret keys are not the cloud's public keys",
                ));
            }
        }
        Ok(archive)
    }

    pub fn public_key(&self) -> Result<PublicKey, ProtoError> {
        PublicKey::from_b64("cloud.public_key", &self.cloud.public_key)
    }
}

// ---- the bundle ----

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
