//! The home directory: where a node keeps the clouds it hosts.
//!
//! ```text
//! $SOVRA_HOME/
//!   node.json                 where the running node listens: public URL, loopback URL, PID
//!                             (written by `node serve`, removed when it stops cleanly)
//!   node.lock                 held (flock) by the serving node; holds its PID
//!   node.key                  the node's own Ed25519 key, its node-id (0600; `hosting/`)
//!   node-config.json          what the operator publishes at /api/node: contact, policy
//!   clouds/<name>/            one directory per hosted cloud (0700): the unit of migration
//!     cloud.json              handle and creation time
//!     cloud.key               the cloud's Ed25519 + X25519 secret keys (0600) — or, for a cloud
//!                             hosted here for a human who keeps the cloud key on a device:
//!     host.key                the host key pair the node signs and opens with (0600)
//!     host-certificate.json   the cloud key's certificate of that pair (PROTOCOL.md §19.2)
//!     device.key              the local CLI's device key (0600), certified by cloud.key
//!     cloud.db                SQLite (WAL; 0600, and so its -wal and -shm): whitelist,
//!                             conversations, messages, outbox…
//!     swarms/<name>/          a swarm's soul.md (system prompt), notes.md (long-term memory)
//!                             and, for an openai brain keeping its key here, api-key (0600)
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sovra_proto::device::{KeyCertificate, PURPOSE_OWNER};
use sovra_proto::host::{Delegation, HostCertificate};
use sovra_proto::identity::validate_handle;
use sovra_proto::keyfile::{self, KeyRole};
use sovra_proto::{CloudKeys, SigningKeypair, os_rng};
use thiserror::Error;

use crate::store::Store;

