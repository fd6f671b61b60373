//! Prometheus metrics at `GET /metrics`, the same on node, registry and relay: every request
//! counted by route pattern, method and status, with its latency; each service adds its own
//! (`metrics::counter!` anywhere; this module only records and renders).

use std::sync::OnceLock;

use axum::extract::{MatchedPath, Request};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The process's recorder, installed on first use (one per process: tests run several services
/// in one, and they share it).
fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Histogram samples wait in buckets until upkeep folds them in: without it they would
        // grow for as long as nobody scrapes.
        let upkeep = handle.clone();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(5));
                upkeep.run_upkeep();
            }
        });
        // Another recorder already installed (an embedding program's): keep rendering ours.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// `GET /metrics`: the Prometheus text format, to loopback clients only (a scraper on the same
/// host, or behind the operator's proxy): route patterns name the clouds a node serves.
pub async fn render(request: Request) -> Response {
    let remote = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if remote.is_some_and(|ip| !ip.is_loopback()) {
        return crate::ApiError::not_found("not_found", "no such endpoint").into_response();
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle().render(),
    )
        .into_response()
}

/// Middleware: counts each request by its route pattern (not its path: bounded labels),
/// method and status. No per-request histogram: this runs on the D2D hot path.
pub async fn track(request: Request, next: Next) -> Response {
    handle();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("sovra_http_requests_total", "route" => route, "method" => method, "status" => status)
        .increment(1);
    response
}
