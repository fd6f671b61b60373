//! Key types: the cloud's two keys, device and node signing keys, and their public forms.
//!
//! A cloud holds two keys because one algorithm cannot safely do both jobs: Ed25519 signs
//! (identity, handshakes, messages) and X25519 receives sealed intros. The X25519 public key is
//! bound to the Ed25519 identity by the identity document's self-signature, so a peer that
//! trusts the Ed25519 key trusts the encryption key through it.
//!
//! Secrets are zeroized on drop (ed25519-dalek's `ZeroizeOnDrop`, `Zeroizing` for the X25519
//! bytes) and never implement `Debug` with their contents.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hpke::{Deserializable, Serializable};
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::encoding::{b64, b64_array, hex};
use crate::error::ProtoError;

/// The HPKE KEM every rapp-d2d/1.0 seal uses: DHKEM(X25519, HKDF-SHA256).
pub(crate) type Kem = hpke::kem::X25519HkdfSha256;

/// Prefix of the human-facing form of an Ed25519 public key.
pub const ED25519_PREFIX: &str = "ed25519:";

/// The operating system's CSPRNG. Tests and vector generation pass a seeded RNG instead.
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// An Ed25519 public key: the identity of a cloud, a device, a node or a nym on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses 32 raw bytes; refuses encodings that are not a point on the curve.
    /// Only canonical encodings of points of large order are keys: a second spelling of the
    /// same point would be a second identity for one secret (whitelists match bytes), and no
    /// signature under a small-order point verifies strictly (§3).
    pub fn from_bytes(field: &'static str, bytes: &[u8; 32]) -> Result<Self, ProtoError> {
        let key = VerifyingKey::from_bytes(bytes)
            .map_err(|_| ProtoError::malformed(field, "not a valid Ed25519 public key"))?;
        if key.to_edwards().compress().as_bytes() != bytes {
            return Err(ProtoError::malformed(
                field,
                "not the canonical encoding of an Ed25519 point",
            ));
        }
        if key.is_weak() {
            return Err(ProtoError::malformed(
                field,
                "an Ed25519 point of small order is not a key",
            ));
        }
        Ok(PublicKey(key))
    }

    /// Parses the wire form: standard base64 of the raw 32 bytes.
    pub fn from_b64(field: &'static str, text: &str) -> Result<Self, ProtoError> {
        Self::from_bytes(field, &b64_array::<32>(field, text)?)
    }

    /// Parses the human form `ed25519:<base64>`; a bare base64 key is accepted too.
    pub fn from_human(text: &str) -> Result<Self, ProtoError> {
        Self::from_b64("pubkey", text.strip_prefix(ED25519_PREFIX).unwrap_or(text))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// The wire form: standard base64 of the raw key.
    pub fn to_b64(&self) -> String {
        b64(self.as_bytes())
    }

    /// The human form: `ed25519:<base64>`.
    pub fn to_human(&self) -> String {
        format!("{ED25519_PREFIX}{}", self.to_b64())
    }

    /// The seed's display id: the first 16 hex characters of the lowercase hex SHA-256 of the
    /// raw 32-byte key.
    pub fn daemon_id(&self) -> String {
        let mut id = hex(&Sha256::digest(self.as_bytes()));
        id.truncate(16);
        id
    }

    /// A fingerprint for one key, short enough to read aloud: the first 80 bits of
    /// SHA-256(`rapp-d2d/1.0/fingerprint` || 0x00 || key) as five groups of four hex digits.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"rapp-d2d/1.0/fingerprint\0")
            .chain_update(self.as_bytes())
            .finalize();
        let hex = hex(&digest[..10]);
        hex.as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).expect("hex is ascii"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Verifies an Ed25519 signature over canonical bytes with RFC 8032 strict rules
    /// (no small-order keys, no non-canonical `S`), so a signature has one valid form.
    pub fn verify(
        &self,
        what: &'static str,
        message: &[u8],
        signature: &[u8; 64],
    ) -> Result<(), ProtoError> {
        let sig = Signature::from_bytes(signature);
        self.0
            .verify_strict(message, &sig)
            .map_err(|_| ProtoError::BadSignature { what })
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_human())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_human())
    }
}

