//! The archive: a cloud's content as one deterministic JSON document (§20.2).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::encoding::{b64, b64_array};
use crate::error::ProtoError;
use crate::identity::validate_handle;
use crate::keys::{EncryptionKey, EncryptionSecret, PublicKey, SigningKeypair};

pub const ARCHIVE_FORMAT: &str = "sovra-archive/1";

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
