//! One hosted cloud: its keys, its store, its settings and the wake-ups of its workers. No
//! protocol rules live here: the D2D rules are in `d2d/`, the owner API in `owner/`, the
//! registry upkeep in `registry.rs`; each adds its methods to `Cloud` in its own file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sovra_client::D2dClient;
use sovra_proto::{CloudKeys, PublicKey};
use tokio::sync::Notify;

use crate::error::{ApiError, ApiResult};

use crate::d2d::inbox::Inbox;
use crate::d2d::queue::Queue;
use crate::d2d::strangers::Strangers;
use crate::home::CloudConfig;
use crate::store::Store;

/// Node-wide settings that shape delivery.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Give up on an outbound delivery this long after it was queued.
    pub delivery_horizon: Duration,
    /// First retry delay; doubles per attempt, with full jitter, up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Time limit of one outbound HTTP request.
    pub request_timeout: Duration,
    /// Whether peers are told the node's URL (identity document, registry record). Off for a
    /// node behind NAT: its clouds are then reached only through their relays.
    pub publish_endpoint: bool,
    /// Pending requests a cloud holds at once; more first contacts are refused (429).
    pub max_pending: i64,
    /// Handshakes from keys not on the whitelist accepted per minute from one source address,
    /// and per cloud in all (`d2d/strangers.rs`).
    pub strangers_per_source_per_minute: u32,
    pub strangers_per_minute: u32,
    /// Leading zero bits of the proof of work a handshake from a key not on the whitelist
    /// must carry (PROTOCOL.md §7.8); 0, the default, asks none.
    pub stranger_pow_difficulty: u8,
    /// The serving node's key (§19.1), which device artifacts must name; set by `open_node`.
    pub node_id: Option<PublicKey>,
    /// Active nyms one cloud may keep on this node (§19.7).
    pub max_nyms: usize,
    /// Where a domain id tag's actions surface is (§23.2): `{id_tag}` is replaced; Cloudillo's
    /// own convention is the default. Tests point it at a loopback server.
    pub cloudillo_api: String,
    /// Trailing `A`s a `CONN` token must end with (§23.4).
    pub action_pow: usize,
    /// Action deliveries back off like Cloudillo's: from `action_backoff_base`, doubling, up
    /// to `action_backoff_max`, for `action_max_attempts` attempts (§23.8).
    pub action_backoff_base: Duration,
    pub action_backoff_max: Duration,
    pub action_max_attempts: i64,
    /// Whether accepted actions' effects are applied; off only in tests that restart a node
    /// between the 202 and the processing.
    pub process_actions: bool,
    /// Inbound actions accepted per minute from one source address and for the whole cloud
    /// (`POST /api/inbox`, §23.5).
    pub actions_per_source_per_minute: u32,
    pub actions_per_minute: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            delivery_horizon: Duration::from_secs(24 * 3600),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(300),
            request_timeout: Duration::from_secs(10),
            publish_endpoint: true,
            max_pending: 1000,
            strangers_per_source_per_minute: 10,
            strangers_per_minute: 60,
            stranger_pow_difficulty: 0,
            node_id: None,
            max_nyms: 3,
            cloudillo_api: "https://cl-o.{id_tag}/api".into(),
            action_pow: 2,
            action_backoff_base: Duration::from_secs(60),
            action_backoff_max: Duration::from_secs(3600),
            action_max_attempts: 10,
            process_actions: true,
            actions_per_source_per_minute: 120,
            actions_per_minute: 1200,
        }
    }
}

pub struct Cloud {
    pub name: String,
    pub dir: PathBuf,
    pub config: CloudConfig,
    /// Swapped whole when the cloud rotates its key (`registry.rs`); readers take a snapshot.
    keys: std::sync::RwLock<Arc<CloudKeys>>,
    pub store: Store,
    /// This cloud's public base URL; its D2D endpoints are below it.
    pub base_url: String,
    pub settings: Settings,
    pub(crate) d2d: D2dClient,
    pub(crate) http: reqwest::Client,
    /// Accepts inbound messages with group commit (`d2d/inbox.rs`).
    pub(crate) inbox: Inbox,
    /// Numbers, seals and queues outbound messages with group commit (`d2d/queue.rs`).
    pub(crate) queue: Queue,
    pub outbox_wake: Notify,
    /// First-contact limits (`d2d/strangers.rs`).
    pub(crate) strangers: Strangers,
    /// What happens in this cloud, for live listeners (`agents/events.rs`).
    pub events: tokio::sync::broadcast::Sender<crate::agents::events::Event>,
    pub jobs_wake: Notify,
    /// The actions surface's caches and wake-up (`actions/`).
    pub(crate) actions: crate::actions::State,
    /// The operator's quota for this cloud and its measured usage (`hosting/quota.rs`).
    pub tenancy: crate::hosting::quota::Tenancy,
    /// A hosted cloud whose owner revoked the host key: nothing is signed for it any more.
    pub(crate) revoked: std::sync::atomic::AtomicBool,
    /// The owner's last authenticated request (unix ms), for the inheritance switch
    /// (`migration/heirs.rs`); 0 until one arrives (a restart is not activity).
    pub(crate) owner_active_at: std::sync::atomic::AtomicI64,
    /// Devices in an elevated window, until when (unix ms) (`owner/elevation.rs`).
    pub(crate) elevations: std::sync::Mutex<std::collections::HashMap<PublicKey, i64>>,
    /// Where this copy stands in a move, the write gate, and the seals (`migration/`).
    pub(crate) migration: crate::migration::Migration,
    /// A stranger's claimed handle waits to be checked at a registry (`registry.rs`).
    pub handles_wake: Notify,
    /// When an unknown key claiming a registry-resolved handle last made us check that
    /// handle early (`registry.rs`); bounded by the whitelist's size.
    pub(crate) early_checks:
        std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// One link task per relay (`d2d/relay.rs`).
    pub(crate) relay_links: std::sync::Mutex<
        std::collections::HashMap<String, tokio::sync::mpsc::Sender<crate::d2d::relay::Outbound>>,
    >,
    shutdown: tokio::sync::watch::Sender<bool>,
    /// This cloud's own `Arc`, for work that outlives a `&self` call (restarting relay links).
    pub(crate) me: std::sync::Weak<Cloud>,
}

