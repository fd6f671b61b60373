//! The owner API is never usable unauthenticated.

mod common;

use common::*;
use serde_json::Value;
use sovra_proto::device::OwnerAuth;
use sovra_proto::{SigningKeypair, os_rng};

async fn get(url: &str, headers: &[(&str, String)]) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(url);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn headers(a: &OwnerAuth) -> Vec<(&'static str, String)> {
    vec![
        ("x-sovra-device", a.device.clone()),
        ("x-sovra-timestamp", a.timestamp_ms.to_string()),
        ("x-sovra-nonce", a.nonce.clone()),
        ("x-sovra-signature", a.signature.clone()),
    ]
}

#[tokio::test]
async fn owner_requests_must_be_signed_fresh_and_unique() {
    let node = TestNode::start(&["@alice.cloud"]).await;
    let base = node.cloud_url("alice");
    let url = format!("{base}/api/owner/peers");
    let path = "/clouds/alice/api/owner/peers";
    let device = sovra_node::home::load_device(&node.dir("alice")).unwrap();
    let now = jiff::Timestamp::now().as_millisecond();

    let (s, b) = get(&url, &[]).await;
    assert_eq!((s, b["error"].as_str()), (401, Some("unauthorized")));

    let good = OwnerAuth::sign(&mut os_rng(), &device, "GET", path, b"", now);
    assert_eq!(get(&url, &headers(&good)).await.0, 200);
    // The same signed request again.
    let (s, b) = get(&url, &headers(&good)).await;
    assert_eq!((s, b["error"].as_str()), (401, Some("replayed_request")));

    // A key the cloud never certified.
    let stranger = SigningKeypair::generate(&mut os_rng());
    let auth = OwnerAuth::sign(&mut os_rng(), &stranger, "GET", path, b"", now);
    assert_eq!(get(&url, &headers(&auth)).await.1["error"], "unauthorized");

    // Signed for another path or method.
    let auth = OwnerAuth::sign(
        &mut os_rng(),
        &device,
        "GET",
        "/clouds/alice/api/owner/pending",
        b"",
        now,
    );
    assert_eq!(get(&url, &headers(&auth)).await.1["error"], "unauthorized");
    let auth = OwnerAuth::sign(&mut os_rng(), &device, "DELETE", path, b"", now);
    assert_eq!(get(&url, &headers(&auth)).await.1["error"], "unauthorized");

    // Too old.
    let auth = OwnerAuth::sign(&mut os_rng(), &device, "GET", path, b"", now - 120_000);
    let (s, b) = get(&url, &headers(&auth)).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("stale_timestamp")));

    // Headers that do not decode are failed authentications (401), not malformed requests.
    for (name, value) in [
        ("x-sovra-device", "not base64!"),
        ("x-sovra-device", "AAAA"),
        ("x-sovra-signature", "%%%"),
        ("x-sovra-nonce", "c2hvcnQ="),
    ] {
        let mut auth = headers(&OwnerAuth::sign(
            &mut os_rng(),
            &device,
            "GET",
            path,
            b"",
            now,
        ));
        auth.iter_mut().find(|(n, _)| *n == name).unwrap().1 = value.into();
        let (s, b) = get(&url, &auth).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (401, Some("unauthorized")),
            "{name}: {b}"
        );
    }

    // Another cloud's device on the same node.
    drop(node);
}
