//! A real relay on loopback and real WebSocket clients authenticated with cloud keys.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sovra_client::{ClientError, RelayConnection};
use sovra_proto::relay::{AckResponse, ClientFrame, EnvelopeContent, PowSolution, ServerFrame};
use sovra_proto::{SigningKeypair, os_rng};
use sovra_relay::{Relay, Settings};
use tokio_tungstenite::tungstenite::Message;

struct TestRelay {
    url: String,
    _relay: Arc<Relay>,
    _dir: tempfile::TempDir,
}

async fn start(tune: impl FnOnce(&mut Settings)) -> TestRelay {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let mut settings = Settings::new(url.clone());
    settings.pow_difficulty = 8;
    tune(&mut settings);
    let relay = sovra_relay::server::open(dir.path(), settings)
        .await
        .unwrap();
    tokio::spawn(sovra_relay::server::serve(
        listener,
        relay.clone(),
        std::future::pending(),
    ));
    TestRelay {
        url,
        _relay: relay,
        _dir: dir,
    }
}

fn key() -> SigningKeypair {
    SigningKeypair::generate(&mut os_rng())
}

const MSG: &str = "/api/d2d/message";

fn code(e: ClientError) -> String {
    match e {
        ClientError::Status { code, .. } => code,
        other => panic!("expected a refusal, got {other}"),
    }
}

/// Reads frames on a raw connection until one that is not an envelope.
async fn raw_answer(conn: &mut RelayConnection) -> ServerFrame {
    loop {
        match conn.read().await.unwrap() {
            ServerFrame::Envelope(_) => {}
            f => return f,
        }
    }
}

#[tokio::test]
async fn unauthenticated_connections_get_nothing() {
    let relay = start(|_| {}).await;
    let (alice, bob) = (key(), key());
    // Bob has something waiting.
    let mut a = RelayConnection::connect(&relay.url, &alice).await.unwrap();
    a.send(&bob.public(), MSG, json!({"sealed": "x"}))
        .await
        .unwrap();

    let url = format!("{}/v1/connect", relay.url);
    let frames = |first: String| {
        let url = url.clone();
        async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
            let Some(Ok(Message::Text(challenge))) = ws.next().await else {
                panic!("no challenge")
            };
            let challenge: ServerFrame = serde_json::from_str(&challenge).unwrap();
            assert!(matches!(challenge, ServerFrame::Challenge { .. }));
            ws.send(Message::Text(first.into())).await.unwrap();
            let mut seen = Vec::new();
            while let Some(Ok(Message::Text(t))) = ws.next().await {
                seen.push(serde_json::from_str::<ServerFrame>(&t).unwrap());
            }
            seen
        }
    };
    // A send before auth; an auth by bob's key with a signature over the wrong nonce; an auth
    // meant for another relay. Each gets one refusal, then the connection closes, and none
    // sees bob's envelope.
    let forged = sovra_proto::relay::sign_auth(&bob, &relay.url, &[0u8; 32]);
    let elsewhere = {
        // A correct signature, but over another relay's URL: it cannot be replayed here.
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("{}/v1/connect", relay.url))
            .await
            .unwrap();
        let Some(Ok(Message::Text(c))) = ws.next().await else {
            panic!()
        };
        let ServerFrame::Challenge { nonce, .. } = serde_json::from_str(&c).unwrap() else {
            panic!()
        };
        let nonce = sovra_proto::encoding::b64_array::<32>("n", &nonce).unwrap();
        let f = sovra_proto::relay::sign_auth(&bob, "ws://relay.elsewhere", &nonce);
        ws.send(Message::Text(serde_json::to_string(&f).unwrap().into()))
            .await
            .unwrap();
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            panic!()
        };
        serde_json::from_str::<ServerFrame>(&t).unwrap()
    };
    for seen in [
        frames(r#"{"type":"send","id":"1","to":"x","path":"/api/d2d/message","body":{}}"#.into())
            .await,
        frames(serde_json::to_string(&forged).unwrap()).await,
        frames("not json".into()).await,
    ] {
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(
            matches!(&seen[0], ServerFrame::Error { error, .. } if error == "unauthenticated"),
            "{seen:?}"
        );
    }
    assert!(
        matches!(elsewhere, ServerFrame::Error { ref error, .. } if error == "unauthenticated")
    );
}

