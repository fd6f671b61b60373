//! Known-answer tests from the RFCs, run through the exact crates and types we depend on, so a
//! dependency upgrade that changed an answer fails here before it changes our wire format.

use data_encoding::HEXLOWER;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, Serializable};

fn h(s: &str) -> Vec<u8> {
    HEXLOWER.decode(s.as_bytes()).unwrap()
}

fn h32(s: &str) -> [u8; 32] {
    h(s).try_into().unwrap()
}

/// RFC 8032 §7.1, TEST 1–3 (Ed25519).
#[test]
fn rfc8032_ed25519() {
    let cases = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    ];
    for (secret, public, message, signature) in cases {
        let sk = SigningKey::from_bytes(&h32(secret));
        assert_eq!(sk.verifying_key().as_bytes(), &h32(public)[..]);
        let msg = h(message);
        let sig = sk.sign(&msg);
        assert_eq!(HEXLOWER.encode(&sig.to_bytes()), signature);
        let vk = VerifyingKey::from_bytes(&h32(public)).unwrap();
        vk.verify_strict(&msg, &sig).unwrap();
        let mut bad = sig.to_bytes();
        bad[0] ^= 1;
        assert!(
            vk.verify_strict(&msg, &Signature::from_bytes(&bad))
                .is_err()
        );
        // Our wrapper gives the same answer.
        let ours = sovra_proto::SigningKeypair::from_seed(&h32(secret));
        assert_eq!(HEXLOWER.encode(&ours.sign(&msg)), signature);
    }
}

/// RFC 7748 §5.2 (scalar multiplication) and §6.1 (Diffie–Hellman) for X25519.
#[test]
fn rfc7748_x25519() {
    let out = x25519_dalek::x25519(
        h32("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
        h32("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
    );
    assert_eq!(
        HEXLOWER.encode(&out),
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
    );

    let alice_sk = h32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let bob_sk = h32("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    let alice = x25519_dalek::StaticSecret::from(alice_sk);
    let bob = x25519_dalek::StaticSecret::from(bob_sk);
    let alice_pk = x25519_dalek::PublicKey::from(&alice);
    let bob_pk = x25519_dalek::PublicKey::from(&bob);
    assert_eq!(
        HEXLOWER.encode(alice_pk.as_bytes()),
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    );
    assert_eq!(
        HEXLOWER.encode(bob_pk.as_bytes()),
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
    );
    let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    assert_eq!(
        HEXLOWER.encode(alice.diffie_hellman(&bob_pk).as_bytes()),
        shared
    );
    assert_eq!(
        HEXLOWER.encode(bob.diffie_hellman(&alice_pk).as_bytes()),
        shared
    );
    // The HPKE crate's X25519 (the one sealing uses) derives the same public keys.
    let sk = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(&alice_sk).unwrap();
    assert_eq!(
        <X25519HkdfSha256 as Kem>::sk_to_pk(&sk)
            .to_bytes()
            .as_slice(),
        alice_pk.as_bytes()
    );
}

/// RFC 9180 Appendix A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, Base
/// mode, sequence number 0 — the exact suite rapp-d2d/1.0 seals intros and acks with.
#[test]
fn rfc9180_a2_base() {
    let info = h("4f6465206f6e2061204772656369616e2055726e");
    let sk_rm = h("8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb");
    let pk_rm = "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a";
    let enc = h("1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a");
    let pt = h("4265617574792069732074727574682c20747275746820626561757479");
    let aad = h("436f756e742d30");
    let ct = h(
        "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28",
    );

    let sk = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(&sk_rm).unwrap();
    assert_eq!(
        HEXLOWER.encode(&<X25519HkdfSha256 as Kem>::sk_to_pk(&sk).to_bytes()),
        pk_rm
    );
    let enc = <X25519HkdfSha256 as Kem>::EncappedKey::from_bytes(&enc).unwrap();
    let receiver = || {
        hpke::setup_receiver::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
            &OpModeR::Base,
            &sk,
            &enc,
            &info,
        )
        .unwrap()
    };
    let mut ctx = receiver();
    assert_eq!(ctx.open(&ct, &aad).unwrap(), pt);

    let mut tampered = ct.clone();
    tampered[0] ^= 1;
    let mut ctx = receiver();
    assert!(ctx.open(&tampered, &aad).is_err());
}
