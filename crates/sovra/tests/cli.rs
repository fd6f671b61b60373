//! The CLI as a user runs it: real `sovra` subprocesses, a real node process, SIGTERM.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn sovra(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sovra"));
    c.env("SOVRA_HOME", home)
        .env_remove("SOVRA_CLOUD")
        .env_remove("SOVRA_NODE");
    c
}

fn run(home: &Path, args: &[&str]) -> Output {
    sovra(home).args(args).output().unwrap()
}

fn ok(home: &Path, args: &[&str]) -> String {
    let out = run(home, args);
    assert!(
        out.status.success(),
        "sovra {args:?} failed ({:?}):\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(home: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(home, &all)).unwrap()
}

struct NodeProcess(Child);

impl NodeProcess {
    fn start(home: &Path) -> NodeProcess {
        let _ = std::fs::remove_file(home.join("node.json"));
        let child = sovra(home)
            .args(["node", "serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !home.join("node.json").exists() {
            assert!(Instant::now() < deadline, "node did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        NodeProcess(child)
    }

    fn url(home: &Path) -> String {
        let info: serde_json::Value =
            serde_json::from_slice(&std::fs::read(home.join("node.json")).unwrap()).unwrap();
        info["url"].as_str().unwrap().to_owned()
    }

    /// SIGTERM, then wait: the node must exit 0 on its own.
    fn terminate(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "node ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn two_humans_use_the_cli() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let alice = json(a.path(), &["init", "--handle", "@alice.cloud"]);
    let bob = json(b.path(), &["init", "--handle", "@bob.cloud"]);
    // A second init refuses to overwrite.
    assert_eq!(
        run(a.path(), &["init", "--handle", "@alice.cloud"])
            .status
            .code(),
        Some(1)
    );
    // Owner commands without a running node say so, with their exit code.
    assert_eq!(run(a.path(), &["peer", "list"]).status.code(), Some(6));

    let node_a = NodeProcess::start(a.path());
    let node_b = NodeProcess::start(b.path());
    let url_a = format!("{}/clouds/alice", NodeProcess::url(a.path()));
    let url_b = format!("{}/clouds/bob", NodeProcess::url(b.path()));

    ok(
        a.path(),
        &[
            "peer",
            "add",
            "@bob.cloud",
            "--pubkey",
            bob["pubkey"].as_str().unwrap(),
            "--url",
            &url_b,
        ],
    );
    ok(
        b.path(),
        &[
            "peer",
            "add",
            "@alice.cloud",
            "--pubkey",
            alice["pubkey"].as_str().unwrap(),
            "--url",
            &url_a,
            "--allow",
            "WordCount",
            "--rate",
            "50",
        ],
    );
    let exe = env!("CARGO_BIN_EXE_sovra");
    ok(
        b.path(),
        &[
            "cap",
            "expose",
            "WordCount",
            "--description",
            "Counts words",
            "--exec",
            exe,
            "agent",
            "word-count",
        ],
    );
    assert!(ok(b.path(), &["cap", "list"]).contains("WordCount"));
    assert!(ok(b.path(), &["peer", "list"]).contains("@alice.cloud"));

    let out = ok(
        a.path(),
        &[
            "send",
            "@bob.cloud",
            "how many words?",
            "--call",
            "WordCount",
            r#"{"text":"one two three"}"#,
        ],
    );
    assert!(out.contains(r#"{"words":3}"#), "{out}");
    let out = ok(a.path(), &["send", "@bob.cloud", "just saying hi"]);
    assert!(out.contains("Delivered"), "{out}");
    let log = ok(b.path(), &["log", "@alice.cloud"]);
    assert!(
        log.contains("just saying hi") && log.contains("how many words?"),
        "{log}"
    );
    let convs = json(a.path(), &["conversations"]);
    assert_eq!(convs["conversations"].as_array().unwrap().len(), 1);

    // Unknown peer: exit 3. Bad --call JSON: exit 1 before anything is sent.
    assert_eq!(
        run(a.path(), &["send", "@nobody.cloud", "hi"])
            .status
            .code(),
        Some(3)
    );
    assert_eq!(
        run(
            a.path(),
            &[
                "send",
                "@bob.cloud",
                "x",
                "--call",
                "WordCount",
                "{not json"
            ]
        )
        .status
        .code(),
        Some(1)
    );

    ok(a.path(), &["close", "@bob.cloud"]);
    ok(b.path(), &["peer", "remove", "@alice.cloud"]);
    assert!(!ok(b.path(), &["peer", "list"]).contains("@alice.cloud"));

    assert!(node_a.terminate().success());
    assert!(node_b.terminate().success());
}

#[test]
fn quickstart_runs_two_nodes() {
    let out = Command::new(env!("CARGO_BIN_EXE_sovra"))
        .arg("quickstart")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("All 10 steps verified"), "{stdout}");
    assert!(stdout.contains(r#"result: {"words":9}"#));
    assert!(stdout.contains("not on whitelist"));
}
