//! The archive of a cloud (docs/PROTOCOL.md §20.2). The node builds it without the cloud's
//! secret keys — a hosting node does not hold them, and no node hands them out over its API —
//! and the device that holds the cloud key adds them and seals the bundle (`sovra export`).

use std::collections::BTreeMap;
use std::time::Duration;

use sovra_proto::migration::{ARCHIVE_FORMAT, Archive, ArchivedCloud};

use super::State;
use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};

/// How long a freeze waits for calls already started to finish before exporting them as
/// interrupted (the new node answers them with an error, never runs them again).
pub const DRAIN: Duration = Duration::from_secs(20);

/// The swarm files a bundle carries: the soul and the memory. A brain's API key stays behind
/// (a secret of this installation).
pub const EXPORTED: &[&str] = &["soul.md", "notes.md"];

impl Cloud {
    /// The cloud's archive. With `freeze`, the cloud first stops taking anything in (503
    /// `moving`), waits for calls in progress, and stays frozen until the move completes
    /// (410 `moved`) or is cancelled; the archive then holds everything ever acknowledged.
    pub async fn export_archive(&self, freeze: bool) -> ApiResult<Archive> {
        match (self.migration.state(), freeze) {
            (State::Moved(_), _) => self.migration.serving()?,
            (State::Serving, true) => {
                self.migration.change(&self.store, State::Moving).await?;
                self.drain_calls().await?;
            }
            (State::Moving, _) | (State::Serving, false) => {}
        }
        let tables = self
            .store
            .export_tables()
            .await
            .map_err(ApiError::internal)?;
        let keys = self.keys();
        let move_seq = self.store.last_move().await?.map_or(0, |(seq, _)| seq);
        Ok(Archive {
            format: ARCHIVE_FORMAT.into(),
            cloud: ArchivedCloud {
                handle: self.config.handle.clone(),
                created_at: self.config.created_at.clone(),
                public_key: keys.public().to_b64(),
                encryption_key: match &keys.delegation {
                    // A hosted cloud's own X25519 key is on the human's device; the device
                    // fills it in with the secret keys.
                    Some(_) => String::new(),
                    None => keys.encryption.public().to_b64(),
                },
            },
            keys: None,
            schema: self.store.schema_version().await?,
            exported_from: Some(self.base_url.clone()),
            move_seq,
            files: self.swarm_files()?,
            tables,
        })
    }

    /// Waits until no call is running (the jobs worker claims none while the cloud moves).
    async fn drain_calls(&self) -> ApiResult<()> {
        let start = tokio::time::Instant::now();
        while self.store.started_jobs().await? > 0 {
            if start.elapsed() >= DRAIN {
                tracing::warn!(cloud = %self.name, "exporting with calls still running: they move as interrupted");
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Every swarm's text files, by path below the cloud directory.
    fn swarm_files(&self) -> ApiResult<BTreeMap<String, String>> {
        let mut files = BTreeMap::new();
        let root = self.dir.join("swarms");
        let Ok(swarms) = std::fs::read_dir(&root) else {
            return Ok(files);
        };
        for swarm in swarms.flatten() {
            let Ok(entries) = std::fs::read_dir(swarm.path()) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !EXPORTED.contains(&name.as_str())
                    || !entry.file_type().is_ok_and(|t| t.is_file())
                {
                    continue;
                }
                let text = std::fs::read_to_string(entry.path())
                    .map_err(|e| ApiError::internal(format!("{}: {e}", entry.path().display())))?;
                files.insert(
                    format!("swarms/{}/{name}", swarm.file_name().to_string_lossy()),
                    text,
                );
            }
        }
        Ok(files)
    }
}
