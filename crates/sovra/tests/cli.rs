//! The CLI as a user runs it: real `sovra` subprocesses, a real node process, SIGTERM.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cli::{NodeProcess, expose_word_count, json, ok, run, sovra};

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
    expose_word_count(b.path());
    assert!(ok(b.path(), &["cap", "list"]).contains("WordCount"));
    assert!(ok(b.path(), &["peer", "list"]).contains("@alice.cloud"));
    // One grant more, then one less, the others kept; handles are case-insensitive.
    ok(b.path(), &["peer", "grant", "@Alice.Cloud", "Echo"]);
    let grants = |home: &Path| {
        json(home, &["peer", "list"])["peers"][0]["entry"]["allowed_capabilities"].clone()
    };
    assert_eq!(grants(b.path()), serde_json::json!(["WordCount", "Echo"]));
    ok(b.path(), &["peer", "revoke", "@alice.cloud", "Echo"]);
    assert_eq!(grants(b.path()), serde_json::json!(["WordCount"]));
    // A value the parser knows is wrong is a usage error (exit 2), before anything is sent.
    assert_eq!(
        run(
            a.path(),
            &["send", "@bob.cloud", "x", "--retention", "forever"]
        )
        .status
        .code(),
        Some(2)
    );

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
    // A call without arguments sends `{}` (which the word counter refuses: no text).
    let out = run(
        a.path(),
        &[
            "send",
            "@bob.cloud",
            "nothing to count",
            "--call",
            "WordCount",
        ],
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("result WordCount: error: command failed")
    );
    // A chat capability's answer prints as the text it is, not as a result object.
    let mut model = sovra(b.path())
        .args(["agent", "model"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(model.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let model_url = first
        .trim()
        .trim_start_matches("model on ")
        .trim_end_matches("/v1");
    ok(
        b.path(),
        &[
            "cap",
            "expose",
            "Chat",
            "--description",
            "Talks",
            "--chat",
            model_url,
            "--model",
            "sovra-mini",
        ],
    );
    ok(b.path(), &["peer", "grant", "@alice.cloud", "Chat"]);
    let out = ok(
        a.path(),
        &[
            "send",
            "@bob.cloud",
            "",
            "--call",
            "Chat",
            r#"{"prompt":"my name is Ada"}"#,
        ],
    );
    let _ = model.kill();
    let _ = model.wait();
    assert!(!out.trim().is_empty(), "{out}");
    assert!(
        !out.contains("result") && !out.contains('{') && !out.contains("\"text\""),
        "{out}"
    );
    let out = ok(a.path(), &["send", "@bob.cloud", "just saying hi"]);
    assert!(out.contains("Delivered"), "{out}");
    let log = ok(b.path(), &["log", "@alice.cloud"]);
    assert!(
        log.contains("just saying hi") && log.contains("how many words?"),
        "{log}"
    );
    let convs = json(a.path(), &["conversations"]);
    assert_eq!(convs["conversations"].as_array().unwrap().len(), 1);

    // With --json a failure is JSON too: the node's code, a sentence, the exit code.
    let failed = run(a.path(), &["--json", "send", "@nobody.cloud", "hi"]);
    let body: serde_json::Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(body["exit"], 3, "{body}");
    assert_eq!(body["error"], "unknown_peer", "{body}");
    // Without --json: the node's sentence with the peer's handle, the code after it.
    let failed = run(a.path(), &["send", "@nobody.cloud", "hi"]);
    let said = String::from_utf8_lossy(&failed.stderr);
    assert!(
        said.contains("@nobody.cloud") && said.trim_end().ends_with("(unknown_peer)"),
        "{said}"
    );
    assert!(!said.contains("404"), "{said}");
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
    // A new conversation; `log --all` shows both, oldest first.
    ok(
        a.path(),
        &["send", "@bob.cloud", "again", "--retention", "permanent"],
    );
    let logs = json(a.path(), &["log", "@bob.cloud", "--all"]);
    let convs = logs["conversations"].as_array().unwrap();
    assert_eq!(convs.len(), 2, "{logs}");
    assert_eq!(convs[0]["conversation"]["state"], "closed");
    assert!(convs[1]["messages"].to_string().contains("again"));
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
    assert!(stdout.contains("All 18 steps verified"), "{stdout}");
    assert!(
        stdout.contains("You told me your name is Alice"),
        "{stdout}"
    );
    assert!(stdout.contains("stored only ciphertext"));
    assert!(stdout.contains(r#"result: {"words":9}"#));
    assert!(stdout.contains("not on whitelist"));
    assert!(stdout.contains("whitelisted each other by handle alone"));
    assert!(stdout.contains("followed, grant kept"));
}

/// `sovra registry serve` as a process; its log is where the console gateway "sends" codes.
struct RegistryProcess(common::ServiceProcess);

impl RegistryProcess {
    fn start(dir: &Path) -> RegistryProcess {
        let args = ["registry", "serve", "--listen", "127.0.0.1:0", "--dir"];
        let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        all.push(dir.as_os_str());
        RegistryProcess(common::ServiceProcess::start(&all, "http://", "info"))
    }

    /// Waits for the `n`-th code the console gateway logged.
    fn code(&self, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let codes: Vec<String> = self
                .0
                .log
                .lock()
                .unwrap()
                .lines()
                .filter_map(|l| l.split("Your Sovra code is ").nth(1))
                .map(|rest| rest.chars().take(6).collect())
                .collect();
            if let Some(c) = codes.get(n) {
                return c.clone();
            }
            assert!(Instant::now() < deadline, "no code {n} in the registry log");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Runs `sovra args…`, typing the registry's `n`-th code when it prompts.
fn with_code(home: &Path, registry: &RegistryProcess, n: usize, args: &[&str]) -> String {
    let mut child = sovra(home)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = registry.code(n);
    writeln!(child.stdin.take().unwrap(), "{code}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "sovra {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn register_and_peer_by_handle_from_the_cli() {
    let (a, b, r) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let registry = RegistryProcess::start(r.path());
    ok(a.path(), &["init", "--handle", "@alice.cloud"]);
    ok(b.path(), &["init", "--handle", "@bob.cloud"]);
    let _node_a = NodeProcess::start(a.path());
    let _node_b = NodeProcess::start(b.path());

    // A handle that is not this cloud's is refused before any code is sent.
    let out = run(
        a.path(),
        &[
            "register",
            "--phone",
            "+14155550141",
            "--handle",
            "@bob.cloud",
            "--registry",
            &registry.0.url,
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("this cloud is @alice.cloud"));

    let said = with_code(
        a.path(),
        &registry,
        0,
        &[
            "register",
            "--phone",
            "+1 415 555 0141",
            "--registry",
            &registry.0.url,
        ],
    );
    assert!(said.contains("Registered @alice.cloud"), "{said}");
    with_code(
        b.path(),
        &registry,
        1,
        &[
            "register",
            "--phone",
            "+1 415 555 0142",
            "--handle",
            "@bob.cloud",
            "--registry",
            &registry.0.url,
        ],
    );
    // The phone number never reaches the registry's log in clear.
    assert!(!registry.0.log.lock().unwrap().contains("5550141"));

    // By handle alone, with the fingerprint and safety code to compare.
    let shown = ok(
        b.path(),
        &["peer", "add", "@alice.cloud", "--allow", "WordCount"],
    );
    assert!(shown.contains("safety code:"), "{shown}");
    let looked = json(a.path(), &["peer", "lookup", "@bob.cloud"]);
    let added = json(a.path(), &["peer", "add", "@bob.cloud"]);
    assert_eq!(looked["safety_code"], added["lookup"]["safety_code"]);
    let at_bob = json(b.path(), &["peer", "list"]);
    assert_eq!(
        at_bob["peers"][0]["entry"]["allowed_capabilities"],
        serde_json::json!(["WordCount"])
    );

    ok(a.path(), &["send", "@bob.cloud", "hello by handle"]);

    // Rotation from the CLI: bob follows on the next message, WordCount kept.
    let before = json(a.path(), &["peer", "lookup", "@alice.cloud"]);
    let rotated = with_code(
        a.path(),
        &registry,
        2,
        &["rotate", "--phone", "+14155550141"],
    );
    assert!(rotated.contains("Rotated @alice.cloud"), "{rotated}");
    ok(a.path(), &["send", "@bob.cloud", "same me, new key"]);
    let checks = json(b.path(), &["peer", "check"]);
    assert_eq!(checks["checks"][0]["outcome"], "unchanged", "{checks}");
    let at_bob = json(b.path(), &["peer", "list"]);
    assert_ne!(at_bob["peers"][0]["entry"]["peer_pubkey"], before["pubkey"]);
    assert_eq!(
        at_bob["peers"][0]["entry"]["allowed_capabilities"],
        serde_json::json!(["WordCount"])
    );

    // The registry's operator, on its host: a list without phone numbers, a suspension that
    // lookups see, an unlock, a takedown.
    let dir = r.path().to_str().unwrap();
    let admin = |args: &[&str]| {
        let mut all = vec!["registry", "admin", "--dir", dir];
        all.extend_from_slice(args);
        ok(a.path(), &all)
    };
    let listed = admin(&["list"]);
    assert!(
        listed.contains("@alice.cloud") && listed.contains("@bob.cloud"),
        "{listed}"
    );
    assert!(
        !listed.contains("555") && !listed.contains("phone"),
        "{listed}"
    );
    admin(&["suspend", "@bob.cloud", "--reason", "reported for spam"]);
    let refused = run(a.path(), &["peer", "lookup", "@bob.cloud"]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("suspended") && said.contains("reported for spam"),
        "{said}"
    );
    assert!(admin(&["list"]).contains("SUSPENDED: reported for spam"));
    admin(&["unlock", "@bob.cloud"]);
    json(a.path(), &["peer", "lookup", "@bob.cloud"]);
    admin(&["takedown", "@Bob.Cloud"]);
    let gone = run(a.path(), &["peer", "lookup", "@bob.cloud"]);
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("taken_down"),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );
    assert!(!admin(&["list"]).contains("@bob.cloud"));
    // Unknown handles are errors, not silent successes.
    assert!(
        !run(
            a.path(),
            &["registry", "admin", "--dir", dir, "unlock", "@nobody.cloud"]
        )
        .status
        .success()
    );
}

#[test]
fn swarms_drafts_and_the_live_inbox_from_the_cli() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let alice = json(a.path(), &["init", "--handle", "@alice.cloud"]);
    let bob = json(b.path(), &["init", "--handle", "@bob.cloud"]);
    let node_a = NodeProcess::start(a.path());
    let node_b = NodeProcess::start(b.path());
    let url_a = format!("{}/clouds/alice", NodeProcess::url(a.path()));
    let url_b = format!("{}/clouds/bob", NodeProcess::url(b.path()));
    let key = |v: &serde_json::Value| v["pubkey"].as_str().unwrap().to_owned();
    ok(
        a.path(),
        &[
            "peer",
            "add",
            "@bob.cloud",
            "--pubkey",
            &key(&bob),
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
            &key(&alice),
            "--url",
            &url_a,
        ],
    );

    let work = tempfile::tempdir().unwrap();
    let brain = work.path().join("brain.sh");
    std::fs::write(
        &brain,
        "#!/bin/sh\ncat > /dev/null\necho '{\"text\":\"yes, the agent is here\"}'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&brain, std::fs::Permissions::from_mode(0o755)).unwrap();
    let soul = work.path().join("soul.md");
    std::fs::write(&soul, "You are Bob's agent.").unwrap();

    ok(
        b.path(),
        &["swarm", "soul", "main", "--file", soul.to_str().unwrap()],
    );
    assert_eq!(
        ok(b.path(), &["swarm", "soul", "main"]),
        "You are Bob's agent."
    );
    ok(
        b.path(),
        &[
            "swarm",
            "set",
            "main",
            "--brain",
            "exec",
            "--",
            brain.to_str().unwrap(),
        ],
    );
    let shown = json(b.path(), &["swarm", "show", "main"]);
    assert_eq!(shown["brain"]["kind"], "exec");
    // --edit opens $EDITOR on the current text and saves what it leaves.
    let editor = work.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nprintf 'Bob is away until Monday.' > \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let edited = sovra(b.path())
        .env("EDITOR", &editor)
        .args(["swarm", "memory", "main", "--edit"])
        .output()
        .unwrap();
    assert!(
        edited.status.success(),
        "{}",
        String::from_utf8_lossy(&edited.stderr)
    );
    assert_eq!(
        ok(b.path(), &["swarm", "memory", "main"]),
        "Bob is away until Monday."
    );
    ok(b.path(), &["swarm", "create", "support"]);
    assert_eq!(
        run(b.path(), &["swarm", "create", "support"]).status.code(),
        Some(1)
    );
    assert!(ok(b.path(), &["swarm", "list"]).contains("support"));
    assert_eq!(
        run(b.path(), &["swarm", "show", "ghost"]).status.code(),
        Some(3)
    );
    let token = json(b.path(), &["swarm", "token", "support"]);
    assert!(token["token"].as_str().unwrap().starts_with("sovra_at_"));
    ok(b.path(), &["swarm", "remove", "support"]);

    // Bob follows his inbox while Alice asks; the agent's answer comes back plainly.
    let mut inbox = sovra(b.path())
        .args(["--json", "inbox"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let out = ok(
        a.path(),
        &["send", "@bob.cloud", "are you there?", "--wait-reply"],
    );
    assert_eq!(out.trim(), "yes, the agent is here");
    std::thread::sleep(Duration::from_millis(300));
    Command::new("kill")
        .args(["-INT", &inbox.id().to_string()])
        .status()
        .unwrap();
    let status = inbox.wait().unwrap();
    assert!(status.success(), "inbox exits 0 on Ctrl-C: {status:?}");
    let mut lines = String::new();
    std::io::Read::read_to_string(inbox.stdout.as_mut().unwrap(), &mut lines).unwrap();
    let event: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(event["kind"], "message");
    assert_eq!(event["text"], "are you there?");
    let log = ok(b.path(), &["log", "@alice.cloud", "--context"]);
    assert!(log.contains("system: You are Bob's agent."), "{log}");
    // A call the peer did not grant is a refusal: exit 4, with the reason.
    let out = run(
        a.path(),
        &[
            "send",
            "@bob.cloud",
            "count this",
            "--call",
            "WordCount",
            "{}",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not granted"));

    // Review mode: the answer waits as a draft; Bob sends his own words instead.
    ok(b.path(), &["swarm", "set", "main", "--mode", "review"]);
    ok(a.path(), &["send", "@bob.cloud", "one more thing"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let id = loop {
        let drafts = json(b.path(), &["drafts", "list"]);
        if let Some(d) = drafts["drafts"].as_array().unwrap().first() {
            break d["id"].to_string();
        }
        assert!(Instant::now() < deadline, "no draft");
        std::thread::sleep(Duration::from_millis(100));
    };
    ok(
        b.path(),
        &["drafts", "send", &id, "--text", "Bob, by hand."],
    );
    assert_eq!(
        run(b.path(), &["drafts", "discard", &id]).status.code(),
        Some(3)
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok(a.path(), &["log", "@bob.cloud"]).contains("Bob, by hand.") {
        assert!(Instant::now() < deadline, "the draft never arrived");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A node stops even while someone follows its inbox; the follower is told.
    let mut follower = sovra(b.path())
        .args(["inbox"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(node_b.terminate().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = follower.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "inbox kept waiting on a stopped node"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(1));
    assert!(node_a.terminate().success());
}

#[tokio::test]
async fn one_node_per_home_a_clean_stop_and_no_endpoint() {
    let h = tempfile::tempdir().unwrap();
    json(h.path(), &["init", "--handle", "@alice.cloud"]);
    let node = NodeProcess::start(h.path());
    // A second node on the same home is refused, naming the first one's PID.
    let second = run(h.path(), &["node", "serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains(&node.0.id().to_string()), "{err}");
    assert!(node.terminate().success());
    assert!(
        !h.path().join("node.json").exists(),
        "node.json is removed on a clean stop"
    );

    // A node that publishes no endpoint, behind a public URL that does not resolve: peers are
    // told no URL, and the CLI still reaches it on loopback.
    let _ = std::fs::remove_file(h.path().join("node.json"));
    let child = sovra(h.path())
        .args([
            "node",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-endpoint",
            "--public-url",
            "http://node.invalid",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !h.path().join("node.json").exists() {
        assert!(Instant::now() < deadline, "node did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let node = NodeProcess(child);
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(h.path().join("node.json")).unwrap()).unwrap();
    assert_eq!(info["url"], "http://node.invalid");
    let local = info["local"].as_str().unwrap().to_owned();
    assert!(ok(h.path(), &["peer", "list"]).contains("empty"));
    let id: serde_json::Value = reqwest::get(format!("{local}/clouds/alice/api/d2d/identity"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(id["endpoints"], serde_json::json!([]), "{id}");
    assert!(node.terminate().success());
}

/// An operator hosts a human by invite; the human's cloud key stays in their own home; the
/// human drives the cloud from there; the operator's status shows metadata and no content;
/// the human withdraws the node's key.
#[test]
fn an_operator_hosts_a_human_whose_key_stays_home() {
    let op = tempfile::tempdir().unwrap();
    let human = tempfile::tempdir().unwrap();
    let peer = tempfile::tempdir().unwrap();
    ok(
        op.path(),
        &[
            "node",
            "init",
            "--hosting-policy",
            "invite",
            "--operator-contact",
            "ops@host.example",
        ],
    );
    let node = NodeProcess::start(op.path());
    let url = NodeProcess::url(op.path());
    let invite = json(op.path(), &["host", "invite", "--days", "2"])["invite"]
        .as_str()
        .unwrap()
        .to_owned();
    let dana = json(
        human.path(),
        &[
            "init",
            "--handle",
            "@dana.cloud",
            "--hosted-by",
            &url,
            "--invite",
            &invite,
        ],
    );
    assert_eq!(dana["url"], serde_json::json!(format!("{url}/clouds/dana")));
    assert!(human.path().join("clouds/dana/cloud.key").exists());
    assert!(!op.path().join("clouds/dana/cloud.key").exists());
    // The same invite does not work twice.
    let again = run(
        tempfile::tempdir().unwrap().path(),
        &[
            "init",
            "--handle",
            "@dan.cloud",
            "--hosted-by",
            &url,
            "--invite",
            &invite,
        ],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("invite"));

    // The human uses the cloud from their own home: no node runs there.
    assert_eq!(
        json(human.path(), &["peer", "list"])["peers"],
        serde_json::json!([])
    );
    let bob = json(peer.path(), &["init", "--handle", "@bob.cloud"]);
    let peer_node = NodeProcess::start(peer.path());
    let bob_url = format!("{}/clouds/bob", NodeProcess::url(peer.path()));
    ok(
        human.path(),
        &[
            "peer",
            "add",
            "@bob.cloud",
            "--pubkey",
            bob["pubkey"].as_str().unwrap(),
            "--url",
            &bob_url,
        ],
    );
    ok(
        peer.path(),
        &[
            "peer",
            "add",
            "@dana.cloud",
            "--pubkey",
            dana["pubkey"].as_str().unwrap(),
            "--url",
            dana["url"].as_str().unwrap(),
        ],
    );
    ok(
        human.path(),
        &["send", "@bob.cloud", "a secret only bob may read"],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok(peer.path(), &["log", "@dana.cloud"]).contains("a secret only bob may read") {
        assert!(Instant::now() < deadline, "bob never got dana's message");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The operator sees that dana is hosted with a host key, and nothing of what she said.
    let status = ok(op.path(), &["host", "status"]);
    assert!(
        status.contains("dana") && status.contains("host key"),
        "{status}"
    );
    let status_json = json(op.path(), &["host", "status"]);
    assert_eq!(status_json["clouds"][0]["keys"], "host key");
    assert_eq!(status_json["clouds"][0]["devices"], 1);
    assert!(
        status_json["clouds"][0]["messages_last_day"]
            .as_i64()
            .unwrap()
            >= 1
    );
    assert_eq!(status_json["invites"]["used"], 1);
    assert!(!status.contains("secret") && !status_json.to_string().contains("secret"));

    // A second device, attached, detached and recovered by the cloud key in this home.
    let attached = json(human.path(), &["device", "attach", "--label", "phone"]);
    let phone = attached["attached"].as_str().unwrap().to_owned();
    assert!(human.path().join("clouds/dana/device-phone.key").exists());
    let state = |home: &Path| -> String {
        json(home, &["device", "list"])["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["client_instance_id"] == phone.as_str())
            .unwrap()["state"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(state(human.path()), "attached");
    ok(
        human.path(),
        &["device", "detach", &phone, "--reason", "device-loss"],
    );
    assert_eq!(state(human.path()), "detached");
    ok(human.path(), &["device", "recover", &phone]);
    assert_eq!(state(human.path()), "attached");
    // The operator's home has no cloud key for dana: it cannot attach anything to her.
    assert!(
        !run(
            op.path(),
            &["--cloud", "dana", "device", "attach", "--label", "x"]
        )
        .status
        .success()
    );

    // The operator sets dana's quota; status shows it.
    ok(
        op.path(),
        &[
            "host",
            "quota",
            "dana",
            "--messages-per-day",
            "1000",
            "--storage-mb",
            "64",
        ],
    );
    let q = &json(op.path(), &["host", "status"])["clouds"][0]["quota"];
    assert_eq!(
        (q["messages_per_day"].as_u64(), q["storage_bytes"].as_u64()),
        (Some(1000), Some(64 << 20))
    );

    // The human renews the node's certificate from home, before it expires.
    let held = || -> serde_json::Value {
        serde_json::from_slice(
            &std::fs::read(human.path().join("clouds/dana/host-certificate.json")).unwrap(),
        )
        .unwrap()
    };
    let before = held()["expires_at"].as_str().unwrap().to_owned();
    let renewed = json(human.path(), &["host", "renew", "--days", "60"]);
    let after = renewed["expires_at"].as_str().unwrap().to_owned();
    assert!(after > before, "{before} -> {after}");
    assert_eq!(held()["expires_at"], serde_json::json!(after));

    // The human withdraws the node's key; the node no longer speaks for dana.
    ok(human.path(), &["host", "revoke"]);
    let refused = run(human.path(), &["send", "@bob.cloud", "still there?"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("revoked"));
    assert_eq!(
        json(op.path(), &["host", "status"])["clouds"][0]["keys"],
        "revoked"
    );
    drop((node, peer_node));
}

#[test]
fn a_cloud_moves_to_another_node_with_the_cli() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let alice = json(a.path(), &["init", "--handle", "@alice.cloud"]);
    let bob = json(b.path(), &["init", "--handle", "@bob.cloud"]);
    let _node_a = NodeProcess::start(a.path());
    let _node_b = NodeProcess::start(b.path());
    // The new node runs with no cloud yet.
    let _node_c = NodeProcess::start(c.path());
    let url_a = format!("{}/clouds/alice", NodeProcess::url(a.path()));
    let url_b = format!("{}/clouds/bob", NodeProcess::url(b.path()));
    let url_c = format!("{}/clouds/alice", NodeProcess::url(c.path()));
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
        ],
    );
    ok(
        b.path(),
        &[
            "send",
            "@alice.cloud",
            "before the move",
            "--retention",
            "permanent",
        ],
    );

    // Heirs are signed here by the cloud key, and travel with the cloud.
    ok(
        a.path(),
        &[
            "heirs",
            "add",
            "@bob.cloud",
            "--after",
            "30d",
            "--grant",
            "control",
        ],
    );
    ok(a.path(), &["heirs", "endowment", "The garden is yours."]);
    assert_eq!(
        run(a.path(), &["heirs", "add", "@nobody.cloud"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        run(
            a.path(),
            &["heirs", "add", "@bob.cloud", "--after", "forever"]
        )
        .status
        .code(),
        Some(2)
    );

    // Export needs a passphrase: none on a terminal here, so a script must give one.
    let out = a.path().join("alice.bundle");
    let refused = run(a.path(), &["export", "--out", out.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--passphrase-file"));
    let pass = a.path().join("pass.txt");
    std::fs::write(&pass, "correct horse battery\n").unwrap();
    let exported = json(
        a.path(),
        &[
            "export",
            "--out",
            out.to_str().unwrap(),
            "--passphrase-file",
            pass.to_str().unwrap(),
            "--move",
        ],
    );
    assert_eq!(exported["frozen"], true);
    let sha = exported["archive_sha256"].as_str().unwrap().to_owned();
    assert_eq!(sha.len(), 64);
    // The old node is frozen: writes wait for the move.
    assert_eq!(json(a.path(), &["migration", "status"])["state"], "moving");

    // A wrong passphrase opens nothing and writes nothing.
    let wrong = c.path().join("wrong.txt");
    std::fs::write(&wrong, "not it at all\n").unwrap();
    let bad = run(
        c.path(),
        &[
            "import",
            out.to_str().unwrap(),
            "--passphrase-file",
            wrong.to_str().unwrap(),
        ],
    );
    assert_ne!(bad.status.code(), Some(0));
    assert!(!c.path().join("clouds").join("alice").exists());

    let imported = json(
        c.path(),
        &[
            "import",
            out.to_str().unwrap(),
            "--passphrase-file",
            pass.to_str().unwrap(),
        ],
    );
    assert_eq!(imported["archive_sha256"], sha.as_str());
    assert_eq!(imported["announce"]["peers_told"], 1, "{imported}");
    assert_eq!(imported["announce"]["old_node_told"], true, "{imported}");
    assert_eq!(json(a.path(), &["migration", "status"])["state"], "moved");
    assert_eq!(json(c.path(), &["migration", "status"])["move_seq"], 1);
    let heirs = json(c.path(), &["heirs", "list"]);
    assert_eq!(
        heirs["policy"]["heirs"][0]["handle"], "@bob.cloud",
        "{heirs}"
    );
    assert_eq!(heirs["policy"]["endowment"], "The garden is yours.");
    assert_eq!(heirs["policy"]["inactive_days"], 30);
    // No phone on record and no second device here: nothing to elevate with yet.
    assert_eq!(json(c.path(), &["elevate"])["two_factor"], false);

    // Bob's next message goes to the new node without him doing anything.
    ok(
        b.path(),
        &[
            "send",
            "@alice.cloud",
            "after the move",
            "--retention",
            "permanent",
        ],
    );
    let log = ok(c.path(), &["log", "@bob.cloud"]);
    assert!(
        log.contains("before the move") && log.contains("after the move"),
        "{log}"
    );
    let peers = json(b.path(), &["peer", "list"]);
    assert_eq!(peers["peers"][0]["url"], url_c.as_str(), "{peers}");

    // Sealing from the CLI; a cloud made on a running node is served at once.
    ok(c.path(), &["seal"]);
    assert_eq!(
        run(c.path(), &["peer", "remove", "@bob.cloud"])
            .status
            .code(),
        Some(1)
    );
    ok(c.path(), &["unseal"]);
    json(c.path(), &["init", "--handle", "@carol.cloud"]);
    let mut served = false;
    for _ in 0..100 {
        if run(c.path(), &["--cloud", "carol", "peer", "list"])
            .status
            .success()
        {
            served = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(served, "carol is served without a restart");
}

#[test]
fn completions_and_man_pages_come_from_the_commands() {
    let home = tempfile::tempdir().unwrap();
    let bash = ok(home.path(), &["completions", "bash"]);
    assert!(bash.contains("_sovra()") && bash.contains("heirs") && bash.contains("export"));
    assert_eq!(
        run(home.path(), &["completions", "tcsh"]).status.code(),
        Some(2)
    );
    let out = home.path().join("man");
    ok(home.path(), &["man", "--out", out.to_str().unwrap()]);
    let page = std::fs::read_to_string(out.join("sovra-peer-grant.1")).unwrap();
    assert!(
        page.contains(".TH") && page.contains("one more capability"),
        "{page}"
    );
    assert!(out.join("sovra.1").exists() && out.join("sovra-heirs-add.1").exists());
}

#[test]
fn sovra_toml_sets_what_flags_and_variables_do_not() {
    let home = tempfile::tempdir().unwrap();
    json(home.path(), &["init", "--handle", "@alice.cloud"]);
    // A typo is an error, not a setting silently ignored.
    std::fs::write(home.path().join("sovra.toml"), "[node]\nlisten_typo = 1\n").unwrap();
    let bad = run(home.path(), &["node", "serve"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("listen_typo"));
    // The file's listen address and log format apply when no flag says otherwise.
    std::fs::write(
        home.path().join("sovra.toml"),
        "log_format = \"json\"\n[node]\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let _ = std::fs::remove_file(home.path().join("node.json"));
    let child = sovra(home.path())
        .args(["node", "serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !home.path().join("node.json").exists() {
        assert!(Instant::now() < deadline, "node did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = NodeProcess::url(home.path());
    assert!(!url.ends_with(":7870"), "{url}");
    // One request, for the access log.
    {
        use std::io::{Read, Write};
        let addr = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /healthz?token=secret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("listening on"), "{log}");
    for line in log.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "{line}"
        );
    }
    // The access log: route pattern, status, latency, client — never the query string.
    let access: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["target"] == "sovra::access")
        .collect();
    assert!(
        access.iter().any(|l| l["fields"]["status"] == 200
            && l["span"]["route"] == "/healthz"
            && l["span"]["method"] == "GET"
            && l["span"]["remote"] == "127.0.0.1"
            && l["fields"]["latency_ms"].is_number()),
        "{log}"
    );
    assert!(!log.contains("secret"), "{log}");
}

/// Waits until `sovra ARGS` prints something containing `want`.
fn until_printed(home: &Path, args: &[&str], want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = ok(home, args);
        if out.contains(want) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "`sovra {args:?}` never printed {want:?}; last:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn follow_connect_post_and_share_a_file_from_the_cli() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let alice = json(a.path(), &["init", "--handle", "@alice.cloud"]);
    let bob = json(b.path(), &["init", "--handle", "@bob.cloud"]);
    let _node_a = NodeProcess::start(a.path());
    let _node_b = NodeProcess::start(b.path());
    let url_a = format!("{}/clouds/alice", NodeProcess::url(a.path()));
    let url_b = format!("{}/clouds/bob", NodeProcess::url(b.path()));
    for (home, handle, key, url) in [
        (a.path(), "@bob.cloud", &bob["pubkey"], &url_b),
        (b.path(), "@alice.cloud", &alice["pubkey"], &url_a),
    ] {
        ok(
            home,
            &[
                "peer",
                "add",
                handle,
                "--pubkey",
                key.as_str().unwrap(),
                "--url",
                url,
            ],
        );
    }

    let out = ok(a.path(), &["follow", "@Bob.Cloud"]);
    assert!(out.contains("Following @bob.cloud"), "{out}");
    until_printed(b.path(), &["followers"], "@alice.cloud");
    ok(a.path(), &["connect", "@bob.cloud"]);
    until_printed(b.path(), &["connections"], "asked to connect");
    ok(b.path(), &["connections", "approve", "@alice.cloud"]);
    until_printed(a.path(), &["connections"], "connected");

    let work = tempfile::tempdir().unwrap();
    let photo = work.path().join("photo.png");
    std::fs::write(&photo, b"\x89PNG not really").unwrap();
    let out = ok(
        b.path(),
        &["post", "hello from bob", "--file", photo.to_str().unwrap()],
    );
    assert!(out.contains("queued for 1 inbox"), "{out}");
    let feed = until_printed(a.path(), &["feed"], "hello from bob");
    let file_id = feed
        .split_whitespace()
        .find(|w| w.starts_with("f1~"))
        .unwrap()
        .trim_end_matches(']')
        .to_owned();
    let got = work.path().join("got.png");
    ok(
        a.path(),
        &[
            "file",
            "get",
            &file_id,
            "--from",
            "@bob.cloud",
            "--out",
            got.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read(&got).unwrap(), b"\x89PNG not really");
    assert!(ok(a.path(), &["file", "list"]).contains("@bob.cloud"));

    ok(a.path(), &["act", "@bob.cloud", "MSG", "thanks!"]);
    until_printed(b.path(), &["feed"], "thanks!");
    let sent = json(a.path(), &["feed", "--sent"]);
    assert_eq!(sent["actions"][0]["type"], "MSG");
    // A refusal names the cloud and the reason, with its exit code.
    let out = run(a.path(), &["unfollow", "@carol.cloud"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not follow @carol.cloud"));
}
