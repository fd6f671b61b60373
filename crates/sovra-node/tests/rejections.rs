//! Every way the D2D endpoints refuse input, against a real node: the status, the stable
//! error code, and that nothing was stored.

mod common;

use common::*;
use serde_json::{Value, json};
use sovra_proto::handshake::{self, PendingHandshake};
use sovra_proto::{
    CloudKeys, HandshakeOutcome, HandshakeResponse, MessageRequest, Payload, Session, os_rng,
};

/// Bob's node, and a stranger (not hosted anywhere) with her own keys.
async fn setup() -> (TestNode, Owner, Raw, CloudKeys, sovra_proto::Identity) {
    let (node, bob, raw, id) = limited(10_000, 10_000, 1000).await;
    (node, bob, raw, CloudKeys::generate(&mut os_rng()), id)
}

fn refusal(body: Value, pending: &PendingHandshake) -> String {
    let resp: HandshakeResponse = serde_json::from_value(body).unwrap();
    match pending.complete(&resp).unwrap() {
        HandshakeOutcome::Refused { reason } => reason,
        HandshakeOutcome::Accepted { .. } => panic!("accepted"),
    }
}

#[tokio::test]
async fn handshake_refusals_and_pending_requests() {
    let (_node, bob, raw, carol, id) = setup().await;

    // Not on the whitelist: a signed refusal, and a pending request for the owner.
    let (req, pending) = initiate(&carol, &id);
    let (status, body) = raw.post("/api/d2d/handshake", &json!(req)).await;
    assert_eq!(status, 200);
    assert_eq!(refusal(body, &pending), "not on whitelist");
    let list = bob.ok("GET", "/pending", None).await;
    let list = list["pending"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["topic"], "hello");
    assert_eq!(list[0]["peer_handle"], "@carol.cloud");
    // Asking again does not pile up requests.
    let (req2, _) = initiate(&carol, &id);
    raw.post("/api/d2d/handshake", &json!(req2)).await;
    assert_eq!(
        bob.ok("GET", "/pending", None).await["pending"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The same request again: a replay.
    let (status, body) = raw.post("/api/d2d/handshake", &json!(req)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("replayed_handshake"))
    );

    // The owner denies: later attempts are refused without a new request.
    let pid = list[0]["id"].as_str().unwrap().to_owned();
    bob.ok("POST", &format!("/pending/{pid}/deny"), None).await;
    let (req3, pending3) = initiate(&carol, &id);
    let (_, body) = raw.post("/api/d2d/handshake", &json!(req3)).await;
    assert_eq!(refusal(body, &pending3), "refused");
    assert!(
        bob.ok("GET", "/pending", None).await["pending"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Expired entry.
    whitelist(&bob, &carol, &[], 100, Some("2020-01-01T00:00:00Z")).await;
    let (req4, pending4) = initiate(&carol, &id);
    let (_, body) = raw.post("/api/d2d/handshake", &json!(req4)).await;
    assert_eq!(refusal(body, &pending4), "expired");

    // Rate limit: 2 per day; the first two handshakes pass, the third is refused.
    whitelist(&bob, &carol, &[], 2, None).await;
    open(&raw, &carol, &id).await;
    open(&raw, &carol, &id).await;
    let (req5, pending5) = initiate(&carol, &id);
    let (_, body) = raw.post("/api/d2d/handshake", &json!(req5)).await;
    assert_eq!(refusal(body, &pending5), "rate limit");
}

#[tokio::test]
async fn handshake_errors_store_nothing() {
    let (_node, bob, raw, carol, id) = setup().await;
    whitelist(&bob, &carol, &[], 100, None).await;
    let before = bob.ok("GET", "/conversations", None).await;

    let (req, _) = initiate(&carol, &id);
    let mut bad_sig = req.clone();
    bad_sig.sig = sovra_proto::encoding::b64(&[1u8; 64]);
    let mut tampered = req.clone();
    tampered.sealed_intro = format!("AAAA{}", &req.sealed_intro[4..]);
    let mut wrong_to = req.clone();
    wrong_to.to = carol.public().to_b64();
    let cases = [
        (json!(bad_sig), 401, "bad_signature"),
        (json!(tampered), 401, "bad_signature"),
        (json!(wrong_to), 421, "wrong_recipient"),
        (json!({"from": "x"}), 400, "malformed"),
        (
            json!({"from": "!!", "to": req.to, "conversation_id": req.conversation_id, "sealed_intro": req.sealed_intro, "sig": req.sig}),
            400,
            "bad_encoding",
        ),
        (
            json!({"from": "AAAA", "to": req.to, "conversation_id": req.conversation_id, "sealed_intro": req.sealed_intro, "sig": req.sig}),
            400,
            "wrong_size",
        ),
    ];
    for (body, status, code) in cases {
        let (s, b) = raw.post("/api/d2d/handshake", &body).await;
        assert_eq!((s, b["error"].as_str()), (status, Some(code)), "{body}");
        assert!(b["message"].is_string());
    }
    // Signed correctly but sealed to another key: cannot unseal.
    let other = CloudKeys::generate(&mut os_rng());
    let (wrong_seal, _) = handshake::initiate(
        &mut os_rng(),
        &carol,
        None,
        id.pubkey,
        other.encryption.public(),
        "x",
        jiff::Timestamp::now(),
    )
    .unwrap();
    let (s, b) = raw.post("/api/d2d/handshake", &json!(wrong_seal)).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("cannot_unseal")));
    // Not JSON; too large.
    let (s, b) = raw
        .post_bytes("/api/d2d/handshake", b"{nope".to_vec())
        .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("malformed")));
    let (s, b) = raw
        .post_bytes("/api/d2d/message", vec![b' '; 2 * 1024 * 1024])
        .await;
    assert_eq!((s, b["error"].as_str()), (413, Some("wrong_size")));
    // Unknown endpoint; wrong method.
    let (s, b) = raw.post("/api/d2d/nothing", &json!({})).await;
    assert_eq!((s, b["error"].as_str()), (404, Some("not_found")));
    let (s, b) = raw.post("/api/d2d/identity", &json!({})).await;
    assert_eq!((s, b["error"].as_str()), (405, Some("method_not_allowed")));

    assert_eq!(bob.ok("GET", "/conversations", None).await, before);
    assert!(
        bob.ok("GET", "/pending", None).await["pending"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn message_rules() {
    let (node, bob, raw, carol, id) = setup().await;
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("runs.log");
    let echo = echo_script(work.path(), &log);
    bob.expose_exec("Echo", "echo", &echo).await;
    bob.expose_exec("Secret", "not for carol", &echo).await;
    whitelist(&bob, &carol, &["Echo"], 100, None).await;
    let session = open(&raw, &carol, &id).await;
    let mut rng = os_rng();

    let mut p = Payload::text("first");
    p.calls.push(sovra_proto::Call {
        capability: "Echo".into(),
        args: json!(1),
    });
    p.calls.push(sovra_proto::Call {
        capability: "Secret".into(),
        args: json!(2),
    });
    let m1 = session.seal(&mut rng, &carol.signing, 1, &p).unwrap();
    let (s, b) = raw.post("/api/d2d/message", &json!(m1)).await;
    assert_eq!((s, &b), (200, &json!({"received": true})));
    // The identical retransmission is acknowledged again and runs nothing twice.
    let (s, _) = raw.post("/api/d2d/message", &json!(m1)).await;
    assert_eq!(s, 200);
    // Another message under the same seq is a replay.
    let other = session
        .seal(&mut rng, &carol.signing, 1, &Payload::text("other"))
        .unwrap();
    let (s, b) = raw.post("/api/d2d/message", &json!(other)).await;
    assert_eq!((s, b["error"].as_str()), (409, Some("replayed_seq")));

    // Calls: granted runs once; not granted is refused per call. (No URL for carol, so the
    // reply stays with bob; wait for the job to finish.)
    for _ in 0..100 {
        if std::fs::read_to_string(&log)
            .map(|l| l.lines().count())
            .unwrap_or(0)
            >= 1
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 1);

    // Tampered, wrong key, unknown token, malformed fields.
    let mut tampered = session
        .seal(&mut rng, &carol.signing, 2, &Payload::text("t"))
        .unwrap();
    tampered.sealed_payload = format!("AAAA{}", &tampered.sealed_payload[4..]);
    let stranger = CloudKeys::generate(&mut rng);
    let forged: MessageRequest = {
        let mut s = session.to_stored();
        s.me = stranger.public().to_b64();
        Session::from_stored(&s)
            .unwrap()
            .seal(&mut rng, &stranger.signing, 2, &Payload::text("f"))
            .unwrap()
    };
    let mut unknown = session
        .seal(&mut rng, &carol.signing, 2, &Payload::text("u"))
        .unwrap();
    unknown.conversation_token = sovra_proto::encoding::b64(&[9u8; 32]);
    let mut zero = session
        .seal(&mut rng, &carol.signing, 2, &Payload::text("z"))
        .unwrap();
    zero.seq = 0;
    for (m, status, code) in [
        (tampered, 401, "bad_signature"),
        (forged, 401, "bad_signature"),
        (unknown, 404, "unknown_token"),
        (zero, 400, "malformed"),
    ] {
        let (s, b) = raw.post("/api/d2d/message", &json!(m)).await;
        assert_eq!((s, b["error"].as_str()), (status, Some(code)));
    }

    // Out of order within the window is fine; below the window is stale.
    let m3 = session
        .seal(&mut rng, &carol.signing, 3, &Payload::text("three"))
        .unwrap();
    let m2 = session
        .seal(&mut rng, &carol.signing, 2, &Payload::text("two"))
        .unwrap();
    assert_eq!(raw.post("/api/d2d/message", &json!(m3)).await.0, 200);
    assert_eq!(raw.post("/api/d2d/message", &json!(m2)).await.0, 200);
    let m100 = session
        .seal(&mut rng, &carol.signing, 100, &Payload::text("hundred"))
        .unwrap();
    assert_eq!(raw.post("/api/d2d/message", &json!(m100)).await.0, 200);
    let m10 = session
        .seal(&mut rng, &carol.signing, 10, &Payload::text("ten"))
        .unwrap();
    let (s, b) = raw.post("/api/d2d/message", &json!(m10)).await;
    assert_eq!((s, b["error"].as_str()), (409, Some("stale_seq")));

    let texts: Vec<String> = bob
        .messages()
        .await
        .iter()
        .filter(|m| m["direction"] == "in")
        .map(|m| m["payload"]["text"].as_str().unwrap().to_owned())
        .collect();
    // Listed in seq order, however they arrived (issue 11, item 16).
    assert_eq!(texts, ["first", "two", "three", "hundred"]);
    let reply = bob
        .wait_for("bob's reply", |m| m["direction"] == "out")
        .await;
    assert_eq!(reply["payload"]["results"][0]["ok"], true);
    assert_eq!(reply["payload"]["results"][1]["error"], "not granted");

    // Closing ends the token and deletes session-retention content.
    bob.close_newest_conversation().await;
    let late = session
        .seal(&mut rng, &carol.signing, 101, &Payload::text("late"))
        .unwrap();
    let (s, b) = raw.post("/api/d2d/message", &json!(late)).await;
    assert_eq!((s, b["error"].as_str()), (410, Some("expired_token")));
    assert!(bob.messages().await.is_empty());
    drop(node);
}

#[tokio::test]
async fn message_rate_limit_counts_the_rolling_day() {
    let (_node, bob, raw, carol, id) = setup().await;
    whitelist(&bob, &carol, &[], 3, None).await; // the handshake counts as one
    let session = open(&raw, &carol, &id).await;
    let mut rng = os_rng();
    for seq in 1..=2 {
        let m = session
            .seal(&mut rng, &carol.signing, seq, &Payload::text("x"))
            .unwrap();
        assert_eq!(raw.post("/api/d2d/message", &json!(m)).await.0, 200);
    }
    let m = session
        .seal(&mut rng, &carol.signing, 3, &Payload::text("x"))
        .unwrap();
    let (s, b) = raw.post("/api/d2d/message", &json!(m)).await;
    assert_eq!((s, b["error"].as_str()), (429, Some("rate_limited")));
}

/// The inbox commits concurrent messages in batches: a burst in which every message is sent
/// twice at once is acknowledged in full, stored once each, and a third copy is still only a
/// retransmission.
#[tokio::test]
async fn a_concurrent_burst_is_stored_once_per_message() {
    let (_node, bob, raw, carol, id) = setup().await;
    whitelist(&bob, &carol, &[], 1000, None).await;
    let session = open(&raw, &carol, &id).await;
    let mut rng = os_rng();
    let messages: Vec<MessageRequest> = (1..=40)
        .map(|seq| {
            session
                .seal(
                    &mut rng,
                    &carol.signing,
                    seq,
                    &Payload::text(format!("m{seq}")),
                )
                .unwrap()
        })
        .collect();
    let raw = std::sync::Arc::new(raw);
    let mut sends = tokio::task::JoinSet::new();
    for m in messages.iter().chain(messages.iter()) {
        let (raw, body) = (raw.clone(), json!(m));
        sends.spawn(async move { raw.post("/api/d2d/message", &body).await });
    }
    while let Some(answer) = sends.join_next().await {
        let (status, body) = answer.unwrap();
        assert_eq!((status, &body), (200, &json!({"received": true})));
    }
    let (s, _) = raw.post("/api/d2d/message", &json!(messages[7])).await;
    assert_eq!(s, 200);
    let mut texts: Vec<String> = bob
        .messages()
        .await
        .iter()
        .map(|m| m["payload"]["text"].as_str().unwrap().to_owned())
        .collect();
    texts.sort();
    let mut expected: Vec<String> = (1..=40).map(|s| format!("m{s}")).collect();
    expected.sort();
    assert_eq!(texts, expected);
}

/// The node keeps whitelist entries and conversations in memory for the hot path; an owner's
/// change must still apply to the very next message.
#[tokio::test]
async fn whitelist_changes_apply_to_the_next_message() {
    let (_node, bob, raw, carol, id) = setup().await;
    whitelist(&bob, &carol, &[], 100, None).await;
    let session = open(&raw, &carol, &id).await;
    let mut rng = os_rng();
    let mut send = |seq: u64| {
        json!(
            session
                .seal(&mut rng, &carol.signing, seq, &Payload::text("x"))
                .unwrap()
        )
    };
    assert_eq!(raw.post("/api/d2d/message", &send(1)).await.0, 200);
    // Lowering the limit below what was already counted (handshake + 1 message) bites at once.
    whitelist(&bob, &carol, &[], 2, None).await;
    let (s, b) = raw.post("/api/d2d/message", &send(2)).await;
    assert_eq!((s, b["error"].as_str()), (429, Some("rate_limited")));
    whitelist(&bob, &carol, &[], 100, None).await;
    assert_eq!(raw.post("/api/d2d/message", &send(3)).await.0, 200);
    // Removing the peer ends its conversations at once.
    bob.ok("DELETE", "/peers/@carol.cloud", None).await;
    let (s, b) = raw.post("/api/d2d/message", &send(4)).await;
    assert_eq!((s, b["error"].as_str()), (410, Some("expired_token")));
}

#[tokio::test]
async fn messages_arriving_out_of_order_are_listed_by_seq() {
    let (_node, bob, raw, carol, id) = setup().await;
    whitelist(&bob, &carol, &[], 100, None).await;
    let session = open(&raw, &carol, &id).await;
    let mut rng = os_rng();
    // #2 arrives first (as after an outage in which #1 was retried later).
    for (seq, text) in [(2, "second"), (1, "first"), (3, "third")] {
        let m = session
            .seal(&mut rng, &carol.signing, seq, &Payload::text(text))
            .unwrap();
        let (s, _) = raw.post("/api/d2d/message", &json!(m)).await;
        assert_eq!(s, 200);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let listed: Vec<u64> = bob
        .messages()
        .await
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, [1, 2, 3]);
}

/// Bob's node with the given first-contact limits.
async fn limited(
    per_source: u32,
    total: u32,
    max_pending: i64,
) -> (TestNode, Owner, Raw, sovra_proto::Identity) {
    let node = TestNode::start_with(
        &["@bob.cloud"],
        sovra_node::Settings {
            strangers_per_source_per_minute: per_source,
            strangers_per_minute: total,
            max_pending,
            ..fast_settings()
        },
    )
    .await;
    let bob = node.owner("bob");
    let (raw, id) = node.raw("bob").await;
    (node, bob, raw, id)
}

/// A fresh key knocks once; the status and error code.
async fn knock(raw: &Raw, id: &sovra_proto::Identity) -> (u16, Value) {
    let stranger = CloudKeys::generate(&mut os_rng());
    let (req, _) = initiate(&stranger, id);
    raw.post("/api/d2d/handshake", &json!(req)).await
}

#[tokio::test]
async fn first_contact_is_rate_limited_per_source_and_per_cloud() {
    let (_node, bob, raw, id) = limited(3, 1000, 1000).await;
    for _ in 0..3 {
        assert_eq!(knock(&raw, &id).await.0, 200);
    }
    let (s, b) = knock(&raw, &id).await;
    assert_eq!((s, b["error"].as_str()), (429, Some("rate_limited")), "{b}");
    // A peer on the whitelist is not a stranger: it still gets in.
    let carol = CloudKeys::generate(&mut os_rng());
    whitelist(&bob, &carol, &[], 100, None).await;
    open(&raw, &carol, &id).await;
    assert_eq!(bob.ok("GET", "/pending", None).await["total"], 3);

    let (_node, bob, raw, id) = limited(1000, 2, 1000).await;
    assert_eq!(knock(&raw, &id).await.0, 200);
    assert_eq!(knock(&raw, &id).await.0, 200);
    assert_eq!(knock(&raw, &id).await.0, 429, "the cloud-wide bound");
    assert_eq!(bob.ok("GET", "/pending", None).await["total"], 2);
}

#[tokio::test]
async fn pending_requests_are_capped_and_paged() {
    let (_node, bob, raw, id) = limited(1000, 1000, 5).await;
    for _ in 0..5 {
        assert_eq!(knock(&raw, &id).await.0, 200);
    }
    let (s, b) = knock(&raw, &id).await;
    assert_eq!((s, b["error"].as_str()), (429, Some("rate_limited")), "{b}");
    let first = bob.ok("GET", "/pending?limit=2", None).await;
    assert_eq!(first["total"], 5);
    assert_eq!(first["pending"].as_array().unwrap().len(), 2);
    let mut seen: Vec<String> = first["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    let mut next = first["next"].as_str().map(str::to_owned);
    while let Some(after) = next {
        let page = bob
            .ok("GET", &format!("/pending?limit=2&after={after}"), None)
            .await;
        seen.extend(
            page["pending"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_owned()),
        );
        next = page["next"].as_str().map(str::to_owned);
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        (seen.len(), unique.len()),
        (5, 5),
        "every request once: {seen:?}"
    );
    let bad = bob.call("GET", "/pending?limit=0", None).await;
    assert_eq!(bad.unwrap_err().code(), Some("malformed"));
    // Denying one makes room for a new stranger.
    bob.ok("POST", &format!("/pending/{}/deny", seen[0]), None)
        .await;
    assert_eq!(knock(&raw, &id).await.0, 200);
}

/// A cloud that asks strangers for a proof of work (§7.8): a knock without one is 428 with the
/// difficulty and leaves nothing behind; with one it is an ordinary knock; a whitelisted peer
/// pays nothing; and a Sovra node knocking as a stranger pays by itself.
#[tokio::test]
async fn strangers_pay_a_proof_of_work_when_the_cloud_asks() {
    let node = TestNode::start_with(
        &["@bob.cloud", "@alice.cloud"],
        sovra_node::Settings {
            stranger_pow_difficulty: 10,
            ..fast_settings()
        },
    )
    .await;
    let (bob, alice) = (node.owner("bob"), node.owner("alice"));
    let (raw, id) = node.raw("bob").await;
    let stranger = CloudKeys::generate(&mut os_rng());
    let (mut req, _) = initiate(&stranger, &id);
    let (s, b) = raw.post("/api/d2d/handshake", &json!(req)).await;
    assert_eq!(
        (s, b["error"].as_str(), b["difficulty"].as_u64()),
        (428, Some("pow_required"), Some(10)),
        "{b}"
    );
    // A counter that does not solve it is the same refusal; so is one out of JSON's range.
    let unsolved = (0u64..).find(|c| {
        req.pow = Some(*c);
        !req.pow_valid(10).unwrap()
    });
    assert!(unsolved.is_some());
    assert_eq!(raw.post("/api/d2d/handshake", &json!(req)).await.0, 428);
    req.pow = Some(1 << 60);
    let (s, b) = raw.post("/api/d2d/handshake", &json!(req)).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("malformed")), "{b}");
    assert_eq!(bob.ok("GET", "/pending", None).await["total"], 0);

    // Solved, the same request is an ordinary knock: refused and kept for the owner.
    req.solve_pow(10).unwrap();
    let (s, b) = raw.post("/api/d2d/handshake", &json!(req)).await;
    assert_eq!((s, b["accepted"].as_bool()), (200, Some(false)), "{b}");
    assert_eq!(bob.ok("GET", "/pending", None).await["total"], 1);

    // A peer on the whitelist pays nothing.
    let carol = CloudKeys::generate(&mut os_rng());
    whitelist(&bob, &carol, &[], 100, None).await;
    open(&raw, &carol, &id).await;

    // Alice's node, a stranger to bob, meets the demand itself: her handshake is refused
    // (not on the whitelist), not failed, and bob has her request waiting.
    let alice_key = alice.pubkey().await;
    alice.add_peer(&bob, "@bob.cloud", &[]).await;
    let err = alice
        .call(
            "POST",
            "/send",
            Some(json!({"to": "@bob.cloud", "text": "hello?"})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("refused"), "{err}");
    let pending = bob.ok("GET", "/pending", None).await;
    assert_eq!(pending["total"], 2);
    assert!(pending.to_string().contains(&alice_key), "{pending}");
}