impl Cloud {
    pub async fn open(
        dir: PathBuf,
        base_url: String,
        settings: Settings,
    ) -> Result<Arc<Cloud>, crate::home::HomeError> {
        let config = crate::home::load_config(&dir)?;
        crate::home::make_private_dir(&dir)?;
        // Before swarms, a cloud had one soul at its root; it is now the main swarm's.
        let old_soul = dir.join("soul.md");
        let main_soul = dir.join("swarms").join("main").join("soul.md");
        if old_soul.exists() && !main_soul.exists() {
            let moved = std::fs::create_dir_all(dir.join("swarms").join("main"))
                .and_then(|()| std::fs::rename(&old_soul, &main_soul));
            if let Err(e) = moved {
                tracing::warn!(
                    "moving {} to {}: {e}",
                    old_soul.display(),
                    main_soul.display()
                );
            }
        }
        let keys = crate::home::load_keys(&dir)?;
        let quota = crate::hosting::quota::Quota::load(&dir)?;
        let store = Store::open(&dir.join("cloud.db")).await?;
        let migration = crate::migration::Migration::load(&store).await?;
        let inbox = Inbox::start(store.writer(), store.rates());
        let queue = Queue::start(store.writer());
        let strangers = Strangers::new(
            settings.strangers_per_source_per_minute,
            settings.strangers_per_minute,
        );
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let timeout = settings.request_timeout;
        let queued = store.queued_count().await?;
        let actions = crate::actions::State::new(&settings, &store, queued);
        Ok(Arc::new_cyclic(|me| Cloud {
            me: me.clone(),
            name,
            dir,
            config,
            keys: std::sync::RwLock::new(Arc::new(keys)),
            store,
            base_url,
            settings,
            d2d: D2dClient::new(timeout),
            inbox,
            queue,
            http: reqwest::Client::new(),
            outbox_wake: Notify::new(),
            events: crate::agents::events::channel(),
            strangers,
            jobs_wake: Notify::new(),
            actions,
            revoked: Default::default(),
            migration,
            elevations: Default::default(),
            owner_active_at: Default::default(),
            tenancy: crate::hosting::quota::Tenancy::new(quota),
            handles_wake: Notify::new(),
            early_checks: Default::default(),
            relay_links: Default::default(),
            shutdown: tokio::sync::watch::channel(false).0,
        }))
    }

    pub fn public(&self) -> PublicKey {
        self.keys().public()
    }

    /// Fires when the node stops serving this cloud; long-lived tasks (relay links) end.
    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }

    /// The URL peers are told to use, if the node publishes one.
    pub fn endpoint(&self) -> Option<String> {
        self.settings
            .publish_endpoint
            .then(|| self.base_url.clone())
    }

    /// The cloud's current keys.
    /// Refuses to speak or listen for a hosted cloud whose human revoked this node's host key,
    /// or for a cloud being moved (503 `moving`) or moved away (410 `moved`).
    pub fn speaking(&self) -> ApiResult<()> {
        if self.revoked.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(ApiError::new(
                410,
                "host_revoked",
                "this cloud's owner revoked this node's host key; it no longer speaks for it",
            ));
        }
        self.migration.serving()
    }

    /// Whether this node holds only a host key for the cloud (§19.2).
    pub fn is_hosted(&self) -> bool {
        self.keys().delegation.is_some()
    }

    /// Refuses what only the cloud key may do when this node does not hold it.
    pub fn needs_cloud_key(&self, what: &str) -> ApiResult<()> {
        if self.is_hosted() {
            return Err(ApiError::new(
                409,
                "hosted",
                format!(
                    "this node hosts the cloud with a delegated key; {what} from the device that holds the cloud key"
                ),
            ));
        }
        Ok(())
    }

    pub fn keys(&self) -> Arc<CloudKeys> {
        self.keys.read().expect("keys lock").clone()
    }

    /// Replaces the keys after a rotation the registry accepted.
    pub(crate) fn set_keys(&self, keys: CloudKeys) {
        *self.keys.write().expect("keys lock") = Arc::new(keys);
    }
}
