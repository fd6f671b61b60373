//! Swarms: named groups of agents inside one cloud, each with a soul (its system prompt), a
//! memory, a brain, a mode and the capabilities it exposes. `main` exists from `sovra init`.
//!
//! The soul and the long-term notes are files in `swarms/<name>/` of the cloud's directory
//! (`soul.md`, `notes.md`), so the owner can edit them with any editor; a brain's API key, when
//! the cloud keeps it, is `swarms/<name>/api-key` (0600). None of these is ever in the database,
//! in a log, or sent to a peer.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sovra_proto::message::validate_swarm_name;

use super::brain::BrainConfig;
use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::SwarmRow;

/// The swarm every cloud has, and the one a peer is routed to unless the owner says otherwise.
pub const MAIN: &str = "main";

/// Largest soul or notes file the owner API accepts.
pub const MAX_TEXT_FILE: usize = 256 * 1024;

/// How a swarm treats what reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The brain answers at once.
    Auto,
    /// The brain drafts; the owner approves, edits or discards.
    Review,
    /// Messages are stored only; the owner answers by hand.
    Off,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "auto" => Some(Mode::Auto),
            "review" => Some(Mode::Review),
            "off" => Some(Mode::Off),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Review => "review",
            Mode::Off => "off",
        }
    }
}

/// A swarm's settings, checked.
#[derive(Debug, Clone)]
pub struct Swarm {
    pub name: String,
    pub mode: Mode,
    pub brain: BrainConfig,
    pub budget_per_day: i64,
    pub max_auto_turns: i64,
    pub memory_messages: i64,
    pub memory_chars: i64,
}

impl Swarm {
    pub fn from_row(row: &SwarmRow) -> Swarm {
        Swarm {
            name: row.name.clone(),
            mode: Mode::parse(&row.mode).unwrap_or(Mode::Off),
            brain: serde_json::from_value(row.brain.clone()).unwrap_or(BrainConfig::None),
            budget_per_day: row.budget_per_day,
            max_auto_turns: row.max_auto_turns,
            memory_messages: row.memory_messages,
            memory_chars: row.memory_chars,
        }
    }

    /// Whether an inbound message routed here goes to a brain at all.
    pub fn answers(&self) -> bool {
        self.mode != Mode::Off && !matches!(self.brain, BrainConfig::None)
    }
}

/// [`Swarm::answers`] read off the stored row without parsing its brain: every inbound message
/// asks this.
pub fn row_answers(row: &SwarmRow) -> bool {
    Mode::parse(&row.mode).is_some_and(|m| m != Mode::Off) && row.brain["kind"] != "none"
}

/// Which file of a swarm's directory.
#[derive(Debug, Clone, Copy)]
pub enum SwarmFile {
    Soul,
    Notes,
    ApiKey,
}

impl SwarmFile {
    fn file_name(self) -> &'static str {
        match self {
            SwarmFile::Soul => "soul.md",
            SwarmFile::Notes => "notes.md",
            SwarmFile::ApiKey => "api-key",
        }
    }
}

impl Cloud {
    /// A swarm that must exist: 404 `unknown_swarm` otherwise.
    pub async fn require_swarm(&self, name: &str) -> ApiResult<Swarm> {
        validate_swarm_name(name)?;
        let row = self.store.swarm(name).await?.ok_or_else(|| {
            ApiError::not_found("unknown_swarm", format!("this cloud has no swarm {name:?}"))
        })?;
        Ok(Swarm::from_row(&row))
    }

    pub fn swarm_path(&self, swarm: &str, file: SwarmFile) -> PathBuf {
        self.dir.join("swarms").join(swarm).join(file.file_name())
    }

    /// A swarm's soul or notes; empty when the file does not exist. Read in place: these are
    /// small files in the page cache, and a trip to the blocking pool costs more than the read.
    pub async fn read_swarm_file(&self, swarm: &str, file: SwarmFile) -> String {
        std::fs::read_to_string(self.swarm_path(swarm, file)).unwrap_or_default()
    }

    /// Replaces a swarm file atomically (temp file, fsync, rename) with mode 0600 in a 0700
    /// directory: a crash leaves the old or the new text, never half of one.
    pub async fn write_swarm_file(
        &self,
        swarm: &str,
        file: SwarmFile,
        text: &str,
    ) -> ApiResult<()> {
        let path = self.swarm_path(swarm, file);
        let text = text.to_owned();
        tokio::task::spawn_blocking(move || write_private(&path, text.as_bytes()))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)
    }

    /// Removes a swarm's files (after the swarm's row is gone).
    pub async fn remove_swarm_files(&self, swarm: &str) {
        let dir = self.dir.join("swarms").join(swarm);
        if let Err(e) = tokio::fs::remove_dir_all(&dir).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(cloud = %self.name, "removing {}: {e}", dir.display());
        }
    }
}

pub(crate) fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("swarm files live in a directory");
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}