/// A safety code two humans compare out of band to confirm they hold each other's keys.
///
/// Symmetric (both sides compute the same code): SHA-256 over the label and the two keys in
/// byte order, then six groups of five decimal digits, each group the big-endian value of
/// five digest bytes modulo 100000 (the construction of Signal's safety numbers, shortened).
pub fn safety_code(a: &PublicKey, b: &PublicKey) -> String {
    let (lo, hi) = if a.as_bytes() <= b.as_bytes() {
        (a, b)
    } else {
        (b, a)
    };
    let digest = Sha256::new()
        .chain_update(b"rapp-d2d/1.0/safety-code\0")
        .chain_update(lo.as_bytes())
        .chain_update(hi.as_bytes())
        .finalize();
    digest[..30]
        .chunks(5)
        .map(|c| {
            let v = c.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            format!("{:05}", v % 100_000)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An Ed25519 signing key (cloud, device, node or nym). Zeroized on drop.
pub struct SigningKeypair(SigningKey);

impl SigningKeypair {
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(&seed)
    }

    /// Builds the key from its 32-byte RFC 8032 seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SigningKeypair(SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed, for the key file only.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs canonical bytes (see `canonical`).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for SigningKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKeypair({})", self.public())
    }
}

/// An X25519 public key that intros are sealed to.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncryptionKey([u8; 32]);

impl EncryptionKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        EncryptionKey(bytes)
    }

    pub fn from_b64(field: &'static str, text: &str) -> Result<Self, ProtoError> {
        Ok(EncryptionKey(b64_array::<32>(field, text)?))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_b64(&self) -> String {
        b64(&self.0)
    }

    pub(crate) fn to_hpke(self) -> Result<<Kem as hpke::Kem>::PublicKey, ProtoError> {
        <Kem as hpke::Kem>::PublicKey::from_bytes(&self.0)
            .map_err(|_| ProtoError::malformed("encryption_key", "not a valid X25519 key"))
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptionKey({})", self.to_b64())
    }
}

/// An X25519 secret key: the cloud's long-term one, or a handshake's ephemeral one.
/// Zeroized on drop.
pub struct EncryptionSecret(Zeroizing<[u8; 32]>);

impl EncryptionSecret {
    /// Generates a key the way RFC 9180 §7.1.3 `DeriveKeyPair` does from 32 random bytes, so
    /// seeded test vectors can be reproduced by any HPKE implementation.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut ikm = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(ikm.as_mut());
        let (sk, _) = <Kem as hpke::Kem>::derive_keypair(ikm.as_ref());
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&sk.to_bytes());
        EncryptionSecret(bytes)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        EncryptionSecret(Zeroizing::new(bytes))
    }

    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.0.clone()
    }

    pub fn public(&self) -> EncryptionKey {
        let sk = self.to_hpke();
        let pk = <Kem as hpke::Kem>::sk_to_pk(&sk);
        let mut out = [0u8; 32];
        out.copy_from_slice(&pk.to_bytes());
        EncryptionKey(out)
    }

    pub(crate) fn to_hpke(&self) -> <Kem as hpke::Kem>::PrivateKey {
        <Kem as hpke::Kem>::PrivateKey::from_bytes(self.0.as_ref())
            .expect("any 32 bytes are an X25519 secret")
    }
}

impl fmt::Debug for EncryptionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptionSecret({})", self.public().to_b64())
    }
}

/// The keys a cloud signs and opens with. Self-hosted: the cloud's own long-term keys. Hosted
/// (`delegation` set): the node's host key pair, certified by the cloud key that stays on the
/// human's device — `public()` is still the cloud key, and everything signed carries the
/// certificate (docs/PROTOCOL.md §19.2).
#[derive(Debug)]
pub struct CloudKeys {
    pub signing: SigningKeypair,
    pub encryption: EncryptionSecret,
    pub delegation: Option<Box<crate::host::Delegation>>,
}

