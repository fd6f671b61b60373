//! Moving a cloud between real nodes (PROTOCOL.md §20) and sealing it (§21): bundles round
//! trip, a move under load loses and repeats nothing, peers follow pushed and met statements,
//! forged and replayed statements are refused, sealed clouds refuse writes and still answer.

mod common;

use std::time::Duration;

use common::{Owner, TestNode, echo_script};
use serde_json::{Value, json};
use sovra_client::ClientError;
use sovra_proto::migration::{
    Archive, ArchivedKeys, Argon2Params, Destination, LockWith, MoveStatement, Unlock, open_bundle,
    seal_bundle,
};
use sovra_proto::{SigningKeypair, os_rng};

/// Cheap Argon2id for tests; `sovra export` uses `DEFAULT_ARGON2`.
const TEST_ARGON2: Argon2Params = Argon2Params {
    m_kib: 64,
    t: 1,
    p: 1,
};

async fn archive(o: &Owner, freeze: bool) -> Archive {
    serde_json::from_value(
        o.ok(
            "POST",
            "/migration/export",
            Some(json!({ "freeze": freeze })),
        )
        .await,
    )
    .unwrap()
}

/// What `sovra export` then `sovra import` do with an archive from the node: keys added,
/// sealed with a passphrase, opened again.
fn through_a_bundle(node: &TestNode, name: &str, mut archive: Archive) -> Archive {
    let keys = sovra_proto::keyfile::load_cloud_keys(&node.dir(name).join("cloud.key")).unwrap();
    archive.keys = Some(ArchivedKeys::of(&keys));
    let bytes = archive.to_bytes();
    let bundle = seal_bundle(
        &mut os_rng(),
        &keys.signing,
        &bytes,
        LockWith::Passphrase("correct horse", TEST_ARGON2),
        jiff::Timestamp::now(),
    )
    .unwrap();
    assert!(open_bundle(&bundle, Unlock::Passphrase("wrong horse")).is_err());
    let (header, opened) = open_bundle(&bundle, Unlock::Passphrase("correct horse")).unwrap();
    assert_eq!(
        header.archive_sha256,
        sovra_proto::encoding::hex(&archive.sha256())
    );
    assert_eq!(opened, archive);
    opened
}

/// Imports `archive` into `to` (running), serves it, and announces the move from there.
async fn import_and_announce(to: &TestNode, archive: &Archive) -> Value {
    let dir = sovra_node::migration::import::import_cloud(to.home.path(), None, archive)
        .await
        .unwrap();
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let added = to.serve_new_clouds().await;
    assert_eq!(added, vec![name.clone()]);
    let keys = archive.keys.as_ref().unwrap().keys().unwrap();
    let statement = MoveStatement::issue(
        &keys.signing,
        &archive.cloud.handle,
        archive.move_seq + 1,
        &Destination {
            endpoint: Some(&to.cloud_url(&name)),
            relays: &[],
            encryption_key: &keys.encryption.public(),
            host_certificate: None,
        },
        &archive.sha256(),
        jiff::Timestamp::now(),
    )
    .unwrap();
    to.owner(&name)
        .ok(
            "POST",
            "/migration/announce",
            Some(json!({ "statement": statement, "old_endpoint": archive.exported_from })),
        )
        .await
}

async fn pair() -> (TestNode, TestNode, Owner, Owner) {
    let a = TestNode::start(&["@alice.cloud"]).await;
    let p = TestNode::start(&["@pete.cloud"]).await;
    let (alice, pete) = (a.owner("alice"), p.owner("pete"));
    alice.add_peer(&pete, "@pete.cloud", &["echo"]).await;
    pete.add_peer(&alice, "@alice.cloud", &[]).await;
    (a, p, alice, pete)
}

fn count(archive: &Archive, table: &str) -> usize {
    archive.tables.get(table).map_or(0, |t| t.rows.len())
}

