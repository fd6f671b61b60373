//! Every parser an outsider can reach, fed arbitrary and mutated input (docs/SECURITY.md):
//! D2D bodies (handshake request and response, message, payload), identity documents, relay
//! frames and auth, registry records, lookups and links, owner-auth headers and key
//! certificates, and the field-level parsers beneath them (base64, keys, handles, URLs,
//! timestamps, tokens, conversation ids).
//!
//! Each target must never panic, whatever the bytes; and where it accepts, what it accepted
//! must hold up (a verified object still verifies after a round trip through JSON). Inputs
//! are random bytes, random JSON-ish text, and — most useful — valid samples with random
//! edits (bytes flipped, cut, inserted, spliced), which reach the checks behind the parser.
//!
//! The CPU budget is the number of cases per target: `PROPTEST_CASES` (CI runs the default
//! below; `scripts/fuzz` runs the documented budget).

use std::sync::OnceLock;

use jiff::Timestamp;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::Value;
use sovra_proto::device::{KeyCertificate, OwnerAuth, PURPOSE_OWNER, verify_certified};
use sovra_proto::handshake::{self, PendingHandshake};
use sovra_proto::registry::{ChainLink, CloudRecord, Lookup};
use sovra_proto::relay::{ClientFrame, ServerFrame, verify_auth};
#[path = "support/mutate.rs"]
mod mutate;
use mutate::{apply, edit, json_edited};
use sovra_proto::{
    Ack, CloudKeys, EncryptionSecret, HandshakeRequest, HandshakeResponse, IdentityDocument,
    MessageRequest, Payload, PublicKey, ReplayWindow, Session, SigningKeypair,
};

const NOW: &str = "2026-11-21T12:00:00Z";

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

fn keys(seed: u8) -> CloudKeys {
    CloudKeys::new(
        SigningKeypair::from_seed(&[seed; 32]),
        EncryptionSecret::from_bytes([seed.wrapping_add(100); 32]),
    )
}

