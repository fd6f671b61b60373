//! A cloud with no listening socket at all, reachable only through a relay.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{TestNode, start_relay, start_relay_at};
use serde_json::json;
use sovra_node::{Cloud, home, open_node};

/// Bob's cloud, opened and working (workers, relay link) but serving no HTTP: its advertised
/// URL points at a closed port.
struct Offline {
    cloud: Arc<Cloud>,
    stop: tokio::sync::watch::Sender<bool>,
    workers: tokio::task::JoinSet<()>,
}

async fn run_bob(home: &std::path::Path) -> Offline {
    let node = open_node(home, "http://127.0.0.1:9", common::fast_settings())
        .await
        .unwrap();
    let cloud = node.clouds["bob"].clone();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let workers = sovra_node::workers::spawn_workers(&node, rx);
    Offline {
        cloud,
        stop,
        workers,
    }
}

impl Offline {
    async fn stop(mut self) {
        let _ = self.stop.send(true);
        self.cloud.shut_down();
        while self.workers.join_next().await.is_some() {}
    }
}

async fn texts(cloud: &Cloud) -> Vec<String> {
    cloud
        .store
        .messages(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.direction == "in")
        .map(|m| m.payload["text"].as_str().unwrap_or("").to_owned())
        .collect()
}

async fn wait_texts(cloud: &Cloud, want: &[&str]) {
    for _ in 0..400 {
        let got = texts(cloud).await;
        if want.iter().all(|w| got.iter().any(|g| g == w)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{want:?} never all arrived; have {:?}", texts(cloud).await);
}

/// Bob, with no socket, keeping `relay` and whitelisting alice at her public URL; alice knows
/// him by key, relay and encryption key only — no URL at all.
async fn bob_behind_relay(a: &TestNode, relay: &str, bob_home: &std::path::Path) -> Offline {
    let alice = a.owner("alice");
    let (_, bob_keys) = home::init_cloud(bob_home, "@bob.cloud").await.unwrap();
    let bob = run_bob(bob_home).await;
    bob.cloud.store.add_relay(relay, None).await.unwrap();
    bob.cloud.start_relays(&[relay.to_owned()]);
    let alice_key = sovra_proto::PublicKey::from_human(&alice.pubkey().await).unwrap();
    let grant = sovra_proto::WhitelistEntry {
        peer_pubkey: alice_key.to_b64(),
        peer_handle: "@alice.cloud".into(),
        allowed_capabilities: vec![],
        rate_limit_per_day: 1000,
        expires_at: None,
    }
    .validate()
    .unwrap();
    bob.cloud
        .store
        .whitelist_upsert(&grant, Some(&a.cloud_url("alice")), None, None, None)
        .await
        .unwrap();
    alice
        .ok(
            "PUT",
            "/peers",
            Some(json!({
                "peer_pubkey": bob_keys.public().to_b64(), "peer_handle": "@bob.cloud",
                "relays": [relay], "encryption_key": bob_keys.encryption.public().to_b64(),
            })),
        )
        .await;
    bob
}

#[tokio::test]
async fn a_cloud_without_a_socket_converses_through_the_relay() {
    let (relay, _relay_dir) = start_relay().await;
    let a = TestNode::start(&["@alice.cloud"]).await;
    let alice = a.owner("alice");
    let bob_home = tempfile::tempdir().unwrap();
    let bob = bob_behind_relay(&a, &relay, bob_home.path()).await;
    // Bob's identity document now names the relay.
    let doc = bob.cloud.identity_document().await.unwrap();
    assert_eq!(doc.relays, vec![relay.clone()]);
    alice
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@bob.cloud", "text": "through the relay"})),
        )
        .await;
    wait_texts(&bob.cloud, &["through the relay"]).await;

    // Bob answers over alice's endpoint, on the same conversation.
    bob.cloud
        .send(
            "@alice.cloud",
            "t",
            &sovra_proto::Payload::text("got it"),
            None,
        )
        .await
        .unwrap();
    alice
        .wait_for("bob's answer", |m| m["payload"]["text"] == "got it")
        .await;

    // Bob goes away; alice's next message waits at the relay and in her outbox…
    bob.stop().await;
    alice
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@bob.cloud", "text": "while you were out"})),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // …and reaches him when he is back, exactly once however often it was retried.
    let bob = run_bob(bob_home.path()).await;
    wait_texts(&bob.cloud, &["through the relay", "while you were out"]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = texts(&bob.cloud).await;
    assert_eq!(
        got.iter().filter(|t| *t == "while you were out").count(),
        1,
        "{got:?}"
    );
    bob.stop().await;
}

/// A relay behind a TLS front (as a reverse proxy would be), with a certificate for
/// `localhost` from the test CA in `tests/fixtures/tls`: (`wss://localhost:PORT`, the plain
/// `ws://` address behind it).
async fn start_tls_relay() -> (String, String, tempfile::TempDir) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let certs = CertificateDer::pem_file_iter(fixtures.join("relay.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixtures.join("relay.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = format!("wss://localhost:{}", listener.local_addr().unwrap().port());
    let (plain, dir) = start_relay_at(Some(public.clone())).await;
    let upstream = plain.strip_prefix("ws://").unwrap().to_owned();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                // A client that refuses our certificate ends here, as it should.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut up = tokio::net::TcpStream::connect(&upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    (public, plain, dir)
}

#[tokio::test]
async fn a_wss_relay_with_a_private_ca_is_checked_and_carries_messages() {
    let (relay, plain, _relay_dir) = start_tls_relay().await;
    let ca = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/ca.pem"),
    )
    .unwrap();
    let node = TestNode::start(&["@alice.cloud", "@bob.cloud"]).await;
    let (alice, bob) = (node.owner("alice"), node.owner("bob"));

    // Without the private CA the certificate is not trusted: refused, nothing stored.
    let err = bob
        .call("PUT", "/relays", Some(json!({"url": relay})))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("relay_unreachable"), "{text}");
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    assert_eq!(bob.ok("GET", "/relays", None).await["relays"], json!([]));

    // A CA for a plain ws:// relay, or a file with no certificate, is refused as such.
    for (url, pem) in [(plain.as_str(), ca.as_str()), (relay.as_str(), "not a pem")] {
        let err = bob
            .call("PUT", "/relays", Some(json!({"url": url, "ca_pem": pem})))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("malformed"), "{err}");
    }
    // A relay that is not there is refused too.
    let err = bob
        .call("PUT", "/relays", Some(json!({"url": "wss://localhost:9"})))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("relay_unreachable"), "{err}");

    // With it, bob connects, authenticates, and is reachable through the TLS relay.
    let added = bob
        .ok("PUT", "/relays", Some(json!({"url": relay, "ca_pem": ca})))
        .await;
    assert_eq!(added["added"], true);
    assert_eq!(
        bob.ok("GET", "/relays", None).await["relays"],
        json!([relay])
    );
    alice
        .ok("PUT", "/relays", Some(json!({"url": relay, "ca_pem": ca})))
        .await;
    bob.add_peer(&alice, "@alice.cloud", &[]).await;
    // Alice knows bob by his relay only (no URL), so everything to him crosses wss://.
    let bob_key = sovra_proto::PublicKey::from_human(&bob.pubkey().await).unwrap();
    let bob_encryption = encryption_key(&node, "bob").await;
    alice
        .ok(
            "PUT",
            "/peers",
            Some(json!({
                "peer_pubkey": bob_key.to_b64(), "peer_handle": "@bob.cloud",
                "relays": [relay], "encryption_key": bob_encryption,
            })),
        )
        .await;
    alice
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@bob.cloud", "text": "over tls"})),
        )
        .await;
    bob.wait_for("alice's message over wss", |m| {
        m["payload"]["text"] == "over tls"
    })
    .await;
}

