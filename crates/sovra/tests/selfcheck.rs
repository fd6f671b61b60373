//! The README's first command, run as a user runs it: the real binary in a subprocess.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn sovra() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sovra"))
}

#[test]
fn selfcheck_verifies_every_step() {
    let out = sovra().arg("selfcheck").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("All 11 steps verified."), "{stdout}");
    assert!(stdout.contains("replayed seq 1: replayed_seq"));
    assert!(stdout.contains("unknown peer handshake: not on whitelist"));
}

#[test]
fn selfcheck_json_and_kept_home() {
    let home = tempfile::tempdir().unwrap();
    let out = sovra()
        .args(["selfcheck", "--json", "--keys"])
        .arg(home.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.last().unwrap()["ok"], true);
    assert_eq!(lines.len(), 12);
    for cloud in ["alice", "bob"] {
        let meta = std::fs::metadata(home.path().join(cloud).join("cloud.key")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    // A second run into the same home refuses to overwrite the keys.
    let again = sovra()
        .args(["selfcheck", "--keys"])
        .arg(home.path())
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
}

#[test]
fn help_and_unknown_commands() {
    let out = sovra().arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("selfcheck"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("quickstart"));
    let out = sovra().arg("no-such-command").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
