//! A real registry on an ephemeral loopback port, with the console gateway so tests read the
//! codes it "sent".
#![allow(dead_code)]

use std::sync::Arc;

use serde_json::{Value, json};
use sovra_registry::sms::ConsoleGateway;
use sovra_registry::{Registry, Settings, SqliteStore};

/// Default rules but send limits high enough for tests that ask for many codes; the limits
/// themselves are tested with their own settings.
pub fn roomy() -> Settings {
    Settings {
        sends_per_phone: 100,
        sends_per_client: 100,
        ..Settings::default()
    }
}

pub struct TestRegistry {
    pub url: String,
    pub sms: Arc<ConsoleGateway>,
    pub registry: Arc<Registry<SqliteStore>>,
    pub http: reqwest::Client,
    dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TestRegistry {
    pub async fn start(settings: Settings) -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let sms = Arc::new(ConsoleGateway::default());
        let registry = Arc::new(
            sovra_registry::home::open(dir.path(), settings, sms.clone())
                .await
                .unwrap(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(sovra_registry::api::serve(
            listener,
            registry.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        TestRegistry {
            url,
            sms,
            registry,
            http: reqwest::Client::new(),
            dir,
            _stop: stop,
        }
    }

    pub fn registry_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// Asks for a code and reads it back from the console gateway.
    pub async fn code(&self, phone: &str) -> (String, String) {
        let (s, b) = self
            .call("POST", "/v1/verifications", Some(json!({ "phone": phone })))
            .await;
        assert_eq!(s, 202, "{b}");
        let e164: String = phone
            .chars()
            .filter(|c| *c == '+' || c.is_ascii_digit())
            .collect();
        let code = self.sms.last_code_to(&e164).expect("a console message");
        (b["verification_id"].as_str().unwrap().to_owned(), code)
    }
}
