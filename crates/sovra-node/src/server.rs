//! Serving: one HTTP listener for every cloud the node hosts, each cloud below its own base
//! URL (`/clouds/<name>`). Routing only: which path goes to which handler; the background
//! work is `workers.rs`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use tokio::net::TcpListener;

use crate::actions;
use crate::agents::api as agent_api;
use crate::cloud::{Cloud, Settings};
use crate::d2d;
use crate::home::{self, HomeError};
use crate::hosting::{Hosting, NodeIdentity};
use crate::owner::{
    actions as owner_actions, auth, capabilities, conversations, devices, drafts, elevation, heirs,
    host, migration, nyms, peers, pending, registry, relays, swarms, whoami,
};
use crate::workers::spawn_workers;
use sovra_http::{MAX_BODY, method_not_allowed, not_found};

/// How long one request may take before it is answered 408-style by the timeout layer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Node {
    pub clouds: BTreeMap<String, Arc<Cloud>>,
    pub url: String,
    /// The node's own key and operator settings (`hosting/node_id.rs`).
    pub identity: Arc<NodeIdentity>,
    /// Onboarding and the clouds added while serving (`hosting/`).
    pub hosting: Arc<Hosting>,
}

/// The path prefix of a cloud on its node.
pub fn cloud_path(name: &str) -> String {
    format!("/clouds/{name}")
}

/// Opens every cloud under `home`, to be served at `public_url`.
pub async fn open_node(
    home: &Path,
    public_url: &str,
    mut settings: Settings,
) -> Result<Node, HomeError> {
    let identity = NodeIdentity::load_or_create(home)?;
    settings.node_id = Some(identity.keys.public());
    let mut clouds = BTreeMap::new();
    for name in home::list_clouds(home)? {
        let dir = home::cloud_dir(home, &name);
        let config = home::load_config(&dir)?;
        // A cloud a node elsewhere hosts (this home is the human's device) is not served here.
        if config.hosted_by.is_some() {
            continue;
        }
        // A hosted cloud whose owner revoked our host key: its data stays, unserved.
        if config.hosted && !dir.join("host.key").exists() {
            tracing::warn!(cloud = %name, "not served: its owner revoked this node's host key");
            continue;
        }
        let base = format!("{}{}", public_url.trim_end_matches('/'), cloud_path(&name));
        let cloud = Cloud::open(home::cloud_dir(home, &name), base, settings.clone()).await?;
        clouds.insert(name, cloud);
    }
    identity
        .clouds
        .store(clouds.len() as u64, std::sync::atomic::Ordering::Relaxed);
    let identity = Arc::new(identity);
    let url = public_url.trim_end_matches('/').to_owned();
    let db = crate::hosting::NodeDb::open(home).await?;
    let hosting = Arc::new(Hosting::new(
        home.to_owned(),
        url.clone(),
        settings,
        identity.clone(),
        db,
    ));
    for (name, cloud) in &clouds {
        hosting.note_served(cloud.public());
        hosting
            .at_start
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.clone());
    }
    Ok(Node {
        clouds,
        url,
        identity,
        hosting,
    })
}

