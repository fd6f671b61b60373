//! The relay's HTTP surface and its background sweeper.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};
use sovra_http::serve::{ConnectionGuard, Limits};
use sovra_http::{MAX_BODY, method_not_allowed, not_found};
use sovra_sqlite::SqliteSynchronous;
use tokio::net::TcpListener;

use crate::relay::{Relay, Settings};
use crate::store::Store;

/// Opens (creating) the relay's database in `dir`.
pub async fn open(dir: &Path, settings: Settings) -> Result<Arc<Relay>, sqlx::Error> {
    std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
    let store = Store::open(&dir.join("relay.db"), SqliteSynchronous::Full).await?;
    Ok(Arc::new(Relay::new(settings, store)))
}

/// Small socket buffers: an idle connection should cost kilobytes, not the 128 KiB tungstenite
/// reserves by default; frames larger than a buffer still pass, in pieces.
/// The connection's place under the listener's limits moves into the WebSocket task, so a
/// cloud's long-lived connection counts against them until it closes.
async fn connect(
    State(relay): State<Arc<Relay>>,
    guard: Option<axum::Extension<ConnectionGuard>>,
    client: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    use axum::response::IntoResponse;
    let upgrade = match upgrade {
        Ok(u) => u,
        // Not a WebSocket request at all (a browser, curl): say what this endpoint speaks.
        Err(
            WebSocketUpgradeRejection::InvalidConnectionHeader(_)
            | WebSocketUpgradeRejection::InvalidUpgradeHeader(_),
        ) => {
            let mut answer = sovra_http::ApiError::new(
                426,
                "upgrade_required",
                "this endpoint speaks WebSocket (sovra-relay/1) only",
            )
            .into_response();
            answer.headers_mut().insert(
                axum::http::header::UPGRADE,
                axum::http::HeaderValue::from_static("websocket"),
            );
            return answer;
        }
        // The rest (method, version, key) are answered as JSON by the HTTP layer.
        Err(other) => return other.into_response(),
    };
    upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(MAX_BODY + 64 * 1024)
        .max_frame_size(MAX_BODY + 64 * 1024)
        .on_upgrade(move |socket| async move {
            let _held = guard;
            let exempt = relay.settings.exempt_loopback;
            let source = client
                .map(|c| c.0.0.ip())
                .filter(|ip| !(exempt && ip.is_loopback()));
            relay.connection(socket, source).await
        })
}

async fn info(State(relay): State<Arc<Relay>>) -> axum::Json<Value> {
    let s = &relay.settings;
    axum::Json(json!({
        "relay": s.public_url,
        "protocol": "sovra-relay/1",
        "pow_difficulty": s.pow_difficulty,
        "ttl_seconds": s.ttl.as_secs(),
        "quota_envelopes": s.quota.envelopes,
        "quota_bytes": s.quota.bytes,
    }))
}

async fn readyz(State(relay): State<Arc<Relay>>) -> axum::response::Response {
    sovra_http::health::readiness(relay.store.ping().await.map_err(|e| e.to_string()))
}

pub fn router(relay: Arc<Relay>) -> Router {
    Router::new()
        .route("/v1/connect", get(connect))
        .route("/v1/relay", get(info))
        .route("/healthz", get(sovra_http::health::healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(relay)
}

/// Serves until `shutdown`, sweeping expired envelopes every `settings.sweep_every`.
pub async fn serve(
    listener: TcpListener,
    relay: Arc<Relay>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = {
        let relay = relay.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = relay.sweep().await {
                    tracing::error!("sweep: {e}");
                }
                tokio::time::sleep(relay.settings.sweep_every).await;
            }
        })
    };
    let result =
        sovra_http::serve::serve(listener, router(relay), Limits::default(), shutdown).await;
    sweeper.abort();
    result
}