#[tokio::test]
async fn offline_then_online_delivery_acks_and_answers() {
    let relay = start(|_| {}).await;
    let (alice, bob) = (key(), key());
    let mut a = RelayConnection::connect(&relay.url, &alice).await.unwrap();
    // Bob is offline: the relay queues.
    let e1 = a.send(&bob.public(), MSG, json!({"n": 1})).await.unwrap();
    let e2 = a.send(&bob.public(), MSG, json!({"n": 2})).await.unwrap();

    // Bob connects, receives both in order, but acks only the first before dropping.
    let mut b = RelayConnection::connect(&relay.url, &bob).await.unwrap();
    let got1 = b.next_envelope().await.unwrap();
    let got2 = b.next_envelope().await.unwrap();
    assert_eq!(
        (got1.envelope.as_str(), got2.envelope.as_str()),
        (e1.as_str(), e2.as_str())
    );
    assert_eq!(got1.from, alice.public().to_b64());
    assert!(
        matches!(&got1.content, EnvelopeContent::Request { path, body } if path == MSG && body["n"] == 1)
    );
    b.ack(
        &e1,
        Some(AckResponse {
            status: 200,
            body: json!({"received": true}),
            contact: true,
        }),
    )
    .await
    .unwrap();
    // Alice, online, gets bob's answer pushed, pointing back at her envelope.
    let answer = a.next_envelope().await.unwrap();
    assert_eq!(answer.from, bob.public().to_b64());
    assert!(matches!(
        &answer.content,
        EnvelopeContent::Response { reply_to, status: 200, body } if *reply_to == e1 && body["received"] == true
    ));
    a.ack(&answer.envelope, None).await.unwrap();
    // A repeated ack changes nothing (and queues no second answer).
    b.ack(
        &e1,
        Some(AckResponse {
            status: 200,
            body: json!({}),
            contact: true,
        }),
    )
    .await
    .unwrap();
    drop(b);

    // At-least-once: the unacked envelope comes again on the next connection; the acked not.
    let mut b = RelayConnection::connect(&relay.url, &bob).await.unwrap();
    let again = b.next_envelope().await.unwrap();
    assert_eq!(again.envelope, e2);
    b.ack(&e2, None).await.unwrap();
    // Nothing else is waiting for alice (the duplicate ack queued nothing).
    let e3 = a.send(&bob.public(), MSG, json!({"n": 3})).await.unwrap();
    let next = b.next_envelope().await.unwrap();
    assert_eq!(next.envelope, e3);
}

