//! The outbound queue: an offline peer gets its messages later; a peer that never returns is
//! given up on, with the reason recorded; queued work survives a restart.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

/// Alice (on a node with `settings`) and Bob whitelist each other; Alice's "one" reached Bob.
async fn converse(settings: sovra_node::Settings) -> (TestNode, TestNode, Owner, Owner) {
    let a = TestNode::start_with(&["@alice.cloud"], settings).await;
    let b = TestNode::start(&["@bob.cloud"]).await;
    let (alice, bob) = (a.owner("alice"), b.owner("bob"));
    alice.add_peer(&bob, "@bob.cloud", &[]).await;
    bob.add_peer(&alice, "@alice.cloud", &[]).await;
    alice
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@bob.cloud", "text": "one"})),
        )
        .await;
    bob.wait_for("one", |m| m["payload"]["text"] == "one").await;
    (a, b, alice, bob)
}

async fn outbox(o: &Owner) -> Vec<serde_json::Value> {
    o.ok("GET", "/outbox", None).await["outbox"]
        .as_array()
        .unwrap()
        .clone()
}

async fn wait_outbox(
    o: &Owner,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..300 {
        if let Some(i) = outbox(o).await.into_iter().find(|i| pred(i)) {
            return i;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}: {:#?}", outbox(o).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_peer_gets_its_message_later_and_restarts_keep_the_queue() {
    let (mut a, mut b, alice, bob) = converse(fast_settings()).await;

    // Bob goes offline; Alice's message waits and is retried.
    b.stop().await;
    alice
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@bob.cloud", "text": "two"})),
        )
        .await;
    wait_outbox(&alice, "a failed attempt", |i| {
        i["seq"] == 2 && i["attempts"].as_i64() >= Some(1)
    })
    .await;
    let item = outbox(&alice)
        .await
        .into_iter()
        .find(|i| i["seq"] == 2)
        .unwrap();
    assert_eq!(item["state"], "pending");
    assert!(item["last_error"].as_str().unwrap().contains("transport"));

    // Alice restarts too: the queue is on disk.
    a.stop().await;
    a.serve(fast_settings()).await;
    b.serve(fast_settings()).await;
    bob.wait_for("two", |m| m["payload"]["text"] == "two").await;
    wait_outbox(&alice, "delivery", |i| {
        i["seq"] == 2 && i["state"] == "delivered"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_returns_is_given_up_on() {
    let mut settings = fast_settings();
    settings.delivery_horizon = Duration::from_millis(600);
    let (_a, mut b, alice, _bob) = converse(settings).await;
    b.stop().await;
    alice
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@bob.cloud", "text": "lost"})),
        )
        .await;
    let item = wait_outbox(&alice, "giving up", |i| {
        i["seq"] == 2 && i["state"] == "failed"
    })
    .await;
    assert!(
        item["last_error"]
            .as_str()
            .unwrap()
            .starts_with("gave up after"),
        "{item}"
    );
    assert!(item["attempts"].as_i64().unwrap() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_peer_is_not_retried() {
    let (_a, _b, alice, bob) = converse(fast_settings()).await;
    // Bob closes the conversation; Alice's next message is refused for good (410).
    bob.close_newest_conversation().await;
    alice
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@bob.cloud", "text": "two"})),
        )
        .await;
    let item = wait_outbox(&alice, "refusal", |i| {
        i["seq"] == 2 && i["state"] == "failed"
    })
    .await;
    assert_eq!(item["attempts"], 1);
    assert!(
        item["last_error"]
            .as_str()
            .unwrap()
            .contains("expired_token"),
        "{item}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_cancels_a_delivery_still_waiting() {
    let (_a, mut b, alice, bob) = converse(fast_settings()).await;
    b.stop().await;
    alice
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@bob.cloud", "text": "never mind"})),
        )
        .await;
    let item = wait_outbox(&alice, "a failed attempt", |i| {
        i["seq"] == 2 && i["attempts"].as_i64() >= Some(1)
    })
    .await;
    let id = item["id"].as_i64().unwrap();
    alice
        .ok("POST", &format!("/outbox/{id}/cancel"), None)
        .await;
    let e = alice
        .call("POST", &format!("/outbox/{id}/cancel"), None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("not_pending"), "{e}");
    let e = alice
        .call("POST", "/outbox/999999/cancel", None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("unknown_outbox"), "{e}");
    // Bob comes back: the cancelled message is not delivered, even by an attempt in flight.
    b.serve(fast_settings()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let item = outbox(&alice)
        .await
        .into_iter()
        .find(|i| i["id"] == id)
        .unwrap();
    assert_eq!(item["state"], "failed", "{item}");
    assert_eq!(item["last_error"], "cancelled by the owner");
    assert!(
        !bob.messages()
            .await
            .iter()
            .any(|m| m["payload"]["text"] == "never mind"),
        "not delivered"
    );
}
