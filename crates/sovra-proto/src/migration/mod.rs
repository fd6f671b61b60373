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
//!
//! # Layout
//!
//! * this file — move statements (§20.4).
//! * `archive` — the archive and its tables (§20.2).
//! * `bundle` — sealing and opening bundles, Argon2id and HPKE keys (§20.1).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::canonical::Canonical;
use crate::encoding::{b64, hex, hex_array};
use crate::error::ProtoError;
use crate::handshake::MAX_CLOCK_SKEW;
use crate::host::HostCertificate;
use crate::identity::validate_handle;
use crate::keys::{EncryptionKey, PublicKey, SigningKeypair, signature_from_b64};
use crate::time;
use crate::urls::{ENDPOINT_SCHEMES, RELAY_SCHEMES, validate_url, validate_urls};

mod archive;
mod bundle;

pub use archive::{ARCHIVE_FORMAT, Archive, ArchivedCloud, ArchivedKeys, ArchivedTable};
pub use bundle::{
    Argon2Params, BUNDLE_FORMAT, BundleHeader, DEFAULT_ARGON2, Lock, LockWith, MAX_ARGON2,
    MAX_HEADER, Unlock, open_bundle, read_header, seal_bundle,
};

const MOVE_LABEL: &str = "sovra-migration/1/move";

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