/// A cloud's X25519 key, read from its identity document.
async fn encryption_key(node: &TestNode, name: &str) -> String {
    let doc: serde_json::Value = reqwest::get(format!("{}/api/d2d/identity", node.cloud_url(name)))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    doc["encryption_key"].as_str().unwrap().to_owned()
}

/// Request envelopes waiting at the relay whose database is in `dir`.
async fn waiting_requests(dir: &std::path::Path) -> i64 {
    let db = sqlx::sqlite::SqlitePoolOptions::new()
        .connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(dir.join("relay.db"))
                .read_only(true),
        )
        .await
        .unwrap();
    let n = sqlx::query_scalar("SELECT COUNT(*) FROM envelopes WHERE kind = 'request'")
        .fetch_one(&db)
        .await
        .unwrap();
    db.close().await;
    n
}

/// A relayed request that is not answered in time is retried by the outbox — and every retry
/// waits for the envelope already at the relay instead of leaving another copy there.
#[tokio::test]
async fn retries_through_a_relay_leave_one_envelope() {
    let (relay, relay_dir) = start_relay().await;
    let settings = sovra_node::Settings {
        request_timeout: Duration::from_millis(300),
        ..common::fast_settings()
    };
    let a = TestNode::start_with(&["@alice.cloud"], settings).await;
    let alice = a.owner("alice");
    let bob_home = tempfile::tempdir().unwrap();
    let bob = bob_behind_relay(&a, &relay, bob_home.path()).await;
    alice
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@bob.cloud", "text": "hello"})),
        )
        .await;
    wait_texts(&bob.cloud, &["hello"]).await;
    bob.stop().await;

    alice
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@bob.cloud", "text": "while you were out"})),
        )
        .await;
    // Several request timeouts and outbox retries pass while bob is away.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let attempts = alice.ok("GET", "/outbox", None).await;
    let tried = attempts["outbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["attempts"].as_u64().unwrap_or(0))
        .max()
        .unwrap_or(0);
    assert!(tried >= 3, "the outbox should have retried: {attempts}");
    assert_eq!(waiting_requests(relay_dir.path()).await, 1);

    let bob = run_bob(bob_home.path()).await;
    wait_texts(&bob.cloud, &["while you were out"]).await;
    // The answer reaches alice's outbox: the item is delivered, nothing waits at the relay.
    let delivered = |o: &serde_json::Value| {
        o["outbox"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["state"] == "delivered")
    };
    for _ in 0..100 {
        if delivered(&alice.ok("GET", "/outbox", None).await) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let outbox = alice.ok("GET", "/outbox", None).await;
    assert!(delivered(&outbox), "{outbox}");
    assert_eq!(waiting_requests(relay_dir.path()).await, 0);
    bob.stop().await;
}
