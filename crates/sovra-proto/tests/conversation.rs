//! A whole conversation between two clouds through the public API, and every way it must fail.

use jiff::{SignedDuration, Timestamp};
use sovra_proto::handshake::{self, REASON_NOT_ON_WHITELIST};
use sovra_proto::{
    Ack, Call, CloudKeys, HandshakeOutcome, IdentityDocument, Payload, ReplayWindow, Retention,
    Session, SigningKeypair, os_rng,
};

fn now() -> Timestamp {
    "2026-11-21T12:00:00Z".parse().unwrap()
}

struct Pair {
    alice: CloudKeys,
    bob: CloudKeys,
    a: Session,
    b: Session,
    ack: Ack,
}

fn open_conversation() -> Pair {
    let mut rng = os_rng();
    let alice = CloudKeys::generate(&mut rng);
    let bob = CloudKeys::generate(&mut rng);
    let bob_doc = IdentityDocument::sign(
        &bob,
        "@bob.cloud",
        vec![],
        vec!["http://127.0.0.1:1/".into()],
        vec![],
        now(),
    )
    .unwrap();
    // Alice learns Bob's keys only through his signed identity document.
    let bob_id = IdentityDocument::from_json(&serde_json::to_vec(&bob_doc).unwrap()).unwrap();
    let (req, pending) = handshake::initiate(
        &mut rng,
        &alice,
        Some("@alice.cloud"),
        bob_id.pubkey,
        bob_id.encryption_key,
        "plan the trip",
        now(),
    )
    .unwrap();
    let received = handshake::receive(&req, &bob, now() + SignedDuration::from_secs(2)).unwrap();
    assert_eq!(received.topic, "plan the trip");
    assert_eq!(received.sender_handle.as_deref(), Some("@alice.cloud"));
    assert_eq!(received.from, alice.public());
    let ack = Ack {
        capabilities: vec!["RecentHN".into()],
        expires_at: None,
        accepted_at: sovra_proto::time::format(now()),
        responder_handle: Some("@bob.cloud".into()),
    };
    let (resp, b) = handshake::accept(&mut rng, &bob, &received, &ack).unwrap();
    let HandshakeOutcome::Accepted { session: a, ack } = pending.complete(&resp).unwrap() else {
        panic!("refused")
    };
    Pair {
        alice,
        bob,
        a: *a,
        b,
        ack,
    }
}

#[test]
fn messages_flow_both_ways() {
    let p = open_conversation();
    assert_eq!(p.ack.capabilities, ["RecentHN"]);
    assert_eq!(p.a.token, p.b.token);
    let mut rng = os_rng();

    let mut payload = Payload::text("hello bob");
    payload.calls.push(Call {
        capability: "RecentHN".into(),
        args: serde_json::json!({"count": 5}),
    });
    payload.data_policy.retention = Retention::Days90;
    let m1 = p.a.seal(&mut rng, &p.alice.signing, 1, &payload).unwrap();
    // The wire form carries no plaintext.
    let wire = serde_json::to_string(&m1).unwrap();
    assert!(!wire.contains("hello bob") && !wire.contains("RecentHN"));
    let got = p.b.open(&m1.parse().unwrap()).unwrap();
    assert_eq!(got, payload);

    let mut reply = Payload::text("hello alice");
    reply.in_reply_to = Some(1);
    let r1 = p.b.seal(&mut rng, &p.bob.signing, 1, &reply).unwrap();
    assert_eq!(p.a.open(&r1.parse().unwrap()).unwrap(), reply);

    // Out-of-order delivery: each message opens on its own.
    let m3 =
        p.a.seal(&mut rng, &p.alice.signing, 3, &Payload::text("three"))
            .unwrap();
    let m2 =
        p.a.seal(&mut rng, &p.alice.signing, 2, &Payload::text("two"))
            .unwrap();
    assert_eq!(p.b.open(&m3.parse().unwrap()).unwrap().text, "three");
    assert_eq!(p.b.open(&m2.parse().unwrap()).unwrap().text, "two");
}

#[test]
fn sessions_survive_storage() {
    let p = open_conversation();
    let restored = Session::from_stored(&p.b.to_stored()).unwrap();
    let m =
        p.a.seal(
            &mut os_rng(),
            &p.alice.signing,
            1,
            &Payload::text("after restart"),
        )
        .unwrap();
    assert_eq!(
        restored.open(&m.parse().unwrap()).unwrap().text,
        "after restart"
    );
}

