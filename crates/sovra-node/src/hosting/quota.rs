//! Per-tenant quotas (PROTOCOL.md §19.5): what one cloud may take of a node it shares, set by
//! the operator in `clouds/<name>/quota.json` (`sovra host quota`); a cloud without the file has
//! none. Usage of storage and of messages per rolling day is measured at most once a minute
//! (at open, by the sweep, and when a check finds it older), so a limit holds to within a
//! minute's traffic; brain answers are counted as they are reserved; capabilities on exposure.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cloud::Cloud;
use crate::error::{ApiError, ApiResult};
use crate::store::{DAY_MS, now_ms};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// The cloud's database and files, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_bytes: Option<u64>,
    /// Messages stored, both directions, over any rolling 24 hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages_per_day: Option<u64>,
    /// Brain answers over all swarms, per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brain_answers_per_day: Option<u64>,
    /// Capabilities exposed at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<u64>,
}

impl Quota {
    pub fn load(dir: &Path) -> Result<Quota, crate::home::HomeError> {
        let path = dir.join("quota.json");
        match std::fs::read(&path) {
            Ok(text) => serde_json::from_slice(&text)
                .map_err(|e| crate::home::HomeError::Invalid(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Quota::default()),
            Err(source) => Err(crate::home::HomeError::Io { path, source }),
        }
    }

    pub fn save(&self, dir: &Path) -> Result<(), crate::home::HomeError> {
        crate::home::write_atomic(
            &dir.join("quota.json"),
            &serde_json::to_vec_pretty(self).expect("json"),
        )
    }
}

/// What a check measured: bytes on disk and messages in the last 24 hours.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Usage {
    pub storage_bytes: u64,
    pub messages_last_day: u64,
}

/// A cloud's quota and its last measured usage.
#[derive(Default)]
pub struct Tenancy {
    quota: Mutex<Quota>,
    usage: Mutex<Option<(Instant, Usage)>>,
}

const MEASURE_EVERY: Duration = Duration::from_secs(60);

/// Bytes under `dir` (the database, its WAL, swarm files).
fn bytes_under(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

impl Tenancy {
    pub fn new(quota: Quota) -> Tenancy {
        Tenancy {
            quota: Mutex::new(quota),
            usage: Mutex::new(None),
        }
    }

    pub fn quota(&self) -> Quota {
        self.quota.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn exceeded(status: u16, what: String) -> ApiError {
    ApiError::new(status, "quota_exceeded", what)
}

impl Cloud {
    /// Measures usage now and re-reads the operator's quota file (the sweep calls this).
    pub async fn measure_usage(&self) -> ApiResult<Usage> {
        if let Ok(q) = Quota::load(&self.dir) {
            *self.tenancy.quota.lock().unwrap_or_else(|p| p.into_inner()) = q;
        }
        let usage = Usage {
            storage_bytes: bytes_under(&self.dir),
            messages_last_day: self.store.messages_since(now_ms() - DAY_MS).await? as u64,
        };
        *self.tenancy.usage.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), usage));
        Ok(usage)
    }

    async fn usage(&self) -> ApiResult<Usage> {
        let cached = *self.tenancy.usage.lock().unwrap_or_else(|p| p.into_inner());
        match cached {
            Some((at, u)) if at.elapsed() < MEASURE_EVERY => Ok(u),
            _ => self.measure_usage().await,
        }
    }

    /// Refuses a new message (in or out) when the cloud is over its storage or daily messages.
    pub async fn room_for_message(&self) -> ApiResult<()> {
        let quota = self.tenancy.quota();
        if quota.storage_bytes.is_none() && quota.messages_per_day.is_none() {
            return Ok(());
        }
        let usage = self.usage().await?;
        if let Some(max) = quota.storage_bytes
            && usage.storage_bytes >= max
        {
            return Err(exceeded(
                507,
                format!("this cloud uses its whole storage quota ({max} bytes) on its node"),
            ));
        }
        if let Some(max) = quota.messages_per_day
            && usage.messages_last_day >= max
        {
            return Err(exceeded(
                429,
                format!("this cloud stored its quota of {max} messages in the last 24 hours"),
            ));
        }
        // Counted now, so the limit holds between measurements (a message refused later on
        // counts too, until the next measurement corrects it).
        if let Some((_, u)) = self
            .tenancy
            .usage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            u.messages_last_day += 1;
        }
        Ok(())
    }

    /// Whether one more brain answer fits the tenant's daily quota (all swarms together).
    pub async fn room_for_brain_answer(&self) -> ApiResult<bool> {
        match self.tenancy.quota().brain_answers_per_day {
            None => Ok(true),
            Some(max) => Ok((self.store.brain_answers_today().await? as u64) < max),
        }
    }

    /// Refuses exposing one more capability past the quota.
    pub async fn room_for_capability(&self, exposed: usize) -> ApiResult<()> {
        match self.tenancy.quota().capabilities {
            Some(max) if exposed as u64 >= max => Err(exceeded(
                403,
                format!("this cloud may expose {max} capabilities on its node"),
            )),
            _ => Ok(()),
        }
    }
}

/// What the operator may see of a cloud without its content (`sovra host status`): devices
/// attached and messages in the last 24 hours, read from its database read-only while the node
/// runs.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Metadata {
    pub devices: i64,
    pub messages_last_day: i64,
}

impl Metadata {
    pub async fn read(dir: &Path) -> Result<Metadata, sqlx::Error> {
        use std::str::FromStr;
        let options = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")?
            .filename(dir.join("cloud.db"))
            .read_only(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        let devices: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM devices WHERE revoked_at IS NULL")
                .fetch_one(&pool)
                .await?;
        let messages_last_day: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE at > ?")
                .bind(now_ms() - DAY_MS)
                .fetch_one(&pool)
                .await?;
        pool.close().await;
        Ok(Metadata {
            devices,
            messages_last_day,
        })
    }
}