/// Valid samples, built once from fixed seeds, and what is needed to process them.
struct World {
    alice: CloudKeys,
    bob: CloudKeys,
    registry: SigningKeypair,
    request: Vec<u8>,
    response: Vec<u8>,
    pending: PendingHandshake,
    bob_session: Session,
    message: Vec<u8>,
    payload: Vec<u8>,
    identity: Vec<u8>,
    record: Vec<u8>,
    lookup: Vec<u8>,
    link: Vec<u8>,
    auth_frame: Vec<u8>,
    send_frame: Vec<u8>,
    envelope_frame: Vec<u8>,
    certificate: Vec<u8>,
    move_statement: Vec<u8>,
    bundle: Vec<u8>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let (alice, bob, registry) = (keys(1), keys(2), SigningKeypair::from_seed(&[3; 32]));
        let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(7);
        let (request, pending) = handshake::initiate(
            &mut rng,
            &alice,
            Some("@alice.cloud"),
            bob.public(),
            bob.encryption.public(),
            "plan the trip",
            now(),
        )
        .unwrap();
        let received = handshake::receive(&request, &bob, now()).unwrap();
        let ack = Ack {
            capabilities: vec!["RecentHN".into()],
            expires_at: None,
            accepted_at: NOW.into(),
            responder_handle: Some("@bob.cloud".into()),
        };
        let (response, bob_session) = handshake::accept(&mut rng, &bob, &received, &ack).unwrap();
        let handshake::HandshakeOutcome::Accepted {
            session: alice_session,
            ..
        } = pending.complete(&response).unwrap()
        else {
            panic!("refused")
        };
        let mut payload = Payload::text("What's new on HN?");
        payload.calls = vec![sovra_proto::Call {
            capability: "RecentHN".into(),
            args: serde_json::json!({"count": 5}),
        }];
        let message = alice_session
            .seal(&mut rng, &alice.signing, 1, &payload)
            .unwrap();
        let identity = IdentityDocument::sign(
            &bob,
            "@bob.cloud",
            vec![],
            vec!["https://bob.example/clouds/bob".into()],
            vec!["wss://relay.example".into()],
            now(),
        )
        .unwrap();
        let record = CloudRecord::sign(
            &alice,
            "@alice.cloud",
            Some("https://node.example/clouds/alice".into()),
            vec![],
            now(),
        )
        .unwrap();
        let link = ChainLink::rotation(&bob.signing, &alice.signing, now());
        let lookup = Lookup::sign(&registry, record.clone(), vec![link.clone()], now());
        let certificate =
            KeyCertificate::issue(&alice.signing, &bob.public(), PURPOSE_OWNER, "cli", now());
        let json = |v: &dyn erased::Json| v.to_vec();
        let move_statement = sovra_proto::migration::MoveStatement::issue(
            &alice.signing,
            "@alice.cloud",
            2,
            &sovra_proto::migration::Destination {
                endpoint: Some("https://new.example/clouds/alice"),
                relays: &[],
                encryption_key: &alice.encryption.public(),
                host_certificate: None,
            },
            &[5; 32],
            now(),
        )
        .unwrap();
        let mut archive = sovra_proto::migration::Archive {
            format: sovra_proto::migration::ARCHIVE_FORMAT.into(),
            cloud: sovra_proto::migration::ArchivedCloud {
                handle: "@alice.cloud".into(),
                created_at: NOW.into(),
                public_key: alice.public().to_b64(),
                encryption_key: alice.encryption.public().to_b64(),
            },
            keys: None,
            schema: 10,
            exported_from: None,
            move_seq: 1,
            files: Default::default(),
            tables: Default::default(),
        };
        archive.keys = Some(sovra_proto::migration::ArchivedKeys::of(&alice));
        // Small Argon2id parameters: the target runs thousands of times.
        let bundle = sovra_proto::migration::seal_bundle(
            &mut rng,
            &alice.signing,
            &archive.to_bytes(),
            sovra_proto::migration::LockWith::Passphrase(
                "pw",
                sovra_proto::migration::Argon2Params { m_kib: 8, t: 1, p: 1 },
            ),
            now(),
        )
        .unwrap();
        World {
            move_statement: json(&move_statement),
            bundle,
            request: json(&request),
            response: json(&response),
            message: json(&message),
            payload: payload.to_json().unwrap(),
            identity: json(&identity),
            record: json(&record),
            lookup: json(&lookup),
            link: json(&link),
            auth_frame: json(&sovra_proto::relay::sign_auth(
                &alice.signing,
                "ws://relay.example",
                &[9; 32],
            )),
            send_frame: json(&ClientFrame::Send {
                id: "f1".into(),
                to: bob.public().to_b64(),
                path: "/api/d2d/message".into(),
                body: serde_json::from_slice(&json(&message)).unwrap(),
                pow: None,
            }),
            envelope_frame: br#"{"type":"envelope","envelope":"e1","from":"AAAA","kind":"response","reply_to":"e0","status":200,"body":{},"created_at":"2026-11-21T12:00:00Z"}"#.to_vec(),
            certificate: json(&certificate),
            pending: PendingHandshake {
                conversation_id: pending.conversation_id,
                me: pending.me,
                peer: pending.peer,
                sealed_intro: pending.sealed_intro.clone(),
                ephemeral: EncryptionSecret::from_bytes(*pending.ephemeral.to_bytes()),
                started_at: now(),
            },
            bob_session,
            alice,
            bob,
            registry,
        }
    })
}

/// Serializing any sample the same way, without a generic function per type.
mod erased {
    pub trait Json {
        fn to_vec(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_vec(&self) -> Vec<u8> {
            serde_json::to_vec(self).unwrap()
        }
    }
}

/// Input for a target: raw bytes, one of its samples with its bytes edited, or with values
/// inside its JSON edited.
fn input(sample: fn(&World) -> &[u8]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..512),
        3 => prop::collection::vec(edit(), 1..8)
            .prop_map(move |edits| apply(sample(world()), &edits)),
        4 => json_edited(sample(world()).to_vec()),
    ]
}

fn config() -> Config {
    mutate::config(256)
}

/// Each target gets its own test (a panic names it) and the same budget.
macro_rules! fuzz {
    ($name:ident, $sample:expr, |$bytes:ident| $body:block) => {
        proptest! {
            #![proptest_config(config())]
            #[test]
            fn $name($bytes in input($sample)) $body
        }
    };
}

