//! Real nodes on ephemeral loopback ports, each with its own home directory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sovra_client::{ClientError, OwnerClient};
use sovra_node::{Settings, home, open_node, serve};
use sovra_proto::handshake::{self, PendingHandshake};
use sovra_proto::{CloudKeys, HandshakeOutcome, HandshakeResponse, Session, os_rng};
use tokio::net::TcpListener;

pub struct TestNode {
    pub home: tempfile::TempDir,
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The running node's hosting side (clouds added while it runs).
    pub hosting: Option<std::sync::Arc<sovra_node::hosting::Hosting>>,
    /// The clouds served from the start, for tests that drive a cloud's clock themselves.
    pub clouds: std::collections::BTreeMap<String, std::sync::Arc<sovra_node::cloud::Cloud>>,
}

pub fn fast_settings() -> Settings {
    Settings {
        delivery_horizon: Duration::from_secs(30),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        request_timeout: Duration::from_secs(5),
        publish_endpoint: true,
        // Tests knock as strangers from one address far more often than anyone should;
        // tests/rejections.rs checks the real limits.
        strangers_per_source_per_minute: 10_000,
        strangers_per_minute: 10_000,
        action_backoff_base: Duration::from_millis(50),
        action_backoff_max: Duration::from_millis(400),
        // No test reaches out to the internet: a domain id tag's profile is refused at once.
        cloudillo_api: "http://127.0.0.1:9/{id_tag}/api".into(),
        actions_per_source_per_minute: 100_000,
        actions_per_minute: 100_000,
        ..Settings::default()
    }
}

impl TestNode {
    /// Creates the clouds (`@alice.cloud`…) and serves them.
    pub async fn start(handles: &[&str]) -> TestNode {
        Self::start_with(handles, fast_settings()).await
    }

    pub async fn start_with(handles: &[&str], settings: Settings) -> TestNode {
        let home = tempfile::tempdir().unwrap();
        for h in handles {
            home::init_cloud(home.path(), h).await.unwrap();
        }
        let mut node = TestNode {
            home,
            url: String::new(),
            stop: None,
            task: None,
            hosting: None,
            clouds: Default::default(),
        };
        node.serve(settings).await;
        node
    }

    pub async fn serve(&mut self, settings: Settings) {
        // Restarts come back on the same port, so peers' stored URLs stay valid.
        let addr = self
            .url
            .strip_prefix("http://")
            .unwrap_or("127.0.0.1:0")
            .to_owned();
        let listener = TcpListener::bind(if addr.is_empty() {
            "127.0.0.1:0"
        } else {
            &addr
        })
        .await
        .unwrap();
        self.url = format!("http://{}", listener.local_addr().unwrap());
        let node = open_node(self.home.path(), &self.url, settings)
            .await
            .unwrap();
        self.hosting = Some(node.hosting.clone());
        self.clouds = node.clouds.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.stop = Some(tx);
        self.task = Some(tokio::spawn(async move {
            serve(node, listener, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        }));
    }

    /// Stops serving (gracefully) but keeps the home directory.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }

    /// Serves the clouds written into the home since the node started, as `sovra init` makes a
    /// running node do.
    pub async fn serve_new_clouds(&self) -> Vec<String> {
        self.hosting
            .as_ref()
            .unwrap()
            .serve_new_clouds()
            .await
            .unwrap()
    }

    pub fn cloud_url(&self, name: &str) -> String {
        format!("{}/clouds/{name}", self.url)
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        home::cloud_dir(self.home.path(), name)
    }

    pub fn owner(&self, name: &str) -> Owner {
        let device = home::load_device(&self.dir(name)).unwrap();
        Owner(OwnerClient::new(
            self.cloud_url(name),
            device,
            Duration::from_secs(10),
        ))
    }
}

pub struct Owner(pub OwnerClient);

impl Owner {
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        self.0
            .call(method, &format!("/api/owner{path}"), body.as_ref())
            .await
    }

    pub async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub async fn pubkey(&self) -> String {
        let me = self.ok("GET", "/whoami", None).await;
        me["pubkey"]
            .as_str()
            .unwrap()
            .trim_start_matches("ed25519:")
            .to_owned()
    }

    /// Whitelists `other` (reachable at `url`) with the given grants.
    pub async fn add_peer(&self, other: &Owner, handle: &str, allow: &[&str]) {
        let key = other.pubkey().await;
        self.ok(
            "PUT",
            "/peers",
            Some(json!({
                "peer_pubkey": key,
                "peer_handle": handle,
                "allowed_capabilities": allow,
                "rate_limit_per_day": 1000,
                "url": other.0.base(),
            })),
        )
        .await;
    }

