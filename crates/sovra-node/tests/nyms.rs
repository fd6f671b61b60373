//! Nyms (PROTOCOL.md §19.7): public faces the cloud key issues, presented to chosen peers
//! instead of the handle; the node keeps the mapping and bounds how many are active.

mod common;

use common::TestNode;
use serde_json::json;
use sovra_proto::nym::NymCertificate;

#[tokio::test]
async fn a_cloud_presents_a_nym_its_key_issued() {
    let node = TestNode::start(&["@alice.cloud", "@bob.cloud"]).await;
    let (alice, bob) = (node.owner("alice"), node.owner("bob"));
    let cloud = sovra_proto::keyfile::load_cloud_keys(&node.dir("alice").join("cloud.key"))
        .unwrap()
        .signing;
    let now = jiff::Timestamp::now();
    let cert = |nym: &str| json!({"certificate": NymCertificate::issue(&cloud, nym, now).unwrap()});

    // Issued by the cloud key: accepted; by any other key: refused.
    alice
        .ok("POST", "/nyms", Some(cert("@amber-river.nym")))
        .await;
    let other = sovra_proto::SigningKeypair::generate(&mut sovra_proto::os_rng());
    let forged = json!({"certificate": NymCertificate::issue(&other, "@x.nym", now).unwrap()});
    let err = alice.call("POST", "/nyms", Some(forged)).await.unwrap_err();
    assert_eq!(err.code(), Some("not_participant"));

    // At most three active at once on this node; retiring frees a place.
    alice.ok("POST", "/nyms", Some(cert("@two.nym"))).await;
    alice.ok("POST", "/nyms", Some(cert("@three.nym"))).await;
    let err = alice
        .call("POST", "/nyms", Some(cert("@four.nym")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("nym_limit"));
    alice.ok("POST", "/nyms/@three.nym/retire", None).await;
    alice.ok("POST", "/nyms", Some(cert("@four.nym"))).await;
    let err = alice
        .call("POST", "/nyms/@three.nym/retire", None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("unknown_nym"));

    // Alice presents a nym to bob: his pending request shows it, not her handle.
    let bob_key = bob.pubkey().await;
    let err = alice
        .call(
            "PUT",
            "/peers",
            Some(json!({"peer_pubkey": bob_key, "peer_handle": "@bob.cloud",
                        "url": node.cloud_url("bob"), "present_as": "@three.nym"})),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some("malformed"),
        "a retired nym is not presented"
    );
    let entry = alice
        .ok(
            "PUT",
            "/peers",
            Some(json!({"peer_pubkey": bob_key, "peer_handle": "@bob.cloud",
                        "url": node.cloud_url("bob"), "present_as": "@amber-river.nym"})),
        )
        .await;
    assert_eq!(entry["present_as"], "@amber-river.nym");
    let err = alice
        .call(
            "POST",
            "/send",
            Some(json!({"to": "@bob.cloud", "text": "hello"})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("refused"));
    let pending = bob.ok("GET", "/pending", None).await;
    assert_eq!(
        pending["pending"][0]["peer_handle"], "@amber-river.nym",
        "{pending}"
    );
    assert!(!pending.to_string().contains("@alice.cloud"));
    // The node keeps the mapping: alice's own list.
    let nyms = alice.ok("GET", "/nyms", None).await;
    assert_eq!(nyms["nyms"].as_array().unwrap().len(), 4);
}
