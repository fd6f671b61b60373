//! migration.json: a move statement, an archive, and the same archive in a passphrase bundle
//! and in a bundle sealed to an X25519 key (docs/PROTOCOL.md §20). Bytes are rebuilt here from
//! the spec's field lists; keys are derived with the argon2 crate and HPKE directly.

use super::*;
use chacha20poly1305::aead::{Aead, KeyInit, Payload as AeadPayload};
use sovra_proto::migration::{
    Archive, ArchivedCloud, ArchivedKeys, ArchivedTable, Argon2Params, BundleHeader, Lock,
    LockWith, MoveStatement, Unlock, open_bundle, seal_bundle,
};

const PASSPHRASE: &str = "correct horse battery staple";
const PARAMS: Argon2Params = Argon2Params {
    m_kib: 64,
    t: 1,
    p: 1,
};

fn cloud() -> CloudKeys {
    CloudKeys::new(
        SigningKeypair::from_seed(&[0xe1; 32]),
        EncryptionSecret::from_bytes([0xe2; 32]),
    )
}

fn archive() -> Archive {
    let keys = cloud();
    let mut files = BTreeMap::new();
    files.insert("swarms/main/soul.md".to_owned(), "Be brief.".to_owned());
    let mut tables = BTreeMap::new();
    tables.insert(
        "capabilities".to_owned(),
        ArchivedTable {
            columns: vec![
                "name".into(),
                "description".into(),
                "adapter".into(),
                "swarm".into(),
            ],
            rows: vec![vec![
                json!("WordCount"),
                json!("Counts words"),
                json!(r#"{"kind":"exec","command":["wc"]}"#),
                json!("main"),
            ]],
        },
    );
    Archive {
        format: "sovra-archive/1".into(),
        cloud: ArchivedCloud {
            handle: "@erin.cloud".into(),
            created_at: NOW.into(),
            public_key: keys.public().to_b64(),
            encryption_key: keys.encryption.public().to_b64(),
        },
        keys: Some(ArchivedKeys::of(&keys)),
        schema: 10,
        exported_from: Some("https://old.example/clouds/erin".into()),
        move_seq: 0,
        files,
        tables,
    }
}

/// §20.4: the bytes a move statement's `sig` covers.
fn spec_move_bytes(m: &Value) -> Vec<u8> {
    let relays: Vec<&str> = m["relays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    Canonical::new("sovra-migration/1/move")
        .bytes(&b64_decode("cloud", s(m, "cloud"), 32).unwrap())
        .str(s(m, "handle"))
        .u64(m["seq"].as_u64().unwrap())
        .str(m["endpoint"].as_str().unwrap_or(""))
        .str_list(relays.into_iter())
        .bytes(&b64_decode("encryption_key", s(m, "encryption_key"), 32).unwrap())
        .bytes(&match m["host_certificate"].is_null() {
            true => Vec::new(),
            false => b64_decode("host_key", s(m, "host_certificate.host_key"), 32).unwrap(),
        })
        .bytes(&unhex(s(m, "bundle_sha256")))
        .str(s(m, "moved_at"))
        .finish()
}

/// §20.1: the bundle header's AEAD associated data.
fn spec_header_bytes(h: &Value) -> Vec<u8> {
    let c = Canonical::new("sovra-migration/1/bundle")
        .bytes(&b64_decode("cloud", s(h, "cloud"), 32).unwrap())
        .bytes(&unhex(s(h, "archive_sha256")))
        .str(s(h, "created_at"));
    let lock = &h["lock"];
    match s(lock, "kind") {
        "passphrase" => c
            .str("passphrase")
            .str(s(lock, "salt"))
            .u64(lock["m_kib"].as_u64().unwrap())
            .u64(lock["t"].as_u64().unwrap())
            .u64(lock["p"].as_u64().unwrap()),
        "x25519" => c.str("x25519").str(s(lock, "to")).str(s(lock, "enc")),
        other => panic!("lock kind {other}"),
    }
    .finish()
}

fn spec_sig_bytes(h: &Value) -> Vec<u8> {
    Canonical::new("sovra-migration/1/bundle-sig")
        .bytes(&spec_header_bytes(h))
        .bytes(&unhex(s(h, "ciphertext_sha256")))
        .finish()
}

fn split(bundle: &[u8]) -> (Value, &[u8]) {
    let nl = bundle.iter().position(|&b| b == b'\n').unwrap();
    (
        serde_json::from_slice(&bundle[..nl]).unwrap(),
        &bundle[nl + 1..],
    )
}

fn argon2id(pass: &str, salt: &[u8], p: &Value) -> [u8; 32] {
    let params = argon2::Params::new(
        p["m_kib"].as_u64().unwrap() as u32,
        p["t"].as_u64().unwrap() as u32,
        p["p"].as_u64().unwrap() as u32,
        Some(32),
    )
    .unwrap();
    let mut out = [0u8; 32];
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(pass.as_bytes(), salt, &mut out)
        .unwrap();
    out
}

fn open_with(key: &[u8], aad: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    let (nonce, ct) = ciphertext.split_at(24);
    chacha20poly1305::XChaCha20Poly1305::new(key.try_into().unwrap())
        .decrypt(nonce.try_into().unwrap(), AeadPayload { msg: ct, aad })
        .unwrap()
}

/// §22: the bytes an inheritance policy's `sig` covers.
fn spec_policy_bytes(p: &Value) -> Vec<u8> {
    let heirs = p["heirs"].as_array().unwrap();
    let mut c = Canonical::new("sovra-inheritance/1/policy")
        .bytes(&b64_decode("cloud", s(p, "cloud"), 32).unwrap())
        .u64(heirs.len() as u64);
    for h in heirs {
        c = c
            .bytes(&b64_decode("pubkey", s(h, "pubkey"), 32).unwrap())
            .str(s(h, "handle"))
            .str(s(h, "grant"));
    }
    c.u64(p["inactive_days"].as_u64().unwrap())
        .str(s(p, "endowment"))
        .str(s(p, "issued_at"))
        .finish()
}

fn spec_notice_bytes(n: &Value) -> Vec<u8> {
    Canonical::new("sovra-inheritance/1/notice")
        .bytes(&b64_decode("sig", s(n, "policy.sig"), 64).unwrap())
        .bytes(&b64_decode("heir", s(n, "heir"), 32).unwrap())
        .str(s(n, "fired_at"))
        .finish()
}

fn spec_claim_bytes(c: &Value) -> Vec<u8> {
    Canonical::new("sovra-inheritance/1/claim")
        .bytes(&b64_decode("cloud", s(c, "cloud"), 32).unwrap())
        .bytes(&b64_decode("heir", s(c, "heir"), 32).unwrap())
        .str(s(c, "at"))
        .finish()
}

/// inheritance.json: Erin names two heirs; her switch fires; Finn (control) claims.
pub fn inheritance_vector() -> Value {
    use sovra_proto::inheritance::{
        Heir, HeirGrant, InheritanceClaim, InheritanceNotice, InheritancePolicy,
    };
    let keys = cloud();
    let now: Timestamp = NOW.parse().unwrap();
    let finn = SigningKeypair::from_seed(&[0xf1; 32]);
    let gwen = SigningKeypair::from_seed(&[0xf2; 32]);
    let policy = InheritancePolicy::issue(
        &keys.signing,
        vec![
            Heir {
                pubkey: finn.public().to_b64(),
                handle: "@finn.cloud".into(),
                grant: HeirGrant::Control,
            },
            Heir {
                pubkey: gwen.public().to_b64(),
                handle: "@gwen.cloud".into(),
                grant: HeirGrant::Read,
            },
        ],
        180,
        "The garden is yours.",
        now,
    )
    .unwrap();
    let fired: Timestamp = "2027-06-01T00:00:00Z".parse().unwrap();
    let notice =
        InheritanceNotice::sign(&keys.signing, None, &policy, &finn.public(), fired).unwrap();
    let claim = InheritanceClaim::sign(&finn, &keys.public(), fired);
    let (p, n, c) = (
        serde_json::to_value(&policy).unwrap(),
        serde_json::to_value(&notice).unwrap(),
        serde_json::to_value(&claim).unwrap(),
    );
    json!({
        "description": "Erin's cloud key (cloud_ed25519_seed of migration.json) names Finn (control) and Gwen (read) heirs after 180 days; when the switch fires, her node tells Finn with a notice her cloud key signs, and Finn claims the cloud with his key (finn_ed25519_seed).",
        "cloud_ed25519_seed": hex(&[0xe1; 32]),
        "finn_ed25519_seed": hex(&[0xf1; 32]),
        "policy": p,
        "policy_signing_bytes_hex": hex(&spec_policy_bytes(&p)),
        "notice": n,
        "notice_signing_bytes_hex": hex(&spec_notice_bytes(&n)),
        "claim": c,
        "claim_signing_bytes_hex": hex(&spec_claim_bytes(&c)),
    })
}

#[test]
fn inheritance_vector_verifies_from_the_file_alone() {
    use sovra_proto::inheritance::{HeirGrant, InheritanceClaim, InheritanceNotice};
    bless_if_asked();
    let v = read("inheritance.json");
    let seed: [u8; 32] = unhex(s(&v, "cloud_ed25519_seed")).try_into().unwrap();
    let cloud = SigningKeypair::from_seed(&seed).public();
    let finn: [u8; 32] = unhex(s(&v, "finn_ed25519_seed")).try_into().unwrap();
    let finn = SigningKeypair::from_seed(&finn).public();
    for (obj, bytes, key, f) in [
        (
            "policy",
            "policy_signing_bytes_hex",
            cloud,
            spec_policy_bytes as fn(&Value) -> Vec<u8>,
        ),
        (
            "notice",
            "notice_signing_bytes_hex",
            cloud,
            spec_notice_bytes,
        ),
        ("claim", "claim_signing_bytes_hex", finn, spec_claim_bytes),
    ] {
        assert_eq!(hex(&f(&v[obj])), s(&v, bytes), "{obj}");
        let sig: [u8; 64] = b64_decode("sig", s(&v[obj], "sig"), 64)
            .unwrap()
            .try_into()
            .unwrap();
        key.verify(obj, &unhex(s(&v, bytes)), &sig).unwrap();
    }
    let notice: InheritanceNotice = serde_json::from_value(v["notice"].clone()).unwrap();
    let fired: Timestamp = notice.fired_at.parse().unwrap();
    assert_eq!(
        notice.verify(&finn, fired).unwrap(),
        (cloud, HeirGrant::Control)
    );
    let claim: InheritanceClaim = serde_json::from_value(v["claim"].clone()).unwrap();
    assert_eq!(
        claim.verify(&cloud, claim.at.parse().unwrap()).unwrap(),
        finn
    );
    // Gwen is named, but the notice is Finn's.
    let gwen = SigningKeypair::from_seed(&[0xf2; 32]).public();
    assert_eq!(
        notice.verify(&gwen, fired).unwrap_err().code(),
        "wrong_recipient"
    );
}

pub fn migration_vector() -> Value {
    let keys = cloud();
    let now: Timestamp = NOW.parse().unwrap();
    let archive = archive();
    let bytes = archive.to_bytes();
    let statement = MoveStatement::issue(
        &keys.signing,
        "@erin.cloud",
        1,
        &sovra_proto::migration::Destination {
            endpoint: Some("https://new.example/clouds/erin"),
            relays: &["wss://relay.example".to_owned()],
            encryption_key: &keys.encryption.public(),
            host_certificate: None,
        },
        &archive.sha256(),
        now,
    )
    .unwrap();
    let st = serde_json::to_value(&statement).unwrap();
    // The same cloud moving to a hosting node: the statement carries the host certificate.
    let host = CloudKeys::new(
        SigningKeypair::from_seed(&[0xe5; 32]),
        EncryptionSecret::from_bytes([0xe6; 32]),
    );
    let certificate = sovra_proto::host::HostCertificate::issue(
        &keys.signing,
        &host.signing.public(),
        &host.encryption.public(),
        &SigningKeypair::from_seed(&[0xe7; 32]).public(),
        now,
        jiff::SignedDuration::from_hours(24 * 30),
    )
    .unwrap();
    let hosted = MoveStatement::issue(
        &keys.signing,
        "@erin.cloud",
        2,
        &sovra_proto::migration::Destination {
            endpoint: Some("https://host.example/clouds/erin"),
            relays: &[],
            encryption_key: &host.encryption.public(),
            host_certificate: Some(&certificate),
        },
        &archive.sha256(),
        now,
    )
    .unwrap();
    let hosted = serde_json::to_value(&hosted).unwrap();
    let mut rng = RecordingRng::new(0xe3);
    let by_pass = seal_bundle(
        &mut rng,
        &keys.signing,
        &bytes,
        LockWith::Passphrase(PASSPHRASE, PARAMS),
        now,
    )
    .unwrap();
    let pass_draws = rng.take();
    let (pass_header, _) = split(&by_pass);
    let salt = b64_decode("salt", s(&pass_header, "lock.salt"), 16).unwrap();
    let recipient = EncryptionSecret::from_bytes([0xe4; 32]);
    let by_key = seal_bundle(
        &mut rng,
        &keys.signing,
        &bytes,
        LockWith::Recipient(recipient.public()),
        now,
    )
    .unwrap();
    let key_draws = rng.take();
    json!({
        "description": "Erin's cloud (cloud_ed25519_seed, cloud_x25519_secret) moves — to a node of its own (move_statement), then to a hosting node whose host key its certificate names (hosted_move_statement). `archive_json` is the archive's exact bytes (UTF-8); its SHA-256 is named by the move statement and by both bundles' headers. A bundle is its header line (JSON), 0x0a, then nonce (24) || XChaCha20-Poly1305 ciphertext and tag under bundle_key, with the header's canonical bytes as associated data. The passphrase bundle's key is Argon2id v0x13 of the passphrase with the header's salt and parameters; the other's is exported from HPKE to recipient_x25519_secret's public key (info and exporter context `sovra-migration/1/bundle-key`, 32 bytes). rng_draws list the random bytes each bundle consumed, in order.",
        "cloud_ed25519_seed": hex(&[0xe1; 32]),
        "cloud_x25519_secret": hex(&[0xe2; 32]),
        "archive_json": String::from_utf8(bytes.clone()).unwrap(),
        "archive_sha256": hex(&archive.sha256()),
        "move_statement": st,
        "move_statement_signing_bytes_hex": hex(&spec_move_bytes(&st)),
        "hosted_move_statement": hosted,
        "hosted_move_statement_signing_bytes_hex": hex(&spec_move_bytes(&hosted)),
        "passphrase": PASSPHRASE,
        "passphrase_bundle_hex": hex(&by_pass),
        "passphrase_bundle_key_hex": hex(&argon2id(PASSPHRASE, &salt, &pass_header["lock"])),
        "passphrase_rng_draws": pass_draws,
        "recipient_x25519_secret": hex(&[0xe4; 32]),
        "recipient_bundle_hex": hex(&by_key),
        "recipient_rng_draws": key_draws,
    })
}

#[test]
fn migration_vector_verifies_from_the_file_alone() {
    bless_if_asked();
    let v = read("migration.json");
    let seed: [u8; 32] = unhex(s(&v, "cloud_ed25519_seed")).try_into().unwrap();
    let cloud = SigningKeypair::from_seed(&seed).public();
    let archive = s(&v, "archive_json").as_bytes();
    assert_eq!(hex(&sha2::Sha256::digest(archive)), s(&v, "archive_sha256"));
    let parsed = Archive::parse(archive).unwrap();
    assert_eq!(
        parsed.to_bytes(),
        archive,
        "the archive re-serializes to its bytes"
    );

    // The move statement.
    let st = &v["move_statement"];
    assert_eq!(
        hex(&spec_move_bytes(st)),
        s(&v, "move_statement_signing_bytes_hex")
    );
    let sig: [u8; 64] = b64_decode("sig", s(st, "sig"), 64)
        .unwrap()
        .try_into()
        .unwrap();
    cloud.verify("move", &spec_move_bytes(st), &sig).unwrap();
    let statement: MoveStatement = serde_json::from_value(st.clone()).unwrap();
    assert_eq!(statement.bundle_sha256, s(&v, "archive_sha256"));
    let verified = statement.verify(&cloud, NOW.parse().unwrap()).unwrap();
    assert_eq!(
        verified.signer, cloud,
        "no certificate: the cloud key signs"
    );
    let hosted = &v["hosted_move_statement"];
    assert_eq!(
        hex(&spec_move_bytes(hosted)),
        s(&v, "hosted_move_statement_signing_bytes_hex")
    );
    let hosted: MoveStatement = serde_json::from_value(hosted.clone()).unwrap();
    let verified = hosted.verify(&cloud, NOW.parse().unwrap()).unwrap();
    assert_eq!(
        verified.signer.to_b64(),
        hosted.host_certificate.unwrap().host_key
    );

    // The passphrase bundle, opened by hand from the spec.
    let bundle = unhex(s(&v, "passphrase_bundle_hex"));
    let (h, ct) = split(&bundle);
    assert_eq!(h["ciphertext_len"].as_u64().unwrap() as usize, ct.len());
    assert_eq!(hex(&sha2::Sha256::digest(ct)), s(&h, "ciphertext_sha256"));
    let sig: [u8; 64] = b64_decode("sig", s(&h, "sig"), 64)
        .unwrap()
        .try_into()
        .unwrap();
    cloud.verify("bundle", &spec_sig_bytes(&h), &sig).unwrap();
    let salt = b64_decode("salt", s(&h, "lock.salt"), 16).unwrap();
    let key = argon2id(s(&v, "passphrase"), &salt, &h["lock"]);
    assert_eq!(hex(&key), s(&v, "passphrase_bundle_key_hex"));
    assert_eq!(open_with(&key, &spec_header_bytes(&h), ct), archive);
    // …and by the crate.
    let (_, opened) = open_bundle(&bundle, Unlock::Passphrase(s(&v, "passphrase"))).unwrap();
    assert_eq!(opened.to_bytes(), archive);
    let header: BundleHeader = serde_json::from_value(h.clone()).unwrap();
    assert!(matches!(header.lock, Lock::Passphrase { .. }));

    // The bundle sealed to an X25519 key.
    let bundle = unhex(s(&v, "recipient_bundle_hex"));
    let (h, _) = split(&bundle);
    let sig: [u8; 64] = b64_decode("sig", s(&h, "sig"), 64)
        .unwrap()
        .try_into()
        .unwrap();
    cloud.verify("bundle", &spec_sig_bytes(&h), &sig).unwrap();
    let secret =
        EncryptionSecret::from_bytes(unhex(s(&v, "recipient_x25519_secret")).try_into().unwrap());
    assert_eq!(s(&h, "lock.to"), secret.public().to_b64());
    let (_, opened) = open_bundle(&bundle, Unlock::Secret(&secret)).unwrap();
    assert_eq!(opened.to_bytes(), archive);
    // A changed header byte breaks the signature.
    let mut forged = bundle.clone();
    let at = forged.iter().position(|&b| b == b'T').unwrap();
    forged[at] = b'U';
    assert!(open_bundle(&forged, Unlock::Secret(&secret)).is_err());
}