pub(crate) fn cloud_router(cloud: Arc<Cloud>) -> Router {
    let owner_api = Router::new()
        .route("/whoami", get(whoami::whoami))
        .route("/openapi.json", get(crate::owner::openapi::openapi))
        .route("/peers", get(peers::list_peers).put(peers::put_peer))
        .route("/peers/by-handle", post(peers::put_peer_by_handle))
        .route("/peers/check", post(peers::check_peers))
        .route("/peers/{who}", delete(peers::remove_peer))
        .route(
            "/relays",
            get(relays::list_relays)
                .put(relays::add_relay)
                .delete(relays::remove_relay),
        )
        .route("/registry", get(registry::registry_status))
        .route("/registry/verifications", post(registry::registry_code))
        .route("/registry/register", post(registry::registry_register))
        .route("/registry/rotate", post(registry::registry_rotate))
        .route("/registry/heartbeat", post(registry::registry_heartbeat))
        .route("/registry/lookup/{handle}", get(registry::registry_lookup))
        .route("/pending", get(pending::list_pending))
        .route("/pending/{id}/approve", post(pending::approve_pending))
        .route("/pending/{id}/deny", post(pending::deny_pending))
        .route("/capabilities", get(capabilities::list_capabilities))
        .route(
            "/capabilities/{name}",
            put(capabilities::expose_capability).delete(capabilities::withdraw_capability),
        )
        .route("/conversations", get(conversations::list_conversations))
        .route(
            "/conversations/{id}/close",
            post(conversations::close_conversation),
        )
        .route("/messages", get(conversations::list_messages))
        .route("/outbox", get(conversations::outbox))
        .route("/outbox/{id}/cancel", post(conversations::cancel_outbox))
        .route("/send", post(conversations::send))
        .route("/conversations/{id}/context", get(drafts::context))
        .route(
            "/swarms",
            get(swarms::list_swarms).post(swarms::create_swarm),
        )
        .route(
            "/swarms/{name}",
            get(swarms::get_swarm)
                .patch(swarms::update_swarm)
                .delete(swarms::remove_swarm),
        )
        .route(
            "/swarms/{name}/soul",
            get(swarms::get_soul).put(swarms::put_soul),
        )
        .route(
            "/swarms/{name}/memory",
            get(swarms::get_memory).put(swarms::put_memory),
        )
        .route(
            "/swarms/{name}/tokens",
            post(swarms::create_token).delete(swarms::revoke_tokens),
        )
        .route("/drafts", get(drafts::list_drafts))
        .route("/drafts/{id}/send", post(drafts::send_draft))
        .route("/drafts/{id}/discard", post(drafts::discard_draft))
        .route("/host/revoke", post(host::revoke_host))
        .route("/host/certificate", put(host::renew_certificate))
        .route("/nyms", get(nyms::list_nyms).post(nyms::add_nym))
        .route("/nyms/{nym}/retire", post(nyms::retire_nym))
        .route("/devices", get(devices::list_devices))
        .route("/devices/attach", post(devices::attach))
        .route("/devices/detach", post(devices::detach))
        .route("/devices/recover", post(devices::recover))
        .route("/events", get(drafts::events))
        .route("/migration", get(migration::status))
        .route("/migration/export", post(migration::export))
        .route("/migration/cancel", post(migration::cancel))
        .route(
            "/migration/import",
            post(migration::import).layer(DefaultBodyLimit::max(
                crate::migration::import::MAX_ARCHIVE_BODY,
            )),
        )
        .route("/migration/announce", post(migration::announce))
        .route("/seal", post(migration::seal))
        .route("/unseal", post(migration::unseal))
        .route(
            "/elevation",
            get(elevation::status)
                .post(elevation::by_phone)
                .delete(elevation::drop_elevation),
        )
        .route("/elevation/approve", post(elevation::approve))
        .route(
            "/heirs",
            get(heirs::status).put(heirs::put).delete(heirs::remove),
        )
        .route("/inherited", get(heirs::inherited))
        .route("/actions/follow", post(owner_actions::follow))
        .route("/actions/unfollow", post(owner_actions::unfollow))
        .route("/actions/connect", post(owner_actions::connect))
        .route("/actions/approve", post(owner_actions::approve))
        .route("/actions/deny", post(owner_actions::deny))
        .route("/actions/disconnect", post(owner_actions::disconnect))
        .route("/actions/block", post(owner_actions::block))
        .route("/actions/unblock", post(owner_actions::unblock))
        .route("/actions/blocked", get(owner_actions::blocked))
        .route("/actions/post", post(owner_actions::post))
        .route("/actions/send", post(owner_actions::send))
        .route("/actions/feed", get(owner_actions::feed))
        .route("/actions/sent", get(owner_actions::sent))
        .route("/actions/followers", get(owner_actions::followers))
        .route("/actions/following", get(owner_actions::following))
        .route("/actions/connections", get(owner_actions::connections))
        .route(
            "/files",
            get(owner_actions::list_files)
                .put(owner_actions::put_file)
                .layer(DefaultBodyLimit::max(crate::actions::files::MAX_FILE)),
        )
        .route("/files/fetch", post(owner_actions::fetch_file))
        .route("/files/{id}", get(owner_actions::get_file))
        .route("/web/pairings", post(crate::web::pairing::create))
        .layer(axum::middleware::from_fn_with_state(
            cloud.clone(),
            migration::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            cloud.clone(),
            elevation::require,
        ))
        .layer(axum::middleware::from_fn_with_state(
            cloud.clone(),
            auth::authenticate,
        ));
    let agent_api = Router::new()
        .route("/send", post(agent_api::send))
        .route("/ask", post(agent_api::ask))
        .route("/events", get(agent_api::events))
        .layer(axum::middleware::from_fn_with_state(
            cloud.clone(),
            migration::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            cloud.clone(),
            agent_api::authenticate,
        ));
    let d2d_api = Router::new()
        .route("/identity", get(d2d::identity))
        .route("/handshake", post(d2d::handshake))
        .route("/message", post(d2d::message))
        .route("/inheritance", post(d2d::inheritance))
        .route("/inheritance/claim", post(d2d::claim_inheritance))
        .layer(axum::middleware::from_fn_with_state(
            cloud.clone(),
            d2d::speaking,
        ));
    let d2d_api = d2d_api.route("/moved", post(d2d::moved));
    // The actions surface (§23), with Cloudillo's plural paths as aliases.
    let actions_api = Router::new()
        .route("/api/me", get(actions::me))
        .route("/api/inbox", post(actions::post_inbox))
        .route("/api/action/{id}", get(actions::get_action))
        .route("/api/actions/{id}", get(actions::get_action))
        .route("/api/actions", get(actions::list_actions))
        .route("/api/file/{id}", get(actions::files::get_file))
        .route("/api/files/{id}", get(actions::files::get_file))
        .layer(axum::middleware::from_fn_with_state(
            cloud.clone(),
            d2d::speaking,
        ));
    Router::new()
        .merge(actions_api)
        .merge(crate::web::router())
        .nest("/api/d2d", d2d_api)
        .nest("/api/owner", owner_api)
        .nest("/api/agent", agent_api)
        .with_state(cloud)
}