#[derive(Debug, Error)]
pub enum HomeError {
    #[error("another node (pid {pid}) is serving {home}; stop it first")]
    Locked { home: PathBuf, pid: String },
    #[error("{0}")]
    Invalid(String),
    #[error("a cloud already exists at {0}; refusing to overwrite it")]
    Exists(PathBuf),
    #[error("no cloud at {0}")]
    Missing(PathBuf),
    #[error(transparent)]
    Key(#[from] keyfile::KeyFileError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The node asked to host a cloud refused or could not be reached.
    #[error("the node: {0}")]
    Node(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HomeError + '_ {
    move |source| HomeError::Io {
        path: path.into(),
        source,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CloudConfig {
    pub handle: String,
    pub created_at: String,
    /// On a node: this cloud's keys are a delegation (`host.key`, `host-certificate.json`);
    /// the cloud key is on the human's device.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hosted: bool,
    /// On the human's device: the cloud's base URL at the node that hosts it. Such a cloud is
    /// not served from this home; the CLI talks to its node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_by: Option<String>,
}

/// Where the running node listens, so the CLI can find it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The URL peers are told (the public URL).
    pub url: String,
    pub pid: u32,
    /// Where the node listens, as a loopback URL: what the CLI on this machine uses, so owner
    /// requests never leave the machine even when the public URL is a proxy elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
}

/// Holds the home's lock while a node serves it; dropping it releases the lock.
pub struct HomeLock {
    _file: std::fs::File,
}

/// Locks the home for one serving node: a second `sovra node serve` on the same home would run
/// a second set of workers on the same databases. The lock file holds the holder's PID.
pub fn lock_home(home: &Path) -> Result<HomeLock, HomeError> {
    use std::io::{Read, Seek, Write};
    std::fs::create_dir_all(home).map_err(io(home))?;
    let path = home.join("node.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io(&path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(HomeError::Locked {
                home: home.into(),
                pid: pid.trim().to_owned(),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
    }
    file.set_len(0).map_err(io(&path))?;
    file.rewind().map_err(io(&path))?;
    write!(file, "{}", std::process::id()).map_err(io(&path))?;
    Ok(HomeLock { _file: file })
}

/// Removes `node.json` after a clean stop, if it is still this process's.
pub fn clear_node_info(home: &Path) {
    if read_node_info(home).is_some_and(|i| i.pid == std::process::id()) {
        let _ = std::fs::remove_file(home.join("node.json"));
    }
}

/// The cloud directory name for a handle: its first label (`@alice.cloud` → `alice`).
pub fn cloud_name(handle: &str) -> Result<String, HomeError> {
    validate_handle(handle).map_err(|e| HomeError::Invalid(e.to_string()))?;
    Ok(handle[1..].split('.').next().expect("validated").to_owned())
}

pub fn clouds_dir(home: &Path) -> PathBuf {
    home.join("clouds")
}

pub fn cloud_dir(home: &Path, name: &str) -> PathBuf {
    clouds_dir(home).join(name)
}

/// The names of every cloud under `home`.
pub fn list_clouds(home: &Path) -> Result<Vec<String>, HomeError> {
    let dir = clouds_dir(home);
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
        let entry = entry.map_err(io(&dir))?;
        if entry.path().join("cloud.json").exists() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Creates a cloud: keys, a certified device key for the CLI, the database and the config.
/// Refuses to touch an existing cloud.
pub async fn init_cloud(home: &Path, handle: &str) -> Result<(PathBuf, CloudKeys), HomeError> {
    let name = cloud_name(handle)?;
    let dir = cloud_dir(home, &name);
    if dir.join("cloud.json").exists() || dir.join("cloud.key").exists() {
        return Err(HomeError::Exists(dir));
    }
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    make_private_dir(&dir)?;
    let mut rng = os_rng();
    let keys = CloudKeys::generate(&mut rng);
    keyfile::save_cloud_keys(&dir.join("cloud.key"), &keys)?;
    let store = Store::open(&dir.join("cloud.db")).await?;
    add_cli_device(&dir, &store, &keys).await?;
    let config = CloudConfig {
        handle: handle.to_owned(),
        created_at: sovra_proto::time::format(jiff::Timestamp::now()),
        hosted: false,
        hosted_by: None,
    };
    // The config is written last: its presence marks a complete cloud.
    let path = dir.join("cloud.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).expect("json")).map_err(io(&path))?;
    Ok((dir, keys))
}

/// Makes this home's CLI a device of the cloud: a new device key (`device.key`) the cloud key
/// certifies for the owner API, recorded in the cloud's devices.
pub async fn add_cli_device(dir: &Path, store: &Store, keys: &CloudKeys) -> Result<(), HomeError> {
    let device = SigningKeypair::generate(&mut os_rng());
    keyfile::save_signing_key(&dir.join("device.key"), KeyRole::Device, &device)?;
    let cert = KeyCertificate::issue(
        &keys.signing,
        &device.public(),
        PURPOSE_OWNER,
        "cli",
        jiff::Timestamp::now(),
    );
    store
        .add_device(
            &device.public().to_b64(),
            &serde_json::to_string(&cert).expect("json"),
            "cli",
        )
        .await?;
    Ok(())
}

/// How long a host certificate from `sovra init --hosted-by` lasts before the device renews it.
pub const HOST_PERIOD_DAYS: i64 = 30;

/// Creates a cloud in this home (the human's device) to be hosted at `node_url`: the cloud key
/// and a device key are made and stay here; the node draws a host key pair, which the cloud key
/// certifies for that node and `HOST_PERIOD_DAYS` (PROTOCOL.md §19.2, §19.3). Returns the
/// cloud's directory here and its base URL at the node.
/// How a human is admitted to a hosting node (its `hosting_policy`).
pub enum Admission {
    /// The operator's invite code.
    Invite(String),
    /// A phone code from the node's registry (`phone_registry` in its statement); the
    /// registry turns it into an attestation for the new cloud key.
    Phone(sovra_proto::registry::PhoneProof),
}

pub async fn init_hosted_cloud(
    home: &Path,
    handle: &str,
    node_url: &str,
    admission: &Admission,
) -> Result<(PathBuf, String), HomeError> {
    let keys = CloudKeys::generate(&mut os_rng());
    host_cloud(home, handle, node_url, admission, keys).await
}

/// Has the node at `node_url` host a cloud whose keys exist already (a cloud moving there,
/// PROTOCOL.md §20): as `init_hosted_cloud`, with `keys`. This home may hold the cloud already
/// — hosted by the node it leaves — and then its directory is taken over, never another cloud's.
pub async fn host_cloud(
    home: &Path,
    handle: &str,
    node_url: &str,
    admission: &Admission,
    keys: CloudKeys,
) -> Result<(PathBuf, String), HomeError> {
    use sovra_proto::host::{ActivateRequest, ActivateResponse, OnboardRequest, OnboardResponse};
    validate_handle(handle).map_err(|e| HomeError::Invalid(e.to_string()))?;
    let name = cloud_name(handle)?;
    let dir = cloud_dir(home, &name);
    // Taking over this home's directory of the same cloud, hosted by the node it leaves: its
    // cloud key stays as it is, the new device key replaces the old one only once the new
    // node has activated the cloud.
    let mut take_over = false;
    if dir.join("cloud.json").exists() || dir.join("cloud.key").exists() {
        let same = keyfile::load_cloud_keys(&dir.join("cloud.key"))
            .is_ok_and(|k| k.public() == keys.public());
        let hosted_elsewhere = load_config(&dir).is_ok_and(|c| c.hosted_by.is_some());
        if !(same && hosted_elsewhere) {
            return Err(HomeError::Exists(dir));
        }
        take_over = true;
    }
    let node_url = node_url.trim_end_matches('/');
    let client = sovra_client::D2dClient::default();
    let failed = |e: sovra_client::ClientError| HomeError::Node(e.to_string());
    // The node says who it is, signed by its own key.
    let statement: sovra_proto::node::NodeDocument =
        client.get(node_url, "/api/node").await.map_err(failed)?;
    let node_id = statement
        .verify()
        .map_err(|e| HomeError::Node(format!("its /api/node does not verify: {e}")))?;
    let device = SigningKeypair::generate(&mut os_rng());
    let (invite, phone_attestation) = match admission {
        Admission::Invite(code) => (Some(code.clone()), None),
        Admission::Phone(proof) => {
            let registry = statement.phone_registry.as_deref().ok_or_else(|| {
                HomeError::Node("it does not host by phone (no phone_registry)".into())
            })?;
            let audience =
                sovra_proto::urls::canonical_url("node URL", node_url, &["http", "https"])
                    .map_err(|e| HomeError::Invalid(e.to_string()))?;
            let attestation =
                sovra_client::RegistryClient::new(registry, sovra_client::DEFAULT_TIMEOUT)
                    .attest(&sovra_proto::registry::AttestationRequest {
                        phone: proof.clone(),
                        cloud_key: keys.public().to_b64(),
                        audience,
                    })
                    .await
                    .map_err(|e| HomeError::Node(format!("its registry: {e}")))?;
            (None, Some(attestation))
        }
    };
    let offer: OnboardResponse = client
        .post(
            node_url,
            "/api/host/clouds",
            &OnboardRequest {
                handle: handle.to_owned(),
                cloud_key: keys.public().to_b64(),
                invite,
                phone_attestation,
            },
        )
        .await
        .map_err(failed)?;
    if offer.node_id != node_id.to_b64() {
        return Err(HomeError::Node(
            "it offered host keys for another node-id than its own".into(),
        ));
    }
    let bad = |e: sovra_proto::ProtoError| HomeError::Node(format!("its offer: {e}"));
    let host_key = sovra_proto::PublicKey::from_b64("host_key", &offer.host_key).map_err(bad)?;
    let host_encryption_key =
        sovra_proto::EncryptionKey::from_b64("host_encryption_key", &offer.host_encryption_key)
            .map_err(bad)?;
    let now = jiff::Timestamp::now();
    let host_certificate = HostCertificate::issue(
        &keys.signing,
        &host_key,
        &host_encryption_key,
        &node_id,
        now,
        jiff::SignedDuration::from_hours(24 * HOST_PERIOD_DAYS),
    )
    .map_err(bad)?;
    let device_certificate =
        KeyCertificate::issue(&keys.signing, &device.public(), PURPOSE_OWNER, "cli", now);
    // The keys are on disk before the node hears the certificate: losing them after
    // activation would orphan the cloud.
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    make_private_dir(&dir)?;
    let device_path = match take_over {
        true => dir.join("device.key.next"),
        false => {
            keyfile::save_cloud_keys(&dir.join("cloud.key"), &keys)?;
            dir.join("device.key")
        }
    };
    let _ = std::fs::remove_file(dir.join("device.key.next"));
    keyfile::save_signing_key(&device_path, KeyRole::Device, &device)?;
    write_atomic(
        &dir.join("host-certificate.json"),
        &serde_json::to_vec_pretty(&host_certificate).expect("json"),
    )?;
    let done: ActivateResponse = client
        .post(
            node_url,
            &format!("/api/host/clouds/{}/activate", offer.name),
            &ActivateRequest {
                host_certificate,
                device_key: device.public().to_b64(),
                device_certificate,
            },
        )
        .await
        .map_err(failed)?;
    if take_over {
        std::fs::rename(&device_path, dir.join("device.key")).map_err(io(&device_path))?;
    }
    let config = CloudConfig {
        handle: handle.to_owned(),
        created_at: sovra_proto::time::format(now),
        hosted: false,
        hosted_by: Some(done.base_url.clone()),
    };
    write_atomic(
        &dir.join("cloud.json"),
        &serde_json::to_vec_pretty(&config).expect("json"),
    )?;
    Ok((dir, done.base_url))
}

/// A cloud directory holds keys, sessions and souls: only the owner may list or enter it.
pub fn make_private_dir(dir: &Path) -> Result<(), HomeError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))
}

pub fn load_config(dir: &Path) -> Result<CloudConfig, HomeError> {
    let path = dir.join("cloud.json");
    if !path.exists() {
        return Err(HomeError::Missing(dir.into()));
    }
    let text = std::fs::read(&path).map_err(io(&path))?;
    serde_json::from_slice(&text)
        .map_err(|e| HomeError::Invalid(format!("{}: {e}", path.display())))
}

/// The keys a node signs with for the cloud in `dir`: its own (`cloud.key`), or for a hosted
/// cloud the host key pair and the certificate binding it to the cloud key (§19.2).
pub fn load_keys(dir: &Path) -> Result<CloudKeys, HomeError> {
    if dir.join("cloud.key").exists() {
        return Ok(keyfile::load_cloud_keys(&dir.join("cloud.key"))?);
    }
    let host = keyfile::load_cloud_keys(&dir.join("host.key"))?;
    let path = dir.join("host-certificate.json");
    let text = std::fs::read(&path).map_err(io(&path))?;
    let certificate: HostCertificate = serde_json::from_slice(&text)
        .map_err(|e| HomeError::Invalid(format!("{}: {e}", path.display())))?;
    let cloud = sovra_proto::PublicKey::from_b64("cloud", &certificate.cloud)
        .map_err(|e| HomeError::Invalid(format!("{}: {e}", path.display())))?;
    Ok(CloudKeys {
        delegation: Some(Box::new(Delegation { cloud, certificate })),
        ..host
    })
}

/// Writes a file other processes may read while it is replaced: whole or not at all.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), HomeError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

pub fn load_device(dir: &Path) -> Result<SigningKeypair, HomeError> {
    Ok(keyfile::load_signing_key(
        &dir.join("device.key"),
        KeyRole::Device,
    )?)
}

/// Written whole or not at all: the CLI and tests read it while a node starts.
pub fn write_node_info(home: &Path, info: &NodeInfo) -> Result<(), HomeError> {
    write_atomic(
        &home.join("node.json"),
        &serde_json::to_vec_pretty(info).expect("json"),
    )
}

pub fn read_node_info(home: &Path) -> Option<NodeInfo> {
    serde_json::from_slice(&std::fs::read(home.join("node.json")).ok()?).ok()
}