#[tokio::test]
async fn a_bundle_round_trips_deterministically_without_session_content() {
    let (a, _p, alice, pete) = pair().await;
    alice
        .ok(
            "PUT",
            "/swarms/main/soul",
            Some(json!({"text": "Be brief."})),
        )
        .await;
    alice
        .ok(
            "PUT",
            "/swarms/main/memory",
            Some(json!({"text": "Pete likes tea."})),
        )
        .await;
    for (text, retention) in [("kept", "permanent"), ("secret", "session")] {
        pete.ok(
            "POST",
            "/send",
            Some(json!({"to": "@alice.cloud", "text": text, "retention": retention})),
        )
        .await;
    }
    alice
        .wait_for("secret", |m| m["payload"]["text"] == "secret")
        .await;
    let first = archive(&alice, false).await;
    let second = archive(&alice, false).await;
    assert_eq!(
        first.to_bytes(),
        second.to_bytes(),
        "same content, same bytes"
    );
    let texts: Vec<String> = first.tables["messages"]
        .rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    assert!(texts.iter().any(|t| t.contains("kept")));
    assert!(!texts.iter().any(|t| t.contains("secret")), "{texts:?}");
    assert!(!first.tables.contains_key("owner_nonces"));
    assert!(!first.tables.contains_key("migration"));
    assert_eq!(first.files["swarms/main/soul.md"], "Be brief.");
    assert_eq!(first.files["swarms/main/notes.md"], "Pete likes tea.");

    // Imported elsewhere, the cloud holds the same content, and the new node's export of it
    // is the same archive but for where it was exported from.
    let b = TestNode::start(&[]).await;
    let opened = through_a_bundle(&a, "alice", first.clone());
    sovra_node::migration::import::import_cloud(b.home.path(), None, &opened)
        .await
        .unwrap();
    // A second import of the same cloud into the same home is refused.
    assert!(
        sovra_node::migration::import::import_cloud(b.home.path(), None, &opened)
            .await
            .is_err()
    );
    b.serve_new_clouds().await;
    let moved = b.owner("alice");
    let again = archive(&moved, false).await;
    assert_eq!(again.tables["messages"], first.tables["messages"]);
    assert_eq!(again.tables["whitelist"], first.tables["whitelist"]);
    assert_eq!(again.tables["conversations"], first.tables["conversations"]);
    assert_eq!(again.files, first.files);
    assert_eq!(
        count(&again, "devices"),
        count(&first, "devices") + 1,
        "this home's CLI is a new device"
    );
    assert_eq!(moved.pubkey().await, alice.pubkey().await);
}

#[tokio::test]
async fn a_tampered_or_foreign_bundle_does_not_open() {
    let (a, _p, alice, _pete) = pair().await;
    let mut arch = archive(&alice, false).await;
    let keys = sovra_proto::keyfile::load_cloud_keys(&a.dir("alice").join("cloud.key")).unwrap();
    arch.keys = Some(ArchivedKeys::of(&keys));
    let bundle = seal_bundle(
        &mut os_rng(),
        &keys.signing,
        &arch.to_bytes(),
        LockWith::Passphrase("pw-pw-pw-pw", TEST_ARGON2),
        jiff::Timestamp::now(),
    )
    .unwrap();
    // A flipped ciphertext byte: the signature no longer covers it.
    let mut flipped = bundle.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let e = open_bundle(&flipped, Unlock::Passphrase("pw-pw-pw-pw")).unwrap_err();
    assert_eq!(e.code(), "bad_signature", "{e}");
    // Re-signed by another key: the archive is not that key's cloud.
    let mallory = SigningKeypair::generate(&mut os_rng());
    let forged = seal_bundle(
        &mut os_rng(),
        &mallory,
        &arch.to_bytes(),
        LockWith::Passphrase("pw-pw-pw-pw", TEST_ARGON2),
        jiff::Timestamp::now(),
    )
    .unwrap();
    let e = open_bundle(&forged, Unlock::Passphrase("pw-pw-pw-pw")).unwrap_err();
    assert_eq!(e.code(), "malformed", "{e}");
    // Sealed to an X25519 key: only its secret opens it.
    let to = sovra_proto::EncryptionSecret::generate(&mut os_rng());
    let other = sovra_proto::EncryptionSecret::generate(&mut os_rng());
    let sealed = seal_bundle(
        &mut os_rng(),
        &keys.signing,
        &arch.to_bytes(),
        LockWith::Recipient(to.public()),
        jiff::Timestamp::now(),
    )
    .unwrap();
    assert_eq!(
        open_bundle(&sealed, Unlock::Secret(&other))
            .unwrap_err()
            .code(),
        "wrong_recipient"
    );
    assert_eq!(open_bundle(&sealed, Unlock::Secret(&to)).unwrap().1, arch);
}

