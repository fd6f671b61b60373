//! Swarms and brains against real nodes and real local model servers: an OpenAI-compatible
//! server and a brainstem-shaped one (axum on loopback), exec brains as real processes.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::routing::post;
use common::{Owner, TestNode, script};
use serde_json::{Value, json};

type Seen = Arc<Mutex<Vec<Value>>>;

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// An OpenAI-compatible server that records every request and answers with the last user
/// turn and how many turns it was given — never with the system prompt.
async fn openai() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let url = serve(axum::Router::new().route(
        "/v1/chat/completions",
        post(move |Json(body): Json<Value>| {
            let s = s.clone();
            async move {
                let msgs = body["messages"].as_array().cloned().unwrap_or_default();
                let last = msgs.last().map(|m| m["content"].clone()).unwrap_or_default();
                let turns = msgs.iter().filter(|m| m["role"] != "system").count();
                s.lock().unwrap().push(body);
                Json(json!({"choices": [{"message": {"role": "assistant",
                    "content": format!("heard {} ({turns} turns)", last.as_str().unwrap_or(""))}}]}))
            }
        }),
    ))
    .await;
    (format!("{url}/v1"), seen)
}

/// Two clouds on one node, whitelisting each other; bob grants alice `grants`.
async fn pair(grants: &[&str]) -> (TestNode, Owner, Owner) {
    let node = TestNode::start(&["@alice.cloud", "@bob.cloud"]).await;
    let (alice, bob) = (node.owner("alice"), node.owner("bob"));
    alice.add_peer(&bob, "@bob.cloud", &[]).await;
    bob.add_peer(&alice, "@alice.cloud", grants).await;
    (node, alice, bob)
}

async fn send(o: &Owner, to: &str, text: &str, extra: Value) -> u64 {
    let mut body = json!({"to": to, "text": text});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    o.ok("POST", "/send", Some(body)).await["seq"]
        .as_u64()
        .unwrap()
}

async fn reply_to(o: &Owner, seq: u64) -> Value {
    o.wait_for(&format!("the reply to {seq}"), |m| {
        m["direction"] == "in" && m["in_reply_to"] == seq
    })
    .await
}

/// Asserts no message answering `seq` arrives within `ms`.
async fn no_reply(o: &Owner, seq: u64, ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    let found = o
        .messages()
        .await
        .into_iter()
        .find(|m| m["direction"] == "in" && m["in_reply_to"] == seq);
    assert!(found.is_none(), "unexpected reply: {found:?}");
}

async fn set_brain(o: &Owner, swarm: &str, settings: Value) -> Value {
    o.ok("PATCH", &format!("/swarms/{swarm}"), Some(settings))
        .await
}

#[tokio::test]
async fn a_plain_message_is_answered_with_soul_and_memory_which_stay_home() {
    let (node, alice, bob) = pair(&[]).await;
    let (url, seen) = openai().await;
    bob.ok(
        "PUT",
        "/swarms/main/soul",
        Some(json!({"text": "You are Bob's agent. SOUL-MARKER-1"})),
    )
    .await;
    bob.ok(
        "PUT",
        "/swarms/main/memory",
        Some(json!({"text": "Bob likes tea. NOTES-MARKER-2"})),
    )
    .await;
    set_brain(
        &bob,
        "main",
        json!({"brain": {"kind": "openai", "url": url, "model": "m"}}),
    )
    .await;

    let first = send(
        &alice,
        "@bob.cloud",
        "my name is Alice",
        json!({"retention": "90d"}),
    )
    .await;
    let r1 = reply_to(&alice, first).await;
    assert_eq!(r1["payload"]["text"], "heard my name is Alice (1 turns)");
    assert_eq!(r1["payload"]["automatic"], true);
    let second = send(&alice, "@bob.cloud", "what is my name?", json!({})).await;
    let r2 = reply_to(&alice, second).await;
    // The second call saw the first exchange: memory.
    assert_eq!(r2["payload"]["text"], "heard what is my name? (3 turns)");

    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "one brain run per message");
    let system = requests[1]["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("SOUL-MARKER-1") && system.contains("NOTES-MARKER-2"));
    assert_eq!(requests[1]["messages"][1]["content"], "my name is Alice");

    // The owner can see what the brain was given; the peer never.
    let conv = bob.ok("GET", "/conversations", None).await["conversations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let runs = bob
        .ok("GET", &format!("/conversations/{conv}/context"), None)
        .await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 2);
    assert_eq!(runs["runs"][0]["retention"], "90d");
    assert_eq!(runs["runs"][1]["retention"], "session");
    let alice_db = std::fs::read(node.dir("alice").join("cloud.db")).unwrap();
    let mut alice_all = String::from_utf8_lossy(&alice_db).into_owned();
    if let Ok(wal) = std::fs::read(node.dir("alice").join("cloud.db-wal")) {
        alice_all.push_str(&String::from_utf8_lossy(&wal));
    }
    alice_all.push_str(
        &alice
            .messages()
            .await
            .iter()
            .map(|m| m.to_string())
            .collect::<String>(),
    );
    assert!(
        alice_all.contains("heard my name"),
        "the scan reads alice's store"
    );
    for marker in ["SOUL-MARKER-1", "NOTES-MARKER-2", "You are Bob"] {
        assert!(!alice_all.contains(marker), "{marker} reached alice");
    }

    // Closing the conversation removes session content from memory and from the contexts.
    bob.ok("POST", &format!("/conversations/{conv}/close"), None)
        .await;
    let runs = bob
        .ok("GET", &format!("/conversations/{conv}/context"), None)
        .await;
    assert_eq!(
        runs["runs"].as_array().unwrap().len(),
        1,
        "only the 90d run stays"
    );
}

