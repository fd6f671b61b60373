//! Two real nodes on loopback: a whole conversation, with a capability call.

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clouds_converse_and_call_a_capability() {
    let a = TestNode::start(&["@alice.cloud"]).await;
    let b = TestNode::start(&["@bob.cloud"]).await;
    let alice = a.owner("alice");
    let bob = b.owner("bob");
    alice.add_peer(&bob, "@bob.cloud", &[]).await;
    bob.add_peer(&alice, "@alice.cloud", &["Echo"]).await;

    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("runs.log");
    let echo = echo_script(work.path(), &log);
    bob.expose_exec("Echo", "Echoes its args", &echo).await;

    // The identity document lists what Bob exposed, nothing else.
    let id = sovra_client::D2dClient::default()
        .identity(bob.0.base())
        .await
        .unwrap();
    assert_eq!(id.handle, "@bob.cloud");
    assert_eq!(id.capabilities.len(), 1);
    assert_eq!(id.capabilities[0].name, "Echo");

    let sent = alice
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@bob.cloud", "text": "hello bob", "calls": [{"capability": "Echo", "args": {"n": 7}}], "retention": "90d"})),
        )
        .await;
    assert_eq!(sent["seq"], 1);
    let reply = alice
        .wait_for("bob's reply", |m| {
            m["direction"] == "in" && m["in_reply_to"] == 1
        })
        .await;
    assert_eq!(reply["payload"]["results"][0]["ok"], true, "{reply}");
    assert_eq!(
        reply["payload"]["results"][0]["output"],
        json!({"echo": {"n": 7}})
    );

    // Bob kept Alice's message under her policy.
    let kept = bob
        .wait_for("alice's message", |m| m["direction"] == "in")
        .await;
    assert_eq!(kept["payload"]["text"], "hello bob");
    assert_eq!(kept["retention"], "90d");

    // Bob writes back on the same conversation.
    bob.ok(
        "POST",
        "/send",
        Some(json!({"to": "@alice.cloud", "text": "hi alice"})),
    )
    .await;
    alice
        .wait_for("bob's text", |m| {
            m["direction"] == "in" && m["payload"]["text"] == "hi alice"
        })
        .await;
    let convs = alice.ok("GET", "/conversations", None).await;
    assert_eq!(convs["conversations"].as_array().unwrap().len(), 1);
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 1);
}