fuzz!(handshake_request, |w| &w.request, |bytes| {
    if let Ok(req) = serde_json::from_slice::<HandshakeRequest>(&bytes) {
        let _ = req.pow_valid(8);
        if let Ok(got) = handshake::receive(&req, &world().bob, now()) {
            // Accepted only what alice sent: the same sender, intro and topic.
            prop_assert_eq!(got.from, world().alice.public());
            prop_assert_eq!(got.topic, "plan the trip");
        }
    }
});

fuzz!(handshake_response, |w| &w.response, |bytes| {
    if let Ok(resp) = serde_json::from_slice::<HandshakeResponse>(&bytes)
        && let Ok(handshake::HandshakeOutcome::Accepted { ack, .. }) =
            world().pending.complete(&resp)
    {
        prop_assert_eq!(ack.responder_handle.as_deref(), Some("@bob.cloud"));
    }
});

fuzz!(message_request, |w| &w.message, |bytes| {
    if let Ok(req) = serde_json::from_slice::<MessageRequest>(&bytes)
        && let Ok(parsed) = req.parse()
    {
        let window = ReplayWindow::default();
        let _ = window.check(parsed.seq);
        if let Ok(payload) = world().bob_session.open(&parsed) {
            prop_assert_eq!(payload.text, "What's new on HN?");
        }
    }
});

fuzz!(payload, |w| &w.payload, |bytes| {
    if let Ok(p) = Payload::from_json(&bytes) {
        // What parsed serializes and parses back to itself.
        let again = Payload::from_json(&p.to_json().unwrap()).unwrap();
        prop_assert_eq!(again, p);
    }
});

fuzz!(identity_document, |w| &w.identity, |bytes| {
    if let Ok(doc) = serde_json::from_slice::<IdentityDocument>(&bytes)
        && let Ok(id) = doc.verify()
    {
        prop_assert_eq!(id.pubkey, world().bob.public());
    }
});

fuzz!(relay_client_frames, |w| &w.send_frame, |bytes| {
    if let Ok(frame) = serde_json::from_slice::<ClientFrame>(&bytes) {
        let again: ClientFrame =
            serde_json::from_slice(&serde_json::to_vec(&frame).unwrap()).unwrap();
        prop_assert_eq!(again, frame);
    }
});

fuzz!(relay_auth, |w| &w.auth_frame, |bytes| {
    if let Ok(ClientFrame::Auth { pubkey, sig, .. }) = serde_json::from_slice(&bytes)
        && let Ok(key) = verify_auth("ws://relay.example", &[9; 32], &pubkey, &sig)
    {
        prop_assert_eq!(key, world().alice.public());
    }
});

fuzz!(relay_server_frames, |w| &w.envelope_frame, |bytes| {
    let _ = serde_json::from_slice::<ServerFrame>(&bytes);
});

fuzz!(registry_record, |w| &w.record, |bytes| {
    if let Ok(record) = serde_json::from_slice::<CloudRecord>(&bytes)
        && let Ok(v) = record.verify()
    {
        prop_assert_eq!(v.pubkey, world().alice.public());
    }
});

fuzz!(registry_lookup, |w| &w.lookup, |bytes| {
    if let Ok(lookup) = serde_json::from_slice::<Lookup>(&bytes)
        && let Ok(v) = lookup.verify(&world().registry.public(), "@alice.cloud")
    {
        prop_assert_eq!(v.record.pubkey, world().alice.public());
    }
});

fuzz!(registry_link, |w| &w.link, |bytes| {
    if let Ok(link) = serde_json::from_slice::<ChainLink>(&bytes) {
        let _ = link.verify(&world().registry.public());
    }
});

fuzz!(key_certificate, |w| &w.certificate, |bytes| {
    if let Ok(cert) = serde_json::from_slice::<KeyCertificate>(&bytes)
        && let Ok(key) = cert.verify(&world().alice.public())
    {
        prop_assert_eq!(key, world().bob.public());
    }
});

