//! Serving: one HTTP listener for every cloud the node hosts, each cloud below its own base
//! URL (`/clouds/<name>`), plus the workers that run calls, deliver the outbox and sweep.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use tokio::net::TcpListener;

use crate::cloud::{Cloud, Settings};
use crate::d2d;
use crate::home::{self, HomeError};
use crate::owner;
use sovra_http::{MAX_BODY, method_not_allowed, not_found};

/// How long one request may take before it is answered 408-style by the timeout layer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Node {
    pub clouds: BTreeMap<String, Arc<Cloud>>,
    pub url: String,
}

/// The path prefix of a cloud on its node.
pub fn cloud_path(name: &str) -> String {
    format!("/clouds/{name}")
}

/// Opens every cloud under `home`, to be served at `public_url`.
pub async fn open_node(
    home: &Path,
    public_url: &str,
    settings: Settings,
) -> Result<Node, HomeError> {
    let mut clouds = BTreeMap::new();
    for name in home::list_clouds(home)? {
        let base = format!("{}{}", public_url.trim_end_matches('/'), cloud_path(&name));
        let cloud = Cloud::open(home::cloud_dir(home, &name), base, settings.clone()).await?;
        clouds.insert(name, cloud);
    }
    Ok(Node {
        clouds,
        url: public_url.trim_end_matches('/').to_owned(),
    })
}

fn cloud_router(cloud: Arc<Cloud>) -> Router {
    let owner_api = Router::new()
        .route("/whoami", get(owner::whoami))
        .route("/peers", get(owner::list_peers).put(owner::put_peer))
        .route("/peers/by-handle", post(owner::put_peer_by_handle))
        .route("/peers/check", post(owner::check_peers))
        .route("/peers/{who}", delete(owner::remove_peer))
        .route(
            "/relays",
            get(owner::list_relays)
                .put(owner::add_relay)
                .delete(owner::remove_relay),
        )
        .route("/registry", get(owner::registry_status))
        .route("/registry/verifications", post(owner::registry_code))
        .route("/registry/register", post(owner::registry_register))
        .route("/registry/rotate", post(owner::registry_rotate))
        .route("/registry/heartbeat", post(owner::registry_heartbeat))
        .route("/registry/lookup/{handle}", get(owner::registry_lookup))
        .route("/pending", get(owner::list_pending))
        .route("/pending/{id}/approve", post(owner::approve_pending))
        .route("/pending/{id}/deny", post(owner::deny_pending))
        .route("/capabilities", get(owner::list_capabilities))
        .route(
            "/capabilities/{name}",
            put(owner::expose_capability).delete(owner::withdraw_capability),
        )
        .route("/conversations", get(owner::list_conversations))
        .route("/conversations/{id}/close", post(owner::close_conversation))
        .route("/messages", get(owner::list_messages))
        .route("/outbox", get(owner::outbox))
        .route("/send", post(owner::send))
        .layer(axum::middleware::from_fn_with_state(
            cloud.clone(),
            owner::authenticate,
        ));
    Router::new()
        .route("/api/d2d/identity", get(d2d::identity))
        .route("/api/d2d/handshake", post(d2d::handshake))
        .route("/api/d2d/message", post(d2d::message))
        .nest("/api/owner", owner_api)
        .with_state(cloud)
}

pub fn router(node: &Node) -> Router {
    let mut app = Router::new();
    for (name, cloud) in &node.clouds {
        app = app.nest(&cloud_path(name), cloud_router(cloud.clone()));
    }
    app.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
}

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

/// Serves `node` on `listener` until `shutdown` resolves; in-flight requests finish first.
pub async fn serve(
    node: Node,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut workers = spawn_workers(&node, stop_rx);
    let clouds: Vec<_> = node.clouds.values().cloned().collect();
    let app = router(&node);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    let _ = stop_tx.send(true);
    for cloud in clouds {
        cloud.shut_down();
    }
    while workers.join_next().await.is_some() {}
    Ok(())
}
