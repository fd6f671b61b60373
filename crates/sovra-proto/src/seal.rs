//! The two sealing constructions, and nothing else.
//!
//! * **HPKE** (RFC 9180), mode Base, suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 /
//!   ChaCha20-Poly1305 (KEM 0x0020, KDF 0x0001, AEAD 0x0003) seals the handshake's intro and
//!   ack. A sealed blob is `enc (32 bytes) || ciphertext || tag (16 bytes)`, one HPKE message
//!   at sequence number 0. The ack's HPKE context also exports the session keys.
//! * **XChaCha20-Poly1305** seals each message payload under a per-direction session key,
//!   with a fresh random 24-byte nonce carried in front of the ciphertext. Random nonces
//!   (rather than nonces derived from `seq`) mean a sender that loses its counter in a crash
//!   and re-sends a `seq` with other content still never reuses a nonce; 192 bits make
//!   collisions negligible. Each payload opens on its own, in any order.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hpke::aead::{AeadCtxR, AeadCtxS, ChaCha20Poly1305};
use hpke::kdf::HkdfSha256;
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use rand_core::CryptoRng;

use crate::error::ProtoError;
use crate::keys::{EncryptionKey, EncryptionSecret, Kem};

pub(crate) type SenderCtx = AeadCtxS<ChaCha20Poly1305, HkdfSha256, Kem>;
pub(crate) type ReceiverCtx = AeadCtxR<ChaCha20Poly1305, HkdfSha256, Kem>;

/// Length of the HPKE encapsulated key in front of a sealed intro or ack.
pub const ENC_LEN: usize = 32;
/// Length of an AEAD tag.
pub const TAG_LEN: usize = 16;
/// Length of the XChaCha20-Poly1305 nonce in front of a sealed payload.
pub const NONCE_LEN: usize = 24;

/// HPKE-seals `plaintext` to `recipient`; returns `enc || ciphertext` and the sender context
/// (whose exporter the handshake uses).
pub(crate) fn hpke_seal(
    rng: &mut impl CryptoRng,
    recipient: EncryptionKey,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, SenderCtx), ProtoError> {
    let pk = recipient.to_hpke()?;
    let (enc, mut ctx) = hpke::setup_sender_with_rng::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeS::Base,
        &pk,
        info,
        rng,
    )
    // Encapsulation fails only for a degenerate (low-order) recipient key.
    .map_err(|_| ProtoError::malformed("encryption_key", "degenerate X25519 key"))?;
    let ct = ctx
        .seal(plaintext, aad)
        .map_err(|_| ProtoError::malformed("plaintext", "too long to seal"))?;
    let mut out = Vec::with_capacity(ENC_LEN + ct.len());
    out.extend_from_slice(&enc.to_bytes());
    out.extend_from_slice(&ct);
    Ok((out, ctx))
}

/// Opens an HPKE blob made by `hpke_seal`.
pub(crate) fn hpke_open(
    what: &'static str,
    secret: &EncryptionSecret,
    sealed: &[u8],
    info: &[u8],
    aad: &[u8],
) -> Result<(Vec<u8>, ReceiverCtx), ProtoError> {
    // Too short to hold an encapsulated key and a tag: it cannot open (§7.4 step 4).
    if sealed.len() < ENC_LEN + TAG_LEN {
        return Err(ProtoError::CannotUnseal { what });
    }
    let (enc, ct) = sealed.split_at(ENC_LEN);
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc)
        .map_err(|_| ProtoError::CannotUnseal { what })?;
    let mut ctx = hpke::setup_receiver::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeR::Base,
        &secret.to_hpke(),
        &enc,
        info,
    )
    .map_err(|_| ProtoError::CannotUnseal { what })?;
    let pt = ctx
        .open(ct, aad)
        .map_err(|_| ProtoError::CannotUnseal { what })?;
    Ok((pt, ctx))
}

/// Sets up HPKE to `recipient` with `info` and exports a 32-byte key under the same label
/// (no message is sealed with the context itself); returns the encapsulated key and the key.
/// A migration bundle locked to a recipient uses it.
pub(crate) fn hpke_export_to(
    rng: &mut impl CryptoRng,
    recipient: EncryptionKey,
    info: &[u8],
) -> Result<([u8; ENC_LEN], zeroize::Zeroizing<[u8; 32]>), ProtoError> {
    let pk = recipient.to_hpke()?;
    let (enc, ctx) = hpke::setup_sender_with_rng::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeS::Base,
        &pk,
        info,
        rng,
    )
    .map_err(|_| ProtoError::malformed("encryption_key", "degenerate X25519 key"))?;
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    ctx.export(info, key.as_mut())
        .expect("32 bytes are within the exporter's limit");
    let mut e = [0u8; ENC_LEN];
    e.copy_from_slice(&enc.to_bytes());
    Ok((e, key))
}

/// The receiving side of [`hpke_export_to`].
pub(crate) fn hpke_export_from(
    secret: &EncryptionSecret,
    enc: &[u8; ENC_LEN],
    info: &[u8],
) -> Result<zeroize::Zeroizing<[u8; 32]>, ProtoError> {
    let what = "bundle key";
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc)
        .map_err(|_| ProtoError::CannotUnseal { what })?;
    let ctx = hpke::setup_receiver::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeR::Base,
        &secret.to_hpke(),
        &enc,
        info,
    )
    .map_err(|_| ProtoError::CannotUnseal { what })?;
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    ctx.export(info, key.as_mut())
        .expect("32 bytes are within the exporter's limit");
    Ok(key)
}

/// Seals a message payload: `nonce (24) || ciphertext || tag (16)`.
pub(crate) fn payload_seal(
    rng: &mut impl CryptoRng,
    key: &[u8; 32],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let cipher = XChaCha20Poly1305::new(key.into());
    let ct = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("XChaCha20-Poly1305 encrypts any payload under the size limit");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Opens a payload made by `payload_seal`.
pub(crate) fn payload_open(
    key: &[u8; 32],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, ProtoError> {
    // Too short to hold a nonce and a tag: it cannot open (§8.3 step 5).
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(ProtoError::CannotUnseal {
            what: "sealed_payload",
        });
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at NONCE_LEN");
    XChaCha20Poly1305::new(key.into())
        .decrypt(&XNonce::from(nonce), Payload { msg: ct, aad })
        .map_err(|_| ProtoError::CannotUnseal {
            what: "sealed_payload",
        })
}