#[test]
fn message_rejections() {
    let p = open_conversation();
    let mut rng = os_rng();
    let m =
        p.a.seal(&mut rng, &p.alice.signing, 1, &Payload::text("x"))
            .unwrap();

    // Tampered ciphertext: the signature no longer covers it.
    let mut parsed = m.parse().unwrap();
    parsed.sealed_payload[30] ^= 1;
    assert_eq!(p.b.open(&parsed).unwrap_err().code(), "bad_signature");

    // Tampered and re-signed by the sender: the AEAD refuses it.
    let mut parsed = m.parse().unwrap();
    parsed.sealed_payload[30] ^= 1;
    let resigned = resign(&p.alice.signing, &parsed);
    assert_eq!(p.b.open(&resigned).unwrap_err().code(), "cannot_unseal");

    // Signed by someone else.
    let mallory = SigningKeypair::generate(&mut rng);
    let forged = resign(&mallory, &m.parse().unwrap());
    assert_eq!(p.b.open(&forged).unwrap_err().code(), "bad_signature");

    // Renumbered (seq is in the signature and the AEAD data).
    let mut renumbered = m.clone();
    renumbered.seq = 2;
    assert_eq!(
        p.b.open(&renumbered.parse().unwrap()).unwrap_err().code(),
        "bad_signature"
    );
    let mut renumbered = m.parse().unwrap();
    renumbered.seq = 2;
    let renumbered = resign(&p.alice.signing, &renumbered);
    assert_eq!(p.b.open(&renumbered).unwrap_err().code(), "cannot_unseal");

    // Reflected back to its sender: Alice expects Bob's key.
    assert_eq!(
        p.a.open(&m.parse().unwrap()).unwrap_err().code(),
        "bad_signature"
    );

    // Another conversation's token.
    let other = open_conversation();
    assert_eq!(
        other.b.open(&m.parse().unwrap()).unwrap_err().code(),
        "unknown_token"
    );

    // Replay through the window.
    let mut window = ReplayWindow::default();
    let parsed = m.parse().unwrap();
    window.check(parsed.seq).unwrap();
    p.b.open(&parsed).unwrap();
    window.accept(parsed.seq);
    assert_eq!(window.check(parsed.seq).unwrap_err().code(), "replayed_seq");

    // Field-level problems are caught before any key is needed.
    let mut bad = m.clone();
    bad.seq = 0;
    assert_eq!(bad.parse().unwrap_err().code(), "malformed");
    let mut bad = m.clone();
    bad.sig = "AAAA".into();
    assert_eq!(bad.parse().unwrap_err().code(), "wrong_size");
    let mut bad = m.clone();
    bad.sealed_payload = "***".into();
    assert_eq!(bad.parse().unwrap_err().code(), "bad_encoding");
    let mut bad = m.clone();
    bad.conversation_token = "short".into();
    assert!(bad.parse().is_err());
    let mut bad = m;
    bad.sealed_payload = sovra_proto::encoding::b64(&vec![0u8; 300 * 1024]);
    assert_eq!(bad.parse().unwrap_err().code(), "wrong_size");
}

fn resign(signer: &SigningKeypair, m: &sovra_proto::ParsedMessage) -> sovra_proto::ParsedMessage {
    let bytes = sovra_proto::canonical::Canonical::new("rapp-d2d/1.0/message")
        .str(&m.token)
        .u64(m.seq)
        .bytes(&m.sealed_payload)
        .finish();
    let mut out = m.clone();
    out.sig = signer.sign(&bytes);
    out
}