proptest! {
    #![proptest_config(config())]

    /// The four owner-auth headers as a client could send them, each arbitrary text.
    #[test]
    fn owner_auth_headers(
        device in prop_oneof![Just(world().bob.public().to_b64()), ".{0,64}"],
        timestamp_ms in any::<i64>(),
        nonce in prop_oneof![Just("AAAAAAAAAAAAAAAAAAAAAA==".to_owned()), ".{0,40}"],
        signature in ".{0,100}",
        path in ".{0,64}",
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let auth = OwnerAuth { device, timestamp_ms, nonce, signature };
        let _ = auth.check_window(timestamp_ms.saturating_add(1));
        if let (Ok(device), Ok(sig)) = (
            PublicKey::from_b64("x-sovra-device", &auth.device),
            sovra_proto::keys::signature_from_b64("x-sovra-signature", &auth.signature),
        ) {
            let signed = sovra_proto::device::owner_request_bytes(
                "GET", &path, auth.timestamp_ms, &auth.nonce, &body,
            );
            let verified = verify_certified(
                &world().alice.public(), &device, &[], PURPOSE_OWNER, "owner request",
                &signed, &sig,
            );
            // Without a certificate only the cloud key itself could sign; it never did here.
            prop_assert!(verified.is_err());
        }
    }

    /// Field-level parsers with arbitrary text.
    #[test]
    fn field_parsers(text in prop_oneof![".{0,80}", "[A-Za-z0-9+/=]{0,64}", "@[a-z0-9.-]{0,20}"]) {
        use sovra_proto::{encoding, identity, session, time, urls};
        if let Ok(bytes) = encoding::b64_decode("f", &text, 1024) {
            // Strict base64: one text per value.
            prop_assert_eq!(encoding::b64(&bytes), text.clone());
        }
        if let Ok(k) = PublicKey::from_human(&text) {
            prop_assert_eq!(PublicKey::from_b64("k", &k.to_b64()).unwrap(), k);
        }
        let _ = identity::validate_handle(&text);
        let _ = identity::validate_capability_name(&text);
        let _ = session::validate_token(&text);
        let _ = handshake::parse_conversation_id(&text);
        let _ = time::parse_near("t", &text);
        if let Ok(url) = urls::canonical_url("u", &text, &["http", "https", "ws", "wss"]) {
            prop_assert!(urls::validate_url("u", &url, &["http", "https", "ws", "wss"]).is_ok());
        }
        let _ = serde_json::from_str::<Value>(&text);
    }
}

fuzz!(move_statement, |w| &w.move_statement, |bytes| {
    if let Ok(st) = serde_json::from_slice::<sovra_proto::migration::MoveStatement>(&bytes)
        && let Ok(v) = st.verify(&world().alice.public(), now())
    {
        prop_assert_eq!(v.seq, 2);
        prop_assert_eq!(
            v.endpoint.as_deref(),
            Some("https://new.example/clouds/alice")
        );
    }
});

/// A bundle is a JSON header line and binary ciphertext: JSON-aware edits go to the header.
fn bundle_input() -> impl Strategy<Value = Vec<u8>> {
    let bundle = &world().bundle;
    let nl = bundle.iter().position(|&b| b == b'\n').unwrap();
    let (header, rest) = (bundle[..nl].to_vec(), bundle[nl..].to_vec());
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..512),
        3 => prop::collection::vec(edit(), 1..8).prop_map(|edits| apply(&world().bundle, &edits)),
        4 => json_edited(header).prop_map(move |mut h| {
            h.extend_from_slice(&rest);
            h
        }),
    ]
}

proptest! {
    #![proptest_config(config())]
    #[test]
    fn migration_bundle(bytes in bundle_input()) {
        use sovra_proto::migration::{Lock, Unlock, open_bundle, read_header};
        // Only bundles whose header asks for cheap Argon2id are opened: a real reader bounds
        // the cost (MAX_ARGON2), and the fuzz budget cannot pay 1 GiB per case.
        if let Ok((header, _)) = read_header(&bytes) {
            prop_assert_eq!(header.cloud, world().alice.public().to_b64());
            if let Lock::Passphrase { params, .. } = header.lock
                && params.m_kib <= 64
                && params.t <= 2
                && params.p <= 2
                && let Ok((_, archive)) = open_bundle(&bytes, Unlock::Passphrase("pw"))
            {
                prop_assert_eq!(archive.cloud.handle, "@alice.cloud");
            }
        }
    }
}