#[tokio::test]
async fn brainstem_keeps_its_session_and_its_agent_logs_stay_home() {
    let (_node, alice, bob) = pair(&[]).await;
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let url = serve(axum::Router::new().route(
        "/chat",
        post(move |Json(body): Json<Value>| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push(body.clone());
                if body["user_input"] == "fail please" {
                    return (
                        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                        Json(json!({"error": {"code": "agent_failed", "step": "plan"}})),
                    );
                }
                let session = body["session_id"].as_str().unwrap_or("bs-1").to_owned();
                (
                    axum::http::StatusCode::OK,
                    Json(json!({"response": format!("stem: {}", body["user_input"].as_str().unwrap()),
                                "agent_logs": "AGENT-LOG-MARKER", "session_id": session})),
                )
            }
        }),
    ))
    .await;
    set_brain(
        &bob,
        "main",
        json!({"brain": {"kind": "brainstem", "url": url}}),
    )
    .await;
    let one = send(&alice, "@bob.cloud", "hello stem", json!({})).await;
    assert_eq!(
        reply_to(&alice, one).await["payload"]["text"],
        "stem: hello stem"
    );
    let two = send(&alice, "@bob.cloud", "again", json!({})).await;
    assert_eq!(
        reply_to(&alice, two).await["payload"]["text"],
        "stem: again"
    );
    let calls = seen.lock().unwrap().clone();
    assert!(calls[0].get("session_id").is_none());
    assert_eq!(
        calls[1]["session_id"], "bs-1",
        "the brainstem session is kept"
    );
    let bad = send(&alice, "@bob.cloud", "fail please", json!({})).await;
    assert_eq!(
        reply_to(&alice, bad).await["payload"]["refusal"],
        "brain_failed"
    );
    let all: String = alice
        .messages()
        .await
        .iter()
        .map(|m| m.to_string())
        .collect();
    assert!(!all.contains("AGENT-LOG-MARKER"));
}

