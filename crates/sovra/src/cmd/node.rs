//! `sovra init` (a new cloud in the home) and `sovra node serve` (every cloud in the home).

use anyhow::{Context, Result};
use serde_json::json;

use super::{init_logging, shutdown_signal};
use crate::cli::Ctx;

/// `sovra init --handle H`.
pub async fn init(ctx: &Ctx, handle: &str) -> Result<()> {
    let (dir, keys) = sovra_node::home::init_cloud(&ctx.home, handle).await?;
    let v = json!({
        "handle": handle,
        "pubkey": keys.public().to_human(),
        "fingerprint": keys.public().fingerprint(),
        "dir": dir,
    });
    ctx.print(&v, |v| {
        println!(
            "Created {} in {}",
            v["handle"].as_str().unwrap_or(""),
            dir.display()
        );
        println!("  key:         {}", v["pubkey"].as_str().unwrap_or(""));
        println!("  fingerprint: {}", v["fingerprint"].as_str().unwrap_or(""));
        println!("Next: `sovra node serve`, then `sovra peer add …`.");
    });
    // A node already running on this home serves the new cloud at once; say so only once it
    // answers for it, so the next command finds it.
    if let Some(node) = crate::cli::reload_node(&ctx.home)? {
        tracing::debug!("told the node (pid {}) to serve the new cloud", node.pid);
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let base = node.local.as_deref().unwrap_or(&node.url);
        let identity = format!("{base}/clouds/{name}/api/d2d/identity");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let served = loop {
            match reqwest::get(&identity).await {
                Ok(r) if r.status().is_success() => break true,
                _ if std::time::Instant::now() > deadline => break false,
                _ => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        };
        if !ctx.json {
            match served {
                true => println!("The node running on this home serves it now."),
                false => println!(
                    "The node running on this home (pid {}) did not pick it up; restart it.",
                    node.pid
                ),
            }
        }
    }
    Ok(())
}

/// `sovra node init`: the node key and the operator's settings.
pub async fn init_node(
    ctx: &Ctx,
    operator_contact: Option<String>,
    hosting_policy: String,
    phone_registry: Option<String>,
) -> Result<()> {
    // The registry's key is pinned now, from its own statement.
    let phone_registry = match phone_registry {
        None => None,
        Some(url) => {
            let info = sovra_client::RegistryClient::new(&url, sovra_client::DEFAULT_TIMEOUT)
                .info()
                .await
                .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
            Some(sovra_node::hosting::node_id::PhoneRegistry {
                url: url.trim_end_matches('/').to_owned(),
                key: info.registry_key,
            })
        }
    };
    let identity = sovra_node::hosting::NodeIdentity::configure(
        &ctx.home,
        &sovra_node::hosting::NodeConfig {
            operator_contact,
            hosting_policy,
            phone_registry,
        },
    )?;
    let id = identity.keys.public();
    let out = serde_json::json!({
        "node_id": id.to_b64(),
        "fingerprint": id.fingerprint(),
        "operator_contact": identity.config.operator_contact,
        "hosting_policy": identity.config.hosting_policy,
    });
    ctx.print(&out, |_| {
        println!("node-id  {}", id.to_human());
        println!("         fingerprint {}", id.fingerprint());
        println!(
            "hosting  {}{}",
            identity.config.hosting_policy,
            identity
                .config
                .operator_contact
                .as_deref()
                .map(|c| format!(", operator {c}"))
                .unwrap_or_default()
        );
    });
    Ok(())
}

pub async fn serve(
    ctx: &Ctx,
    listen: &str,
    public_url: Option<String>,
    no_endpoint: bool,
    stranger_pow: u8,
) -> Result<()> {
    init_logging();
    let _lock = sovra_node::home::lock_home(&ctx.home)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let url = public_url.unwrap_or_else(|| format!("http://{addr}"));
    // The CLI on this machine talks to the listener over loopback, never through the public URL.
    let mut local = addr;
    if local.ip().is_unspecified() {
        local.set_ip(match local.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let settings = sovra_node::Settings {
        publish_endpoint: !no_endpoint,
        stranger_pow_difficulty: stranger_pow,
        ..Default::default()
    };
    let node = sovra_node::open_node(&ctx.home, &url, settings).await?;
    // A node may start empty: clouds arrive while it runs (onboarding, `sovra import`,
    // `sovra init` followed by SIGHUP).
    if node.clouds.is_empty() && node.identity.config.hosting_policy == "closed" {
        tracing::warn!(
            "no clouds in {} yet; `sovra init --handle @you.cloud` or `sovra import FILE` adds one while the node runs",
            ctx.home.display()
        );
    }
    // SIGHUP: serve the clouds written into the home since start.
    let hosting = node.hosting.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            match hosting.serve_new_clouds().await {
                Ok(added) if added.is_empty() => tracing::info!("SIGHUP: no new cloud"),
                Ok(added) => tracing::info!("SIGHUP: now serving {}", added.join(", ")),
                Err(e) => tracing::error!("SIGHUP: {e}"),
            }
        }
    });
    sovra_node::home::write_node_info(
        &ctx.home,
        &sovra_node::home::NodeInfo {
            url: url.clone(),
            pid: std::process::id(),
            local: Some(format!("http://{local}")),
        },
    )?;
    for (name, cloud) in &node.clouds {
        tracing::info!(
            "serving {} ({name}) at {}",
            cloud.config.handle,
            cloud.base_url
        );
    }
    tracing::info!("sovra node listening on {addr}");
    if no_endpoint {
        tracing::info!("publishing no endpoint: peers reach these clouds through their relays");
    }
    sovra_node::serve(node, listener, shutdown_signal()).await?;
    sovra_node::home::clear_node_info(&ctx.home);
    tracing::info!("sovra node stopped");
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum NodeCommand {
    /// Create the node's own key (its node-id, distinct from every cloud's) and set what it
    /// publishes at /api/node. Safe to run again: the key is kept, the settings replaced.
    Init {
        /// How to reach the operator (an address or URL), published at /api/node.
        #[arg(long)]
        operator_contact: Option<String>,
        /// Who may get a cloud here: closed, invite (`sovra host invite` makes the codes), or
        /// phone (one cloud per phone verified by --phone-registry).
        #[arg(long, default_value = "closed")]
        hosting_policy: String,
        /// With --hosting-policy phone: the registry whose phone checks admit a cloud (its key
        /// is pinned now).
        #[arg(long)]
        phone_registry: Option<String>,
    },
    /// Serve until SIGINT or SIGTERM; in-flight requests finish first.
    Serve {
        #[arg(long, env = "SOVRA_NODE_LISTEN", default_value = "127.0.0.1:7870")]
        listen: String,
        /// The URL peers reach this node at (default: http://<listen address>).
        #[arg(long, env = "SOVRA_NODE_PUBLIC_URL")]
        public_url: Option<String>,
        /// Tell peers no URL: the clouds are reached only through their relays (a node behind
        /// NAT).
        #[arg(long)]
        no_endpoint: bool,
        /// Ask a handshake from a key not on the whitelist for a proof of work of this many
        /// leading zero bits (0: none; Sovra nodes pay up to 24 automatically).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=24))]
        stranger_pow: u8,
    },
}
