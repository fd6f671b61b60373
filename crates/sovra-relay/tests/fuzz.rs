//! A real relay fed edited and arbitrary frames on an authenticated connection
//! (docs/SECURITY.md). Every frame gets an answer the protocol defines (or, for an ack, none),
//! the connection stays usable, and the relay keeps serving.

use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::json;
use sovra_client::RelayConnection;
use sovra_proto::relay::{ClientFrame, ServerFrame};
use sovra_proto::{SigningKeypair, os_rng};
use sovra_relay::{Relay, Settings};
use tokio::sync::Mutex;

#[path = "../../sovra-proto/tests/support/mutate.rs"]
mod mutate;

struct Target {
    rt: tokio::runtime::Runtime,
    url: String,
    conn: Mutex<RelayConnection>,
    send: Vec<u8>,
    _relay: Arc<Relay>,
    _dir: tempfile::TempDir,
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (url, relay, conn) = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("ws://{}", listener.local_addr().unwrap());
            let mut settings = Settings::new(url.clone());
            settings.pow_difficulty = 4;
            settings.rate_per_second = 1e9;
            settings.burst = 1e9;
            let relay = sovra_relay::server::open(dir.path(), settings)
                .await
                .unwrap();
            tokio::spawn(sovra_relay::server::serve(
                listener,
                relay.clone(),
                std::future::pending(),
            ));
            let me = SigningKeypair::generate(&mut os_rng());
            let conn = RelayConnection::connect(&url, &me).await.unwrap();
            (url, relay, conn)
        });
        let to = SigningKeypair::generate(&mut os_rng()).public().to_b64();
        let send = serde_json::to_vec(&ClientFrame::Send {
            id: "f1".into(),
            to,
            path: "/api/d2d/message".into(),
            body: json!({"conversation_token": "AAAA", "seq": 1}),
            pow: None,
        })
        .unwrap();
        Target {
            rt,
            url,
            conn: Mutex::new(conn),
            send,
            _relay: relay,
            _dir: dir,
        }
    })
}

fn config() -> Config {
    mutate::config(128)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn frames_after_auth(frame in prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..256),
        2 => mutate::edited(target().send.clone()),
        3 => mutate::json_edited(target().send.clone()),
    ]) {
        let t = target();
        let text = String::from_utf8_lossy(&frame).into_owned();
        let result: Result<(), String> = t.rt.block_on(async {
            let mut conn = t.conn.lock().await;
            conn.write_text(&text).await.map_err(|e| e.to_string())?;
            // A probe after it: everything up to the probe's answer must be a defined frame.
            conn.write(&ClientFrame::PowRequest {
                id: "probe".into(),
                to: SigningKeypair::from_seed(&[1; 32]).public().to_b64(),
            })
            .await
            .map_err(|e| e.to_string())?;
            loop {
                match conn.read().await.map_err(|e| e.to_string())? {
                    ServerFrame::Pow { id, .. } if id == "probe" => return Ok(()),
                    ServerFrame::Error { id: Some(id), error, .. } if id == "probe" => {
                        return Err(format!("the probe was refused: {error}"));
                    }
                    _ => {}
                }
            }
        });
        prop_assert!(result.is_ok(), "{:?} after {:?}", result, text);
    }
}

#[test]
fn the_relay_still_serves_new_connections() {
    let t = target();
    t.rt.block_on(async {
        let me = SigningKeypair::generate(&mut os_rng());
        RelayConnection::connect(&t.url, &me).await.unwrap();
    });
}
