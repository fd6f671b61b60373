//! `sovra relay serve` as a real process: what it keeps on disk and in its log after a
//! conversation (no plaintext), and what survives SIGKILL under load (every accepted envelope).

mod common;

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use common::ServiceProcess;
use std::time::Duration;

use serde_json::json;
use sovra_client::RelayConnection;
use sovra_proto::relay::{AckResponse, EnvelopeContent};
use sovra_proto::{
    Ack, CloudKeys, HandshakeOutcome, HandshakeResponse, Payload, handshake, os_rng,
};

fn start_relay(dir: &Path, listen: &str, extra: &[&str]) -> ServiceProcess {
    let fixed = ["relay", "serve", "--listen", listen, "--dir"];
    let mut args: Vec<&OsStr> = fixed.iter().map(OsStr::new).collect();
    args.push(dir.as_os_str());
    args.extend(extra.iter().map(|a| OsStr::new(*a)));
    ServiceProcess::start(&args, "ws://", "debug")
}

const MARKER: &str = "PLAINTEXT-7f3a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_keeps_and_logs_no_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_relay(
        dir.path(),
        "127.0.0.1:0",
        &["--pow-difficulty", "8", "--log-format", "json"],
    );
    let mut rng = os_rng();
    let (alice, bob) = (CloudKeys::generate(&mut rng), CloudKeys::generate(&mut rng));
    let mut a = RelayConnection::connect(&relay.url, &alice.signing)
        .await
        .unwrap();
    let mut b = RelayConnection::connect(&relay.url, &bob.signing)
        .await
        .unwrap();

    // The handshake, its answer, and messages both ways, all through the relay.
    let topic = format!("{MARKER} topic: the surprise party");
    let (request, pending) = handshake::initiate(
        &mut rng,
        &alice,
        Some("@alice.cloud"),
        bob.public(),
        bob.encryption.public(),
        &topic,
        jiff::Timestamp::now(),
    )
    .unwrap();
    a.send(
        &bob.public(),
        "/api/d2d/handshake",
        serde_json::to_value(&request).unwrap(),
    )
    .await
    .unwrap();
    let got = b.next_envelope().await.unwrap();
    let EnvelopeContent::Request { body, .. } = got.content else {
        panic!()
    };
    let received = handshake::receive(
        &serde_json::from_value(body).unwrap(),
        &bob,
        jiff::Timestamp::now(),
    )
    .unwrap();
    assert_eq!(received.topic, topic);
    let ack = Ack {
        capabilities: vec![],
        expires_at: None,
        accepted_at: sovra_proto::time::format(jiff::Timestamp::now()),
        responder_handle: Some("@bob.cloud".into()),
    };
    let (response, bob_session) = handshake::accept(&mut rng, &bob, &received, &ack).unwrap();
    b.ack(
        &got.envelope,
        Some(AckResponse {
            status: 200,
            body: serde_json::to_value(&response).unwrap(),
            contact: true,
        }),
    )
    .await
    .unwrap();
    let answer = a.next_envelope().await.unwrap();
    let EnvelopeContent::Response { body, .. } = answer.content else {
        panic!()
    };
    let response: HandshakeResponse = serde_json::from_value(body).unwrap();
    let HandshakeOutcome::Accepted { session, .. } = pending.complete(&response).unwrap() else {
        panic!("refused")
    };
    a.ack(&answer.envelope, None).await.unwrap();

    for seq in 1..=3u64 {
        let text = format!("{MARKER} message {seq}: meet at the lighthouse");
        let m = session
            .seal(&mut rng, &alice.signing, seq, &Payload::text(&text))
            .unwrap();
        a.send(
            &bob.public(),
            "/api/d2d/message",
            serde_json::to_value(&m).unwrap(),
        )
        .await
        .unwrap();
        let got = b.next_envelope().await.unwrap();
        let EnvelopeContent::Request { body, .. } = got.content else {
            panic!()
        };
        let m: sovra_proto::MessageRequest = serde_json::from_value(body).unwrap();
        assert_eq!(bob_session.open(&m.parse().unwrap()).unwrap().text, text);
        // The last one stays unacked, so the database still holds a sealed body.
        if seq < 3 {
            b.ack(
                &got.envelope,
                Some(AckResponse {
                    status: 200,
                    body: json!({"received": true}),
                    contact: true,
                }),
            )
            .await
            .unwrap();
        }
    }
    let sealed_left = {
        let m = session
            .seal(
                &mut rng,
                &alice.signing,
                4,
                &Payload::text(format!("{MARKER} four")),
            )
            .unwrap();
        a.send(
            &bob.public(),
            "/api/d2d/message",
            serde_json::to_value(&m).unwrap(),
        )
        .await
        .unwrap();
        m.sealed_payload
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop((a, b));

    // Everything the relay wrote: its database files and its log.
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let stored = String::from_utf8_lossy(&stored).into_owned();
    let log = relay.log.lock().unwrap().clone();
    // `--log-format json`: one JSON object a line, no colour codes.
    assert!(!log.is_empty());
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string(), "{line}");
    }
    assert!(!log.contains('\u{1b}'), "no ANSI escapes");
    // The scan can see what is there: the sealed body is in the database.
    assert!(stored.contains(&sealed_left), "the scan reads the database");
    for secret in [
        MARKER,
        "lighthouse",
        "surprise party",
        "@alice.cloud",
        "@bob.cloud",
    ] {
        assert!(
            !stored.contains(secret),
            "the relay's files contain {secret:?}"
        );
        assert!(
            !log.contains(secret),
            "the relay's log contains {secret:?}:\n{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_envelopes_survive_sigkill_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let args = [
        "--pow-difficulty",
        "0",
        "--rate",
        "100000",
        "--burst",
        "100000",
    ];
    let mut relay = start_relay(dir.path(), &listen, &args);
    let url = relay.url.clone();
    let mut rng = os_rng();
    let bob = CloudKeys::generate(&mut rng);

    // Four senders push as fast as the relay accepts; bob receives and acks at the same time.
    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let mut senders = Vec::new();
    for _ in 0..4 {
        let (url, accepted, to) = (url.clone(), accepted.clone(), bob.public());
        senders.push(tokio::spawn(async move {
            let keys = CloudKeys::generate(&mut os_rng());
            let mut c = RelayConnection::connect(&url, &keys.signing).await.unwrap();
            for n in 0u64.. {
                match c
                    .send(
                        &to,
                        "/api/d2d/message",
                        json!({"n": n, "pad": "x".repeat(512)}),
                    )
                    .await
                {
                    Ok(id) => {
                        accepted.lock().unwrap().insert(id);
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let receiver = {
        let (url, seen, keys) = (
            url.clone(),
            seen.clone(),
            sovra_proto::SigningKeypair::from_seed(&bob.signing.seed()),
        );
        tokio::spawn(async move {
            let Ok(mut c) = RelayConnection::connect(&url, &keys).await else {
                return;
            };
            // Bob acks only the even-numbered ones: the odd ones he received must come again
            // after the restart (at-least-once), and his dedup must hide the repeats.
            while let Ok(e) = c.next_envelope().await {
                seen.lock().unwrap().insert(e.envelope.clone());
                let EnvelopeContent::Request { body, .. } = &e.content else {
                    continue;
                };
                if body["n"].as_u64().unwrap_or(1) % 2 == 0
                    && c.ack(&e.envelope, None).await.is_err()
                {
                    return;
                }
            }
        })
    };
    // Let load build, then kill the relay mid-flight.
    for _ in 0..400 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        if accepted.lock().unwrap().len() >= 300 && seen.lock().unwrap().len() >= 20 {
            break;
        }
    }
    relay.kill9();
    for s in senders {
        let _ = s.await;
    }
    let _ = receiver.await;
    let accepted = accepted.lock().unwrap().clone();
    assert!(accepted.len() >= 50, "too little load: {}", accepted.len());

    // Restarted on the same address, the relay still has every accepted envelope that bob
    // did not ack; bob, deduplicating by envelope id like a node does, sees each exactly once.
    let _relay = start_relay(dir.path(), &listen, &args);
    let mut c = RelayConnection::connect(&url, &bob.signing).await.unwrap();
    let mut seen = seen.lock().unwrap().clone();
    let received_before = seen.len();
    let mut duplicates = 0;
    // Read until every accepted envelope has arrived and the relay has nothing more to push:
    // bob may already have seen them all before the kill, and the odd ones he did not ack must
    // still come again.
    loop {
        let wait = if accepted.is_subset(&seen) {
            Duration::from_secs(2)
        } else {
            Duration::from_secs(10)
        };
        let Ok(e) = tokio::time::timeout(wait, c.next_envelope()).await else {
            assert!(
                accepted.is_subset(&seen),
                "{} accepted envelopes never arrived",
                accepted.difference(&seen).count()
            );
            break;
        };
        let e = e.unwrap();
        if !seen.insert(e.envelope.clone()) {
            duplicates += 1;
        }
        c.ack(&e.envelope, None).await.unwrap();
    }
    // Redelivery is allowed only for what bob received but whose ack the kill lost.
    println!(
        "accepted {}, seen {}, redelivered {duplicates}",
        accepted.len(),
        seen.len()
    );
    assert!(received_before > 0, "bob received nothing before the kill");
    assert!(
        duplicates > 0,
        "the unacked envelopes bob had were not delivered again"
    );
    // Beyond the accepted ones, bob can only have the one send per sender that was committed
    // while the kill cut off its `accepted` answer.
    assert!(seen.difference(&accepted).count() <= 4);
}
