//! docs/test-vectors/: generated here from fixed keys and fixed randomness, and checked twice:
//!
//! * `vectors_match_committed_files` regenerates every file and fails if it differs from the
//!   committed one (run with `SOVRA_BLESS=1` to rewrite them after an intended change);
//! * `vectors_verify_from_files_alone` reads only the files — keys, bytes, expected errors —
//!   and checks them the way an independent implementation would.
//!
//! Signing bytes and AEAD data are rebuilt in this file from the field lists in
//! docs/PROTOCOL.md, not taken from the crate's private helpers, so the spec and the code are
//! held to each other.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::PathBuf;

use data_encoding::HEXLOWER;
use jiff::{SignedDuration, Timestamp};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng, TryCryptoRng, TryRng};
use serde_json::{Value, json};
use sha2::Digest;
use sovra_proto::canonical::Canonical;
use sovra_proto::encoding::{b64, b64_decode};
use sovra_proto::handshake::{self, PendingHandshake};
use sovra_proto::{
    Ack, Call, CallResult, Capability, CloudKeys, EncryptionSecret, HandshakeOutcome,
    HandshakeRequest, HandshakeResponse, IdentityDocument, MessageRequest, ParsedMessage, Payload,
    PublicKey, ReplayWindow, Retention, Session, SigningKeypair, safety_code,
};

#[path = "vectors/actions.rs"]
mod actions_vectors;
#[path = "vectors/migration.rs"]
mod migration_vectors;

const NOW: &str = "2026-11-21T12:00:00Z";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/test-vectors")
}

fn hex(b: &[u8]) -> String {
    HEXLOWER.encode(b)
}

fn unhex(s: &str) -> Vec<u8> {
    HEXLOWER.decode(s.as_bytes()).unwrap()
}

fn s<'a>(v: &'a Value, path: &str) -> &'a str {
    path.split('.')
        .fold(v, |v, k| &v[k])
        .as_str()
        .unwrap_or_else(|| panic!("{path} missing"))
}

/// ChaCha20 (rand_chacha's stream) from a fixed seed, recording every draw in order so the
/// vector files can list the random bytes each step consumed.
struct RecordingRng {
    inner: ChaCha20Rng,
    draws: Vec<String>,
}

impl RecordingRng {
    fn new(seed: u8) -> Self {
        RecordingRng {
            inner: ChaCha20Rng::from_seed([seed; 32]),
            draws: Vec::new(),
        }
    }
    fn take(&mut self) -> Vec<String> {
        std::mem::take(&mut self.draws)
    }
}

impl TryRng for RecordingRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.inner.fill_bytes(dst);
        self.draws.push(hex(dst));
        Ok(())
    }
}
impl TryCryptoRng for RecordingRng {}

fn keys_from_seed(seed: u8) -> CloudKeys {
    CloudKeys::generate(&mut ChaCha20Rng::from_seed([seed; 32]))
}

fn key_json(k: &CloudKeys) -> Value {
    let p = k.public();
    json!({
        "ed25519_seed": hex(k.signing.seed().as_ref()),
        "ed25519_public": p.to_b64(),
        "human": p.to_human(),
        "daemon_id": p.daemon_id(),
        "fingerprint": p.fingerprint(),
        "x25519_secret": hex(k.encryption.to_bytes().as_ref()),
        "x25519_public": k.encryption.public().to_b64(),
    })
}

fn keys_from_json(v: &Value) -> CloudKeys {
    CloudKeys::new(
        SigningKeypair::from_seed(&unhex(s(v, "ed25519_seed")).try_into().unwrap()),
        EncryptionSecret::from_bytes(unhex(s(v, "x25519_secret")).try_into().unwrap()),
    )
}

