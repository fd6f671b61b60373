//! The owner API's OpenAPI document: the committed `docs/openapi.json` is the generated one
//! (`SOVRA_BLESS=1` rewrites it), the node serves it, and every path it documents is routed.

mod common;

use common::*;
use serde_json::{Value, json};

fn committed() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

fn generated() -> String {
    let doc = sovra_node::owner::openapi::document();
    serde_json::to_string_pretty(&doc).unwrap() + "\n"
}

#[test]
fn the_committed_document_is_the_generated_one() {
    if std::env::var_os("SOVRA_BLESS").is_some() {
        std::fs::write(committed(), generated()).unwrap();
    }
    let on_disk = std::fs::read_to_string(committed()).unwrap_or_default();
    assert!(
        on_disk == generated(),
        "docs/openapi.json is stale: run `SOVRA_BLESS=1 cargo test -p sovra-node --test openapi`"
    );
    let doc: Value = serde_json::from_str(&on_disk).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_serves_it_and_routes_every_documented_path() {
    let node = TestNode::start(&["@alice.cloud"]).await;
    let alice = node.owner("alice");
    let served = alice.ok("GET", "/openapi.json", None).await;
    let doc: Value = serde_json::from_str(&generated()).unwrap();
    assert_eq!(served, doc);
    let paths = doc["paths"].as_object().unwrap();
    let operations: usize = paths.values().map(|m| m.as_object().unwrap().len()).sum();
    assert!(operations >= 20, "{operations}");
    for (path, methods) in paths {
        let path = path.replace("{id}", &sovra_proto::action::file_id(b"none"));
        for method in methods.as_object().unwrap().keys() {
            let body = (method != "get").then(|| json!({}));
            let answer = alice.call(&method.to_uppercase(), &path, body).await;
            // Routed: whatever the handler says of an empty body, it is not the router's refusal.
            if let Err(e) = answer {
                let code = e.code().unwrap_or("");
                assert!(
                    code != "not_found" && code != "method_not_allowed",
                    "{method} {path}: {e}"
                );
            }
        }
    }
}
