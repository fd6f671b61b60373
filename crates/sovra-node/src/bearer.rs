//! Bearer secrets: agent tokens, hosting invites, web pairing codes and session tokens.
//!
//! Each is random, shown once, and stored only as its SHA-256 digest, so a copy of a database
//! opens nothing. One maker and one digest for all of them, so they cannot drift apart.

use sha2::{Digest, Sha256};

/// A new secret: `prefix` and `bytes` random bytes in hex. The prefix makes one found in a log
/// or a paste recognizable.
pub fn new_secret(prefix: &str, bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand_core::Rng::fill_bytes(&mut sovra_proto::os_rng(), &mut raw);
    format!("{prefix}{}", sovra_proto::encoding::hex(&raw))
}

/// What is stored of a secret: its SHA-256 in hex (surrounding whitespace of a pasted code
/// ignored).
pub fn digest(secret: &str) -> String {
    sovra_proto::encoding::hex(&Sha256::digest(secret.trim().as_bytes()))
}
