//! Access logs: one `INFO` event per request under the `sovra::access` target, through
//! tower-http's trace layer, as operators of Synapse or a PDS expect. Filter them like any
//! target (`RUST_LOG=info,sovra::access=warn` turns them off).
//!
//! What is logged is chosen for privacy: the matched route (`/clouds/alice/api/owner/drafts/{id}`:
//! the served cloud's name, which the operator knows, but never the ids in the path or the query
//! string), the method, the client address, the status and the latency. Bodies, headers and
//! tokens never are.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath};
use axum::http::{Request, Response};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::TraceLayer;
use tracing::Span;

/// The layer `serve` puts around every route.
pub type AccessLayer = TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    fn(&Request<Body>) -> Span,
    (),
    fn(&Response<Body>, Duration, &Span),
>;

pub fn layer() -> AccessLayer {
    TraceLayer::new_for_http()
        .make_span_with(request_span as fn(&Request<Body>) -> Span)
        .on_request(())
        .on_response(log_response as fn(&Response<Body>, Duration, &Span))
}

fn request_span(request: &Request<Body>) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let remote = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    tracing::info_span!(target: "sovra::access", "request", method = %request.method(), route, remote)
}

fn log_response(response: &Response<Body>, latency: Duration, span: &Span) {
    tracing::info!(
        target: "sovra::access",
        parent: span,
        status = response.status().as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
    );
}