#[tokio::test]
async fn review_mode_drafts_and_off_mode_waits_for_the_owner() {
    let (_node, alice, bob) = pair(&[]).await;
    let (url, _) = openai().await;
    set_brain(
        &bob,
        "main",
        json!({"mode": "review", "brain": {"kind": "openai", "url": url, "model": "m"}}),
    )
    .await;
    let seq = send(&alice, "@bob.cloud", "draft me", json!({})).await;
    let mut drafts = Value::Null;
    for _ in 0..100 {
        drafts = bob.ok("GET", "/drafts", None).await;
        if !drafts["drafts"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let draft = &drafts["drafts"][0];
    assert_eq!(draft["payload"]["text"], "heard draft me (1 turns)");
    assert_eq!(draft["in_reply_to"], seq);
    no_reply(&alice, seq, 300).await;
    let id = draft["id"].as_i64().unwrap();
    bob.ok(
        "POST",
        &format!("/drafts/{id}/send"),
        Some(json!({"text": "Edited by Bob."})),
    )
    .await;
    let reply = reply_to(&alice, seq).await;
    assert_eq!(reply["payload"]["text"], "Edited by Bob.");
    assert!(
        reply["payload"].get("automatic").is_none(),
        "a human edited it"
    );
    let again = bob
        .call("POST", &format!("/drafts/{id}/send"), Some(json!({})))
        .await;
    assert_eq!(again.unwrap_err().code(), Some("unknown_draft"));

    // Off: stored only; the owner answers by hand.
    set_brain(&bob, "main", json!({"mode": "off"})).await;
    let seq = send(&alice, "@bob.cloud", "anyone home?", json!({})).await;
    bob.wait_for("the message at bob", |m| {
        m["payload"]["text"] == "anyone home?"
    })
    .await;
    no_reply(&alice, seq, 400).await;
    send(
        &bob,
        "@alice.cloud",
        "Yes, by hand.",
        json!({"reply_to": seq}),
    )
    .await;
    assert_eq!(
        reply_to(&alice, seq).await["payload"]["text"],
        "Yes, by hand."
    );
}

#[tokio::test]
async fn swarms_route_by_whitelist_and_by_name_with_a_grant() {
    let (node, alice, bob) = pair(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let support = script(
        dir.path(),
        "support.sh",
        r#"cat > /dev/null; echo '{"text":"support here"}'"#,
    );
    let created = bob
        .ok(
            "POST",
            "/swarms",
            Some(json!({"name": "support", "brain": {"kind": "exec", "command": [support]}})),
        )
        .await;
    assert_eq!(created["mode"], "auto");
    let dup = bob
        .call("POST", "/swarms", Some(json!({"name": "support"})))
        .await;
    assert_eq!(dup.unwrap_err().code(), Some("swarm_exists"));

    // main has no brain: a plain message waits; naming support without a grant is refused.
    let plain = send(&alice, "@bob.cloud", "hello main", json!({})).await;
    let named = send(
        &alice,
        "@bob.cloud",
        "hello support",
        json!({"swarm": "support"}),
    )
    .await;
    let refused = reply_to(&alice, named).await;
    assert_eq!(refused["payload"]["refusal"], "swarm_not_granted");
    no_reply(&alice, plain, 200).await;
    let ghost = send(
        &alice,
        "@bob.cloud",
        "hello ghost",
        json!({"swarm": "ghost"}),
    )
    .await;
    assert_eq!(
        reply_to(&alice, ghost).await["payload"]["refusal"],
        "swarm_not_granted",
        "unknown looks the same"
    );

    // With the grant, the named swarm answers.
    bob.add_peer(&alice, "@alice.cloud", &["swarm:support"])
        .await;
    let named = send(
        &alice,
        "@bob.cloud",
        "hello support",
        json!({"swarm": "support"}),
    )
    .await;
    assert_eq!(
        reply_to(&alice, named).await["payload"]["text"],
        "support here"
    );

    // Routed by the whitelist entry: every plain message goes to support.
    let key = alice.pubkey().await;
    bob.ok("PUT", "/peers", Some(json!({"peer_pubkey": key, "peer_handle": "@alice.cloud", "swarm": "support", "url": node.cloud_url("alice")}))).await;
    let plain = send(&alice, "@bob.cloud", "route me", json!({})).await;
    assert_eq!(
        reply_to(&alice, plain).await["payload"]["text"],
        "support here"
    );
    let in_use = bob.call("DELETE", "/swarms/support", None).await;
    assert_eq!(in_use.unwrap_err().code(), Some("swarm_in_use"));
    let main = bob.call("DELETE", "/swarms/main", None).await;
    assert_eq!(main.unwrap_err().code(), Some("swarm_in_use"));

    // Peers learn nothing of swarms: the identity document lists capabilities only.
    let id: Value = reqwest::get(format!("{}/api/d2d/identity", node.cloud_url("bob")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!id.to_string().contains("support"), "{id}");
}

#[tokio::test]
async fn budgets_rate_limits_and_bad_brains_get_a_reason_not_silence() {
    let (node, alice, bob) = pair(&[]).await;
    let (url, _) = openai().await;
    set_brain(
        &bob,
        "main",
        json!({"budget_per_day": 1, "brain": {"kind": "openai", "url": url, "model": "m"}}),
    )
    .await;
    let one = send(&alice, "@bob.cloud", "one", json!({})).await;
    assert!(reply_to(&alice, one).await["payload"]["refusal"].is_null());
    let two = send(&alice, "@bob.cloud", "two", json!({})).await;
    assert_eq!(
        reply_to(&alice, two).await["payload"]["refusal"],
        "budget_exhausted"
    );

    // Brain runs count against the peer's daily rate limit (messages count too).
    set_brain(&bob, "main", json!({"budget_per_day": 100})).await;
    let key = alice.pubkey().await;
    bob.ok("PUT", "/peers", Some(json!({"peer_pubkey": key, "peer_handle": "@alice.cloud", "rate_limit_per_day": 5, "url": node.cloud_url("alice")}))).await;
    let three = send(&alice, "@bob.cloud", "three", json!({})).await;
    assert_eq!(
        reply_to(&alice, three).await["payload"]["refusal"],
        "rate_limited"
    );

    // A failing, hanging or junk-speaking brain: a short refusal, and the node goes on.
    bob.ok("PUT", "/peers", Some(json!({"peer_pubkey": key, "peer_handle": "@alice.cloud", "rate_limit_per_day": 1000, "url": node.cloud_url("alice")}))).await;
    let bad = serve(
        axum::Router::new()
            .route(
                "/v1/err/chat/completions",
                post(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
            )
            .route(
                "/v1/hang/chat/completions",
                post(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "late"
                }),
            )
            .route(
                "/v1/junk/chat/completions",
                post(|| async { Json(json!({"choices": []})) }),
            ),
    )
    .await;
    for (path, timeout) in [("err", 5000), ("hang", 300), ("junk", 5000)] {
        set_brain(&bob, "main", json!({"brain": {"kind": "openai", "url": format!("{bad}/v1/{path}"), "model": "m", "timeout_ms": timeout}})).await;
        let seq = send(&alice, "@bob.cloud", path, json!({})).await;
        let r = reply_to(&alice, seq).await;
        assert_eq!(r["payload"]["refusal"], "brain_failed", "{path}");
        assert!(!r["payload"]["text"].as_str().unwrap().contains("boom"));
    }
    set_brain(
        &bob,
        "main",
        json!({"brain": {"kind": "openai", "url": url, "model": "m"}}),
    )
    .await;
    let ok = send(&alice, "@bob.cloud", "still there?", json!({})).await;
    assert!(reply_to(&alice, ok).await["payload"]["refusal"].is_null());
}

#[tokio::test]
async fn two_auto_clouds_stop_instead_of_talking_forever() {
    let (_node, alice, bob) = pair(&[]).await;
    let (url, seen) = openai().await;
    for o in [&alice, &bob] {
        set_brain(
            o,
            "main",
            json!({"max_auto_turns": 2, "brain": {"kind": "openai", "url": url, "model": "m"}}),
        )
        .await;
    }
    // A human writes once: bob's brain answers, alice's brain does not answer the answer.
    let seq = send(&alice, "@bob.cloud", "hi from a human", json!({})).await;
    reply_to(&alice, seq).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(seen.lock().unwrap().len(), 1, "one brain run in all");

    // An agent on alice's side keeps writing automatically: bob answers max_auto_turns of
    // them, then waits for a human.
    let token = alice.ok("POST", "/swarms/main/tokens", None).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let ask = |text: &str| {
        http.post(format!("{}/api/agent/ask", alice.0.base()))
            .bearer_auth(&token)
            .json(&json!({"peer": "@bob.cloud", "text": text, "timeout_ms": 2000}))
            .send()
    };
    for i in 0..2 {
        let r = ask(&format!("auto {i}")).await.unwrap();
        assert_eq!(r.status(), 200, "turn {i}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["reply"]["automatic"], true);
    }
    let r = ask("auto 3").await.unwrap();
    assert_eq!(r.status(), 504);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "reply_timeout");
    // A human writing again resets the run.
    let seq = send(&alice, "@bob.cloud", "human again", json!({})).await;
    reply_to(&alice, seq).await;
}

#[tokio::test]
async fn agent_api_tokens_ask_send_and_events() {
    let a = TestNode::start(&["@alice.cloud"]).await;
    let b = TestNode::start(&["@bob.cloud"]).await;
    let (alice, bob) = (a.owner("alice"), b.owner("bob"));
    alice.add_peer(&bob, "@bob.cloud", &[]).await;
    bob.add_peer(&alice, "@alice.cloud", &[]).await;
    let (url, _) = openai().await;
    set_brain(
        &bob,
        "main",
        json!({"brain": {"kind": "openai", "url": url, "model": "m"}}),
    )
    .await;
    alice
        .ok("POST", "/swarms", Some(json!({"name": "scout"})))
        .await;
    let token = alice.ok("POST", "/swarms/scout/tokens", None).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let base = alice.0.base().to_owned();
    let post = |path: &str, auth: Option<&str>, body: Value| {
        let mut r = http.post(format!("{base}/api/agent/{path}")).json(&body);
        if let Some(t) = auth {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let body = json!({"peer": "@bob.cloud", "text": "question from scout"});
    for auth in [None, Some("sovra_at_00"), Some("not-a-token")] {
        let r = post("ask", auth, body.clone()).await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthorized");
    }
    // Events first, so the reply shows up there too.
    let mut events = http
        .get(format!("{base}/api/agent/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let r = post("ask", Some(&token), body.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["reply"]["text"], "heard question from scout (1 turns)");
    let mut seen = String::new();
    while !seen.contains("event: reply") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), events.chunk())
            .await
            .expect("an event")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("heard question from scout"), "{seen}");
    let sent = post(
        "send",
        Some(&token),
        json!({"peer": "@bob.cloud", "text": "fire and forget"}),
    )
    .await
    .unwrap();
    assert_eq!(sent.status(), 200);
    assert!(
        sent.json::<Value>().await.unwrap()["seq"]
            .as_u64()
            .is_some()
    );
    let unknown = post(
        "send",
        Some(&token),
        json!({"peer": "@nobody.cloud", "text": "x"}),
    )
    .await
    .unwrap();
    assert_eq!(unknown.status(), 404);
    let bad = post("send", Some(&token), json!({"peer": "@bob.cloud"}))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    alice.ok("DELETE", "/swarms/scout/tokens", None).await;
    let r = post(
        "send",
        Some(&token),
        json!({"peer": "@bob.cloud", "text": "revoked?"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 401, "a revoked token is refused");
}

#[tokio::test]
async fn the_owner_follows_events_live() {
    let (node, alice, bob) = pair(&[]).await;
    let device = sovra_node::home::load_device(&node.dir("bob")).unwrap();
    let client = sovra_client::OwnerClient::new(bob.0.base(), device, Duration::from_secs(5));
    let mut stream = client.stream("/api/owner/events").await.unwrap();
    send(&alice, "@bob.cloud", "live one", json!({})).await;
    let mut seen = String::new();
    while !seen.contains("live one") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .expect("an event")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: message"), "{seen}");
    // Unsigned, the stream is refused like any owner request.
    let r = reqwest::get(format!("{}/api/owner/events", bob.0.base()))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn removing_a_peer_deletes_its_session_content_like_closing() {
    let (_node, alice, bob) = pair(&[]).await;
    send(
        &alice,
        "@bob.cloud",
        "for this conversation only",
        json!({}),
    )
    .await;
    send(
        &alice,
        "@bob.cloud",
        "keep for 90 days",
        json!({"retention": "90d"}),
    )
    .await;
    bob.wait_for("both at bob", |m| {
        m["payload"]["text"] == "keep for 90 days"
    })
    .await;
    bob.wait_for("the first at bob", |m| {
        m["payload"]["text"] == "for this conversation only"
    })
    .await;
    let key = alice.pubkey().await;
    bob.ok(
        "DELETE",
        &format!(
            "/peers/{}",
            key.replace('/', "%2F")
                .replace('+', "%2B")
                .replace('=', "%3D")
        ),
        None,
    )
    .await;
    let texts: Vec<String> = bob
        .messages()
        .await
        .iter()
        .map(|m| m["payload"]["text"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(texts, ["keep for 90 days"]);
}
