//! Secret keys on disk: mode 0600, never overwritten, refused when readable by others.

use std::os::unix::fs::PermissionsExt;

use sovra_proto::keyfile::{self, KeyFileError, KeyRole};
use sovra_proto::{CloudKeys, SigningKeypair, os_rng};

#[test]
fn cloud_keys_round_trip_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cloud.key");
    let keys = CloudKeys::generate(&mut os_rng());
    keyfile::save_cloud_keys(&path, &keys).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let loaded = keyfile::load_cloud_keys(&path).unwrap();
    assert_eq!(loaded.public(), keys.public());
    assert_eq!(loaded.encryption.public(), keys.encryption.public());
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn existing_key_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cloud.key");
    let first = CloudKeys::generate(&mut os_rng());
    keyfile::save_cloud_keys(&path, &first).unwrap();
    let second = CloudKeys::generate(&mut os_rng());
    assert!(matches!(
        keyfile::save_cloud_keys(&path, &second),
        Err(KeyFileError::AlreadyExists { .. })
    ));
    assert_eq!(
        keyfile::load_cloud_keys(&path).unwrap().public(),
        first.public()
    );
}

#[test]
fn readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.key");
    let key = SigningKeypair::generate(&mut os_rng());
    keyfile::save_signing_key(&path, KeyRole::Device, &key).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = keyfile::load_signing_key(&path, KeyRole::Device).unwrap_err();
    assert!(
        matches!(err, KeyFileError::InsecurePermissions { mode: 0o644, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("chmod 600"));
}

#[test]
fn roles_and_garbage_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.key");
    let key = SigningKeypair::generate(&mut os_rng());
    keyfile::save_signing_key(&path, KeyRole::Node, &key).unwrap();
    assert_eq!(
        keyfile::load_signing_key(&path, KeyRole::Node)
            .unwrap()
            .public(),
        key.public()
    );
    assert!(matches!(
        keyfile::load_signing_key(&path, KeyRole::Device),
        Err(KeyFileError::WrongRole { .. })
    ));
    assert!(matches!(
        keyfile::load_cloud_keys(&path),
        Err(KeyFileError::WrongRole { .. })
    ));
    let junk = dir.path().join("junk.key");
    std::fs::write(&junk, b"not json").unwrap();
    std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(
        keyfile::load_cloud_keys(&junk),
        Err(KeyFileError::Format { .. })
    ));
    assert!(matches!(
        keyfile::load_cloud_keys(&dir.path().join("missing.key")),
        Err(KeyFileError::Io { .. })
    ));
}