#[test]
fn handshake_rejections() {
    let mut rng = os_rng();
    let alice = CloudKeys::generate(&mut rng);
    let bob = CloudKeys::generate(&mut rng);
    let carol = CloudKeys::generate(&mut rng);
    let (req, pending) = handshake::initiate(
        &mut rng,
        &alice,
        None,
        bob.public(),
        bob.encryption.public(),
        "hi",
        now(),
    )
    .unwrap();

    assert_eq!(
        handshake::receive(&req, &carol, now()).unwrap_err().code(),
        "wrong_recipient"
    );
    let mut tampered = req.clone();
    let mut intro = sovra_proto::encoding::b64_decode("x", &req.sealed_intro, 1 << 20).unwrap();
    intro[40] ^= 1;
    tampered.sealed_intro = sovra_proto::encoding::b64(&intro);
    assert_eq!(
        handshake::receive(&tampered, &bob, now())
            .unwrap_err()
            .code(),
        "bad_signature"
    );
    let mut swapped = req.clone();
    swapped.from = carol.public().to_b64();
    assert_eq!(
        handshake::receive(&swapped, &bob, now())
            .unwrap_err()
            .code(),
        "bad_signature"
    );
    let late = now() + SignedDuration::from_secs(301);
    assert_eq!(
        handshake::receive(&req, &bob, late).unwrap_err().code(),
        "stale_timestamp"
    );
    let mut bad_id = req.clone();
    bad_id.conversation_id = bad_id.conversation_id.to_uppercase();
    assert_eq!(
        handshake::receive(&bad_id, &bob, now()).unwrap_err().code(),
        "malformed"
    );

    // A sealed intro meant for Bob, signed by Alice but sealed to the wrong key, does not open.
    let (wrong_seal, _) = handshake::initiate(
        &mut rng,
        &alice,
        None,
        bob.public(),
        carol.encryption.public(),
        "hi",
        now(),
    )
    .unwrap();
    assert_eq!(
        handshake::receive(&wrong_seal, &bob, now())
            .unwrap_err()
            .code(),
        "cannot_unseal"
    );

    // A signed refusal reads as a refusal; a forged one does not verify.
    let refusal = handshake::refuse(
        &bob,
        &alice.public(),
        pending.conversation_id,
        REASON_NOT_ON_WHITELIST,
    );
    match pending.complete(&refusal).unwrap() {
        HandshakeOutcome::Refused { reason } => assert_eq!(reason, REASON_NOT_ON_WHITELIST),
        HandshakeOutcome::Accepted { .. } => panic!("accepted"),
    }
    let mut forged = refusal.clone();
    forged.reason = Some("rate limit".into());
    assert_eq!(
        pending.complete(&forged).unwrap_err().code(),
        "bad_signature"
    );
    let impostor = handshake::refuse(&carol, &alice.public(), pending.conversation_id, "refused");
    assert_eq!(pending.complete(&impostor).unwrap_err().code(), "malformed");
}

#[test]
fn ack_is_bound_to_its_handshake() {
    let mut rng = os_rng();
    let alice = CloudKeys::generate(&mut rng);
    let bob = CloudKeys::generate(&mut rng);
    let ack = Ack {
        capabilities: vec![],
        expires_at: None,
        accepted_at: sovra_proto::time::format(now()),
        responder_handle: None,
    };
    let (req1, pending1) = handshake::initiate(
        &mut rng,
        &alice,
        None,
        bob.public(),
        bob.encryption.public(),
        "1",
        now(),
    )
    .unwrap();
    let (req2, _pending2) = handshake::initiate(
        &mut rng,
        &alice,
        None,
        bob.public(),
        bob.encryption.public(),
        "2",
        now(),
    )
    .unwrap();
    let r1 = handshake::receive(&req1, &bob, now()).unwrap();
    let r2 = handshake::receive(&req2, &bob, now()).unwrap();
    let (_resp1, _) = handshake::accept(&mut rng, &bob, &r1, &ack).unwrap();
    let (mut resp2, _) = handshake::accept(&mut rng, &bob, &r2, &ack).unwrap();
    // Bob's genuine response to handshake 2, relabelled as handshake 1: refused by the id check
    // and, if re-signed, by the ack's binding to the transcript.
    resp2.conversation_id = pending1.conversation_id.hyphenated().to_string();
    assert_eq!(
        pending1.complete(&resp2).unwrap_err().code(),
        "bad_signature"
    );
}

