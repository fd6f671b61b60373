//! Clouds that arrive while the node runs (an activated onboarding) are served at once: the
//! router sends `/clouds/<name>/…` for a name it was not built with here, and this table holds
//! each added cloud with its router and its workers. Clouds present at start are routed
//! directly (`server.rs`); both kinds answer the same.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use sovra_http::ApiResult;
use tower::ServiceExt;

use super::invites::NodeDb;
use super::node_id::NodeIdentity;
use crate::cloud::{Cloud, Settings};
use crate::server::{cloud_path, cloud_router};

pub struct Hosting {
    pub home: PathBuf,
    /// The node's public URL (no trailing `/`).
    pub url: String,
    pub settings: Settings,
    pub identity: Arc<NodeIdentity>,
    pub db: NodeDb,
    /// One onboarding step at a time: name reservations and activations do not race.
    pub(crate) onboarding: tokio::sync::Mutex<()>,
    added: std::sync::RwLock<HashMap<String, (Arc<Cloud>, Router)>>,
    workers: std::sync::Mutex<tokio::task::JoinSet<()>>,
    /// Tells every worker (of clouds present at start and added since) to stop.
    pub stop: tokio::sync::watch::Sender<bool>,
    /// Reports from outsiders: per source address and for the node (`reports.rs`).
    pub(crate) reports_limit: crate::d2d::strangers::Strangers,
    /// The cloud keys served (at start and since), for reports.
    served_keys: std::sync::RwLock<std::collections::HashSet<sovra_proto::PublicKey>>,
    /// The names of the clouds served from the start (routed directly, `server.rs`).
    pub(crate) at_start: std::sync::RwLock<std::collections::HashSet<String>>,
}

impl Hosting {
    pub fn new(
        home: PathBuf,
        url: String,
        settings: Settings,
        identity: Arc<NodeIdentity>,
        db: NodeDb,
    ) -> Hosting {
        Hosting {
            home,
            url,
            settings,
            identity,
            db,
            onboarding: Default::default(),
            added: Default::default(),
            workers: Default::default(),
            stop: tokio::sync::watch::channel(false).0,
            reports_limit: crate::d2d::strangers::Strangers::counting(
                "reports",
                "this node",
                5,
                60,
            ),
            served_keys: Default::default(),
            at_start: Default::default(),
        }
    }

    /// Notes a cloud this node serves.
    pub(crate) fn note_served(&self, key: sovra_proto::PublicKey) {
        self.served_keys
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key);
    }

    /// Whether this node serves the cloud with this key.
    pub fn hosts(&self, key: &sovra_proto::PublicKey) -> bool {
        self.served_keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(key)
    }

    pub fn base_url(&self, name: &str) -> String {
        format!("{}{}", self.url, cloud_path(name))
    }

    /// Opens the cloud `name` from the home and serves it from now on, workers included.
    pub(crate) async fn serve_new(&self, name: &str) -> ApiResult<()> {
        let cloud = Cloud::open(
            crate::home::cloud_dir(&self.home, name),
            self.base_url(name),
            self.settings.clone(),
        )
        .await
        .map_err(sovra_http::ApiError::internal)?;
        {
            let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
            crate::workers::spawn_cloud_workers(&cloud, self.stop.subscribe(), &mut workers);
        }
        self.note_served(cloud.public());
        let router = cloud_router(cloud.clone());
        self.added
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), (cloud, router));
        self.identity
            .clouds
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Serves every cloud of the home that is not served yet (one `sovra import` or `sovra
    /// init` wrote while the node ran; the binary calls this on SIGHUP). Returns their names.
    pub async fn serve_new_clouds(&self) -> Result<Vec<String>, crate::home::HomeError> {
        let _one = self.onboarding.lock().await;
        let mut added = Vec::new();
        for name in crate::home::list_clouds(&self.home)? {
            let served = self
                .at_start
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&name)
                || self
                    .added
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains_key(&name);
            if served {
                continue;
            }
            let dir = crate::home::cloud_dir(&self.home, &name);
            let config = crate::home::load_config(&dir)?;
            if config.hosted_by.is_some() || (config.hosted && !dir.join("host.key").exists()) {
                continue;
            }
            match self.serve_new(&name).await {
                Ok(()) => {
                    tracing::info!(cloud = %name, "serving {} (added while running)", config.handle);
                    added.push(name);
                }
                Err(e) => tracing::error!(cloud = %name, "not served: {}", e.message),
            }
        }
        Ok(added)
    }

    /// The clouds added since start.
    pub fn added_clouds(&self) -> Vec<Arc<Cloud>> {
        self.added
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// The added clouds' workers, for the node to wait for at shutdown.
    pub fn take_workers(&self) -> tokio::task::JoinSet<()> {
        std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// `/clouds/{name}/{*rest}` for a cloud added while serving.
pub async fn dispatch(
    State(hosting): State<Arc<Hosting>>,
    Path((name, _)): Path<(String, String)>,
    request: Request,
) -> Response {
    let router = hosting
        .added
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&name)
        .map(|(_, r)| r.clone());
    let Some(router) = router else {
        return sovra_http::not_found().await.into_response();
    };
    // As `nest` would: the cloud's router sees paths below its prefix.
    let prefix = cloud_path(&name);
    let rest = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .and_then(|p| p.strip_prefix(&prefix))
        .unwrap_or("/")
        .to_owned();
    let Ok(uri) = rest.parse::<axum::http::Uri>() else {
        return sovra_http::not_found().await.into_response();
    };
    // A fresh request, not this one with its URI changed: the outer route's path parameters
    // (`name`, `rest`) ride in the extensions, and the cloud's router would add its own to
    // them, so a handler's `Path<String>` would see three. Only what the cloud's handlers
    // read is carried over: the client's address and the path it asked for.
    let (parts, body) = request.into_parts();
    let mut inner = Request::new(body);
    *inner.method_mut() = parts.method;
    *inner.uri_mut() = uri;
    *inner.version_mut() = parts.version;
    *inner.headers_mut() = parts.headers;
    if let Some(addr) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        inner.extensions_mut().insert(*addr);
    }
    let original = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .cloned()
        .unwrap_or_else(|| axum::extract::OriginalUri(parts.uri.clone()));
    inner.extensions_mut().insert(original);
    router.oneshot(inner).await.into_response()
}