// The spec's byte layouts, rebuilt independently of the crate's private helpers.
fn spec_message_bytes(token: &str, seq: u64, sealed: &[u8]) -> Vec<u8> {
    Canonical::new("rapp-d2d/1.0/message")
        .str(token)
        .u64(seq)
        .bytes(sealed)
        .finish()
}
fn spec_payload_aad(id: &str, token: &str, direction: &str, seq: u64) -> Vec<u8> {
    Canonical::new("rapp-d2d/1.0/payload")
        .str(id)
        .str(token)
        .str(direction)
        .u64(seq)
        .finish()
}
fn spec_handshake_bytes(r: &HandshakeRequest) -> Vec<u8> {
    Canonical::new("rapp-d2d/1.0/handshake")
        .bytes(PublicKey::from_b64("from", &r.from).unwrap().as_bytes())
        .bytes(PublicKey::from_b64("to", &r.to).unwrap().as_bytes())
        .str(&r.conversation_id)
        .bytes(&b64_decode("sealed_intro", &r.sealed_intro, 1 << 20).unwrap())
        .finish()
}
fn spec_response_bytes(r: &HandshakeResponse, initiator: &PublicKey) -> Vec<u8> {
    let c = Canonical::new("rapp-d2d/1.0/handshake-response")
        .bytes(PublicKey::from_b64("from", &r.from).unwrap().as_bytes())
        .bytes(initiator.as_bytes())
        .str(&r.conversation_id);
    if r.accepted {
        c.str("accepted")
            .str(r.conversation_token.as_deref().unwrap())
            .bytes(&b64_decode("sealed_ack", r.sealed_ack.as_deref().unwrap(), 1 << 20).unwrap())
            .finish()
    } else {
        c.str("refused").str(r.reason.as_deref().unwrap()).finish()
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap() + "\n"
}

fn flip_b64(text: &str, at: usize) -> String {
    let mut bytes = b64_decode("x", text, 1 << 20).unwrap();
    bytes[at] ^= 0x01;
    b64(&bytes)
}

fn resign(m: &MessageRequest, key: &SigningKeypair) -> MessageRequest {
    let sealed = b64_decode("x", &m.sealed_payload, 1 << 20).unwrap();
    let mut out = m.clone();
    out.sig = b64(&key.sign(&spec_message_bytes(&m.conversation_token, m.seq, &sealed)));
    out
}

fn generate() -> BTreeMap<&'static str, Value> {
    let now: Timestamp = NOW.parse().unwrap();
    let alice = keys_from_seed(0xa1);
    let bob = keys_from_seed(0xb0);
    let mut files = BTreeMap::new();

    files.insert(
        "keys.json",
        json!({
            "description": "Two clouds' keys. ed25519_seed is the RFC 8032 secret key; x25519_secret the RFC 7748 scalar as stored (HPKE DeriveKeyPair output). safety_code is computed from both public keys and is the same on both sides.",
            "alice": key_json(&alice),
            "bob": key_json(&bob),
            "safety_code": safety_code(&alice.public(), &bob.public()),
        }),
    );

    let doc = IdentityDocument::sign(
        &bob,
        "@bob.cloud",
        vec![
            Capability {
                name: "AskBrainstem".into(),
                description: "Natural-language Q to my brainstem".into(),
            },
            Capability {
                name: "RecentHN".into(),
                description: "Top N HN stories".into(),
            },
        ],
        vec!["https://bob.example/clouds/bob".into()],
        vec!["wss://relay.example/".into()],
        now,
    )
    .unwrap();
    let id_bytes = {
        let mut c = Canonical::new("rapp-d2d/1.0/identity")
            .str(&doc.schema)
            .bytes(bob.public().as_bytes())
            .bytes(bob.encryption.public().as_bytes())
            .str(&doc.handle)
            .u64(doc.capabilities.len() as u64);
        for cap in &doc.capabilities {
            c = c.str(&cap.name).str(&cap.description);
        }
        c.str_list(doc.endpoints.iter().map(String::as_str))
            .str_list(doc.relays.iter().map(String::as_str))
            .str(&doc.issued_at)
            .finish()
    };
    files.insert(
        "identity.json",
        json!({
            "description": "Bob's identity document (GET /api/d2d/identity) and the exact bytes its sig covers.",
            "document": doc,
            "signing_bytes_hex": hex(&id_bytes),
        }),
    );

    // Handshake.
    let mut rng = RecordingRng::new(0x42);
    let topic = "plan the trip";
    let (request, pending) = handshake::initiate(
        &mut rng,
        &alice,
        Some("@alice.cloud"),
        bob.public(),
        bob.encryption.public(),
        topic,
        now,
    )
    .unwrap();
    let initiate_draws = rng.take();
    let received = handshake::receive(&request, &bob, now).unwrap();
    let ack = Ack {
        capabilities: vec!["RecentHN".into()],
        expires_at: Some("2026-11-22T12:00:00Z".into()),
        accepted_at: NOW.into(),
        responder_handle: Some("@bob.cloud".into()),
    };
    let (response, bob_session) = handshake::accept(&mut rng, &bob, &received, &ack).unwrap();
    let accept_draws = rng.take();
    let HandshakeOutcome::Accepted {
        session: alice_session,
        ..
    } = pending.complete(&response).unwrap()
    else {
        panic!("refused")
    };
    let stored = alice_session.to_stored();
    let id = request.conversation_id.clone();
    let token = response.conversation_token.clone().unwrap();
    let transcript = Canonical::new("rapp-d2d/1.0/transcript")
        .bytes(alice.public().as_bytes())
        .bytes(bob.public().as_bytes())
        .str(&id)
        .bytes(&pending.sealed_intro)
        .str(&token)
        .finish();
    let refusal = handshake::refuse(
        &bob,
        &alice.public(),
        pending.conversation_id,
        "not on whitelist",
    );
    // The same request with a first-contact proof of work (section 7.8) at difficulty 12.
    let mut powed = request.clone();
    powed.solve_pow(12).unwrap();
    let counter = powed.pow.unwrap();
    let pow_bytes = Canonical::new("rapp-d2d/1.0/pow")
        .bytes(alice.public().as_bytes())
        .bytes(bob.public().as_bytes())
        .str(&id)
        .u64(counter)
        .finish();
    let first_contact_pow = json!({
        "difficulty": 12,
        "pow": counter,
        "input_hex": hex(&pow_bytes),
        "sha256_hex": hex(&sha2::Sha256::digest(&pow_bytes)),
    });
    // The exact plaintexts sealed (Ed25519 is deterministic, so the proof is the one sealed).
    let intro_plaintext = serde_json::to_string(&handshake::Intro {
        topic: topic.into(),
        sender_proof: sovra_proto::encoding::b64(&alice.signing.sign(
            &handshake::sender_proof_bytes(
                &alice.public(),
                &bob.public(),
                &id,
                &received.ephemeral_key,
                topic,
                NOW,
            ),
        )),
        ephemeral_key: received.ephemeral_key.to_b64(),
        sent_at: NOW.into(),
        sender_handle: Some("@alice.cloud".into()),
    })
    .unwrap();
    files.insert(
        "handshake.json",
        json!({
            "description": "Alice opens a conversation with Bob; Bob accepts. Verify with keys.json: Bob receives `request` at `now`, Alice completes with `response` using `initiator_ephemeral_secret`; both derive `session_keys`. intro_plaintext and ack_plaintext_json are the exact bytes sealed (compact JSON, fields in this order, absent optional fields omitted). random_draws lists the random bytes each side consumed, in order: initiate = [conversation_id (16, as UUIDv4 bytes), ephemeral ikm (32, HPKE DeriveKeyPair), intro HPKE encapsulation ikm (32)]; accept = [conversation_token (32), ack HPKE encapsulation ikm (32)].",
            "now": NOW,
            "topic": topic,
            "request": request,
            "handshake_signing_bytes_hex": hex(&spec_handshake_bytes(&request)),
            "initiator_ephemeral_secret": hex(pending.ephemeral.to_bytes().as_ref()),
            "initiator_ephemeral_public": pending.ephemeral.public().to_b64(),
            "intro_plaintext": intro_plaintext,
            "ack_plaintext": ack,
            "ack_plaintext_json": serde_json::to_string(&ack).unwrap(),
            "response": response,
            "response_signing_bytes_hex": hex(&spec_response_bytes(&response, &alice.public())),
            "transcript_bytes_hex": hex(&transcript),
            "session_keys": {
                "initiator_to_responder": hex(&b64_decode("k", &stored.send_key, 32).unwrap()),
                "responder_to_initiator": hex(&b64_decode("k", &stored.recv_key, 32).unwrap()),
            },
            "refusal": refusal,
            "first_contact_pow": first_contact_pow,
            "random_draws": { "initiate": initiate_draws, "accept": accept_draws },
        }),
    );

    // Messages both ways.
    let mut rng = RecordingRng::new(0x43);
    let mut first = Payload::text("What's new on HN?");
    first.calls.push(Call {
        capability: "RecentHN".into(),
        args: json!({"count": 5}),
    });
    first.data_policy.retention = Retention::Days90;
    first.data_policy.usage = "answer this question".into();
    let mut reply = Payload::text("Here you go.");
    reply.in_reply_to = Some(1);
    reply.results.push(CallResult {
        capability: "RecentHN".into(),
        ok: true,
        output: Some(json!({"stories": ["one", "two"]})),
        error: None,
    });
    let second = Payload::text("Thanks!");
    // An agent addressing a swarm it was not granted, and the refusal that answers it.
    let mut addressed = Payload::text("Can support look at ticket 7?");
    addressed.swarm = Some("support".into());
    addressed.automatic = true;
    let mut refused = Payload::text("This message was not acted on: swarm_not_granted");
    refused.in_reply_to = Some(3);
    refused.refusal = Some("swarm_not_granted".into());
    refused.automatic = true;
    let plan = [
        (
            &*alice_session,
            &alice.signing,
            1u64,
            &first,
            "initiator-to-responder",
        ),
        (
            &bob_session,
            &bob.signing,
            1,
            &reply,
            "responder-to-initiator",
        ),
        (
            &*alice_session,
            &alice.signing,
            2,
            &second,
            "initiator-to-responder",
        ),
        (
            &*alice_session,
            &alice.signing,
            3,
            &addressed,
            "initiator-to-responder",
        ),
        (
            &bob_session,
            &bob.signing,
            2,
            &refused,
            "responder-to-initiator",
        ),
    ];
    let mut messages = Vec::new();
    let mut sealed_msgs = Vec::new();
    for (session, signer, seq, payload, direction) in plan {
        let plaintext = payload.to_json().unwrap();
        let m = session
            .seal_bytes(&mut rng, signer, seq, &plaintext)
            .unwrap();
        let sealed = b64_decode("x", &m.sealed_payload, 1 << 20).unwrap();
        messages.push(json!({
            "direction": direction,
            "payload_plaintext": String::from_utf8(plaintext).unwrap(),
            "aad_hex": hex(&spec_payload_aad(&id, &token, direction, seq)),
            "nonce_hex": hex(&sealed[..24]),
            "signing_bytes_hex": hex(&spec_message_bytes(&token, seq, &sealed)),
            "request": m,
        }));
        sealed_msgs.push(m);
    }
    files.insert(
        "messages.json",
        json!({
            "description": "Messages in the handshake.json conversation. Each sealed_payload is nonce (24) || XChaCha20-Poly1305(key of its direction, nonce, payload_plaintext, aad) and each sig is Ed25519 by the sender over signing_bytes.",
            "conversation_id": id,
            "conversation_token": token,
            "messages": messages,
        }),
    );

    // Negative cases: each must be refused with `error`.
    let m1 = &sealed_msgs[0];
    let mut tampered = m1.clone();
    tampered.sealed_payload = flip_b64(&m1.sealed_payload, 30);
    let resigned = resign(&tampered, &alice.signing);
    let wrong_signer = resign(m1, &bob.signing);
    let mut unknown = m1.clone();
    unknown.conversation_token = b64(&[7u8; 32]);
    let mut tampered_intro = request.clone();
    tampered_intro.sealed_intro = flip_b64(&request.sealed_intro, 40);
    let mut forged_refusal = refusal.clone();
    forged_refusal.reason = Some("rate limit".into());
    let late = (now + SignedDuration::from_secs(301)).to_string();
    // Size boundaries, on the decoded bytes. A handshake's size is checked before its
    // signature; a short sealed blob is one that cannot open.
    let with_intro = |bytes: &[u8], sign: bool| {
        let mut r = request.clone();
        r.sealed_intro = b64(bytes);
        if sign {
            r.sig = b64(&alice.signing.sign(&spec_handshake_bytes(&r)));
        }
        r
    };
    let intro_16385 = with_intro(&vec![7u8; 16385], false);
    let intro_16384 = with_intro(&vec![7u8; 16384], false);
    let intro_47 = with_intro(&[7u8; 47], true);
    let with_payload = |bytes: &[u8]| {
        let mut m = sealed_msgs[0].clone();
        m.sealed_payload = b64(bytes);
        resign(&m, &alice.signing)
    };
    let payload_262185 = with_payload(&vec![7u8; 262_185]);
    let payload_39 = with_payload(&[7u8; 39]);
    let bad_swarm = alice_session
        .seal_bytes(
            &mut rng,
            &alice.signing,
            4,
            br#"{"text":"hi","swarm":"Support!"}"#,
        )
        .unwrap();
    let calls_17 = format!(
        r#"{{"text":"hi","calls":[{}]}}"#,
        vec![r#"{"capability":"RecentHN"}"#; 17].join(",")
    );
    let too_many_calls = alice_session
        .seal_bytes(&mut rng, &alice.signing, 5, calls_17.as_bytes())
        .unwrap();
    let mut mid_padding = sealed_msgs[0].clone();
    mid_padding.sealed_payload = format!("AQ=={}", mid_padding.sealed_payload);
    let mut small_order_from = request.clone();
    small_order_from.from = b64(&{
        let mut identity = [0u8; 32];
        identity[0] = 1;
        identity
    });
    let orphan_refusal = bob_session
        .seal_bytes(
            &mut rng,
            &bob.signing,
            3,
            br#"{"text":"no","refusal":"budget_exhausted"}"#,
        )
        .unwrap();
    files.insert(
        "negative.json",
        json!({
            "description": "Inputs that must fail, with the error code a receiver returns. Message cases are received by Bob (or by `receiver` when given) in the handshake.json conversation, each from a fresh start with nothing received; `accepted_seqs` are seqs of the sender's direction to mark accepted in the receiver's replay window first (section 9.2), as if messages with those seqs had arrived: their content is unknown, so no case is a retransmission of them. Handshake cases are received by `receiver` at `now`. Response cases are read by Alice's pending handshake.",
            "cases": [
                { "name": "message: ciphertext tampered", "kind": "message", "accepted_seqs": [], "request": tampered, "error": "bad_signature" },
                { "name": "message: ciphertext tampered and re-signed by the sender", "kind": "message", "accepted_seqs": [], "request": resigned, "error": "cannot_unseal" },
                { "name": "message: signed by the wrong key", "kind": "message", "accepted_seqs": [], "request": wrong_signer, "error": "bad_signature" },
                { "name": "message: seq replayed", "kind": "message", "accepted_seqs": [1], "request": m1, "error": "replayed_seq" },
                { "name": "message: seq below the replay window", "kind": "message", "accepted_seqs": [1, 100], "request": sealed_msgs[2], "error": "stale_seq" },
                { "name": "message: unknown conversation token", "kind": "message", "accepted_seqs": [], "request": unknown, "error": "unknown_token" },
                { "name": "message: payload names a swarm that is not a valid name", "kind": "message", "accepted_seqs": [], "request": bad_swarm, "error": "malformed" },
                { "name": "message: base64 with a padded block in the middle", "kind": "message", "accepted_seqs": [], "request": mid_padding, "error": "bad_encoding" },
                { "name": "message: 17 calls (one over)", "kind": "message", "accepted_seqs": [], "request": too_many_calls, "error": "wrong_size" },
                { "name": "handshake: from is the neutral point (small order)", "kind": "handshake", "receiver": "bob", "now": NOW, "request": small_order_from, "error": "malformed" },
                { "name": "message (received by Alice): refusal without in_reply_to", "kind": "message", "receiver": "alice", "accepted_seqs": [], "request": orphan_refusal, "error": "malformed" },
                { "name": "handshake: sealed_intro tampered", "kind": "handshake", "receiver": "bob", "now": NOW, "request": tampered_intro, "error": "bad_signature" },
                { "name": "handshake: delivered to another cloud", "kind": "handshake", "receiver": "alice", "now": NOW, "request": request, "error": "wrong_recipient" },
                { "name": "handshake: sent_at more than 300 s away", "kind": "handshake", "receiver": "bob", "now": late, "request": request, "error": "stale_timestamp" },
                { "name": "handshake: sealed_intro of 16385 decoded bytes (one over)", "kind": "handshake", "receiver": "bob", "now": NOW, "request": intro_16385, "error": "wrong_size" },
                { "name": "handshake: sealed_intro of 16384 decoded bytes passes the size check, then the signature fails", "kind": "handshake", "receiver": "bob", "now": NOW, "request": intro_16384, "error": "bad_signature" },
                { "name": "handshake: signed sealed_intro of 47 bytes (shorter than enc + tag)", "kind": "handshake", "receiver": "bob", "now": NOW, "request": intro_47, "error": "cannot_unseal" },
                { "name": "message: sealed_payload of 262185 decoded bytes (one over)", "kind": "message", "accepted_seqs": [], "request": payload_262185, "error": "wrong_size" },
                { "name": "message: signed sealed_payload of 39 bytes (shorter than nonce + tag)", "kind": "message", "accepted_seqs": [], "request": payload_39, "error": "cannot_unseal" },
                { "name": "response: refusal reason altered", "kind": "response", "response": forged_refusal, "error": "bad_signature" },
            ],
        }),
    );
    files.insert("registry.json", registry_vector());
    files.insert("relay.json", relay_vector());
    files.insert("node.json", node_vector());
    files.insert("host.json", host_vector());
    files.insert("devices.json", devices_vector());
    files.insert("migration.json", migration_vectors::migration_vector());
    files.insert("inheritance.json", migration_vectors::inheritance_vector());
    files.insert("actions.json", actions_vectors::actions_vector());
    files
}

/// A device's attachment, detachment and recovery (docs/PROTOCOL.md §19.4), with fixed ids.
fn devices_vector() -> Value {
    use sovra_proto::client_instance::{Attachment, Detachment, Recovery};
    let cloud = SigningKeypair::from_seed(&[0xd1; 32]);
    let node = SigningKeypair::from_seed(&[0xc1; 32]).public();
    let device = SigningKeypair::from_seed(&[0xe1; 32]).public();
    let now: jiff::Timestamp = NOW.parse().unwrap();
    let id = |n: u8| format!("00000000-0000-4000-8000-0000000000{n:02x}");
    let a = Attachment::sign(&cloud, &node, &device, (id(1), id(2)), now);
    let d = Detachment::sign(&cloud, &node, &a, "device-loss", None, (id(3), id(4)), now);
    let r = Recovery::sign(
        &cloud,
        &node,
        &d,
        "reattach-existing-device",
        (id(5), id(6)),
        now,
    );
    json!({
        "description": "Dana's cloud key (host.json's cloud_ed25519_seed) attaches the device with seed device_ed25519_seed on the node of node.json, detaches it, and recovers it. Each proof/participant-signature is Ed25519 by the cloud key over canonical('participant-bind.v1', bind/id, bound-at, participant/id, via/node-id, session/id, participant/key/alg, participant/key/public, digest) where digest is SHA-256 of the artifact's fields (PROTOCOL.md section 19.4).",
        "device_ed25519_seed": hex(&[0xe1; 32]),
        "attachment": a,
        "detachment": d,
        "recovery": r,
    })
}

fn spec_host_bytes(c: &Value) -> Vec<u8> {
    let raw = |f: &str| b64_decode("k", s(c, f), 32).unwrap();
    Canonical::new("rapp-d2d/1.0/host-certificate")
        .bytes(&raw("cloud"))
        .bytes(&raw("host_key"))
        .bytes(&raw("host_encryption_key"))
        .bytes(&raw("node_id"))
        .str(s(c, "issued_at"))
        .str(s(c, "expires_at"))
        .finish()
}

/// A host certificate and a hosted cloud's identity document (docs/PROTOCOL.md §19.2).
fn host_vector() -> Value {
    use sovra_proto::host::{Delegation, HostCertificate};
    let cloud = SigningKeypair::from_seed(&[0xd1; 32]);
    let host = CloudKeys::new(
        SigningKeypair::from_seed(&[0xd2; 32]),
        EncryptionSecret::from_bytes([0xd3; 32]),
    );
    let node = SigningKeypair::from_seed(&[0xc1; 32]);
    let certificate = HostCertificate::issue(
        &cloud,
        &host.signing.public(),
        &host.encryption.public(),
        &node.public(),
        NOW.parse().unwrap(),
        jiff::SignedDuration::from_hours(24 * 30),
    )
    .unwrap();
    let hosted = CloudKeys {
        delegation: Some(Box::new(Delegation {
            cloud: cloud.public(),
            certificate: certificate.clone(),
        })),
        ..host
    };
    let doc = IdentityDocument::sign(
        &hosted,
        "@dana.cloud",
        vec![],
        vec!["https://node.example/clouds/dana".into()],
        vec![],
        NOW.parse().unwrap(),
    )
    .unwrap();
    let cert = serde_json::to_value(&certificate).unwrap();
    json!({
        "description": "Dana's cloud key (seed cloud_ed25519_seed, on her device) certifies a host key pair (host_ed25519_seed, host_x25519_secret) held by the node node.json describes, for 30 days. The identity document is signed by the host key and carries the certificate; it verifies as Dana's cloud key, hosted by that node.",
        "cloud_ed25519_seed": hex(&[0xd1; 32]),
        "host_ed25519_seed": hex(&[0xd2; 32]),
        "host_x25519_secret": hex(&[0xd3; 32]),
        "certificate": cert,
        "certificate_signing_bytes_hex": hex(&spec_host_bytes(&cert)),
        "identity_document": doc,
    })
}

#[test]
fn host_vector_verifies_from_the_file_alone() {
    use sovra_proto::host::HostCertificate;
    bless_if_asked();
    let v = read("host.json");
    let seed = |f: &str| -> [u8; 32] { unhex(s(&v, f)).try_into().unwrap() };
    let cloud = SigningKeypair::from_seed(&seed("cloud_ed25519_seed")).public();
    let cert: HostCertificate = serde_json::from_value(v["certificate"].clone()).unwrap();
    let host = cert.verify(&cloud, NOW.parse().unwrap()).unwrap();
    assert_eq!(
        host.host_key,
        SigningKeypair::from_seed(&seed("host_ed25519_seed")).public()
    );
    let sig: [u8; 64] = b64_decode("sig", &cert.sig, 64)
        .unwrap()
        .try_into()
        .unwrap();
    cloud
        .verify("host", &unhex(s(&v, "certificate_signing_bytes_hex")), &sig)
        .unwrap();
    assert_eq!(
        hex(&spec_host_bytes(&v["certificate"])),
        s(&v, "certificate_signing_bytes_hex")
    );
    let doc: IdentityDocument = serde_json::from_value(v["identity_document"].clone()).unwrap();
    let id = doc.verify().unwrap();
    assert_eq!(id.pubkey, cloud);
    assert_eq!(id.hosted_by, Some(host.node_id));
    assert_eq!(id.encryption_key, host.host_encryption_key);
}

/// The bytes a node document's `sig` covers (docs/PROTOCOL.md §19), rebuilt from the spec.
fn spec_node_bytes(doc: &Value) -> Vec<u8> {
    Canonical::new("sovra-node/1/node")
        .bytes(&b64_decode("node_id", s(doc, "node_id"), 32).unwrap())
        .str(doc["operator_contact"].as_str().unwrap_or(""))
        .str(s(doc, "hosting_policy"))
        .str(doc["phone_registry"].as_str().unwrap_or(""))
        .u64(doc["clouds_hosted"].as_u64().unwrap())
        .str(s(doc, "issued_at"))
        .finish()
}

/// A node's signed statement (docs/PROTOCOL.md §19).
fn node_vector() -> Value {
    use sovra_proto::node::NodeDocument;
    let node = SigningKeypair::from_seed(&[0xc1; 32]);
    let doc = NodeDocument::sign(
        &node,
        Some("ops@node.example".into()),
        "invite",
        None,
        3,
        NOW.parse().unwrap(),
    )
    .unwrap();
    let doc = serde_json::to_value(&doc).unwrap();
    json!({
        "description": "A node's statement at GET /api/node, signed by its node key (seed below); signing_bytes_hex is what sig covers.",
        "node_ed25519_seed": hex(&[0xc1; 32]),
        "document": doc,
        "signing_bytes_hex": hex(&spec_node_bytes(&doc)),
    })
}

#[test]
fn node_vector_verifies_from_the_file_alone() {
    use sovra_proto::node::NodeDocument;
    bless_if_asked();
    let v = read("node.json");
    let doc: NodeDocument = serde_json::from_value(v["document"].clone()).unwrap();
    let node = doc.verify().unwrap();
    let seed: [u8; 32] = unhex(s(&v, "node_ed25519_seed")).try_into().unwrap();
    assert_eq!(SigningKeypair::from_seed(&seed).public(), node);
    assert_eq!(
        hex(&spec_node_bytes(&v["document"])),
        s(&v, "signing_bytes_hex")
    );
    let mut edited = doc.clone();
    edited.clouds_hosted += 1;
    assert_eq!(edited.verify().unwrap_err().code(), "bad_signature");
}

/// A relay auth and a first-contact proof of work (docs/PROTOCOL.md §17).
fn relay_vector() -> Value {
    use sovra_proto::relay::{ClientFrame, pow_solve, sign_auth};
    let (alice, bob) = (keys_from_seed(0xb1), keys_from_seed(0xb2));
    let relay = "wss://relay.example";
    let nonce = [0x42u8; 32];
    let ClientFrame::Auth { pubkey, sig, .. } = sign_auth(&alice.signing, relay, &nonce) else {
        unreachable!()
    };
    let auth_bytes = Canonical::new("sovra-relay/1/auth")
        .str(relay)
        .bytes(&nonce)
        .finish();
    let pow_nonce = [0x24u8; 32];
    let difficulty = 12;
    let counter = pow_solve(&pow_nonce, &alice.public(), &bob.public(), difficulty);
    let pow_bytes = Canonical::new("sovra-relay/1/pow")
        .bytes(&pow_nonce)
        .bytes(alice.public().as_bytes())
        .bytes(bob.public().as_bytes())
        .u64(counter)
        .finish();
    json!({
        "relay": relay,
        "challenge_nonce": sovra_proto::encoding::b64(&nonce),
        "cloud": key_json(&alice),
        "auth_signing_bytes_hex": hex(&auth_bytes),
        "auth": {"type": "auth", "pubkey": pubkey, "sig": sig},
        "pow": {
            "sender": alice.public().to_b64(),
            "recipient": bob.public().to_b64(),
            "nonce": sovra_proto::encoding::b64(&pow_nonce),
            "difficulty": difficulty,
            "counter": counter,
            "hashed_bytes_hex": hex(&pow_bytes),
            "sha256_hex": hex(&sha2::Sha256::digest(&pow_bytes)),
            "note": "counter is the smallest solution; any counter whose SHA-256 starts with `difficulty` zero bits is valid",
        },
    })
}

/// A registry's lookup for @alice.cloud after one rotation (docs/PROTOCOL.md §16.2).
fn registry_vector() -> Value {
    use sovra_proto::registry::{ChainLink, CloudRecord, Lookup};
    let registry = keys_from_seed(0x5e).signing;
    let (k1, k2) = (keys_from_seed(0xa1), keys_from_seed(0xa2));
    let at: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let record = CloudRecord::sign(
        &k2,
        "@alice.cloud",
        Some("https://node.example/clouds/alice".into()),
        vec!["https://relay.example".into()],
        at + SignedDuration::from_secs(60),
    )
    .unwrap();
    let link = ChainLink::rotation(&k1.signing, &k2.signing, at);
    let lookup = Lookup::sign(
        &registry,
        record.clone(),
        vec![link.clone()],
        at + SignedDuration::from_secs(61),
    );
    let record_bytes = Canonical::new("sovra-registry/1/record")
        .str(&record.handle)
        .bytes(k2.public().as_bytes())
        .bytes(k2.encryption.public().as_bytes())
        .str_list(["https://node.example/clouds/alice"].into_iter())
        .str_list(["https://relay.example"].into_iter())
        .str(&record.issued_at)
        .finish();
    let link_bytes = Canonical::new("sovra-registry/1/link")
        .str("rotation")
        .bytes(k1.public().as_bytes())
        .bytes(k2.public().as_bytes())
        .str(&link.at)
        .finish();
    // A phone attestation for the new key, to a node (§16.3, §19.3); the tag is given.
    let tag = [0x7au8; 32];
    let attestation = sovra_proto::registry::PhoneAttestation::sign(
        &registry,
        &k2.public(),
        "https://node.example",
        &tag,
        at,
    );
    let attestation_bytes = Canonical::new("sovra-registry/1/phone-attestation")
        .bytes(registry.public().as_bytes())
        .bytes(k2.public().as_bytes())
        .str("https://node.example")
        .bytes(&tag)
        .str(&attestation.issued_at)
        .str(&attestation.expires_at)
        .finish();
    // An elevation for the new key at its node (§15.6, §16.3).
    let elevation = sovra_proto::registry::Elevation::sign(
        &registry,
        &k2.public(),
        "https://node.example/clouds/alice",
        at,
    );
    let elevation_bytes = Canonical::new("sovra-registry/1/elevation")
        .bytes(registry.public().as_bytes())
        .bytes(k2.public().as_bytes())
        .str("https://node.example/clouds/alice")
        .str(&elevation.issued_at)
        .str(&elevation.expires_at)
        .finish();
    json!({
        "elevation": elevation,
        "elevation_signing_bytes_hex": hex(&elevation_bytes),
        "registry_ed25519_seed": hex(registry.seed().as_ref()),
        "registry_pubkey": registry.public().to_b64(),
        "old_key": key_json(&k1),
        "new_key": key_json(&k2),
        "record_signing_bytes_hex": hex(&record_bytes),
        "link_signing_bytes_hex": hex(&link_bytes),
        "attestation": attestation,
        "attestation_signing_bytes_hex": hex(&attestation_bytes),
        "lookup": lookup,
        "expect": {
            "follow_from_old_key": "rotated",
            "follow_from_new_key": "unchanged",
            "follow_from_any_other_key": "reset",
        },
    })
}

/// With `SOVRA_BLESS` set, rewrites the files once, before either test reads them.
fn bless_if_asked() {
    static BLESSED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BLESSED.get_or_init(|| {
        if std::env::var_os("SOVRA_BLESS").is_some() {
            std::fs::create_dir_all(dir()).unwrap();
            for (name, value) in generate() {
                std::fs::write(dir().join(name), pretty(&value)).unwrap();
            }
        }
    });
}

#[test]
fn vectors_match_committed_files() {
    bless_if_asked();
    let mut stale = Vec::new();
    for (name, value) in generate() {
        let want = pretty(&value);
        if std::fs::read_to_string(dir().join(name)).ok().as_deref() != Some(want.as_str()) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "docs/test-vectors differ from what the code generates: {stale:?}. If the wire format \
         changed on purpose, run `SOVRA_BLESS=1 cargo test -p sovra-proto --test test_vectors` \
         and update docs/PROTOCOL.md."
    );
}

fn read(name: &str) -> Value {
    let text = std::fs::read_to_string(dir().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn vectors_verify_from_files_alone() {
    bless_if_asked();
    let keys = read("keys.json");
    let alice = keys_from_json(&keys["alice"]);
    let bob = keys_from_json(&keys["bob"]);
    for (k, v) in [(&alice, &keys["alice"]), (&bob, &keys["bob"])] {
        let p = k.public();
        assert_eq!(p.to_b64(), s(v, "ed25519_public"));
        assert_eq!(p.to_human(), s(v, "human"));
        assert_eq!(p.daemon_id(), s(v, "daemon_id"));
        assert_eq!(p.fingerprint(), s(v, "fingerprint"));
        assert_eq!(k.encryption.public().to_b64(), s(v, "x25519_public"));
    }
    assert_eq!(
        safety_code(&alice.public(), &bob.public()),
        s(&keys, "safety_code")
    );

    // Identity: the document verifies, and its sig is over exactly the listed bytes.
    let idv = read("identity.json");
    let doc: IdentityDocument = serde_json::from_value(idv["document"].clone()).unwrap();
    let identity = doc.verify().unwrap();
    assert_eq!(identity.pubkey, bob.public());
    assert_eq!(identity.encryption_key, bob.encryption.public());
    let sig: [u8; 64] = b64_decode("sig", &doc.sig, 64).unwrap().try_into().unwrap();
    bob.public()
        .verify("identity", &unhex(s(&idv, "signing_bytes_hex")), &sig)
        .unwrap();
    let mut altered = doc.clone();
    altered.handle = "@mallory.cloud".into();
    assert_eq!(altered.verify().unwrap_err().code(), "bad_signature");

    // Handshake.
    let hs = read("handshake.json");
    let now: Timestamp = s(&hs, "now").parse().unwrap();
    let request: HandshakeRequest = serde_json::from_value(hs["request"].clone()).unwrap();
    let response: HandshakeResponse = serde_json::from_value(hs["response"].clone()).unwrap();
    assert_eq!(
        hex(&spec_handshake_bytes(&request)),
        s(&hs, "handshake_signing_bytes_hex")
    );
    assert_eq!(
        hex(&spec_response_bytes(&response, &alice.public())),
        s(&hs, "response_signing_bytes_hex")
    );
    let received = handshake::receive(&request, &bob, now).unwrap();
    assert_eq!(received.topic, s(&hs, "topic"));
    assert_eq!(
        received.ephemeral_key.to_b64(),
        s(&hs, "initiator_ephemeral_public")
    );
    let pending = PendingHandshake {
        conversation_id: handshake::parse_conversation_id(&request.conversation_id).unwrap(),
        me: alice.public(),
        peer: bob.public(),
        sealed_intro: b64_decode("sealed_intro", &request.sealed_intro, 1 << 20).unwrap(),
        ephemeral: EncryptionSecret::from_bytes(
            unhex(s(&hs, "initiator_ephemeral_secret"))
                .try_into()
                .unwrap(),
        ),
        started_at: now,
    };
    let HandshakeOutcome::Accepted {
        session: alice_session,
        ack,
    } = pending.complete(&response).unwrap()
    else {
        panic!("refused")
    };
    assert_eq!(serde_json::to_value(&ack).unwrap(), hs["ack_plaintext"]);
    assert_eq!(
        serde_json::to_string(&ack).unwrap(),
        s(&hs, "ack_plaintext_json")
    );
    let mut powed = request.clone();
    powed.pow = hs["first_contact_pow"]["pow"].as_u64();
    assert!(powed.pow_valid(12).unwrap());
    let digest: [u8; 32] =
        sha2::Sha256::digest(unhex(s(&hs, "first_contact_pow.input_hex"))).into();
    assert_eq!(hex(&digest), s(&hs, "first_contact_pow.sha256_hex"));
    assert!(sovra_proto::pow::leading_zero_bits(&digest) >= 12);
    let intro: handshake::Intro = serde_json::from_str(s(&hs, "intro_plaintext")).unwrap();
    assert_eq!(
        (
            intro.topic.as_str(),
            intro.sent_at.as_str(),
            intro.sender_handle.as_deref()
        ),
        (received.topic.as_str(), s(&hs, "now"), Some("@alice.cloud"))
    );
    assert_eq!(intro.ephemeral_key, received.ephemeral_key.to_b64());
    let stored = alice_session.to_stored();
    assert_eq!(
        hex(&b64_decode("k", &stored.send_key, 32).unwrap()),
        s(&hs, "session_keys.initiator_to_responder")
    );
    assert_eq!(
        hex(&b64_decode("k", &stored.recv_key, 32).unwrap()),
        s(&hs, "session_keys.responder_to_initiator")
    );
    let refusal: HandshakeResponse = serde_json::from_value(hs["refusal"].clone()).unwrap();
    assert!(matches!(
        pending.complete(&refusal).unwrap(),
        HandshakeOutcome::Refused { reason } if reason == "not on whitelist"
    ));
    // Bob's side of the session, rebuilt from the vector's keys.
    let mut bob_stored = alice_session.to_stored();
    bob_stored.role = sovra_proto::Role::Responder;
    bob_stored.me = bob.public().to_b64();
    bob_stored.peer = alice.public().to_b64();
    std::mem::swap(&mut bob_stored.send_key, &mut bob_stored.recv_key);
    let bob_session = Session::from_stored(&bob_stored).unwrap();

    // Messages.
    let ms = read("messages.json");
    for m in ms["messages"].as_array().unwrap() {
        let req: MessageRequest = serde_json::from_value(m["request"].clone()).unwrap();
        let parsed = req.parse().unwrap();
        assert_eq!(
            hex(&spec_message_bytes(
                &parsed.token,
                parsed.seq,
                &parsed.sealed_payload
            )),
            s(m, "signing_bytes_hex")
        );
        assert_eq!(
            hex(&spec_payload_aad(
                s(&ms, "conversation_id"),
                &parsed.token,
                s(m, "direction"),
                parsed.seq
            )),
            s(m, "aad_hex")
        );
        let receiver = if s(m, "direction") == "initiator-to-responder" {
            &bob_session
        } else {
            &*alice_session
        };
        let got = receiver.open_bytes(&parsed).unwrap();
        assert_eq!(
            std::str::from_utf8(&got).unwrap(),
            s(m, "payload_plaintext")
        );
    }

    // Negative cases.
    let neg = read("negative.json");
    let cases = neg["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let name = s(case, "name");
        let err = match s(case, "kind") {
            "message" => {
                let req: MessageRequest = serde_json::from_value(case["request"].clone()).unwrap();
                let session = match case["receiver"].as_str() {
                    Some("alice") => &*alice_session,
                    _ => &bob_session,
                };
                receive_message(session, case, &req)
            }
            "handshake" => {
                let req: HandshakeRequest =
                    serde_json::from_value(case["request"].clone()).unwrap();
                let receiver = if s(case, "receiver") == "bob" {
                    &bob
                } else {
                    &alice
                };
                handshake::receive(&req, receiver, s(case, "now").parse().unwrap()).map(|_| ())
            }
            "response" => {
                let resp: HandshakeResponse =
                    serde_json::from_value(case["response"].clone()).unwrap();
                pending.complete(&resp).map(|_| ())
            }
            other => panic!("unknown kind {other}"),
        };
        assert_eq!(err.unwrap_err().code(), s(case, "error"), "{name}");
    }
}

/// What a receiver does with a message, in the order docs/PROTOCOL.md gives.
fn receive_message(
    session: &Session,
    case: &Value,
    req: &MessageRequest,
) -> Result<(), sovra_proto::ProtoError> {
    let parsed: ParsedMessage = req.parse()?;
    if parsed.token != session.token {
        return Err(sovra_proto::ProtoError::UnknownToken);
    }
    let mut window = ReplayWindow::default();
    for seq in case["accepted_seqs"].as_array().unwrap() {
        window.accept(seq.as_u64().unwrap());
    }
    window.check(parsed.seq)?;
    session.open(&parsed).map(|_| ())
}

#[test]
fn registry_vector_verifies_from_the_file_alone() {
    use sovra_proto::registry::{Follow, Lookup};
    bless_if_asked();
    let v = read("registry.json");
    let registry = PublicKey::from_b64("registry", s(&v, "registry_pubkey")).unwrap();
    let lookup: Lookup = serde_json::from_value(v["lookup"].clone()).unwrap();
    let verified = lookup.verify(&registry, "@alice.cloud").unwrap();
    let attestation: sovra_proto::registry::PhoneAttestation =
        serde_json::from_value(v["attestation"].clone()).unwrap();
    let issued: Timestamp = attestation.issued_at.parse().unwrap();
    let (vouched, _) = attestation
        .verify(&registry, "https://node.example", issued)
        .unwrap();
    assert_eq!(vouched, keys_from_json(&v["new_key"]).public());
    let att_sig: [u8; 64] = b64_decode("sig", &attestation.sig, 64)
        .unwrap()
        .try_into()
        .unwrap();
    registry
        .verify(
            "attestation",
            &unhex(s(&v, "attestation_signing_bytes_hex")),
            &att_sig,
        )
        .unwrap();
    let elevation: sovra_proto::registry::Elevation =
        serde_json::from_value(v["elevation"].clone()).unwrap();
    let new_key = keys_from_json(&v["new_key"]).public();
    elevation
        .verify(
            &registry,
            &new_key,
            "https://node.example/clouds/alice",
            elevation.issued_at.parse().unwrap(),
        )
        .unwrap();
    let el_sig: [u8; 64] = b64_decode("sig", &elevation.sig, 64)
        .unwrap()
        .try_into()
        .unwrap();
    registry
        .verify(
            "elevation",
            &unhex(s(&v, "elevation_signing_bytes_hex")),
            &el_sig,
        )
        .unwrap();
    // An attestation is never an elevation: another label.
    assert!(
        registry
            .verify("x", &unhex(s(&v, "attestation_signing_bytes_hex")), &el_sig)
            .is_err()
    );
    let old = keys_from_json(&v["old_key"]).public();
    let new = keys_from_json(&v["new_key"]).public();
    assert_eq!(verified.follow(&old), Follow::Rotated { to: new });
    assert_eq!(verified.follow(&new), Follow::Unchanged);
    // The signing bytes in the file are exactly what the signatures cover.
    let record_sig: [u8; 64] = b64_decode("sig", &lookup.record.sig, 64)
        .unwrap()
        .try_into()
        .unwrap();
    new.verify(
        "record",
        &unhex(s(&v, "record_signing_bytes_hex")),
        &record_sig,
    )
    .unwrap();
    let link = &lookup.chain[0];
    let old_sig: [u8; 64] = b64_decode("sig", link.old_sig.as_deref().unwrap(), 64)
        .unwrap()
        .try_into()
        .unwrap();
    old.verify("link", &unhex(s(&v, "link_signing_bytes_hex")), &old_sig)
        .unwrap();
    // Any change breaks the registry signature.
    let mut tampered = lookup.clone();
    tampered.record.endpoint = Some("https://evil.example/clouds/alice".into());
    assert_eq!(
        tampered
            .verify(&registry, "@alice.cloud")
            .unwrap_err()
            .code(),
        "bad_signature"
    );
}

#[test]
fn relay_vector_verifies_from_the_file_alone() {
    use sovra_proto::relay::{pow_valid, verify_auth};
    bless_if_asked();
    let v = read("relay.json");
    let nonce: [u8; 32] = b64_decode("n", s(&v, "challenge_nonce"), 32)
        .unwrap()
        .try_into()
        .unwrap();
    let key = verify_auth(
        s(&v, "relay"),
        &nonce,
        s(&v, "auth.pubkey"),
        s(&v, "auth.sig"),
    )
    .unwrap();
    let sig: [u8; 64] = b64_decode("sig", s(&v, "auth.sig"), 64)
        .unwrap()
        .try_into()
        .unwrap();
    key.verify("auth", &unhex(s(&v, "auth_signing_bytes_hex")), &sig)
        .unwrap();
    assert!(
        verify_auth(
            "wss://other.example",
            &nonce,
            s(&v, "auth.pubkey"),
            s(&v, "auth.sig")
        )
        .is_err()
    );
    let p = &v["pow"];
    let pow_nonce: [u8; 32] = b64_decode("n", s(p, "nonce"), 32)
        .unwrap()
        .try_into()
        .unwrap();
    let sender = PublicKey::from_b64("s", s(p, "sender")).unwrap();
    let recipient = PublicKey::from_b64("r", s(p, "recipient")).unwrap();
    let counter = p["counter"].as_u64().unwrap();
    let difficulty = p["difficulty"].as_u64().unwrap() as u8;
    assert!(pow_valid(
        &pow_nonce, &sender, &recipient, counter, difficulty
    ));
    let digest = sha2::Sha256::digest(unhex(s(p, "hashed_bytes_hex")));
    assert_eq!(hex(&digest), s(p, "sha256_hex"));
    assert_eq!(digest[0], 0);
    assert!(digest[1] < 0x10, "12 leading zero bits");
    assert!(!pow_valid(&pow_nonce, &recipient, &sender, counter, difficulty) || counter == 0);
}