#[tokio::test]
async fn first_contact_needs_a_fresh_bound_proof_of_work() {
    let relay = start(|s| s.pow_difficulty = 12).await;
    let (alice, bob, carol) = (key(), key(), key());
    let mut a = RelayConnection::connect(&relay.url, &alice).await.unwrap();
    let send = |pow: Option<PowSolution>, to: &SigningKeypair, id: &str| ClientFrame::Send {
        id: id.into(),
        to: to.public().to_b64(),
        path: MSG.into(),
        body: json!({}),
        pow,
    };
    let err = |f: ServerFrame| match f {
        ServerFrame::Error { error, .. } => error,
        other => panic!("expected an error, got {other:?}"),
    };
    // Missing.
    a.write(&send(None, &bob, "1")).await.unwrap();
    assert_eq!(err(raw_answer(&mut a).await), "pow_required");
    // Wrong counter.
    let good = a.solve(&bob.public()).await.unwrap();
    let mut wrong = good.clone();
    wrong.counter = (0..)
        .find(|c| {
            !sovra_proto::relay::pow_valid(
                &sovra_proto::encoding::b64_array::<32>("n", &good.nonce).unwrap(),
                &alice.public(),
                &bob.public(),
                *c,
                12,
            )
        })
        .unwrap();
    a.write(&send(Some(wrong), &bob, "2")).await.unwrap();
    assert_eq!(err(raw_answer(&mut a).await), "bad_pow");
    // The failed try spent the puzzle: the right counter no longer works either.
    a.write(&send(Some(good), &bob, "3")).await.unwrap();
    assert_eq!(err(raw_answer(&mut a).await), "bad_pow");
    // A puzzle solved for bob does not open carol.
    let for_bob = a.solve(&bob.public()).await.unwrap();
    a.write(&send(Some(for_bob.clone()), &carol, "4"))
        .await
        .unwrap();
    assert_eq!(err(raw_answer(&mut a).await), "bad_pow");
    // Made-up nonces are refused.
    let made_up = PowSolution {
        nonce: sovra_proto::encoding::b64(&[5u8; 32]),
        counter: 1,
    };
    a.write(&send(Some(made_up), &bob, "5")).await.unwrap();
    assert_eq!(err(raw_answer(&mut a).await), "bad_pow");
    // A fresh one works (the client solves it when asked).
    let e = a.send(&bob.public(), MSG, json!({})).await.unwrap();

    // An answer alone (bob refusing a stranger's knock) exempts nobody.
    let mut b = RelayConnection::connect(&relay.url, &bob).await.unwrap();
    let answer = |contact| {
        Some(AckResponse {
            status: 200,
            body: json!({}),
            contact,
        })
    };
    assert_eq!(b.next_envelope().await.unwrap().envelope, e);
    b.ack(&e, answer(false)).await.unwrap();
    a.next_envelope().await.unwrap();
    a.write(&send(None, &bob, "6")).await.unwrap();
    assert_eq!(err(raw_answer(&mut a).await), "pow_required");

    // Once bob vouches for alice, she needs no proof of work for him any more…
    let e2 = a.send(&bob.public(), MSG, json!({})).await.unwrap();
    assert_eq!(b.next_envelope().await.unwrap().envelope, e2);
    b.ack(&e2, answer(true)).await.unwrap();
    a.next_envelope().await.unwrap();
    a.write(&send(None, &bob, "7")).await.unwrap();
    assert!(matches!(
        raw_answer(&mut a).await,
        ServerFrame::Accepted { .. }
    ));
    // …but carol still does…
    a.write(&send(None, &carol, "8")).await.unwrap();
    assert_eq!(err(raw_answer(&mut a).await), "pow_required");
    // …and when bob answers without vouching again (alice left his whitelist), she pays again.
    let e3 = b.next_envelope().await.unwrap().envelope;
    b.ack(&e3, answer(false)).await.unwrap();
    a.next_envelope().await.unwrap();
    a.write(&send(None, &bob, "9")).await.unwrap();
    assert_eq!(err(raw_answer(&mut a).await), "pow_required");
}

#[tokio::test]
async fn undelivered_envelopes_expire_and_the_sender_is_told() {
    let relay = start(|s| {
        s.ttl = Duration::from_secs(1);
        s.sweep_every = Duration::from_millis(200);
    })
    .await;
    let (alice, bob) = (key(), key());
    let mut a = RelayConnection::connect(&relay.url, &alice).await.unwrap();
    let e = a.send(&bob.public(), MSG, json!({})).await.unwrap();
    let notice = a.next_envelope().await.unwrap();
    assert!(matches!(&notice.content, EnvelopeContent::Expired { reply_to } if *reply_to == e));
    a.ack(&notice.envelope, None).await.unwrap();
    // Bob, connecting later, gets nothing.
    let mut b = RelayConnection::connect(&relay.url, &bob).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(500), b.next_envelope()).await;
    assert!(waited.is_err(), "bob got {waited:?}");
}

