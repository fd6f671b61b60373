//! Cost of the protocol's cryptography, beside the raw primitives it is built from.
//!
//! Run: `cargo bench -p sovra-proto --bench crypto`, then
//! `python3 scripts/bench_ratio.py` for the per-message ratio recorded in docs/BENCHMARKS.md.
//!
//! The per-message target is: seal+sign at the sender plus verify+open at the receiver within
//! 1.2x of (one Ed25519 sign + one verify + two ChaCha20-Poly1305 passes) over the same
//! payload, i.e. no public-key operation per message beyond the signature.

use std::hint::black_box;

use chacha20poly1305::aead::{Aead, KeyInit, Payload as AeadPayload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use jiff::Timestamp;
use sovra_proto::handshake;
use sovra_proto::{
    Ack, Capability, CloudKeys, HandshakeOutcome, HandshakeRequest, HandshakeResponse,
    IdentityDocument, PendingHandshake, Session, os_rng,
};

fn now() -> Timestamp {
    "2026-11-21T12:00:00Z".parse().unwrap()
}

fn ack() -> Ack {
    Ack {
        capabilities: vec!["RecentHN".into()],
        expires_at: None,
        accepted_at: "2026-11-21T12:00:00Z".into(),
        responder_handle: None,
    }
}

fn initiate(alice: &CloudKeys, bob: &CloudKeys) -> (HandshakeRequest, PendingHandshake) {
    handshake::initiate(
        &mut os_rng(),
        alice,
        None,
        bob.public(),
        bob.encryption.public(),
        "bench",
        now(),
    )
    .unwrap()
}

/// A handshake run to the end: the pending initiator and the responder's answer.
fn answered(alice: &CloudKeys, bob: &CloudKeys) -> (PendingHandshake, HandshakeResponse, Session) {
    let (req, pending) = initiate(alice, bob);
    let received = handshake::receive(&req, bob, now()).unwrap();
    let (resp, b) = handshake::accept(&mut os_rng(), bob, &received, &ack()).unwrap();
    (pending, resp, b)
}

fn sessions(alice: &CloudKeys, bob: &CloudKeys) -> (Session, Session) {
    let (pending, resp, b) = answered(alice, bob);
    let HandshakeOutcome::Accepted { session: a, .. } = pending.complete(&resp).unwrap() else {
        unreachable!()
    };
    (*a, b)
}

/// A JSON payload plaintext of exactly `size` bytes.
fn payload_of(size: usize) -> Vec<u8> {
    let overhead = br#"{"text":""}"#.len();
    let text = "x".repeat(size - overhead);
    let bytes = serde_json::to_vec(&serde_json::json!({ "text": text })).unwrap();
    assert_eq!(bytes.len(), size);
    bytes
}

fn identity(c: &mut Criterion) {
    let keys = CloudKeys::generate(&mut os_rng());
    let caps = vec![Capability {
        name: "AskBrainstem".into(),
        description: "Natural-language Q to my brainstem".into(),
    }];
    let mut g = c.benchmark_group("identity");
    g.bench_function("sign", |b| {
        b.iter(|| {
            IdentityDocument::sign(&keys, "@bob.cloud", caps.clone(), vec![], vec![], now())
                .unwrap()
        })
    });
    let doc = IdentityDocument::sign(&keys, "@bob.cloud", caps, vec![], vec![], now()).unwrap();
    g.bench_function("verify", |b| b.iter(|| black_box(&doc).verify().unwrap()));
    g.finish();
}

fn handshake_bench(c: &mut Criterion) {
    let alice = CloudKeys::generate(&mut os_rng());
    let bob = CloudKeys::generate(&mut os_rng());
    let mut g = c.benchmark_group("handshake");
    let mut rng = os_rng();
    g.bench_function("initiator_send", |b| b.iter(|| initiate(&alice, &bob)));
    let (req, _) = initiate(&alice, &bob);
    g.bench_function("responder_receive_accept", |b| {
        b.iter(|| {
            let r = handshake::receive(black_box(&req), &bob, now()).unwrap();
            handshake::accept(&mut rng, &bob, &r, &ack()).unwrap()
        })
    });
    g.bench_function("initiator_complete", |b| {
        b.iter_batched(
            || answered(&alice, &bob),
            |(pending, resp, _)| pending.complete(&resp).unwrap(),
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn messages(c: &mut Criterion) {
    let alice = CloudKeys::generate(&mut os_rng());
    let bob = CloudKeys::generate(&mut os_rng());
    let (a, b_session) = sessions(&alice, &bob);
    let mut rng = os_rng();
    for size in [1024usize, 64 * 1024] {
        let plaintext = payload_of(size);
        let label = format!("{}KiB", size / 1024);
        let mut g = c.benchmark_group("message");
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new("seal_sign", &label), |b| {
            b.iter(|| {
                a.seal_bytes(&mut rng, &alice.signing, 1, black_box(&plaintext))
                    .unwrap()
            })
        });
        let m = a
            .seal_bytes(&mut rng, &alice.signing, 1, &plaintext)
            .unwrap();
        g.bench_function(BenchmarkId::new("verify_open", &label), |b| {
            b.iter(|| {
                let parsed = black_box(&m).parse().unwrap();
                b_session.open(&parsed).unwrap()
            })
        });
        g.finish();

        // The raw primitives over the same payload.
        let mut g = c.benchmark_group("primitive");
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new("ed25519_sign", &label), |b| {
            b.iter(|| alice.signing.sign(black_box(&plaintext)))
        });
        let sig = alice.signing.sign(&plaintext);
        let public = alice.public();
        g.bench_function(BenchmarkId::new("ed25519_verify", &label), |b| {
            b.iter(|| public.verify("bench", black_box(&plaintext), &sig).unwrap())
        });
        let cipher = ChaCha20Poly1305::new(&[7u8; 32].into());
        let nonce = Nonce::from([0u8; 12]);
        g.bench_function(BenchmarkId::new("chacha20poly1305_seal", &label), |b| {
            b.iter(|| {
                cipher
                    .encrypt(
                        &nonce,
                        AeadPayload {
                            msg: black_box(&plaintext),
                            aad: b"",
                        },
                    )
                    .unwrap()
            })
        });
        g.finish();
    }
}

criterion_group!(benches, identity, handshake_bench, messages);
criterion_main!(benches);
