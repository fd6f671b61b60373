//! The per-cloud background loops: run queued calls, deliver the outbox, sweep. Each sleeps
//! until its wake-up (`Cloud::jobs_wake`, `Cloud::outbox_wake`) or its period, and stops when
//! the node shuts down.

use std::time::Duration;

use crate::cloud::Cloud;
use crate::error::ApiResult;
use crate::server::Node;

/// Starts the per-cloud workers: calls, outbox, sweeper. They stop when `shutdown` fires.
pub fn spawn_workers(
    node: &Node,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinSet<()> {
    let mut set = tokio::task::JoinSet::new();
    for cloud in node.clouds.values() {
        let c = cloud.clone();
        set.spawn(async move {
            match c.store.relays().await {
                Ok(relays) => c.start_relays(&relays),
                Err(e) => tracing::error!(cloud = %c.name, "reading relays: {e}"),
            }
        });
        let (c, mut stop) = (cloud.clone(), shutdown.clone());
        set.spawn(async move {
            if let Err(e) = c.recover_interrupted_jobs().await {
                tracing::error!(cloud = %c.name, "recovering jobs: {}", e.message);
            }
            loop {
                if let Err(e) = c.run_jobs().await {
                    tracing::error!(cloud = %c.name, "jobs: {}", e.message);
                }
                tokio::select! {
                    _ = c.jobs_wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            }
        });
        let (c, mut stop) = (cloud.clone(), shutdown.clone());
        set.spawn(async move {
            loop {
                if let Err(e) = c.deliver_due().await {
                    tracing::error!(cloud = %c.name, "outbox: {}", e.message);
                }
                let wait = match c.store.next_outbox_due().await {
                    Ok(Some(t)) => (t - crate::store::now_ms()).clamp(0, 1000) as u64,
                    _ => 1000,
                };
                tokio::select! {
                    _ = c.outbox_wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                    _ = stop.changed() => return,
                }
            }
        });
        let (c, mut stop) = (cloud.clone(), shutdown.clone());
        set.spawn(async move {
            loop {
                if let Err(e) = c.sweep().await {
                    tracing::error!(cloud = %c.name, "sweep: {}", e.message);
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                    _ = stop.changed() => return,
                }
            }
        });
    }
    set
}

impl Cloud {
    /// Data-policy and replay-state housekeeping.
    pub async fn sweep(&self) -> ApiResult<()> {
        let n = self.store.sweep_retention().await?;
        if n > 0 {
            tracing::info!(cloud = %self.name, "deleted {n} message(s) past their 90-day retention");
        }
        self.store.sweep_replay_state().await?;
        // Registry upkeep: a failure is logged and retried next sweep, never fatal.
        if let Err(e) = self.heartbeat(false).await {
            tracing::warn!(cloud = %self.name, "registry heartbeat: {}", e.message);
        }
        self.check_peers(false).await?;
        Ok(())
    }
}
