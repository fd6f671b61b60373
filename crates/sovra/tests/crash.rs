//! A node killed with SIGKILL during traffic restarts with every acknowledged message present
//! and no capability call executed twice.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sovra_client::OwnerClient;

fn sovra(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sovra"));
    c.env("SOVRA_HOME", home)
        .env_remove("SOVRA_CLOUD")
        .env_remove("SOVRA_NODE");
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(home: &Path, port: u16) -> Child {
    let child = sovra(home)
        .args(["node", "serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "node did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn init(home: &Path, handle: &str) -> Value {
    let out = sovra(home)
        .args(["--json", "init", "--handle", handle])
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn owner(home: &Path, name: &str, port: u16) -> OwnerClient {
    let device = sovra_node::home::load_device(&sovra_node::home::cloud_dir(home, name)).unwrap();
    OwnerClient::new(
        format!("http://127.0.0.1:{port}/clouds/{name}"),
        device,
        Duration::from_secs(10),
    )
}

async fn call(o: &OwnerClient, method: &str, path: &str, body: Value) -> Value {
    let body = if body.is_null() { None } else { Some(body) };
    o.call(method, &format!("/api/owner{path}"), body.as_ref())
        .await
        .unwrap()
}

/// Two homes, one cloud each, each served by a node process.
struct Pair {
    ha: tempfile::TempDir,
    hb: tempfile::TempDir,
    pb: u16,
    node_a: Child,
    node_b: Child,
    alice: OwnerClient,
    bob: OwnerClient,
    alice_id: Value,
    bob_id: Value,
}

impl Pair {
    fn start() -> Pair {
        let (ha, hb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (alice_id, bob_id) = (
            init(ha.path(), "@alice.cloud"),
            init(hb.path(), "@bob.cloud"),
        );
        let (pa, pb) = (free_port(), free_port());
        let node_a = start(ha.path(), pa);
        let node_b = start(hb.path(), pb);
        let (alice, bob) = (owner(ha.path(), "alice", pa), owner(hb.path(), "bob", pb));
        Pair {
            ha,
            hb,
            pb,
            node_a,
            node_b,
            alice,
            bob,
            alice_id,
            bob_id,
        }
    }
}

/// Writes a shell script and makes it executable.
fn executable(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_traffic_loses_nothing_acknowledged_and_runs_no_call_twice() {
    let Pair {
        ha: _ha,
        hb,
        pb,
        mut node_a,
        mut node_b,
        alice,
        bob,
        alice_id,
        bob_id,
        ..
    } = Pair::start();

    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("runs.log");
    let script = work.path().join("record.sh");
    // Records each input, takes a moment (so some calls are in flight at the kill), echoes.
    // A script started just before the kill may get no input at all (its node died before
    // writing it): that is not a call, so it records nothing.
    executable(
        &script,
        &format!(
            "input=$(cat)\n[ -n \"$input\" ] || exit 1\necho \"$input\" >> '{}'\nsleep 0.05\nprintf '{{\"echo\":%s}}' \"$input\"",
            log.display()
        ),
    );
    call(
        &bob,
        "PUT",
        "/capabilities/Record",
        json!({"description": "records", "adapter": {"kind": "exec", "command": [script]}}),
    )
    .await;
    call(&alice, "PUT", "/peers", json!({"peer_pubkey": bob_id["pubkey"].as_str().unwrap().trim_start_matches("ed25519:"), "peer_handle": "@bob.cloud", "url": bob.base()})).await;
    call(&bob, "PUT", "/peers", json!({"peer_pubkey": alice_id["pubkey"].as_str().unwrap().trim_start_matches("ed25519:"), "peer_handle": "@alice.cloud", "url": alice.base(), "allowed_capabilities": ["Record"], "rate_limit_per_day": 10000})).await;

    const N: usize = 40;
    for i in 0..N {
        call(&alice, "POST", "/send", json!({"to": "@bob.cloud", "text": format!("m{i}"), "calls": [{"capability": "Record", "args": {"i": i}}]})).await;
        if i == N / 2 {
            // Mid-traffic: no shutdown, no flush — SIGKILL.
            node_b.kill().unwrap();
            node_b.wait().unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
            node_b = start(hb.path(), pb);
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }

    // Every message is eventually delivered (Alice retries), and answered.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = call(&alice, "GET", "/outbox", Value::Null).await;
        let sent: Vec<&Value> = out["outbox"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["seq"].as_u64().unwrap() <= N as u64)
            .collect();
        let replies = call(&alice, "GET", "/messages", Value::Null).await["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["direction"] == "in" && !m["in_reply_to"].is_null())
            .count();
        if sent.iter().all(|i| i["state"] == "delivered") && replies >= N {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not all delivered/answered: {out:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Bob holds every message Alice saw acknowledged, once each.
    let at_bob = call(&bob, "GET", "/messages", Value::Null).await;
    let mut seqs: Vec<u64> = at_bob["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "in")
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    seqs.sort();
    assert_eq!(seqs, (1..=N as u64).collect::<Vec<_>>());

    // No call ran twice.
    let runs = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<&str> = runs.lines().collect();
    let total = lines.len();
    lines.sort();
    lines.dedup();
    assert_eq!(lines.len(), total, "a call ran twice:\n{runs}");
    assert!(total <= N);

    node_a.kill().unwrap();
    node_b.kill().unwrap();
    let _ = (node_a.wait(), node_b.wait());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_brain_call_never_answers_twice() {
    let Pair {
        ha: _ha,
        hb,
        pb,
        mut node_a,
        mut node_b,
        alice,
        bob,
        alice_id,
        bob_id,
        ..
    } = Pair::start();
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("brain.log");
    let script = work.path().join("brain.sh");
    // A slow brain: records that it ran, thinks for a while, answers.
    executable(
        &script,
        &format!(
            "cat > /dev/null\necho run >> '{}'\nsleep 1.5\necho '{{\"text\":\"thought about it\"}}'",
            log.display()
        ),
    );
    call(
        &bob,
        "PATCH",
        "/swarms/main",
        json!({"brain": {"kind": "exec", "command": [script]}}),
    )
    .await;
    call(&alice, "PUT", "/peers", json!({"peer_pubkey": bob_id["pubkey"].as_str().unwrap().trim_start_matches("ed25519:"), "peer_handle": "@bob.cloud", "url": bob.base()})).await;
    call(&bob, "PUT", "/peers", json!({"peer_pubkey": alice_id["pubkey"].as_str().unwrap().trim_start_matches("ed25519:"), "peer_handle": "@alice.cloud", "url": alice.base()})).await;

    let sent = call(
        &alice,
        "POST",
        "/send",
        json!({"to": "@bob.cloud", "text": "a slow question"}),
    )
    .await;
    let seq = sent["seq"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&log).unwrap_or_default().is_empty() {
        assert!(Instant::now() < deadline, "the brain never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The brain is thinking: SIGKILL, restart.
    node_b.kill().unwrap();
    node_b.wait().unwrap();
    node_b = start(hb.path(), pb);

    let replies = |msgs: &Value| -> Vec<Value> {
        msgs["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["direction"] == "in" && m["in_reply_to"] == seq)
            .cloned()
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let reply = loop {
        let found = replies(&call(&alice, "GET", "/messages", Value::Null).await);
        if let Some(r) = found.first() {
            break r.clone();
        }
        assert!(Instant::now() < deadline, "no reply after the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(reply["payload"]["refusal"], "interrupted", "{reply}");
    // Time for a second answer to show up, if the node were to run the brain again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let found = replies(&call(&alice, "GET", "/messages", Value::Null).await);
    assert_eq!(found.len(), 1, "answered twice: {found:#?}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().lines().count(),
        1,
        "the brain ran twice"
    );

    // The next message is answered normally.
    let next = call(
        &alice,
        "POST",
        "/send",
        json!({"to": "@bob.cloud", "text": "and now?"}),
    )
    .await;
    let next_seq = next["seq"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let msgs = call(&alice, "GET", "/messages", Value::Null).await;
        let answered =
            msgs["messages"].as_array().unwrap().iter().any(|m| {
                m["in_reply_to"] == next_seq && m["payload"]["text"] == "thought about it"
            });
        if answered {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the next message was not answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node_a.kill().unwrap();
    node_b.kill().unwrap();
    let _ = (node_a.wait(), node_b.wait());
}
