//! The per-cloud background work: answering jobs (`d2d/calls.rs`), delivering the outbox
//! (`d2d/outbox.rs`), relay links, and the sweep here. Each waits for its wake-up
//! (`Cloud::jobs_wake`, `Cloud::outbox_wake`) or its period, and stops when the node shuts down.

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
        spawn_cloud_workers(cloud, shutdown.clone(), &mut set);
    }
    set
}

/// One cloud's workers, into `set`.
pub fn spawn_cloud_workers(
    cloud: &std::sync::Arc<Cloud>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    set: &mut tokio::task::JoinSet<()>,
) {
    {
        let c = cloud.clone();
        set.spawn(async move {
            if c.speaking().is_err() {
                // Moved away (or revoked): its relay links belong to the node serving it now.
                return;
            }
            match c.store.relays().await {
                Ok(relays) => c.start_relays(&relays),
                Err(e) => tracing::error!(cloud = %c.name, "reading relays: {e}"),
            }
        });
        set.spawn(cloud.clone().answer_jobs(shutdown.clone()));
        set.spawn(cloud.clone().deliver_outbox(shutdown.clone()));
        set.spawn(cloud.clone().process_actions(shutdown.clone()));
        set.spawn(cloud.clone().verify_handles(shutdown.clone()));
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
}

impl Cloud {
    /// Data-policy and replay-state housekeeping.
    pub async fn sweep(self: &std::sync::Arc<Self>) -> ApiResult<()> {
        if self.speaking().is_err() {
            // Frozen, moved or revoked: nothing here is this copy's to tidy or publish.
            return Ok(());
        }
        // A move of ours not yet heard by the old node or some peers (§20.5).
        self.tell_old_node().await;
        self.tell_peers_of_move().await?;
        self.check_inheritance(crate::store::now_ms()).await?;
        let n = self.store.sweep_retention().await?;
        if n > 0 {
            tracing::info!(cloud = %self.name, "deleted {n} message(s) past their 90-day retention");
        }
        self.store.sweep_replay_state().await?;
        self.measure_usage().await?;
        // Registry upkeep: a failure is logged and retried next sweep, never fatal.
        if let Err(e) = self.heartbeat(false).await {
            tracing::warn!(cloud = %self.name, "registry heartbeat: {}", e.message);
        }
        self.check_peers(false).await?;
        Ok(())
    }
}