#[tokio::test]
async fn the_rate_limit_and_the_quota_hold() {
    let relay = start(|s| {
        s.pow_difficulty = 0;
        s.rate_per_second = 1.0;
        s.burst = 3.0;
    })
    .await;
    let (alice, bob) = (key(), key());
    let mut a = RelayConnection::connect(&relay.url, &alice).await.unwrap();
    for _ in 0..3 {
        a.send(&bob.public(), MSG, json!({})).await.unwrap();
    }
    a.write(&ClientFrame::Send {
        id: "x".into(),
        to: bob.public().to_b64(),
        path: MSG.into(),
        body: json!({}),
        pow: None,
    })
    .await
    .unwrap();
    match raw_answer(&mut a).await {
        ServerFrame::Error {
            error,
            retry_after_ms: Some(ms),
            ..
        } => {
            assert_eq!(error, "rate_limited");
            assert!(ms > 0 && ms <= 1000, "{ms}");
        }
        other => panic!("{other:?}"),
    }
    // Another sender is not affected.
    let mut c = RelayConnection::connect(&relay.url, &key()).await.unwrap();
    c.send(&bob.public(), MSG, json!({})).await.unwrap();

    let relay = start(|s| {
        s.pow_difficulty = 0;
        s.quota.envelopes = 2;
    })
    .await;
    let mut a = RelayConnection::connect(&relay.url, &alice).await.unwrap();
    a.send(&bob.public(), MSG, json!({})).await.unwrap();
    a.send(&bob.public(), MSG, json!({})).await.unwrap();
    let full = a.send(&bob.public(), MSG, json!({})).await.unwrap_err();
    assert_eq!(code(full), "quota_exceeded");
    // Acking frees room.
    let mut b = RelayConnection::connect(&relay.url, &bob).await.unwrap();
    let first = b.next_envelope().await.unwrap();
    b.ack(&first.envelope, None).await.unwrap();
    // The ack is applied before bob's next frame is read; give it a moment to commit.
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.send(&bob.public(), MSG, json!({})).await.unwrap();
}

/// Keys are free: one key's storage across all recipients is bounded, and so is one source
/// address's across all its keys — also after a restart, which recounts from the database.
#[tokio::test]
async fn storage_is_bounded_per_sender_key_and_per_source_address() {
    let dir = tempfile::tempdir().unwrap();
    let open = |per_key: i64, per_source: i64| {
        let dir = dir.path().to_owned();
        async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("ws://{}", listener.local_addr().unwrap());
            let mut settings = Settings::new(url.clone());
            settings.pow_difficulty = 0;
            settings.exempt_loopback = false;
            settings.quota.per_key_envelopes = per_key;
            settings.quota.per_source_envelopes = per_source;
            let relay = sovra_relay::server::open(&dir, settings).await.unwrap();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(sovra_relay::server::serve(listener, relay, async {
                let _ = stopped.await;
            }));
            (url, stop, task)
        }
    };
    let (url, stop, task) = open(3, 5).await;
    let (alice, carol) = (key(), key());
    let recipients: Vec<SigningKeypair> = (0..8).map(|_| key()).collect();
    let mut a = RelayConnection::connect(&url, &alice).await.unwrap();
    for r in &recipients[..3] {
        a.send(&r.public(), MSG, json!({})).await.unwrap();
    }
    // Every recipient has room, but alice's key has used its share.
    let full = a
        .send(&recipients[3].public(), MSG, json!({}))
        .await
        .unwrap_err();
    assert_eq!(code(full), "quota_exceeded");
    // A fresh key from the same address gets the address's remaining two, then no more.
    let mut c = RelayConnection::connect(&url, &carol).await.unwrap();
    for r in &recipients[3..5] {
        c.send(&r.public(), MSG, json!({})).await.unwrap();
    }
    let full = c
        .send(&recipients[5].public(), MSG, json!({}))
        .await
        .unwrap_err();
    assert_eq!(code(full), "quota_exceeded");
    // Delivery frees the share.
    let mut r0 = RelayConnection::connect(&url, &recipients[0])
        .await
        .unwrap();
    let got = r0.next_envelope().await.unwrap();
    r0.ack(&got.envelope, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.send(&recipients[5].public(), MSG, json!({}))
        .await
        .unwrap();
    drop((a, c, r0));
    let _ = stop.send(());
    let _ = task.await;

    // After a restart the address is still full (5 waiting), and a new key is refused.
    let (url, _stop, _task) = open(3, 5).await;
    let mut d = RelayConnection::connect(&url, &key()).await.unwrap();
    let full = d
        .send(&recipients[6].public(), MSG, json!({}))
        .await
        .unwrap_err();
    assert_eq!(code(full), "quota_exceeded");
}

