//! What a cloud keeps on disk is for its owner only, and one node serves a home at a time.

use std::os::unix::fs::PermissionsExt;

use sovra_node::home;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn cloud_directories_and_databases_are_private() {
    let h = tempfile::tempdir().unwrap();
    let (dir, _) = home::init_cloud(h.path(), "@alice.cloud").await.unwrap();
    assert_eq!(mode(&dir), 0o700);
    for f in ["cloud.db", "cloud.key", "device.key"] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    // Opening the cloud (as a node does) creates the WAL files with the database's mode, and
    // tightens a directory and database a user loosened.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir.join("cloud.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let node = sovra_node::open_node(
        h.path(),
        "http://127.0.0.1:9",
        sovra_node::Settings::default(),
    )
    .await
    .unwrap();
    assert_eq!(mode(&dir), 0o700);
    for f in ["cloud.db", "cloud.db-wal", "cloud.db-shm"] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    drop(node);
}

#[test]
fn a_home_is_served_by_one_node_at_a_time() {
    let h = tempfile::tempdir().unwrap();
    let first = home::lock_home(h.path()).unwrap();
    let second = home::lock_home(h.path());
    let msg = second.err().expect("a second lock is refused").to_string();
    assert!(msg.contains(&std::process::id().to_string()), "{msg}");
    drop(first);
    home::lock_home(h.path()).expect("free again once released");
}
