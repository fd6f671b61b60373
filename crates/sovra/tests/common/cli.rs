//! The CLI as a user runs it: `sovra` subprocesses on a home, and a node process on it.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn sovra(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sovra"));
    c.env("SOVRA_HOME", home)
        .env_remove("SOVRA_CLOUD")
        .env_remove("SOVRA_NODE");
    c
}

pub fn run(home: &Path, args: &[&str]) -> Output {
    sovra(home).args(args).output().unwrap()
}

pub fn ok(home: &Path, args: &[&str]) -> String {
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

pub fn json(home: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(home, &all)).unwrap()
}

pub struct NodeProcess(pub Child);

impl NodeProcess {
    pub fn start(home: &Path) -> NodeProcess {
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

    pub fn url(home: &Path) -> String {
        let info: serde_json::Value =
            serde_json::from_slice(&std::fs::read(home.join("node.json")).unwrap()).unwrap();
        info["url"].as_str().unwrap().to_owned()
    }

    /// SIGTERM, then wait: the node must exit 0 on its own.
    pub fn terminate(mut self) -> std::process::ExitStatus {
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

/// Exposes `WordCount` on the home's cloud: the binary's built-in word counter as an `exec`
/// capability, standing in for an agent.
pub fn expose_word_count(home: &Path) {
    let exe = env!("CARGO_BIN_EXE_sovra");
    ok(
        home,
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
}