#[tokio::test]
async fn malformed_frames_are_refused_and_the_connection_stays_usable() {
    let relay = start(|s| s.pow_difficulty = 0).await;
    let (alice, bob) = (key(), key());
    let mut a = RelayConnection::connect(&relay.url, &alice).await.unwrap();
    let cases: [(&str, &str); 6] = [
        ("not json", "malformed"),
        (r#"{"type":"nope"}"#, "malformed"),
        (
            r#"{"type":"send","id":"1","to":"AAAA","path":"/api/d2d/message","body":{}}"#,
            "wrong_size",
        ),
        (
            r#"{"type":"send","id":"1","to":"@@@","path":"/api/d2d/message","body":{}}"#,
            "bad_encoding",
        ),
        (
            r#"{"type":"ack","envelope":"e","response":{"status":42,"body":{}}}"#,
            "malformed",
        ),
        (r#"{"type":"auth","pubkey":"x","sig":"y"}"#, "malformed"),
    ];
    for (text, want) in cases {
        a.write_text(text).await.unwrap();
        match raw_answer(&mut a).await {
            ServerFrame::Error { error, .. } => assert_eq!(error, want, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    let bad_path = a
        .send(&bob.public(), "/api/owner/send", json!({}))
        .await
        .unwrap_err();
    assert_eq!(code(bad_path), "malformed");
    let not_object = a.send(&bob.public(), MSG, json!([1])).await.unwrap_err();
    assert_eq!(code(not_object), "malformed");
    // Oversized frames close the connection without taking the relay down.
    let big = "x".repeat(2 * 1024 * 1024);
    let _ = a
        .write_text(&format!(
            r#"{{"type":"send","id":"1","to":"{}","path":"{MSG}","body":{{"b":"{big}"}}}}"#,
            bob.public().to_b64()
        ))
        .await;
    assert!(a.read().await.is_err());
    let mut again = RelayConnection::connect(&relay.url, &alice).await.unwrap();
    again.send(&bob.public(), MSG, json!({})).await.unwrap();
}

#[tokio::test]
async fn relay_info_and_unknown_paths() {
    let relay = start(|_| {}).await;
    let http = relay.url.replace("ws://", "http://");
    let info: Value = reqwest_get(&format!("{http}/v1/relay")).await;
    assert_eq!(info["relay"], json!(relay.url));
    assert_eq!(info["pow_difficulty"], 8);
    let health: Value = reqwest_get(&format!("{http}/healthz")).await;
    assert_eq!(health, json!({"status": "ok"}));
    let ready: Value = reqwest_get(&format!("{http}/readyz")).await;
    assert_eq!(ready, json!({"status": "ready"}));
    let missing: Value = reqwest_get(&format!("{http}/v1/nothing")).await;
    assert_eq!(missing["error"], "not_found");
    // Gauges for operators: connections, and what waits (process-wide: tests share a recorder).
    let (alice, bob) = (key(), key());
    let mut a = RelayConnection::connect(&relay.url, &alice).await.unwrap();
    let mut b = RelayConnection::connect(&relay.url, &bob).await.unwrap();
    a.send(&bob.public(), MSG, json!({"n": 1})).await.unwrap();
    let _ = b.next_envelope().await.unwrap();
    let metrics = reqwest::get(format!("{http}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "sovra_relay_connections ",
        "sovra_relay_envelopes_waiting ",
        "sovra_relay_bytes_waiting ",
        "sovra_relay_envelopes_stored_total ",
    ] {
        assert!(metrics.contains(name), "{name} missing: {metrics}");
    }
}

async fn reqwest_get(url: &str) -> Value {
    let (host, path) = url.trim_start_matches("http://").split_once('/').unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(
        format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    serde_json::from_str(out.split("\r\n\r\n").nth(1).unwrap()).unwrap()
}

#[tokio::test]
async fn one_sender_cannot_fill_a_recipients_queue() {
    let relay = start(|s| {
        s.pow_difficulty = 0;
        s.quota.envelopes = 10;
        s.quota.per_sender_envelopes = 2;
    })
    .await;
    let (alice, carol, bob) = (key(), key(), key());
    let mut a = RelayConnection::connect(&relay.url, &alice).await.unwrap();
    a.send(&bob.public(), MSG, json!({})).await.unwrap();
    a.send(&bob.public(), MSG, json!({})).await.unwrap();
    let full = a.send(&bob.public(), MSG, json!({})).await.unwrap_err();
    assert_eq!(code(full), "quota_exceeded");
    // Another sender still has its own share of bob's queue.
    let mut c = RelayConnection::connect(&relay.url, &carol).await.unwrap();
    c.send(&bob.public(), MSG, json!({})).await.unwrap();
    c.send(&bob.public(), MSG, json!({})).await.unwrap();
    // Bob taking one of alice's frees her share.
    let mut b = RelayConnection::connect(&relay.url, &bob).await.unwrap();
    loop {
        let e = b.next_envelope().await.unwrap();
        let from_alice = e.from == alice.public().to_b64();
        b.ack(&e.envelope, None).await.unwrap();
        if from_alice {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.send(&bob.public(), MSG, json!({})).await.unwrap();
}

#[tokio::test]
async fn a_cloud_cannot_store_envelopes_for_itself() {
    let relay = start(|s| s.pow_difficulty = 0).await;
    let alice = key();
    let mut a = RelayConnection::connect(&relay.url, &alice).await.unwrap();
    let err = a.send(&alice.public(), MSG, json!({})).await.unwrap_err();
    assert_eq!(code(err), "malformed");
}

/// Upgrades the relay refuses are answered with the JSON error body like every refusal.
#[tokio::test]
async fn refused_upgrades_answer_json() {
    let relay = start(|_| {}).await;
    let http = relay.url.replacen("ws://", "http://", 1);
    let client = reqwest::Client::new();
    let plain = client
        .get(format!("{http}/v1/connect"))
        .send()
        .await
        .unwrap();
    let post = client
        .post(format!("{http}/v1/connect"))
        .send()
        .await
        .unwrap();
    let no_key = client
        .get(format!("{http}/v1/connect"))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .send()
        .await
        .unwrap();
    for (answer, status, code) in [
        (plain, 426, "upgrade_required"),
        (post, 405, "method_not_allowed"),
        (no_key, 400, "malformed"),
    ] {
        assert_eq!(answer.status().as_u16(), status);
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["error"], code, "{body}");
    }
}

/// Frames of one connection wait for their commit together (up to 64 at once): each `send` is
/// answered by its id, and a connected recipient gets every envelope exactly in the order they
/// were accepted — which for one connection is the order its frames came in — including when
/// more arrive than its mailbox holds and it reads the rest from the database.
#[tokio::test]
async fn pipelined_sends_are_each_accepted_and_pushed_in_order() {
    let relay = start(|s| {
        s.pow_difficulty = 0;
        s.rate_per_second = 1e6;
        s.burst = 1e6;
    })
    .await;
    let (alice, carol, bob) = (key(), key(), key());
    let mut b = RelayConnection::connect(&relay.url, &bob).await.unwrap();
    let mut senders = Vec::new();
    for k in [&alice, &carol] {
        senders.push(RelayConnection::connect(&relay.url, k).await.unwrap());
    }
    const N: usize = 300;
    for (who, conn) in senders.iter_mut().enumerate() {
        for i in 0..N {
            conn.write(&ClientFrame::Send {
                id: format!("f{i}"),
                to: bob.public().to_b64(),
                path: MSG.into(),
                body: json!({"who": who, "n": i}),
                pow: None,
            })
            .await
            .unwrap();
        }
    }
    for conn in &mut senders {
        let mut answered = std::collections::HashSet::new();
        while answered.len() < N {
            match conn.read().await.unwrap() {
                ServerFrame::Accepted { id, .. } => assert!(answered.insert(id), "answered twice"),
                other => panic!("expected accepted, got {other:?}"),
            }
        }
    }
    let mut next = [0u64; 2];
    let mut seen = std::collections::HashSet::new();
    while next.iter().sum::<u64>() < 2 * N as u64 {
        let e = tokio::time::timeout(Duration::from_secs(10), b.next_envelope())
            .await
            .expect("every accepted envelope is pushed")
            .unwrap();
        assert!(seen.insert(e.envelope.clone()), "pushed twice");
        let EnvelopeContent::Request { body, .. } = &e.content else {
            panic!("expected a request")
        };
        let who = body["who"].as_u64().unwrap() as usize;
        assert_eq!(body["n"].as_u64().unwrap(), next[who], "out of order");
        next[who] += 1;
        b.ack(&e.envelope, None).await.unwrap();
    }
    // Every ack landed: a new connection of Bob's is pushed nothing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = RelayConnection::connect(&relay.url, &bob).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(500), again.next_envelope())
            .await
            .is_err()
    );
}
