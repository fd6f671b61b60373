//! The adapters against real local processes and real local HTTP servers.

mod common;

use std::time::{Duration, Instant};

use axum::Json;
use axum::routing::post;
use serde_json::{Value, json};
use sovra_node::agents::capability::{Adapter, run};

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn exec(command: Vec<String>, timeout_ms: u64) -> Adapter {
    Adapter::Exec {
        command,
        timeout_ms,
        max_output_bytes: 1024,
    }
}

#[tokio::test]
async fn exec_adapter_success_and_every_failure() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let soul = dir.path().join("soul.md");
    let log = dir.path().join("log");
    let echo = common::echo_script(dir.path(), &log).display().to_string();
    let r = run(
        &http,
        "Echo",
        &exec(vec![echo], 5000),
        &json!({"a": 1}),
        "",
        &soul,
    )
    .await;
    assert!(r.ok, "{r:?}");
    assert_eq!(r.output, Some(json!({"echo": {"a": 1}})));

    let crash = common::script(
        dir.path(),
        "crash.sh",
        "cat >/dev/null; echo partial; exit 3",
    )
    .display()
    .to_string();
    let r = run(
        &http,
        "C",
        &exec(vec![crash], 5000),
        &json!(null),
        "",
        &soul,
    )
    .await;
    assert!(
        !r.ok && r.error.as_deref().unwrap().contains("command failed"),
        "{r:?}"
    );

    let slow = common::script(dir.path(), "slow.sh", "sleep 30")
        .display()
        .to_string();
    let started = Instant::now();
    let r = run(&http, "S", &exec(vec![slow], 300), &json!(null), "", &soul).await;
    assert!(
        !r.ok && r.error.as_deref().unwrap().contains("timed out"),
        "{r:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    let text = common::script(dir.path(), "text.sh", "cat >/dev/null; echo not json")
        .display()
        .to_string();
    let r = run(&http, "T", &exec(vec![text], 5000), &json!(null), "", &soul).await;
    assert_eq!(r.error.as_deref(), Some("command output is not JSON"));

    let big = common::script(
        dir.path(),
        "big.sh",
        "cat >/dev/null; head -c 5000 /dev/zero | tr '\\0' 'x'",
    )
    .display()
    .to_string();
    let r = run(&http, "B", &exec(vec![big], 5000), &json!(null), "", &soul).await;
    assert!(
        r.error.as_deref().unwrap().contains("larger than 1024"),
        "{r:?}"
    );

    let r = run(
        &http,
        "M",
        &exec(vec!["/nonexistent/program".into()], 5000),
        &json!(null),
        "",
        &soul,
    )
    .await;
    assert!(
        r.error.as_deref().unwrap().contains("cannot start"),
        "{r:?}"
    );

    // Arguments are passed as argv, never through a shell.
    let args = common::script(
        dir.path(),
        "args.sh",
        "cat >/dev/null; printf '{\"first\":\"%s\"}' \"$1\"",
    )
    .display()
    .to_string();
    let r = run(
        &http,
        "A",
        &exec(vec![args, "$(rm -rf /)".into()], 5000),
        &json!(null),
        "",
        &soul,
    )
    .await;
    assert_eq!(r.output, Some(json!({"first": "$(rm -rf /)"})));
}

#[tokio::test]
async fn http_adapter() {
    let url = serve(
        axum::Router::new()
            .route(
                "/double",
                post(|Json(v): Json<Value>| async move {
                    Json(json!({"double": v["n"].as_i64().unwrap_or(0) * 2}))
                }),
            )
            .route(
                "/fail",
                post(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
            )
            .route(
                "/slow",
                post(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            ),
    )
    .await;
    let http = reqwest::Client::new();
    let soul = std::path::Path::new("/nonexistent");
    let adapter = |path: &str, timeout_ms| Adapter::Http {
        url: format!("{url}{path}"),
        timeout_ms,
    };
    let r = run(
        &http,
        "D",
        &adapter("/double", 5000),
        &json!({"n": 21}),
        "",
        soul,
    )
    .await;
    assert_eq!(r.output, Some(json!({"double": 42})));
    let r = run(&http, "F", &adapter("/fail", 5000), &json!({}), "", soul).await;
    assert!(r.error.unwrap().contains("500"));
    let r = run(&http, "S", &adapter("/slow", 200), &json!({}), "", soul).await;
    assert_eq!(r.error.as_deref(), Some("timed out"));
    let r = run(
        &http,
        "U",
        &Adapter::Http {
            url: "http://127.0.0.1:1/".into(),
            timeout_ms: 1000,
        },
        &json!({}),
        "",
        soul,
    )
    .await;
    assert!(r.error.unwrap().contains("unreachable"));
}

/// A local OpenAI-compatible server: answers with what it was told, so the test can see the
/// system prompt (the soul) and the user message.
#[tokio::test]
async fn chat_adapter_uses_the_soul_locally() {
    let url = serve(axum::Router::new().route(
        "/v1/chat/completions",
        post(|Json(req): Json<Value>| async move {
            let system = req["messages"][0]["content"].as_str().unwrap_or("").to_owned();
            let user = req["messages"][1]["content"].as_str().unwrap_or("").to_owned();
            Json(json!({
                "id": "chatcmpl-1", "object": "chat.completion", "model": req["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": format!("[{system}] you said: {user}")}}]
            }))
        }),
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let soul = dir.path().join("soul.md");
    std::fs::write(&soul, "I am Bob's brainstem").unwrap();
    let adapter = Adapter::Chat {
        url,
        model: "local".into(),
        timeout_ms: 5000,
    };
    let http = reqwest::Client::new();
    let r = run(
        &http,
        "AskBrainstem",
        &adapter,
        &json!({}),
        "what's up?",
        &soul,
    )
    .await;
    assert_eq!(
        r.output,
        Some(json!({"text": "[I am Bob's brainstem] you said: what's up?"}))
    );
    let r = run(
        &http,
        "AskBrainstem",
        &adapter,
        &json!({"prompt": "explicit"}),
        "ignored",
        &soul,
    )
    .await;
    assert!(
        r.output.unwrap()["text"]
            .as_str()
            .unwrap()
            .ends_with("explicit")
    );
}