impl CloudKeys {
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        CloudKeys::new(
            SigningKeypair::generate(rng),
            EncryptionSecret::generate(rng),
        )
    }

    /// A self-hosted cloud's keys.
    pub fn new(signing: SigningKeypair, encryption: EncryptionSecret) -> Self {
        CloudKeys {
            signing,
            encryption,
            delegation: None,
        }
    }

    /// The cloud's identity key (the cloud key, also when the node signs with a host key).
    pub fn public(&self) -> PublicKey {
        match &self.delegation {
            Some(d) => d.cloud,
            None => self.signing.public(),
        }
    }

    /// The certificate to send beside a signature, when the signer is a host key.
    pub fn host_certificate(&self) -> Option<crate::host::HostCertificate> {
        self.delegation.as_ref().map(|d| d.certificate.clone())
    }
}

/// Decodes a 64-byte signature field.
pub fn signature_from_b64(field: &'static str, text: &str) -> Result<[u8; 64], ProtoError> {
    b64_array::<64>(field, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_order_and_non_canonical_points_are_not_keys() {
        let mut identity = [0u8; 32];
        identity[0] = 1; // y = 1: the neutral point, order 1
        let mut signed_zero = identity;
        signed_zero[31] |= 0x80; // x = 0 with the sign bit set: a second spelling
        let mut y_plus_p = [0xffu8; 32];
        y_plus_p[0] = 0xee; // y = p + 1, i.e. y = 1 again
        y_plus_p[31] = 0x7f;
        let mut order_two = [0xffu8; 32];
        order_two[0] = 0xec; // y = p - 1 = -1: the point of order 2
        order_two[31] = 0x7f;
        for bytes in [identity, signed_zero, y_plus_p, order_two] {
            let err = PublicKey::from_bytes("k", &bytes).unwrap_err();
            assert_eq!(err.code(), "malformed", "{bytes:02x?}");
        }
        let real = SigningKeypair::from_seed(&[7; 32]).public();
        assert_eq!(PublicKey::from_bytes("k", real.as_bytes()).unwrap(), real);
    }

    #[test]
    fn human_form_round_trips() {
        let key = SigningKeypair::from_seed(&[7; 32]).public();
        let human = key.to_human();
        assert!(human.starts_with("ed25519:"));
        assert_eq!(PublicKey::from_human(&human).unwrap(), key);
        assert_eq!(PublicKey::from_human(&key.to_b64()).unwrap(), key);
        assert_eq!(
            PublicKey::from_human("ed25519:AAAA").unwrap_err().code(),
            "wrong_size"
        );
    }

    #[test]
    fn daemon_id_is_sha256_prefix() {
        let key = SigningKeypair::from_seed(&[1; 32]).public();
        let full = hex(&Sha256::digest(key.as_bytes()));
        assert_eq!(key.daemon_id(), full[..16]);
    }

    #[test]
    fn safety_code_is_symmetric_and_distinct() {
        let a = SigningKeypair::from_seed(&[1; 32]).public();
        let b = SigningKeypair::from_seed(&[2; 32]).public();
        let c = SigningKeypair::from_seed(&[3; 32]).public();
        assert_eq!(safety_code(&a, &b), safety_code(&b, &a));
        assert_ne!(safety_code(&a, &b), safety_code(&a, &c));
        let code = safety_code(&a, &b);
        assert_eq!(code.len(), 6 * 5 + 5);
        assert!(
            code.split(' ')
                .all(|g| g.len() == 5 && g.bytes().all(|d| d.is_ascii_digit()))
        );
        assert_eq!(a.fingerprint().split(' ').count(), 5);
    }

    #[test]
    fn signatures_are_domain_bound() {
        let k = SigningKeypair::from_seed(&[9; 32]);
        let sig = k.sign(b"one");
        assert!(k.public().verify("x", b"one", &sig).is_ok());
        assert_eq!(
            k.public().verify("x", b"two", &sig).unwrap_err().code(),
            "bad_signature"
        );
    }

    #[test]
    fn encryption_public_matches_x25519() {
        let sk = EncryptionSecret::from_bytes([5; 32]);
        let dalek = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([5; 32]));
        assert_eq!(sk.public().as_bytes(), dalek.as_bytes());
    }
}
