//! Per-tenant quotas (PROTOCOL.md §19.5): the operator's `quota.json` bounds what one cloud may
//! take of a shared node, with a clear error at the limit; other clouds are untouched.

mod common;

use common::{TestNode, fast_settings};
use serde_json::json;
use sovra_node::hosting::quota::Quota;

#[tokio::test]
async fn a_tenant_meets_its_quota_and_the_neighbours_do_not() {
    let mut node = TestNode::start(&["@alice.cloud", "@bob.cloud"]).await;
    node.stop().await;
    Quota {
        messages_per_day: Some(3),
        capabilities: Some(1),
        brain_answers_per_day: Some(0),
        storage_bytes: None,
    }
    .save(&node.dir("alice"))
    .unwrap();
    node.serve(fast_settings()).await;
    let (alice, bob) = (node.owner("alice"), node.owner("bob"));

    // Capabilities: one, then a clear refusal; replacing the one exposed is fine.
    let cap = json!({"description": "echo", "adapter": {"kind": "exec", "command": ["/bin/cat"]}});
    alice
        .ok("PUT", "/capabilities/Echo", Some(cap.clone()))
        .await;
    alice
        .ok("PUT", "/capabilities/Echo", Some(cap.clone()))
        .await;
    let err = alice
        .call("PUT", "/capabilities/Other", Some(cap.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("quota_exceeded"), "{err}");
    bob.ok("PUT", "/capabilities/Echo", Some(cap.clone())).await;
    bob.ok("PUT", "/capabilities/Other", Some(cap)).await;

    // Messages: three a day for alice, then 429 quota_exceeded; bob is not limited.
    alice.add_peer(&bob, "@bob.cloud", &[]).await;
    bob.add_peer(&alice, "@alice.cloud", &[]).await;
    for i in 0..3 {
        alice
            .ok(
                "POST",
                "/send",
                Some(json!({"to": "@bob.cloud", "text": format!("m{i}")})),
            )
            .await;
    }
    let err = alice
        .call(
            "POST",
            "/send",
            Some(json!({"to": "@bob.cloud", "text": "one more"})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("quota_exceeded"), "{err}");
    for i in 0..5 {
        bob.ok(
            "POST",
            "/send",
            Some(json!({"to": "@alice.cloud", "text": format!("b{i}")})),
        )
        .await;
    }

    // Brain answers: carol's quota is 0 a day, so her brain is never run and dave is told.
    let mut other = TestNode::start(&["@carol.cloud", "@dave.cloud"]).await;
    other.stop().await;
    Quota {
        brain_answers_per_day: Some(0),
        ..Quota::default()
    }
    .save(&other.dir("carol"))
    .unwrap();
    other.serve(fast_settings()).await;
    let (carol, dave) = (other.owner("carol"), other.owner("dave"));
    carol.add_peer(&dave, "@dave.cloud", &[]).await;
    dave.add_peer(&carol, "@carol.cloud", &[]).await;
    let work = tempfile::tempdir().unwrap();
    let brain = common::script(
        work.path(),
        "brain.sh",
        r#"cat > /dev/null; echo '{"text":"an answer"}'"#,
    );
    carol
        .ok(
            "PATCH",
            "/swarms/main",
            Some(json!({"brain": {"kind": "exec", "command": [brain]}})),
        )
        .await;
    dave.ok(
        "POST",
        "/send",
        Some(json!({"to": "@carol.cloud", "text": "anyone home?"})),
    )
    .await;
    let refusal = dave
        .wait_for("carol's refusal", |m| {
            m["direction"] == "in" && m["payload"]["refusal"].is_string()
        })
        .await;
    assert_eq!(
        refusal["payload"]["refusal"], "budget_exhausted",
        "{refusal}"
    );
}
