//! Secret keys on disk.
//!
//! The only I/O in this crate, and deliberately synchronous and small: a key file is written
//! once at `sovra init` and read at start. Files are created with mode 0600 (never widened
//! afterwards), written to a temporary file, fsynced and then hard-linked into place, so a
//! crash never leaves a half-written key and an existing key is never overwritten. Loading
//! refuses a file that group or others can read, as OpenSSH does, because a key that leaked
//! once cannot be trusted again.
//!
//! Format (JSON, one object):
//! `{"kind":"sovra-secret-key","version":1,"role":"cloud","ed25519_seed":"<b64>","x25519_secret":"<b64>"}`
//! — `x25519_secret` only for the `cloud` role.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::encoding::{b64, b64_array};
use crate::keys::{CloudKeys, EncryptionSecret, SigningKeypair};

const KIND: &str = "sovra-secret-key";
const VERSION: u32 = 1;

/// What a signing key is for; stored in the file so a device key is never loaded as a cloud key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    Cloud,
    Device,
    Node,
    Nym,
    /// A registry's signing key (`sovra registry serve`).
    Registry,
    /// A registry's HMAC key for phone numbers: 32 random bytes, not a signing key.
    PhonePepper,
    /// An X25519 secret that opens migration bundles sealed to its public key (§20.1).
    Bundle,
}

#[derive(Debug, Error)]
pub enum KeyFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} already exists; refusing to overwrite a key")]
    AlreadyExists { path: PathBuf },
    #[error(
        "{path} has mode {mode:04o}; a secret key must be readable by its owner only (chmod 600)"
    )]
    InsecurePermissions { path: PathBuf, mode: u32 },
    #[error("{path}: not a Sovra key file: {detail}")]
    Format { path: PathBuf, detail: String },
    #[error("{path} holds a {found:?} key, expected a {expected:?} key")]
    WrongRole {
        path: PathBuf,
        expected: KeyRole,
        found: KeyRole,
    },
}

#[derive(Serialize, Deserialize)]
struct FileBody {
    kind: String,
    version: u32,
    role: KeyRole,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    ed25519_seed: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x25519_secret: Option<String>,
}

/// Writes a cloud's two keys to a new file with mode 0600.
pub fn save_cloud_keys(path: &Path, keys: &CloudKeys) -> Result<(), KeyFileError> {
    let body = FileBody {
        kind: KIND.into(),
        version: VERSION,
        role: KeyRole::Cloud,
        ed25519_seed: b64(keys.signing.seed().as_ref()),
        x25519_secret: Some(b64(keys.encryption.to_bytes().as_ref())),
        secret: None,
    };
    write_new(path, &body)
}

/// Reads a cloud's two keys.
pub fn load_cloud_keys(path: &Path) -> Result<CloudKeys, KeyFileError> {
    let body = read(path, KeyRole::Cloud)?;
    let signing = parse_seed(path, &body)?;
    let secret = body
        .x25519_secret
        .as_deref()
        .ok_or_else(|| KeyFileError::Format {
            path: path.into(),
            detail: "missing x25519_secret".into(),
        })?;
    let secret = Zeroizing::new(b64_array::<32>("x25519_secret", secret).map_err(|e| {
        KeyFileError::Format {
            path: path.into(),
            detail: e.to_string(),
        }
    })?);
    Ok(CloudKeys::new(
        signing,
        EncryptionSecret::from_bytes(*secret),
    ))
}

/// Writes a device, node or nym signing key to a new file with mode 0600.
pub fn save_signing_key(
    path: &Path,
    role: KeyRole,
    key: &SigningKeypair,
) -> Result<(), KeyFileError> {
    let body = FileBody {
        kind: KIND.into(),
        version: VERSION,
        role,
        ed25519_seed: b64(key.seed().as_ref()),
        x25519_secret: None,
        secret: None,
    };
    write_new(path, &body)
}

/// Writes a 32-byte symmetric secret (an HMAC key) to a new file with mode 0600.
pub fn save_secret(path: &Path, role: KeyRole, secret: &[u8; 32]) -> Result<(), KeyFileError> {
    let body = FileBody {
        kind: KIND.into(),
        version: VERSION,
        role,
        ed25519_seed: String::new(),
        x25519_secret: None,
        secret: Some(b64(secret)),
    };
    write_new(path, &body)
}

/// Reads a 32-byte symmetric secret of the given role.
pub fn load_secret(path: &Path, role: KeyRole) -> Result<Zeroizing<[u8; 32]>, KeyFileError> {
    let body = read(path, role)?;
    let text = body.secret.as_deref().unwrap_or_default();
    Ok(Zeroizing::new(b64_array::<32>("secret", text).map_err(
        |e| KeyFileError::Format {
            path: path.into(),
            detail: e.to_string(),
        },
    )?))
}

/// Reads a signing key of the given role.
pub fn load_signing_key(path: &Path, role: KeyRole) -> Result<SigningKeypair, KeyFileError> {
    let body = read(path, role)?;
    parse_seed(path, &body)
}

fn parse_seed(path: &Path, body: &FileBody) -> Result<SigningKeypair, KeyFileError> {
    let seed = Zeroizing::new(b64_array::<32>("ed25519_seed", &body.ed25519_seed).map_err(
        |e| KeyFileError::Format {
            path: path.into(),
            detail: e.to_string(),
        },
    )?);
    Ok(SigningKeypair::from_seed(&seed))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.into(),
        source,
    }
}

fn write_new(path: &Path, body: &FileBody) -> Result<(), KeyFileError> {
    if path.exists() {
        return Err(KeyFileError::AlreadyExists { path: path.into() });
    }
    let text = Zeroizing::new(serde_json::to_vec_pretty(body).expect("key file serializes"));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    let written = file
        .write_all(&text)
        .and_then(|_| file.write_all(b"\n"))
        .and_then(|_| file.sync_all());
    drop(file);
    let linked = written.and_then(|_| fs::hard_link(&tmp, path));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(KeyFileError::AlreadyExists { path: path.into() });
        }
        Err(e) => return Err(io(path)(e)),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Make the new directory entry durable too.
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

fn read(path: &Path, expected: KeyRole) -> Result<FileBody, KeyFileError> {
    let mut file = fs::File::open(path).map_err(io(path))?;
    let mode = file.metadata().map_err(io(path))?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::InsecurePermissions {
            path: path.into(),
            mode,
        });
    }
    let mut text = Zeroizing::new(Vec::new());
    Read::by_ref(&mut file)
        .take(64 * 1024)
        .read_to_end(&mut text)
        .map_err(io(path))?;
    let body: FileBody = serde_json::from_slice(&text).map_err(|e| KeyFileError::Format {
        path: path.into(),
        detail: e.to_string(),
    })?;
    if body.kind != KIND || body.version != VERSION {
        return Err(KeyFileError::Format {
            path: path.into(),
            detail: format!("kind {:?} version {}", body.kind, body.version),
        });
    }
    if body.role != expected {
        return Err(KeyFileError::WrongRole {
            path: path.into(),
            expected,
            found: body.role,
        });
    }
    Ok(body)
}
