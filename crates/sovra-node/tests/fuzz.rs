//! A real node fed edited D2D and action-inbox bodies, arbitrary paths and arbitrary owner-auth headers over
//! HTTP (docs/SECURITY.md). Whatever arrives, the answer is below 500 and, when a refusal,
//! carries the JSON error body with a string code; the node keeps answering.

mod common;

use std::sync::OnceLock;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Value, json};
use sovra_proto::{CloudKeys, Payload, os_rng};

#[path = "../../sovra-proto/tests/support/mutate.rs"]
mod mutate;

/// One node for every case, on a runtime that outlives each test's `block_on`.
struct Target {
    rt: tokio::runtime::Runtime,
    raw: Raw,
    owner_url: String,
    handshake: Vec<u8>,
    message: Vec<u8>,
    /// An inbox body: a follow signed by a whitelisted peer's key.
    action: Vec<u8>,
    _node: TestNode,
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (node, raw, handshake, message, action) = rt.block_on(async {
            let node = TestNode::start(&["@bob.cloud"]).await;
            let bob = node.owner("bob");
            let (raw, id) = node.raw("bob").await;
            // A stranger's knock, and a whitelisted peer's message in an open conversation.
            let stranger = CloudKeys::generate(&mut os_rng());
            let (knock, _) = initiate(&stranger, &id);
            let carol = CloudKeys::generate(&mut os_rng());
            whitelist(&bob, &carol, &["RecentHN"], 1_000_000, None).await;
            let session = open(&raw, &carol, &id).await;
            let message = session
                .seal(&mut os_rng(), &carol.signing, 1, &Payload::text("hi"))
                .unwrap();
            use sovra_proto::action::{ActionClaims, ActionKey, sign};
            let mut follow = ActionClaims::new(
                "@carol.cloud",
                &ActionKey::sovra_key_id(&carol.public()),
                "FLLW",
                jiff::Timestamp::now().as_second(),
            );
            follow.aud = Some("@bob.cloud".into());
            let action = json!({ "token": sign(&carol.signing, &follow) });
            (
                node,
                raw,
                serde_json::to_vec(&knock).unwrap(),
                serde_json::to_vec(&message).unwrap(),
                serde_json::to_vec(&action).unwrap(),
            )
        });
        Target {
            rt,
            owner_url: format!("{}/api/owner", raw.base),
            raw,
            handshake,
            message,
            action,
            _node: node,
        }
    })
}

fn config() -> Config {
    mutate::config(128)
}

/// The answer is a refusal in the house style, or a success.
fn well_formed(status: u16, body: &Value) -> Result<(), TestCaseError> {
    prop_assert!(status < 500, "{status} {body}");
    if status >= 400 {
        prop_assert!(body["error"].is_string(), "{status} {body}");
    }
    Ok(())
}

fn bodies(sample: fn(&Target) -> &Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..256),
        2 => mutate::edited(sample(target()).clone()),
        3 => mutate::json_edited(sample(target()).clone()),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn d2d_handshake_bodies(body in bodies(|t| &t.handshake)) {
        let t = target();
        let (status, answer) = t.rt.block_on(t.raw.post_bytes("/api/d2d/handshake", body));
        well_formed(status, &answer)?;
    }

    #[test]
    fn d2d_message_bodies(body in bodies(|t| &t.message)) {
        let t = target();
        let (status, answer) = t.rt.block_on(t.raw.post_bytes("/api/d2d/message", body));
        well_formed(status, &answer)?;
    }

    #[test]
    fn action_inbox_bodies(body in bodies(|t| &t.action)) {
        let t = target();
        let (status, answer) = t.rt.block_on(t.raw.post_bytes("/api/inbox", body));
        well_formed(status, &answer)?;
    }

    #[test]
    fn arbitrary_paths(path in "(/[a-zA-Z0-9%._~@:-]{0,12}){0,5}", method in prop::sample::select(&["GET", "POST", "PUT", "DELETE", "PATCH"][..])) {
        let t = target();
        let url = format!("{}{path}", t.raw.base);
        let (status, answer) = t.rt.block_on(async {
            let r = t.raw.http.request(method.parse().unwrap(), &url).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        });
        // Success bodies are whatever the endpoint returns (an SSE stream is not JSON).
        if status >= 400 {
            well_formed(status, &answer)?;
        } else {
            prop_assert!(status < 500);
        }
    }

    #[test]
    fn owner_auth_headers(
        device in "[A-Za-z0-9+/=]{0,48}",
        timestamp in prop_oneof![Just(jiff::Timestamp::now().as_millisecond().to_string()), "[0-9-]{0,20}"],
        nonce in "[A-Za-z0-9+/=]{0,30}",
        signature in "[A-Za-z0-9+/=]{0,90}",
    ) {
        let t = target();
        let (status, answer) = t.rt.block_on(async {
            let r = t
                .raw
                .http
                .get(format!("{}/peers", t.owner_url))
                .header("x-sovra-device", device)
                .header("x-sovra-timestamp", timestamp)
                .header("x-sovra-nonce", nonce)
                .header("x-sovra-signature", signature)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        });
        well_formed(status, &answer)?;
        // Nothing here was signed by a device of this cloud.
        prop_assert!(status == 401 || status == 400, "{status} {answer}");
    }
}

/// After every target ran (whatever order), the node still answers a real request.
#[test]
fn the_node_still_answers() {
    let t = target();
    let (status, body) = t.rt.block_on(t.raw.post("/api/d2d/handshake", &json!({})));
    assert_eq!((status, body["error"].as_str()), (400, Some("malformed")));
}
