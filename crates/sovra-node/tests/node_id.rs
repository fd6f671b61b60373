//! The node's own identity: a key apart from every cloud's, and its signed statement at
//! `GET /api/node`.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::TestNode;
use sovra_node::hosting::{NodeConfig, NodeIdentity};
use sovra_proto::node::NodeDocument;

#[tokio::test]
async fn the_node_has_its_own_key_and_states_its_hosting() {
    let mut node = TestNode::start(&["@alice.cloud", "@bob.cloud"]).await;
    let key_file = node.home.path().join("node.key");
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let doc: NodeDocument = reqwest::get(format!("{}/api/node", node.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let node_id = doc.verify().unwrap();
    assert_eq!(doc.clouds_hosted, 2);
    // Liveness and readiness (every cloud's database and node.db answer).
    for (path, want) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let r: serde_json::Value = reqwest::get(format!("{}{path}", node.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["status"], want, "{path}");
    }
    // Prometheus text, requests counted by route pattern and status, and each cloud's outbox
    // depth (measured by its outbox worker).
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = reqwest::get(format!("{}/metrics", node.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains("sovra_outbox_pending{cloud=\"bob\"} 0") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        metrics.contains("sovra_http_requests_total{")
            && metrics.contains("route=\"/api/node\"")
            && metrics.contains("status=\"200\"")
            && metrics.contains("sovra_outbox_pending{cloud=\"alice\"} 0")
            && metrics.contains("sovra_outbox_pending{cloud=\"bob\"} 0"),
        "{metrics}"
    );
    assert_eq!(doc.hosting_policy, "closed");
    assert_eq!(doc.operator_contact, None);
    // The node key is none of the clouds' keys.
    for name in ["alice", "bob"] {
        assert_ne!(node.owner(name).pubkey().await, node_id.to_b64());
    }

    // The operator's settings are published; the key survives reconfiguration and restarts.
    node.stop().await;
    let configured = NodeIdentity::configure(
        node.home.path(),
        &NodeConfig {
            operator_contact: Some("ops@node.example".into()),
            hosting_policy: "invite".into(),
            phone_registry: None,
        },
    )
    .unwrap();
    assert_eq!(configured.keys.public(), node_id);
    assert!(
        NodeIdentity::configure(
            node.home.path(),
            &NodeConfig {
                operator_contact: None,
                hosting_policy: "whoever".into(),
                phone_registry: None,
            },
        )
        .is_err()
    );
    node.serve(common::fast_settings()).await;
    let doc: NodeDocument = reqwest::get(format!("{}/api/node", node.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc.verify().unwrap(), node_id);
    assert_eq!(
        (doc.operator_contact.as_deref(), doc.hosting_policy.as_str()),
        (Some("ops@node.example"), "invite")
    );
}