async fn outbox(o: &Owner) -> Vec<Value> {
    o.ok("GET", "/outbox", None).await["outbox"]
        .as_array()
        .unwrap()
        .clone()
}

fn lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[tokio::test]
async fn a_move_under_load_loses_nothing_and_runs_no_call_twice() {
    let (a, p, alice, pete) = pair().await;
    let tools = tempfile::tempdir().unwrap();
    let log = tools.path().join("calls.log");
    alice
        .expose_exec("echo", "Echo", &echo_script(tools.path(), &log))
        .await;
    let b = TestNode::start(&[]).await;

    // Pete keeps sending messages with calls throughout the move.
    const N: usize = 60;
    let sender = {
        let pete = p.owner("pete");
        tokio::spawn(async move {
            for i in 0..N {
                pete.ok(
                    "POST",
                    "/send",
                    Some(json!({
                        "to": "@alice.cloud",
                        "text": format!("m{i}"),
                        "calls": [{"capability": "echo", "args": {"i": i}}],
                        // Odd ones are session content: not exported once answered.
                        "retention": if i % 2 == 0 { "permanent" } else { "session" },
                    })),
                )
                .await;
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        })
    };
    alice
        .wait_for("m10", |m| m["payload"]["text"] == "m10")
        .await;
    let frozen = archive(&alice, true).await;
    // Frozen: the old node takes nothing in and says so.
    let e = alice
        .call("PUT", "/swarms/main/soul", Some(json!({"text": "x"})))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("moving"), "{e}");
    let opened = through_a_bundle(&a, "alice", frozen);
    let announced = import_and_announce(&b, &opened).await;
    assert_eq!(announced["seq"], 1, "{announced}");
    assert_eq!(announced["old_node_told"], true, "{announced}");
    assert_eq!(announced["peers_told"], 1, "{announced}");
    sender.await.unwrap();

    // Every message Pete sent is acknowledged, by one node or the other.
    for _ in 0..400 {
        if outbox(&pete)
            .await
            .iter()
            .all(|i| i["state"] == "delivered")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let items = outbox(&pete).await;
    assert!(
        items.iter().all(|i| i["state"] == "delivered"),
        "{items:#?}"
    );
    assert_eq!(items.len(), N);
    // …and each is on the new node exactly once.
    let moved = b.owner("alice");
    let inbound: Vec<String> = moved
        .messages()
        .await
        .iter()
        .filter(|m| m["direction"] == "in")
        .map(|m| m["payload"]["text"].as_str().unwrap().to_owned())
        .collect();
    for i in 0..N {
        let n = inbound.iter().filter(|t| **t == format!("m{i}")).count();
        match i % 2 {
            0 => assert_eq!(n, 1, "m{i} on the new node {n} times: {inbound:?}"),
            _ => assert!(n <= 1, "m{i} on the new node {n} times: {inbound:?}"),
        }
    }
    // Every call ran exactly once, on one node or the other; Pete has every answer.
    for _ in 0..400 {
        let replies = pete
            .messages()
            .await
            .iter()
            .filter(|m| m["direction"] == "in" && !m["payload"]["results"].is_null())
            .count();
        if replies >= N {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(lines(&log), N, "calls run");
    let replies = pete
        .messages()
        .await
        .iter()
        .filter(|m| m["direction"] == "in" && !m["payload"]["results"].is_null())
        .count();
    assert_eq!(replies, N);

    // The old node answers 410 with the statement; its owner sees it moved.
    let answer = reqwest::Client::new()
        .post(format!("{}/api/d2d/message", a.cloud_url("alice")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (410, Some("moved")),
        "{body}"
    );
    assert_eq!(body["statement"]["seq"], 1);
    let st = alice.ok("GET", "/migration", None).await;
    assert_eq!(st["state"], "moved");
    // Pete's entry points at the new node, grants and conversation unchanged.
    let peers = pete.ok("GET", "/peers", None).await;
    assert_eq!(
        peers["peers"][0]["url"].as_str(),
        Some(b.cloud_url("alice").as_str()),
        "{peers}"
    );
}

#[tokio::test]
async fn a_peer_offline_during_the_move_follows_the_moved_answer_later() {
    let (a, mut p, alice, pete) = pair().await;
    pete.ok(
        "POST",
        "/send",
        Some(json!({"to": "@alice.cloud", "text": "before"})),
    )
    .await;
    alice
        .wait_for("before", |m| m["payload"]["text"] == "before")
        .await;
    p.stop().await;
    let b = TestNode::start(&[]).await;
    let frozen = archive(&alice, true).await;
    let announced = import_and_announce(&b, &through_a_bundle(&a, "alice", frozen)).await;
    assert_eq!(announced["peers_waiting"], 1, "{announced}");
    // Pete comes back knowing only the old address; the old node shows him the way.
    p.serve(common::fast_settings()).await;
    let pete = p.owner("pete");
    pete.ok(
        "POST",
        "/send",
        Some(json!({"to": "@alice.cloud", "text": "after"})),
    )
    .await;
    b.owner("alice")
        .wait_for("after", |m| m["payload"]["text"] == "after")
        .await;
}

#[tokio::test]
async fn forged_and_replayed_move_statements_are_refused() {
    let (a, _p, alice, pete) = pair().await;
    pete.ok(
        "POST",
        "/send",
        Some(json!({"to": "@alice.cloud", "text": "hi"})),
    )
    .await;
    alice.wait_for("hi", |m| m["payload"]["text"] == "hi").await;
    let keys = sovra_proto::keyfile::load_cloud_keys(&a.dir("alice").join("cloud.key")).unwrap();
    let (raw_pete, _) = _p.raw("pete").await;
    let statement = |signer: &SigningKeypair, seq: u64, url: &str| {
        let mut s = MoveStatement::issue(
            signer,
            "@alice.cloud",
            seq,
            &Destination {
                endpoint: Some(url),
                relays: &[],
                encryption_key: &keys.encryption.public(),
                host_certificate: None,
            },
            &[7; 32],
            jiff::Timestamp::now(),
        )
        .unwrap();
        s.cloud = keys.public().to_b64();
        serde_json::to_value(s).unwrap()
    };
    // Signed by another key in alice's name; a real one is followed; the same again is
    // `unchanged`; an older one is refused.
    let mallory = SigningKeypair::generate(&mut os_rng());
    for (signer, seq, url, want_status, want) in [
        (&mallory, 5, "http://evil.example", 401, "bad_signature"),
        (
            &keys.signing,
            2,
            "http://127.0.0.1:9/clouds/alice",
            200,
            "followed",
        ),
        (
            &keys.signing,
            2,
            "http://127.0.0.1:9/clouds/alice",
            200,
            "unchanged",
        ),
        (
            &keys.signing,
            1,
            "http://127.0.0.1:8/clouds/alice",
            409,
            "stale_move",
        ),
    ] {
        let (status, body) = raw_pete
            .post("/api/d2d/moved", &statement(signer, seq, url))
            .await;
        let got = body["status"].as_str().or(body["error"].as_str());
        assert_eq!(
            (status, got),
            (want_status, Some(want)),
            "seq {seq}: {body}"
        );
    }
    // A stranger's statement is not followed.
    let (status, body) = raw_pete
        .post(
            "/api/d2d/moved",
            &serde_json::to_value(
                MoveStatement::issue(
                    &mallory,
                    "@mallory.cloud",
                    1,
                    &Destination {
                        endpoint: Some("http://x.example"),
                        relays: &[],
                        encryption_key: &keys.encryption.public(),
                        host_certificate: None,
                    },
                    &[0; 32],
                    jiff::Timestamp::now(),
                )
                .unwrap(),
            )
            .unwrap(),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("not_whitelisted")),
        "{body}"
    );
    // Malformed bodies are 400s.
    let (status, _) = raw_pete.post("/api/d2d/moved", &json!({"cloud": 1})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_sealed_cloud_refuses_writes_and_new_conversations_but_still_answers() {
    let (_a, p, alice, pete) = pair().await;
    pete.ok(
        "POST",
        "/send",
        Some(json!({"to": "@alice.cloud", "text": "open"})),
    )
    .await;
    alice
        .wait_for("open", |m| m["payload"]["text"] == "open")
        .await;
    // A brain that answers from the swarm's memory, which the seal freezes.
    let tools = tempfile::tempdir().unwrap();
    let brain = common::script(
        tools.path(),
        "brain.sh",
        r#"input=$(cat); case "$input" in *tea*) echo '{"text":"you like tea"}';; *) echo '{"text":"I forget"}';; esac"#,
    );
    alice
        .ok(
            "PUT",
            "/swarms/main/memory",
            Some(json!({"text": "Pete likes tea."})),
        )
        .await;
    alice
        .ok(
            "PATCH",
            "/swarms/main",
            Some(json!({"brain": {"kind": "exec", "command": [brain]}})),
        )
        .await;
    let token = alice.ok("POST", "/swarms/main/tokens", None).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .ok(
            "POST",
            "/seal",
            Some(json!({"swarm": "main", "unseal": "owner"})),
        )
        .await;
    // The swarm's agent cannot write either.
    let r = reqwest::Client::new()
        .post(format!("{}/api/agent/send", alice.0.base()))
        .bearer_auth(&token)
        .json(&json!({"peer": "@pete.cloud", "text": "from the agent"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 423);
    let e = alice
        .call(
            "PUT",
            "/swarms/main/memory",
            Some(json!({"text": "changed"})),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("sealed"), "{e}");
    // The whole cloud: every write is refused, reads are not.
    alice
        .ok("POST", "/seal", Some(json!({"unseal": "owner"})))
        .await;
    for (method, path, body) in [
        (
            "PUT",
            "/capabilities/x",
            json!({"description": "x", "adapter": {"kind": "exec", "command": ["/bin/true"]}}),
        ),
        ("POST", "/swarms", json!({"name": "other"})),
        ("POST", "/send", json!({"to": "@pete.cloud", "text": "x"})),
    ] {
        match alice.call(method, path, Some(body)).await {
            Err(ClientError::Status {
                status: 423, code, ..
            }) => assert_eq!(code, "sealed"),
            other => panic!("{method} {path}: {other:?}"),
        }
    }
    alice.ok("GET", "/peers", None).await;
    // Pete's open conversation still gets through; a new one does not.
    pete.ok(
        "POST",
        "/send",
        Some(json!({"to": "@alice.cloud", "text": "still here"})),
    )
    .await;
    alice
        .wait_for("still here", |m| m["payload"]["text"] == "still here")
        .await;
    pete.wait_for("an answer from frozen memory", |m| {
        m["direction"] == "in" && m["payload"]["text"] == "you like tea"
    })
    .await;
    let (raw, identity) = _a.raw("alice").await;
    let me = sovra_proto::keyfile::load_cloud_keys(&p.dir("pete").join("cloud.key")).unwrap();
    let (request, _) = common::initiate(&me, &identity);
    let (status, body) = raw
        .post(
            "/api/d2d/handshake",
            &serde_json::to_value(request).unwrap(),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (423, Some("sealed")),
        "{body}"
    );
    // Lifted by the owner; a final seal cannot be.
    alice.ok("POST", "/unseal", Some(json!({}))).await;
    alice
        .call("PUT", "/swarms/main/memory", Some(json!({"text": "x"})))
        .await
        .unwrap_err();
    alice
        .ok("POST", "/unseal", Some(json!({"swarm": "main"})))
        .await;
    alice
        .ok("POST", "/seal", Some(json!({"unseal": "never"})))
        .await;
    let e = alice
        .call("POST", "/unseal", Some(json!({})))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("seal_final"), "{e}");
}

/// PROTOCOL §22: the switch warns, then fires on a clock the test controls; heirs are told,
/// a `read` heir may talk to the sealed cloud, a `control` heir may take it.
#[tokio::test]
async fn inheritance_warns_then_seals_and_hands_the_cloud_to_its_heirs() {
    use sovra_proto::inheritance::{Heir, HeirGrant, InheritanceClaim, InheritancePolicy};
    let a = TestNode::start(&["@alice.cloud", "@dave.cloud"]).await;
    let b = TestNode::start(&["@bob.cloud", "@carol.cloud"]).await;
    let (alice, dave, bob, carol) = (
        a.owner("alice"),
        a.owner("dave"),
        b.owner("bob"),
        b.owner("carol"),
    );
    let carol_keys =
        sovra_proto::keyfile::load_cloud_keys(&b.dir("carol").join("cloud.key")).unwrap();
    alice.add_peer(&bob, "@bob.cloud", &[]).await;
    alice
        .ok(
            "PUT",
            "/peers",
            Some(json!({
                "peer_pubkey": carol.pubkey().await, "peer_handle": "@carol.cloud",
                "allowed_capabilities": [], "rate_limit_per_day": 100, "url": carol.0.base(),
                "encryption_key": carol_keys.encryption.public().to_b64(),
            })),
        )
        .await;
    alice.add_peer(&dave, "@dave.cloud", &[]).await;
    for (o, name) in [(&bob, "bob"), (&carol, "carol"), (&dave, "dave")] {
        let _ = name;
        o.add_peer(&alice, "@alice.cloud", &[]).await;
    }
    let alice_keys =
        sovra_proto::keyfile::load_cloud_keys(&a.dir("alice").join("cloud.key")).unwrap();
    let heir = |o: String, h: &str, grant| Heir {
        pubkey: o,
        handle: h.into(),
        grant,
    };
    let policy = InheritancePolicy::issue(
        &alice_keys.signing,
        vec![
            heir(bob.pubkey().await, "@bob.cloud", HeirGrant::Read),
            heir(carol.pubkey().await, "@carol.cloud", HeirGrant::Control),
        ],
        30,
        "The garden is yours.",
        jiff::Timestamp::now(),
    )
    .unwrap();
    // A policy signed by another key is refused; an heir off the whitelist too.
    let forged =
        InheritancePolicy::issue(&carol_keys.signing, vec![], 30, "", jiff::Timestamp::now())
            .unwrap();
    let e = alice
        .call("PUT", "/heirs", Some(json!({ "policy": forged })))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("bad_signature"), "{e}");
    let status = alice
        .ok("PUT", "/heirs", Some(json!({ "policy": policy })))
        .await;
    let fires_at = status["fires_at"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    let now = jiff::Timestamp::now().as_millisecond();
    assert!(
        (fires_at - now - 30 * 86_400_000).abs() < 60_000,
        "{status}"
    );

    let cloud = a.clouds["alice"].clone();
    let mut events = cloud.events.subscribe();
    // 25 days on: a warning to the owner's devices, nothing sealed.
    cloud
        .check_inheritance(now + 25 * 86_400_000)
        .await
        .unwrap();
    let warning = events.recv().await.unwrap();
    assert_eq!(warning.kind, "inheritance_warning");
    assert_eq!(
        alice.ok("GET", "/migration", None).await["seals"],
        json!([])
    );
    // 31 days on: sealed, heirs told.
    cloud
        .check_inheritance(now + 31 * 86_400_000)
        .await
        .unwrap();
    assert_eq!(
        alice.ok("GET", "/migration", None).await["seals"][0]["swarm"],
        "*"
    );
    let inherited = bob.ok("GET", "/inherited", None).await;
    assert_eq!(inherited["inherited"][0]["grant"], "read", "{inherited}");
    assert_eq!(inherited["inherited"][0]["handle"], "@alice.cloud");
    assert_eq!(
        carol.ok("GET", "/inherited", None).await["inherited"][0]["grant"],
        "control"
    );

    // Bob (read) opens a conversation with the sealed cloud; Dave (not an heir) cannot.
    bob.ok(
        "POST",
        "/send",
        Some(json!({"to": "@alice.cloud", "text": "I miss you"})),
    )
    .await;
    alice
        .wait_for("bob's message", |m| m["payload"]["text"] == "I miss you")
        .await;
    let e = dave
        .call(
            "POST",
            "/send",
            Some(json!({"to": "@alice.cloud", "text": "hi"})),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("sealed"), "{e}");

    // Carol (control) takes the cloud: a bundle only her key opens, with alice's keys inside.
    let claim = |who: &sovra_proto::SigningKeypair| {
        serde_json::to_value(InheritanceClaim::sign(
            who,
            &alice_keys.public(),
            jiff::Timestamp::now(),
        ))
        .unwrap()
    };
    let http = reqwest::Client::new();
    let post = |body: Value| {
        let http = http.clone();
        let url = format!("{}/api/d2d/inheritance/claim", a.cloud_url("alice"));
        async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let bob_keys = sovra_proto::keyfile::load_cloud_keys(&b.dir("bob").join("cloud.key")).unwrap();
    let (status, body) = post(claim(&bob_keys.signing)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("not_heir")),
        "{body}"
    );
    let (status, body) = post(claim(&carol_keys.signing)).await;
    assert_eq!(status, 200, "{body}");
    let bundle =
        sovra_proto::encoding::b64_decode("bundle", body["bundle"].as_str().unwrap(), 64 << 20)
            .unwrap();
    let (_, archive) = open_bundle(&bundle, Unlock::Secret(&carol_keys.encryption)).unwrap();
    assert_eq!(
        archive.keys.unwrap().keys().unwrap().public(),
        alice_keys.public()
    );
    assert!(open_bundle(&bundle, Unlock::Secret(&bob_keys.encryption)).is_err());
}

/// Dana, hosted at `h` (her key in `device_home`), talking with Pete: returns her cloud
/// directory on the device, her base URL at `h`, her owner client, Pete's node and client.
async fn hosted_dana_talking_to_pete(
    h: &TestNode,
    code: String,
    device_home: &std::path::Path,
    first: &str,
) -> (std::path::PathBuf, String, Owner, TestNode, Owner) {
    use sovra_node::home::{self, Admission};
    let (dir, base) =
        home::init_hosted_cloud(device_home, "@dana.cloud", &h.url, &Admission::Invite(code))
            .await
            .unwrap();
    let dana = Owner(sovra_client::OwnerClient::new(
        base.clone(),
        home::load_device(&dir).unwrap(),
        Duration::from_secs(10),
    ));
    let p = TestNode::start(&["@pete.cloud"]).await;
    let pete = p.owner("pete");
    dana.add_peer(&pete, "@pete.cloud", &[]).await;
    pete.add_peer(&dana, "@dana.cloud", &[]).await;
    pete.ok(
        "POST",
        "/send",
        Some(json!({"to": "@dana.cloud", "text": first, "retention": "permanent"})),
    )
    .await;
    dana.wait_for(first, |m| m["payload"]["text"] == first)
        .await;
    (dir, base, dana, p, pete)
}

/// A hosted cloud (its key on the human's device, the node holding a host key) moves to a node
/// the human runs: the device adds the keys the node never had, and the statement tells peers
/// the key that signs for the cloud now, so an open conversation carries on both ways.
#[tokio::test]
async fn a_hosted_cloud_moves_home_and_its_open_conversation_carries_on() {
    let (h, code) = common::hosting_node().await;
    let device_home = tempfile::tempdir().unwrap();
    let (dir, base, dana, _p, pete) =
        hosted_dana_talking_to_pete(&h, code, device_home.path(), "hello hosted").await;
    let conversation =
        pete.ok("GET", "/conversations", None).await["conversations"][0]["id"].clone();

    // The device exports (the node gives the archive without keys; the device holds them).
    let mut arch = archive(&dana, true).await;
    assert!(arch.keys.is_none());
    let keys = sovra_proto::keyfile::load_cloud_keys(&dir.join("cloud.key")).unwrap();
    arch.keys = Some(ArchivedKeys::of(&keys));
    arch.cloud.encryption_key = keys.encryption.public().to_b64();
    let home_node = TestNode::start(&[]).await;
    let announced = import_and_announce(&home_node, &arch).await;
    assert_eq!(announced["peers_told"], 1, "{announced}");

    // Same conversation, both directions, now signed by the cloud key itself.
    pete.ok(
        "POST",
        "/send",
        Some(json!({"to": "@dana.cloud", "text": "are you home?", "retention": "permanent"})),
    )
    .await;
    let moved = home_node.owner("dana");
    moved
        .wait_for("are you home?", |m| m["payload"]["text"] == "are you home?")
        .await;
    moved
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@pete.cloud", "text": "home at last", "retention": "permanent"})),
        )
        .await;
    pete.wait_for("home at last", |m| m["payload"]["text"] == "home at last")
        .await;
    let convs = pete.ok("GET", "/conversations", None).await;
    let open: Vec<_> = convs["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["state"] == "open")
        .collect();
    assert_eq!(open.len(), 1, "{convs}");
    assert_eq!(open[0]["id"], conversation, "the conversation carried on");
    // The old node stands down: 410 with the statement.
    let r = reqwest::Client::new()
        .get(format!("{base}/api/d2d/identity"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
}

/// The host-local profile: a hosted cloud moves to another hosting node. The device onboards
/// there with the cloud's own key, uploads the content without keys, and signs a statement
/// naming the new host key; the open conversation carries on.
#[tokio::test]
async fn a_hosted_cloud_moves_to_another_host() {
    use sovra_node::home::{self, Admission};
    let (h1, code1) = common::hosting_node().await;
    let (h2, code2) = common::hosting_node().await;
    let device_home = tempfile::tempdir().unwrap();
    let (dir, _base1, dana, _p, pete) =
        hosted_dana_talking_to_pete(&h1, code1, device_home.path(), "hi dana").await;

    let arch = archive(&dana, true).await;
    let keys = sovra_proto::keyfile::load_cloud_keys(&dir.join("cloud.key")).unwrap();
    let mut with_keys = arch.clone();
    with_keys.keys = Some(ArchivedKeys::of(&keys));
    with_keys.cloud.encryption_key = keys.encryption.public().to_b64();
    // The device home already holds dana (hosted by h1): onboarding at h2 takes it over.
    let (dir2, base2) = home::host_cloud(
        device_home.path(),
        "@dana.cloud",
        &h2.url,
        &Admission::Invite(code2),
        ArchivedKeys::of(&keys).keys().unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(dir2, dir);
    assert!(
        !h2.dir("dana").join("cloud.key").exists(),
        "the new host holds no cloud key"
    );
    let moved = Owner(sovra_client::OwnerClient::new(
        base2.clone(),
        home::load_device(&dir).unwrap(),
        Duration::from_secs(10),
    ));
    // Keys never go to a hosting node.
    let e = moved
        .call(
            "POST",
            "/migration/import",
            Some(serde_json::to_value(&with_keys).unwrap()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("malformed"), "{e}");
    let rows = moved
        .ok(
            "POST",
            "/migration/import",
            Some(serde_json::to_value(&arch).unwrap()),
        )
        .await;
    assert!(rows["rows"].as_u64().unwrap() > 0, "{rows}");
    // A second import into a cloud that now has peers is refused.
    let e = moved
        .call(
            "POST",
            "/migration/import",
            Some(serde_json::to_value(&arch).unwrap()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("not_empty"), "{e}");
    let certificate: sovra_proto::host::HostCertificate =
        serde_json::from_slice(&std::fs::read(dir.join("host-certificate.json")).unwrap()).unwrap();
    let host_enc =
        sovra_proto::EncryptionKey::from_b64("k", &certificate.host_encryption_key).unwrap();
    // A statement naming the cloud's own X25519 key is refused: the new node opens with its host key.
    let wrong = MoveStatement::issue(
        &keys.signing,
        "@dana.cloud",
        1,
        &Destination {
            endpoint: Some(&base2),
            relays: &[],
            encryption_key: &keys.encryption.public(),
            host_certificate: Some(&certificate),
        },
        &with_keys.sha256(),
        jiff::Timestamp::now(),
    )
    .unwrap();
    let e = moved
        .call(
            "POST",
            "/migration/announce",
            Some(json!({ "statement": wrong })),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("wrong_keys"), "{e}");
    let statement = MoveStatement::issue(
        &keys.signing,
        "@dana.cloud",
        1,
        &Destination {
            endpoint: Some(&base2),
            relays: &[],
            encryption_key: &host_enc,
            host_certificate: Some(&certificate),
        },
        &with_keys.sha256(),
        jiff::Timestamp::now(),
    )
    .unwrap();
    let announced = moved
        .ok(
            "POST",
            "/migration/announce",
            Some(json!({ "statement": statement, "old_endpoint": arch.exported_from })),
        )
        .await;
    assert_eq!(announced["peers_told"], 1, "{announced}");
    assert_eq!(announced["old_node_told"], true, "{announced}");

    pete.ok(
        "POST",
        "/send",
        Some(json!({"to": "@dana.cloud", "text": "new host?", "retention": "permanent"})),
    )
    .await;
    moved
        .wait_for("new host?", |m| m["payload"]["text"] == "new host?")
        .await;
    moved
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@pete.cloud", "text": "yes", "retention": "permanent"})),
        )
        .await;
    pete.wait_for("yes", |m| {
        m["direction"] == "in" && m["payload"]["text"] == "yes"
    })
    .await;
    let convs = pete.ok("GET", "/conversations", None).await;
    let open = convs["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["state"] == "open")
        .count();
    assert_eq!(open, 1, "{convs}");
}