    /// Exposes an `exec` capability running `program`.
    pub async fn expose_exec(&self, name: &str, description: &str, program: &Path) {
        self.ok(
            "PUT",
            &format!("/capabilities/{name}"),
            Some(json!({"description": description, "adapter": {"kind": "exec", "command": [program]}})),
        )
        .await;
    }

    /// Closes the newest conversation; returns its id.
    pub async fn close_newest_conversation(&self) -> String {
        let id = self.ok("GET", "/conversations", None).await["conversations"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.ok("POST", &format!("/conversations/{id}/close"), None)
            .await;
        id
    }

    pub async fn messages(&self) -> Vec<Value> {
        self.ok("GET", "/messages", None).await["messages"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Waits until a message satisfying `pred` is stored.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..200 {
            if let Some(m) = self.messages().await.into_iter().find(|m| pred(m)) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "timed out waiting for {what}; messages: {:#?}",
            self.messages().await
        );
    }
}

/// A capability program: echoes its JSON input as `{"echo": <input>}`; writes one line to
/// `log` per run so tests can count executions.
pub fn echo_script(dir: &Path, log: &Path) -> PathBuf {
    let path = dir.join("echo.sh");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\ninput=$(cat)\necho run >> '{}'\nprintf '{{\"echo\":%s}}' \"$input\"\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

impl TestNode {
    /// A raw D2D client for the cloud `name`, and that cloud's verified identity.
    pub async fn raw(&self, name: &str) -> (Raw, sovra_proto::Identity) {
        let raw = Raw {
            http: reqwest::Client::new(),
            base: self.cloud_url(name),
        };
        let id = sovra_client::D2dClient::default()
            .identity(&raw.base)
            .await
            .unwrap();
        (raw, id)
    }
}

/// A D2D client that sends whatever it is given: a stranger, or a peer not hosted anywhere.
pub struct Raw {
    pub http: reqwest::Client,
    pub base: String,
}

impl Raw {
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_bytes(path, serde_json::to_vec(body).unwrap())
            .await
    }
    pub async fn post_bytes(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

pub fn initiate(
    me: &CloudKeys,
    id: &sovra_proto::Identity,
) -> (sovra_proto::HandshakeRequest, PendingHandshake) {
    handshake::initiate(
        &mut os_rng(),
        me,
        Some("@carol.cloud"),
        id.pubkey,
        id.encryption_key,
        "hello",
        jiff::Timestamp::now(),
    )
    .unwrap()
}

pub async fn whitelist(
    bob: &Owner,
    who: &CloudKeys,
    allow: &[&str],
    rate: u32,
    expires: Option<&str>,
) {
    bob.ok(
        "PUT",
        "/peers",
        Some(json!({
            "peer_pubkey": who.public().to_b64(), "peer_handle": "@carol.cloud",
            "allowed_capabilities": allow, "rate_limit_per_day": rate, "expires_at": expires,
        })),
    )
    .await;
}

/// Opens a conversation as `me` (whitelisted at bob) and returns my session.
pub async fn open(raw: &Raw, me: &CloudKeys, id: &sovra_proto::Identity) -> Session {
    let (req, pending) = initiate(me, id);
    let (status, body) = raw.post("/api/d2d/handshake", &json!(req)).await;
    assert_eq!(status, 200, "{body}");
    let resp: HandshakeResponse = serde_json::from_value(body).unwrap();
    match pending.complete(&resp).unwrap() {
        HandshakeOutcome::Accepted { session, .. } => *session,
        HandshakeOutcome::Refused { reason } => panic!("refused: {reason}"),
    }
}

/// A relay on a loopback port (PoW difficulty 8, fast for tests).
pub async fn start_relay() -> (String, tempfile::TempDir) {
    start_relay_at(None).await
}

/// A relay on a loopback port; `public` is the URL clouds sign (when something fronts it).
pub async fn start_relay_at(public: Option<String>) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let mut settings = sovra_relay::Settings::new(public.unwrap_or_else(|| url.clone()));
    settings.pow_difficulty = 8;
    let relay = sovra_relay::server::open(dir.path(), settings)
        .await
        .unwrap();
    tokio::spawn(sovra_relay::server::serve(
        listener,
        relay,
        std::future::pending(),
    ));
    (url, dir)
}

/// A node that hosts by invite, and one invite.
pub async fn hosting_node() -> (TestNode, String) {
    use sovra_node::hosting::{NodeConfig, NodeDb, NodeIdentity};
    let mut h = TestNode::start(&[]).await;
    h.stop().await;
    NodeIdentity::configure(
        h.home.path(),
        &NodeConfig {
            operator_contact: None,
            hosting_policy: "invite".into(),
            phone_registry: None,
        },
    )
    .unwrap();
    h.serve(fast_settings()).await;
    let code = NodeDb::open(h.home.path())
        .await
        .unwrap()
        .create_invite(1)
        .await
        .unwrap();
    (h, code)
}