pub fn router(node: &Node) -> Router {
    use crate::hosting::{onboard, served};
    let hosting = Router::new()
        .route("/api/host/clouds", post(onboard::create))
        .route("/api/host/clouds/{name}/activate", post(onboard::activate))
        .route("/api/host/reports", post(crate::hosting::reports::file))
        .route(
            "/clouds/{name}/{*rest}",
            axum::routing::any(served::dispatch),
        )
        .with_state(node.hosting.clone());
    let ready = Readiness {
        clouds: node.clouds.values().cloned().collect(),
        hosting: node.hosting.clone(),
    };
    let mut app = Router::new()
        .route(
            "/api/node",
            get(crate::hosting::node_id::node_document).with_state(node.identity.clone()),
        )
        .route("/healthz", get(sovra_http::health::healthz))
        .route("/readyz", get(readyz).with_state(Arc::new(ready)))
        .merge(hosting);
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

/// What `/readyz` checks: every served cloud's database and node.db.
struct Readiness {
    clouds: Vec<Arc<Cloud>>,
    hosting: Arc<Hosting>,
}

async fn readyz(
    axum::extract::State(r): axum::extract::State<Arc<Readiness>>,
) -> axum::response::Response {
    let mut check = r
        .hosting
        .db
        .ping()
        .await
        .map_err(|e| format!("node.db: {e}"));
    for cloud in r.clouds.iter().cloned().chain(r.hosting.added_clouds()) {
        if check.is_err() {
            break;
        }
        check = cloud
            .store
            .ping()
            .await
            .map_err(|e| format!("cloud {}: {e}", cloud.name));
    }
    sovra_http::health::readiness(check)
}

/// Serves `node` on `listener` until `shutdown` resolves; in-flight requests finish first.
pub async fn serve(
    node: Node,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let hosting = node.hosting.clone();
    let mut workers = spawn_workers(&node, hosting.stop.subscribe());
    let clouds: Vec<_> = node.clouds.values().cloned().collect();
    let app = router(&node);
    // Stopping tells the clouds first: their event streams (owner and agent SSE) end, so the
    // listener's graceful shutdown is not held open by a follower that never hangs up.
    let added = hosting.clone();
    let stopping = async move {
        shutdown.await;
        for cloud in clouds.into_iter().chain(added.added_clouds()) {
            cloud.shut_down();
        }
    };
    sovra_http::serve::serve(
        listener,
        app,
        sovra_http::serve::Limits::default(),
        stopping,
    )
    .await?;
    let _ = hosting.stop.send(true);
    while workers.join_next().await.is_some() {}
    let mut added = hosting.take_workers();
    while added.join_next().await.is_some() {}
    Ok(())
}
