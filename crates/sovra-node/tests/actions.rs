//! The actions surface (PROTOCOL.md §23) between real nodes on loopback, and against a local
//! server that speaks Cloudillo's side of it (P-384 keys, ES384 tokens, 201 answers).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::routing::{get, post};
use common::*;
use data_encoding::BASE64URL_NOPAD;
use serde_json::{Value, json};
use sovra_node::home;
use sovra_proto::action::{self, ActionClaims, ActionKey};

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Two nodes whose clouds know each other's URLs (a whitelist entry with no grants).
async fn pair() -> (TestNode, TestNode, Owner, Owner) {
    pair_with(fast_settings(), fast_settings()).await
}

async fn pair_with(
    sa: sovra_node::Settings,
    sb: sovra_node::Settings,
) -> (TestNode, TestNode, Owner, Owner) {
    let a = TestNode::start_with(&["@alice.cloud"], sa).await;
    let b = TestNode::start_with(&["@bob.cloud"], sb).await;
    let alice = a.owner("alice");
    let bob = b.owner("bob");
    alice.add_peer(&bob, "@bob.cloud", &[]).await;
    bob.add_peer(&alice, "@alice.cloud", &[]).await;
    (a, b, alice, bob)
}

async fn until(what: &str, mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..300 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn relations(o: &Owner, which: &str) -> Vec<Value> {
    o.ok("GET", &format!("/actions/{which}"), None).await["relations"]
        .as_array()
        .unwrap()
        .clone()
}

async fn feed(o: &Owner) -> Vec<Value> {
    o.ok("GET", "/actions/feed", None).await["actions"]
        .as_array()
        .unwrap()
        .clone()
}

/// Posts `token` to `cloud_url`'s inbox: the status and the body.
async fn inbox(cloud_url: &str, token: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{cloud_url}/api/inbox"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Alice's cloud key, to forge and sign tokens the way her node would.
fn alice_keys(a: &TestNode) -> sovra_proto::CloudKeys {
    home::load_keys(&a.dir("alice")).unwrap()
}

fn alice_claims(a: &TestNode, t: &str) -> (sovra_proto::CloudKeys, ActionClaims) {
    let keys = alice_keys(a);
    let k = ActionKey::sovra_key_id(&keys.signing.public());
    let mut c = ActionClaims::new("@alice.cloud", &k, t, now());
    c.aud = Some("@bob.cloud".into());
    (keys, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_gets_posts_and_their_files() {
    let (a, b, alice, bob) = pair().await;

    // Bob's profile: his handle and the key his tokens are signed with.
    let me: Value = reqwest::get(format!("{}/api/me", bob.0.base()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["data"]["idTag"], "@bob.cloud");
    let key =
        ActionKey::from_spki_b64(me["data"]["keys"][0]["publicKey"].as_str().unwrap()).unwrap();
    assert_eq!(key.alg(), "EdDSA");

    let mut events = bob.0.stream("/api/owner/events").await.unwrap();
    let issued = alice
        .ok(
            "POST",
            "/actions/follow",
            Some(json!({"id_tag": "@bob.cloud"})),
        )
        .await;
    assert_eq!(issued["action"]["type"], "FLLW");
    // Bob's owner hears of the follower live.
    let mut seen = String::new();
    while !seen.contains("\"kind\":\"action\"") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), events.chunk())
            .await
            .expect("an action event")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        seen.contains("\"peer\":\"@alice.cloud\"") && seen.contains("\"reason\":\"FLLW\""),
        "{seen}"
    );
    drop(events);
    assert_eq!(issued["deliveries"], 1);
    until("bob to see his follower", async || {
        relations(&bob, "followers")
            .await
            .iter()
            .any(|r| r["id_tag"] == "@alice.cloud")
    })
    .await;
    assert_eq!(
        relations(&alice, "following").await[0]["id_tag"],
        "@bob.cloud"
    );

    // A public post with a file reaches the follower; the file is fetched and checked.
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let file: Value = bob
        .0
        .put_bytes("/api/owner/files", "image/png", &bytes)
        .await
        .unwrap();
    let file_id = file["id"].as_str().unwrap().to_owned();
    assert_eq!(file_id, action::file_id(&bytes));
    let posted = bob
        .ok(
            "POST",
            "/actions/post",
            Some(json!({"text": "hello followers", "files": [file_id]})),
        )
        .await;
    let post_id = posted["action"]["id"].as_str().unwrap().to_owned();
    assert_eq!(posted["deliveries"], 1);
    until("the post in alice's feed", async || {
        feed(&alice)
            .await
            .iter()
            .any(|x| x["id"] == post_id.as_str() && x["state"] == "done")
    })
    .await;
    let got = feed(&alice).await;
    let post = got.iter().find(|x| x["id"] == post_id.as_str()).unwrap();
    assert_eq!(post["content"], "hello followers");
    assert_eq!(post["issuer"], "@bob.cloud");
    assert_eq!(post["attachments"], json!([file_id]));

    let fetched = alice
        .ok(
            "POST",
            "/files/fetch",
            Some(json!({"id_tag": "@bob.cloud", "id": file_id})),
        )
        .await;
    assert_eq!(fetched["size"], bytes.len());
    assert_eq!(fetched["origin"], "@bob.cloud");
    assert_eq!(fetched["content_type"], "image/png");
    let (ct, kept) = alice
        .0
        .get_bytes(&format!("/api/owner/files/{file_id}"))
        .await
        .unwrap();
    assert_eq!(ct, "image/png");
    assert_eq!(kept, bytes);

    // The public post and its file are anyone's to read, by id; ranges are served.
    let public: Value = reqwest::get(format!("{}/api/action/{post_id}", bob.0.base()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = public["data"]["token"].as_str().unwrap();
    assert_eq!(action::action_id(token), post_id);
    action::parse(token).unwrap().verify(&key, now()).unwrap();
    let listed: Value = reqwest::get(format!("{}/api/actions", bob.0.base()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"][0]["actionId"], post_id.as_str());
    let http = reqwest::Client::new();
    let part = http
        .get(format!("{}/api/files/{file_id}", bob.0.base()))
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 10-19/{}", bytes.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[10..20]);
    let past = http
        .get(format!("{}/api/file/{file_id}", bob.0.base()))
        .header("range", "bytes=900000-")
        .send()
        .await
        .unwrap();
    assert_eq!(past.status(), 416);
    assert_eq!(
        past.json::<Value>().await.unwrap()["error"],
        "range_not_satisfiable"
    );

    // Unfollowing stops the deliveries: Bob's next post has nobody to go to.
    alice
        .ok(
            "POST",
            "/actions/unfollow",
            Some(json!({"id_tag": "@bob.cloud"})),
        )
        .await;
    until("bob to lose his follower", async || {
        relations(&bob, "followers").await.is_empty()
    })
    .await;
    let next = bob
        .ok("POST", "/actions/post", Some(json!({"text": "anyone?"})))
        .await;
    assert_eq!(next["deliveries"], 0);
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connected_clouds_exchange_messages_reactions_and_shared_files() {
    let (a, b, alice, bob) = pair().await;
    // Not connected yet: a message is refused before anything is signed.
    let early = alice
        .call(
            "POST",
            "/actions/send",
            Some(json!({"to": "@bob.cloud", "type": "MSG", "content": "hi"})),
        )
        .await
        .unwrap_err();
    assert_eq!(early.code(), Some("not_connected"));

    let request = alice
        .ok(
            "POST",
            "/actions/connect",
            Some(json!({"id_tag": "@bob.cloud"})),
        )
        .await;
    assert_eq!(request["action"]["type"], "CONN");
    until("bob to see the request", async || {
        relations(&bob, "connections")
            .await
            .iter()
            .any(|r| r["state"] == "asked")
    })
    .await;
    assert_eq!(
        relations(&alice, "connections").await[0]["state"],
        "requested"
    );
    bob.ok(
        "POST",
        "/actions/approve",
        Some(json!({"id_tag": "@alice.cloud"})),
    )
    .await;
    assert_eq!(
        relations(&bob, "connections").await[0]["state"],
        "connected"
    );
    until("alice to be connected", async || {
        relations(&alice, "connections")
            .await
            .iter()
            .any(|r| r["state"] == "connected")
    })
    .await;

    let msg = alice
        .ok(
            "POST",
            "/actions/send",
            Some(json!({"to": "@bob.cloud", "type": "MSG", "content": "hi bob"})),
        )
        .await;
    let msg_id = msg["action"]["id"].as_str().unwrap().to_owned();
    until("the message", async || {
        feed(&bob).await.iter().any(|x| x["id"] == msg_id.as_str())
    })
    .await;
    let like = bob
        .ok(
            "POST",
            "/actions/send",
            Some(json!({"to": "@alice.cloud", "type": "REACT:LIKE", "parent": msg_id})),
        )
        .await;
    let like_id = like["action"]["id"].as_str().unwrap().to_owned();
    until("the reaction", async || {
        feed(&alice)
            .await
            .iter()
            .any(|x| x["id"] == like_id.as_str() && x["parent"] == msg_id.as_str())
    })
    .await;

    // A file share: the file is Bob's to fetch with an access token, nobody else's.
    let bytes = b"the minutes of the meeting".to_vec();
    let file: Value = alice
        .0
        .put_bytes("/api/owner/files", "text/plain", &bytes)
        .await
        .unwrap();
    let file_id = file["id"].as_str().unwrap().to_owned();
    let share = alice
        .ok(
            "POST",
            "/actions/send",
            Some(json!({"to": "@bob.cloud", "type": "FSHR", "files": [file_id], "content": {"name": "minutes.txt"}})),
        )
        .await;
    let share_id = share["action"]["id"].as_str().unwrap().to_owned();
    until("the share", async || {
        feed(&bob)
            .await
            .iter()
            .any(|x| x["id"] == share_id.as_str())
    })
    .await;
    let anonymous = reqwest::get(format!("{}/api/file/{file_id}", alice.0.base()))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 404);
    let hidden = reqwest::get(format!("{}/api/action/{share_id}", alice.0.base()))
        .await
        .unwrap();
    assert_eq!(hidden.status(), 404);
    let kept = bob
        .ok(
            "POST",
            "/files/fetch",
            Some(json!({"id_tag": "@alice.cloud", "id": file_id})),
        )
        .await;
    assert_eq!(kept["size"], bytes.len());

    // Disconnecting ends it on both sides; a message after that is refused by Bob's inbox.
    alice
        .ok(
            "POST",
            "/actions/disconnect",
            Some(json!({"id_tag": "@bob.cloud"})),
        )
        .await;
    until("bob to drop the connection", async || {
        relations(&bob, "connections").await.is_empty()
    })
    .await;
    let (keys, mut c) = alice_claims(&a, "MSG");
    c.c = Some(json!("still there?"));
    let (status, body) = inbox(bob.0.base(), &action::sign(&keys.signing, &c)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("not_connected"))
    );
    // A blocked cloud's follow is refused, and blocking ended the one it had.
    alice
        .ok(
            "POST",
            "/actions/follow",
            Some(json!({"id_tag": "@bob.cloud"})),
        )
        .await;
    until("the follower", async || {
        relations(&bob, "followers").await.len() == 1
    })
    .await;
    bob.ok(
        "POST",
        "/actions/block",
        Some(json!({"id_tag": "@Alice.Cloud"})),
    )
    .await;
    assert!(relations(&bob, "followers").await.is_empty());
    assert_eq!(
        relations(&bob, "blocked").await[0]["id_tag"],
        "@alice.cloud"
    );
    let mut again = c.clone();
    again.t = "FLLW".into();
    again.c = None;
    again.iat -= 5;
    let (status, body) = inbox(bob.0.base(), &action::sign(&keys.signing, &again)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("blocked")),
        "{body}"
    );
    bob.ok(
        "POST",
        "/actions/unblock",
        Some(json!({"id_tag": "@alice.cloud"})),
    )
    .await;
    let (status, _) = inbox(bob.0.base(), &action::sign(&keys.signing, &again)).await;
    assert_eq!(status, 202);
    let e = bob
        .call(
            "POST",
            "/actions/unblock",
            Some(json!({"id_tag": "@alice.cloud"})),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("not_blocked"));
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_accepted_before_a_restart_is_processed_after_it() {
    let held = sovra_node::Settings {
        process_actions: false,
        ..fast_settings()
    };
    let (_a, mut b, alice, bob) = pair_with(fast_settings(), held).await;
    alice
        .ok(
            "POST",
            "/actions/follow",
            Some(json!({"id_tag": "@bob.cloud"})),
        )
        .await;
    until("the follow to be accepted", async || {
        feed(&bob)
            .await
            .iter()
            .any(|x| x["type"] == "FLLW" && x["state"] == "queued")
    })
    .await;
    assert!(relations(&bob, "followers").await.is_empty());
    b.stop().await;
    b.serve(fast_settings()).await;
    let bob = b.owner("bob");
    until("the follower after the restart", async || {
        relations(&bob, "followers").await.len() == 1
    })
    .await;
    assert_eq!(feed(&bob).await[0]["state"], "done");
    // The same token again changes nothing.
    let token = alice_token_of(&alice, "FLLW").await;
    let (status, _) = inbox(bob.0.base(), &token).await;
    assert_eq!(status, 202);
    assert_eq!(feed(&bob).await.len(), 1);
}

/// The token of the newest action `owner` issued of type `t`.
async fn alice_token_of(alice: &Owner, t: &str) -> String {
    let sent = alice.ok("GET", "/actions/sent", None).await;
    sent["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["type"] == t)
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_a_replaced_key_keep_verifying() {
    let (mut a, _b, alice, bob) = pair().await;
    // Alice's profile lists the key she signs with.
    reqwest::get(format!("{}/api/me", alice.0.base()))
        .await
        .unwrap();
    let (old, c) = alice_claims(&a, "FLLW");
    let mut c = c;
    let old_token = action::sign(&old.signing, &c);

    // Her cloud key is replaced (as a rotation does); the node signs with the new one and
    // keeps the old one listed, with an expiry.
    a.stop().await;
    let keys = sovra_proto::CloudKeys::generate(&mut sovra_proto::os_rng());
    std::fs::remove_file(a.dir("alice").join("cloud.key")).unwrap();
    sovra_proto::keyfile::save_cloud_keys(&a.dir("alice").join("cloud.key"), &keys).unwrap();
    a.serve(fast_settings()).await;
    let new = keys.signing;
    let new_id = ActionKey::sovra_key_id(&new.public());
    let me: Value = reqwest::get(format!("{}/api/me", a.cloud_url("alice")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = me["data"]["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{me}");
    assert!(keys[0]["expiresAt"].is_null());
    assert!(keys[1]["expiresAt"].is_string());

    c.k = new_id.clone();
    let (status, body) = inbox(bob.0.base(), &action::sign(&new, &c)).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = inbox(bob.0.base(), &old_token).await;
    assert_eq!(status, 202, "an old token still verifies: {body}");

    // A key the profile never listed: refused, nothing stored.
    let stranger = sovra_proto::SigningKeypair::generate(&mut sovra_proto::os_rng());
    let mut forged = c.clone();
    forged.k = ActionKey::sovra_key_id(&stranger.public());
    forged.t = "CONN".into();
    let (status, body) = inbox(bob.0.base(), &action::sign_with_work(&stranger, &forged, 2)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unknown_key")),
        "{body}"
    );
    // A listed key id with another key's signature.
    forged.k = new_id;
    let (status, body) = inbox(bob.0.base(), &action::sign_with_work(&stranger, &forged, 2)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("bad_signature")),
        "{body}"
    );
    assert_eq!(feed(&bob).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_and_nothing_is_stored() {
    let (a, _b, alice, bob) = pair().await;
    let base = bob.0.base().to_owned();
    let (keys, c) = alice_claims(&a, "FLLW");
    let signed = |c: &ActionClaims| action::sign(&keys.signing, c);
    let b64 = |v: &Value| BASE64URL_NOPAD.encode(&serde_json::to_vec(v).unwrap());
    let claims_json = serde_json::to_value(&c).unwrap();

    let mut cases: Vec<(String, u16, &str)> = vec![
        ("not a token".into(), 400, "malformed"),
        ("a.b.c".into(), 400, "bad_encoding"),
        // alg none, with and without a signature.
        (
            format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims_json)),
            400,
            "bad_algorithm",
        ),
        (
            format!(
                "{}.{}.AAAA",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&claims_json)
            ),
            400,
            "bad_algorithm",
        ),
    ];
    // HS256 keyed with the public key's text, the classic confusion.
    {
        use hmac::{KeyInit, Mac};
        let me: Value = reqwest::get(format!("{}/api/me", a.cloud_url("alice")))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let public = me["data"]["keys"][0]["publicKey"]
            .as_str()
            .unwrap()
            .to_owned();
        let input = format!(
            "{}.{}",
            b64(&json!({"alg": "HS256", "typ": "JWT"})),
            b64(&claims_json)
        );
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(public.as_bytes()).unwrap();
        mac.update(input.as_bytes());
        let sig = BASE64URL_NOPAD.encode(&mac.finalize().into_bytes());
        cases.push((format!("{input}.{sig}"), 400, "bad_algorithm"));
        // ES384 claimed for an Ed25519 issuer: refused for the key's algorithm.
        let es = format!(
            "{}.{}.{}",
            b64(&json!({"alg": "ES384", "typ": "JWT"})),
            b64(&claims_json),
            BASE64URL_NOPAD.encode(&[1u8; 96])
        );
        cases.push((es, 400, "bad_algorithm"));
    }
    let mut expired = c.clone();
    expired.iat = now() - 600;
    expired.exp = Some(now() - 60);
    cases.push((signed(&expired), 401, "token_expired"));
    let mut future = c.clone();
    future.iat = now() + 3600;
    cases.push((signed(&future), 400, "stale_timestamp"));
    let mut elsewhere = c.clone();
    elsewhere.aud = Some("@carol.cloud".into());
    cases.push((signed(&elsewhere), 421, "wrong_recipient"));
    let mut no_pow = c.clone();
    no_pow.t = "CONN".into();
    let weak = (0u64..)
        .map(|n| {
            no_pow.nonce = Some(n.to_string());
            signed(&no_pow)
        })
        .find(|t| action::work(t) == 0)
        .unwrap();
    cases.push((weak, 428, "pow_required"));
    let mut odd = c.clone();
    odd.t = "VOTE".into();
    cases.push((signed(&odd), 400, "unsupported_action"));
    let mut msg = c.clone();
    msg.t = "MSG".into();
    cases.push((signed(&msg), 403, "not_connected"));
    let mut post = c.clone();
    post.t = "POST".into();
    post.aud = None;
    cases.push((signed(&post), 403, "not_following"));
    let mut aprv = c.clone();
    aprv.t = "APRV".into();
    aprv.sub = Some(action::action_id("nothing"));
    cases.push((signed(&aprv), 403, "not_connected"));
    let mut huge = c.clone();
    huge.c = Some(json!("x".repeat(action::MAX_TOKEN)));
    cases.push((signed(&huge), 400, "wrong_size"));
    let mut tampered = signed(&c);
    tampered.replace_range(tampered.len() - 3.., "AAA");
    cases.push((tampered, 401, "bad_signature"));
    let mut not_alice = c.clone();
    not_alice.iss = "@mallory.cloud".into();
    cases.push((signed(&not_alice), 424, "issuer_unknown"));

    for (token, status, code) in &cases {
        let (got, body) = inbox(&base, token).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (*status, Some(*code)),
            "{token:.80}: {body}"
        );
        if *code == "pow_required" {
            assert_eq!(body["work"], 2, "{body}");
        }
    }

    // Bodies: not JSON, unknown fields, oversized.
    let http = reqwest::Client::new();
    for (body, status, code) in [
        ("{".to_owned(), 400, "malformed"),
        (
            json!({"token": signed(&c), "extra": 1}).to_string(),
            400,
            "malformed",
        ),
        (
            json!({"token": "x".repeat(2 << 20)}).to_string(),
            413,
            "wrong_size",
        ),
    ] {
        let resp = http
            .post(format!("{base}/api/inbox"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status);
        assert_eq!(resp.json::<Value>().await.unwrap()["error"], code);
    }
    // Unknown and malformed ids.
    for (path, status, code) in [
        (
            format!("/api/action/{}", action::action_id("nope")),
            404,
            "unknown_action",
        ),
        ("/api/action/a1~short".to_owned(), 400, "malformed"),
        (
            format!("/api/file/{}", action::file_id(b"nope")),
            404,
            "unknown_file",
        ),
        ("/api/actions?limit=0".to_owned(), 400, "malformed"),
    ] {
        let resp = reqwest::get(format!("{base}{path}")).await.unwrap();
        assert_eq!(resp.status(), status, "{path}");
        assert_eq!(resp.json::<Value>().await.unwrap()["error"], code, "{path}");
    }
    // A bad access token is refused, not ignored.
    let resp = http
        .get(format!("{base}/api/action/{}", action::action_id("nope")))
        .bearer_auth(signed(&c))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(feed(&bob).await.is_empty());
    let _ = alice;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_issuer_is_refused() {
    let b = TestNode::start(&["@bob.cloud"]).await;
    let a = TestNode::start(&["@alice.cloud"]).await;
    let bob = b.owner("bob");
    let alice = a.owner("alice");
    bob.add_peer(&alice, "@alice.cloud", &[]).await;
    let (keys, c) = alice_claims(&a, "FLLW");
    let token = action::sign(&keys.signing, &c);
    let mut a = a;
    a.stop().await;
    let (status, body) = inbox(bob.0.base(), &token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (424, Some("issuer_unreachable")),
        "{body}"
    );
    assert!(feed(&bob).await.is_empty());
}

/// What the fake Cloudillo instance saw.
#[derive(Default)]
struct Seen {
    inbox: Vec<String>,
}

/// A local server speaking Cloudillo's side: `/api/me` with a P-384 key, an inbox answering
/// 201, and files served with whatever bytes it is told to serve.
struct Cloudillo {
    url: String,
    key: aws_lc_rs::signature::EcdsaKeyPair,
    key_id: String,
    seen: Arc<Mutex<Seen>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

const CL_TAG: &str = "cl.example.org";

impl Cloudillo {
    async fn start(bad_file: (String, Vec<u8>)) -> Cloudillo {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point: [u8; 97] = key.public_key().as_ref().try_into().unwrap();
        let spki = ActionKey::P384(Box::new(point)).to_spki_b64();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let s2 = seen.clone();
        let (file_id, file_bytes) = bad_file;
        let app = axum::Router::new()
            .route(
                "/api/me",
                get(move || {
                    let spki = spki.clone();
                    async move {
                        Json(
                            json!({"data": {"idTag": CL_TAG, "name": "Cl", "type": "person",
                            "keys": [{"keyId": "20260101", "publicKey": spki, "expiresAt": null}, {"keyId": "20250101", "publicKey": spki, "expiresAt": 1700000000}]},
                            "time": "2026-12-07T00:00:00Z"}),
                        )
                    }
                }),
            )
            .route(
                "/api/inbox",
                post(move |Json(v): Json<Value>| {
                    let s = s2.clone();
                    async move {
                        s.lock()
                            .unwrap()
                            .inbox
                            .push(v["token"].as_str().unwrap_or("").to_owned());
                        (axum::http::StatusCode::CREATED, Json(json!({"data": {}})))
                    }
                }),
            )
            .route(
                &format!("/api/file/{file_id}"),
                get(move || {
                    let b = file_bytes.clone();
                    async move { b }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Cloudillo {
            url,
            key,
            key_id: "20260101".into(),
            seen,
            stop: Some(tx),
        }
    }

    /// An ES384 token as jsonwebtoken signs it (r ‖ s).
    fn sign(&self, c: &ActionClaims) -> String {
        let h = BASE64URL_NOPAD.encode(br#"{"typ":"JWT","alg":"ES384"}"#);
        let p = BASE64URL_NOPAD.encode(&serde_json::to_vec(c).unwrap());
        let input = format!("{h}.{p}");
        let sig = self
            .key
            .sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", BASE64URL_NOPAD.encode(sig.as_ref()))
    }

    fn claims(&self, t: &str) -> ActionClaims {
        let mut c = ActionClaims::new(CL_TAG, &self.key_id, t, now());
        c.aud = Some("@bob.cloud".into());
        c
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloudillo_instance_and_a_sovra_cloud_exchange_actions() {
    let real = b"the real bytes".to_vec();
    let real_id = action::file_id(&real);
    let mut cl = Cloudillo::start((real_id.clone(), b"other bytes".to_vec())).await;
    let settings = sovra_node::Settings {
        cloudillo_api: format!("{}/api", cl.url),
        ..fast_settings()
    };
    let b = TestNode::start_with(&["@bob.cloud"], settings).await;
    let bob = b.owner("bob");

    // Cloudillo's ES384 follow is verified against its /api/me and applied.
    let (status, body) = inbox(bob.0.base(), &cl.sign(&cl.claims("FLLW"))).await;
    assert_eq!(status, 202, "{body}");
    assert!(
        body["data"]["actionId"]
            .as_str()
            .unwrap()
            .starts_with("a1~")
    );
    until("the cloudillo follower", async || {
        relations(&bob, "followers")
            .await
            .iter()
            .any(|r| r["id_tag"] == CL_TAG)
    })
    .await;
    // An ES384 token whose signature is not the profile key's.
    let mut forged = cl.sign(&cl.claims("FLLW:DEL"));
    forged.replace_range(forged.len() - 4.., "AAAA");
    let (status, body) = inbox(bob.0.base(), &forged).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("bad_signature")),
        "{body}"
    );

    // Bob follows it back: the inbox answers 201, the EdDSA token verifies with Bob's profile key.
    bob.ok("POST", "/actions/follow", Some(json!({"id_tag": CL_TAG})))
        .await;
    until("the delivery", async || {
        !cl.seen.lock().unwrap().inbox.is_empty()
    })
    .await;
    let token = cl.seen.lock().unwrap().inbox[0].clone();
    let me: Value = reqwest::get(format!("{}/api/me", bob.0.base()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key =
        ActionKey::from_spki_b64(me["data"]["keys"][0]["publicKey"].as_str().unwrap()).unwrap();
    let parsed = action::parse(&token).unwrap();
    assert_eq!(parsed.verify(&key, now()).unwrap().t, "FLLW");
    until("the outbox row delivered", async || {
        bob.ok("GET", "/outbox", None).await["outbox"][0]["state"] == "delivered"
    })
    .await;

    // A file whose bytes do not hash to its id is not kept.
    let err = bob
        .call(
            "POST",
            "/files/fetch",
            Some(json!({"id_tag": CL_TAG, "id": real_id})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("file_mismatch"));
    assert!(
        bob.ok("GET", "/files", None).await["files"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The instance goes away: Bob's post to it is retried, the host marked unavailable, and the
    // give-up recorded with its reason.
    if let Some(tx) = cl.stop.take() {
        let _ = tx.send(());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    bob.ok(
        "POST",
        "/actions/post",
        Some(json!({"text": "still there?"})),
    )
    .await;
    let mut last = Value::Null;
    for _ in 0..400 {
        last = bob.ok("GET", "/outbox", None).await["outbox"][0].clone();
        if last["state"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last["state"], "failed", "{last}");
    assert_eq!(last["attempts"], 10, "{last}");
    assert!(
        last["last_error"]
            .as_str()
            .unwrap()
            .contains("gave up after 10 attempts"),
        "{last}"
    );
}

#[test]
fn section_23_states_the_limits_the_code_has() {
    let spec = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/PROTOCOL.md"
    ))
    .unwrap();
    let s23 = &spec[spec.find("## 23. Federation actions").unwrap()..];
    let d = sovra_node::Settings::default();
    let n = |x: i64| {
        let t = x.to_string();
        let mut out = String::new();
        for (i, c) in t.chars().enumerate() {
            if i > 0 && (t.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    for want in [
        format!("At most {} bytes of text", n(action::MAX_TOKEN as i64)),
        format!("at most {} file ids", action::MAX_ATTACHMENTS),
        format!("more than {} s ahead", action::MAX_FUTURE_IAT),
        format!(
            "at most {} accepted actions waiting",
            n(sovra_node::actions::inbox::MAX_QUEUED)
        ),
        format!("at most {} s after", n(sovra_node::actions::MAX_ACCESS_TTL)),
        format!("`limit` 1…{}, default 50", sovra_node::actions::MAX_LISTED),
        format!(
            "After {} failures in a row",
            sovra_node::actions::issue::BREAKER_THRESHOLD
        ),
        format!(
            "text 1…{} bytes",
            n(sovra_node::actions::issue::MAX_TEXT as i64)
        ),
        format!(
            "at most {} MiB each",
            sovra_node::actions::files::MAX_FILE >> 20
        ),
        format!("after {} attempts", d.action_max_attempts),
        format!(
            "min({} s, {} s",
            d.action_backoff_max.as_secs(),
            d.action_backoff_base.as_secs()
        ),
        format!(
            "Sovra: {}\n   and {}",
            d.actions_per_source_per_minute,
            n(d.actions_per_minute as i64)
        ),
        format!("asks N = {} by default", d.action_pow),
        format!("(Sovra: {} s)", d.request_timeout.as_secs()),
    ] {
        assert!(s23.contains(&want), "PROTOCOL.md §23 does not say {want:?}");
    }
}
