//! Recreating a cloud from an opened bundle (docs/PROTOCOL.md §20.3) in a node's home: its
//! keys, a new device key for this home's CLI (the old home's device keys stay behind — they
//! are devices, not the cloud), its swarm files and its database, all or nothing. The cloud's
//! `cloud.json` is written last, as `init` does: its presence marks a complete cloud.

use std::path::{Path, PathBuf};

use sovra_proto::message::validate_swarm_name;
use sovra_proto::migration::Archive;

use super::export::EXPORTED;
use crate::home::{CloudConfig, HomeError, cloud_dir, cloud_name};
use crate::store::Store;

/// Writes the cloud in `archive` into `home` as `name` (by default the handle's name) and
/// returns its directory. Refuses an existing cloud; a failure part-way removes what it wrote.
pub async fn import_cloud(
    home: &Path,
    name: Option<&str>,
    archive: &Archive,
) -> Result<PathBuf, HomeError> {
    let name = match name {
        Some(n) => {
            cloud_name(&format!("@{n}.x"))?;
            n.to_owned()
        }
        None => cloud_name(&archive.cloud.handle)?,
    };
    let dir = cloud_dir(home, &name);
    if dir.exists() {
        return Err(HomeError::Exists(dir));
    }
    let keys = archive
        .keys
        .as_ref()
        .ok_or_else(|| HomeError::Invalid("the archive carries no keys".into()))?
        .keys()
        .map_err(|e| HomeError::Invalid(e.to_string()))?;
    let files = checked_files(archive)?;
    let written = write(&dir, archive, &keys, &files).await;
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    written.map(|()| dir)
}

async fn write(
    dir: &Path,
    archive: &Archive,
    keys: &sovra_proto::CloudKeys,
    files: &[(PathBuf, &str)],
) -> Result<(), HomeError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| HomeError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    crate::home::make_private_dir(dir)?;
    sovra_proto::keyfile::save_cloud_keys(&dir.join("cloud.key"), keys)?;
    for (path, text) in files {
        let path = dir.join(path);
        crate::agents::swarm::write_private(&path, text.as_bytes()).map_err(io(&path))?;
    }
    let store = Store::open(&dir.join("cloud.db")).await?;
    let here = store.schema_version().await?;
    if archive.schema > here {
        return Err(HomeError::Invalid(format!(
            "the archive follows store schema {}, this node knows up to {here}: update this node first",
            archive.schema
        )));
    }
    store
        .import_tables(&archive.tables)
        .await
        .map_err(|e| HomeError::Invalid(format!("importing the tables: {e}")))?;
    crate::home::add_cli_device(dir, &store, keys).await?;
    store.close().await;
    let config = CloudConfig {
        handle: archive.cloud.handle.clone(),
        created_at: archive.cloud.created_at.clone(),
        hosted: false,
        hosted_by: None,
    };
    let path = dir.join("cloud.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).expect("json")).map_err(io(&path))
}

/// The archive's files, each a known swarm file of a well-named swarm: nothing an archive
/// names can land outside `swarms/<name>/`.
fn checked_files(archive: &Archive) -> Result<Vec<(PathBuf, &str)>, HomeError> {
    archive
        .files
        .iter()
        .map(|(path, text)| {
            let parts: Vec<&str> = path.split('/').collect();
            match parts.as_slice() {
                ["swarms", swarm, file]
                    if validate_swarm_name(swarm).is_ok() && EXPORTED.contains(file) =>
                {
                    Ok((PathBuf::from(path), text.as_str()))
                }
                _ => Err(HomeError::Invalid(format!(
                    "the archive names a file {path:?} that is not a swarm's soul or notes"
                ))),
            }
        })
        .collect()
}

/// Largest archive a hosting node takes over the owner API (`POST /migration/import`).
pub const MAX_ARCHIVE_BODY: usize = 512 * 1024 * 1024;

impl crate::cloud::Cloud {
    /// A cloud that moves to this node as a hosted cloud (§20.3): onboarding made it (host key,
    /// certificate, the device); its content comes here, without keys — the node never holds
    /// the cloud key. Only into a cloud that has talked to nobody yet; the devices onboarding
    /// certified are kept.
    pub async fn import_archive(
        self: &std::sync::Arc<Self>,
        archive: &Archive,
    ) -> crate::error::ApiResult<u64> {
        use crate::error::ApiError;
        if archive.keys.is_some() {
            return Err(ApiError::bad_request(
                "an archive for a hosting node carries no keys: it never holds the cloud key",
            ));
        }
        if archive.public_key()? != self.public() {
            return Err(ApiError::new(
                409,
                "wrong_cloud",
                "the archive is another cloud's",
            ));
        }
        let here = self.store.schema_version().await?;
        if archive.schema > here {
            return Err(ApiError::new(
                409,
                "archive_newer",
                format!(
                    "the archive follows store schema {}, this node knows up to {here}",
                    archive.schema
                ),
            ));
        }
        if self.store.has_talked().await? {
            return Err(ApiError::new(
                409,
                "not_empty",
                "this cloud already holds peers or conversations; import only into a new one",
            ));
        }
        let files = checked_files(archive).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let devices = self.store.device_list().await?;
        let mut tables = archive.tables.clone();
        // This node's own view of devices: the archive's are the old node's.
        tables.remove("devices");
        tables.remove("device_artifacts");
        // (The owner API's guard holds the write gate for this request.)
        let n = self
            .store
            .import_tables(&tables)
            .await
            .map_err(|e| ApiError::bad_request(format!("importing the tables: {e}")))?;
        for (path, text) in files {
            let path = self.dir.join(path);
            crate::agents::swarm::write_private(&path, text.as_bytes())
                .map_err(ApiError::internal)?;
        }
        tracing::info!(cloud = %self.name, rows = n, devices = devices.len(), "imported a moving cloud");
        if let Ok(relays) = self.store.relays().await {
            self.start_relays(&relays);
        }
        self.jobs_wake.notify_one();
        self.outbox_wake.notify_one();
        Ok(n)
    }
}