/// A hosted cloud's keys as its node holds them: a host key pair certified by a cloud key that
/// never leaves the human's device (`device_cloud`).
fn hosted(device_cloud: &SigningKeypair, node: &SigningKeypair, period_days: i64) -> CloudKeys {
    let mut rng = os_rng();
    let host = CloudKeys::generate(&mut rng);
    let certificate = sovra_proto::host::HostCertificate::issue(
        device_cloud,
        &host.signing.public(),
        &host.encryption.public(),
        &node.public(),
        now(),
        SignedDuration::from_hours(24 * period_days),
    )
    .unwrap();
    CloudKeys {
        delegation: Some(Box::new(sovra_proto::host::Delegation {
            cloud: device_cloud.public(),
            certificate,
        })),
        ..host
    }
}

/// Hosted clouds converse with self-hosted ones through their host keys: peers see the cloud
/// key and the node that hosts it, never need the cloud's secret, and refuse a host key the
/// certificate does not (or no longer) cover.
#[test]
fn a_hosted_cloud_speaks_through_its_certified_host_key() {
    let mut rng = os_rng();
    let alice = CloudKeys::generate(&mut rng);
    let bob_cloud = SigningKeypair::generate(&mut rng);
    let node = SigningKeypair::generate(&mut rng);
    let bob = hosted(&bob_cloud, &node, 30);
    assert_eq!(bob.public(), bob_cloud.public());

    // Bob's document is signed by his host key; alice sees his cloud key and his node.
    let doc = IdentityDocument::sign(&bob, "@bob.cloud", vec![], vec![], vec![], now()).unwrap();
    let id = doc.verify().unwrap();
    assert_eq!(id.pubkey, bob_cloud.public());
    assert_eq!(id.hosted_by, Some(node.public()));
    let mut stripped = doc.clone();
    stripped.host_certificate = None;
    assert_eq!(stripped.verify().unwrap_err().code(), "bad_signature");

    // Alice → hosted bob, and hosted bob's answer, and messages both ways.
    let (req, pending) = handshake::initiate(
        &mut rng,
        &alice,
        None,
        id.pubkey,
        id.encryption_key,
        "hi bob",
        now(),
    )
    .unwrap();
    let received = handshake::receive(&req, &bob, now()).unwrap();
    let ack = Ack {
        capabilities: vec![],
        expires_at: None,
        accepted_at: sovra_proto::time::format(now()),
        responder_handle: None,
    };
    let (resp, b) = handshake::accept(&mut rng, &bob, &received, &ack).unwrap();
    assert!(resp.host_certificate.is_some());
    let HandshakeOutcome::Accepted { session: a, .. } = pending.complete(&resp).unwrap() else {
        panic!("refused")
    };
    let m = b
        .seal(&mut rng, &bob.signing, 1, &Payload::text("from my host"))
        .unwrap();
    assert_eq!(a.open(&m.parse().unwrap()).unwrap().text, "from my host");
    let stored = Session::from_stored(&a.to_stored()).unwrap();
    assert_eq!(
        stored.open(&m.parse().unwrap()).unwrap().text,
        "from my host"
    );
    let m = a
        .seal(&mut rng, &alice.signing, 1, &Payload::text("hi host"))
        .unwrap();
    assert_eq!(b.open(&m.parse().unwrap()).unwrap().text, "hi host");

    // Hosted bob initiates toward alice; alice verifies through the certificate.
    let (req, _) = handshake::initiate(
        &mut rng,
        &bob,
        Some("@bob.cloud"),
        alice.public(),
        alice.encryption.public(),
        "my turn",
        now(),
    )
    .unwrap();
    let got = handshake::receive(&req, &alice, now()).unwrap();
    assert_eq!(
        (got.from, got.signer),
        (bob_cloud.public(), bob.signing.public())
    );

    // Without the certificate, after it expired, or certified by another cloud: refused.
    let mut bare = req.clone();
    bare.host_certificate = None;
    assert_eq!(
        handshake::receive(&bare, &alice, now()).unwrap_err().code(),
        "bad_signature"
    );
    let late = now() + SignedDuration::from_hours(24 * 31);
    assert_eq!(
        handshake::receive(&req, &alice, late).unwrap_err().code(),
        "stale_timestamp"
    );
    let mallory = SigningKeypair::generate(&mut rng);
    let forged = hosted(&mallory, &node, 30);
    let mut stolen = req.clone();
    stolen.host_certificate = forged.host_certificate();
    assert_eq!(
        handshake::receive(&stolen, &alice, now())
            .unwrap_err()
            .code(),
        "bad_signature"
    );
}
