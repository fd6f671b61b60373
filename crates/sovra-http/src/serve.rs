//! Serving a router with the limits a public service needs, for the node, the registry and the
//! relay alike.
//!
//! `axum::serve` sets no timer, so hyper's header-read timeout never fired: a client sending a
//! header byte a second held a connection for minutes, and a thousand idle connections (the
//! default open-files limit) took a node offline without a log line. Here:
//!
//! * a request's headers must arrive within [`Limits::header_read_timeout`], counted from when
//!   the connection is ready for a request — so an idle keep-alive connection closes then too;
//! * at most [`Limits::max_connections`] connections at once, and [`Limits::max_per_source`]
//!   from one address (loopback exempt by default: a local reverse proxy or benchmark is one
//!   address);
//!   connections over a limit are closed at accept, and the first refusal in each 10 s is logged;
//! * the process's open-files soft limit is raised to its hard limit at start ([`raise_nofile`]);
//! * shutdown stops accepting, lets in-flight requests finish (WebSocket connections are
//!   upgraded and hand their socket to their own task) and returns.
//!
//! Every connection's client address is in the request extensions as axum's `ConnectInfo`.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Connection limits of one listener.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub max_per_source: usize,
    pub header_read_timeout: Duration,
    /// Loopback addresses are not held to `max_per_source` (a local proxy, a benchmark).
    pub exempt_loopback: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 16_384,
            max_per_source: 256,
            header_read_timeout: Duration::from_secs(30),
            exempt_loopback: true,
        }
    }
}

/// Raises the open-files soft limit to the hard limit, so the connection cap, not the kernel,
/// is what bounds connections; returns the limit now in force.
pub fn raise_nofile() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if let (Some(cur), Some(max)) = (limit.current, limit.maximum)
        && cur < max
    {
        limit.current = Some(max);
        if setrlimit(Resource::Nofile, limit).is_err() {
            return Some(cur);
        }
    }
    limit.current
}

/// Logs a refusal at most once per 10 s, with how many were refused since the last line.
struct RefusalLog {
    last: AtomicU64,
    count: AtomicU64,
    start: Instant,
}

impl RefusalLog {
    fn note(&self, what: &str, addr: SocketAddr) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.start.elapsed().as_secs();
        let last = self.last.load(Ordering::Relaxed);
        if (now >= last + 10 || n == 1)
            && self
                .last
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.count.store(0, Ordering::Relaxed);
            tracing::warn!(%addr, refused = n, "connection refused: {what}");
        }
    }
}

/// One accepted connection's place under the limits, released when the last clone drops.
/// Every request carries a clone in its extensions, so a handler that keeps the socket beyond
/// the request (a WebSocket upgrade) keeps the connection counted until it is done.
#[derive(Clone)]
pub struct ConnectionGuard {
    _held: Arc<GuardInner>,
}

struct GuardInner {
    _slot: tokio::sync::OwnedSemaphorePermit,
    /// The address counted against `max_per_source`, if it was.
    ip: Option<IpAddr>,
    per_source: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for GuardInner {
    fn drop(&mut self) {
        let Some(ip) = self.ip else {
            return;
        };
        let mut sources = self.per_source.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = sources.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                sources.remove(&ip);
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves; in-flight requests finish first.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_source: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let refusals = Arc::new(RefusalLog {
        last: AtomicU64::new(0),
        count: AtomicU64::new(0),
        start: Instant::now(),
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // What one connection may buffer of a request head before hyper answers 431 itself
        // (the layer answers heads past MAX_HEAD; this bounds memory for the rest).
        .max_buf_size(4 * crate::errors::MAX_HEAD)
        .keep_alive(true);
    let app = app
        .route("/metrics", axum::routing::get(crate::metrics::render))
        .layer(axum::middleware::from_fn(crate::metrics::track))
        .layer(crate::access::layer())
        .layer(axum::middleware::from_fn(crate::errors::json_errors));
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refusals.note("the connection limit is reached", addr);
            continue;
        };
        let ip = addr.ip();
        let counted = !(limits.exempt_loopback && ip.is_loopback());
        if counted {
            let mut sources = per_source.lock().unwrap_or_else(|p| p.into_inner());
            let n = sources.entry(ip).or_default();
            if *n >= limits.max_per_source {
                drop(sources);
                refusals.note("too many connections from this address", addr);
                continue;
            }
            *n += 1;
        }
        let guard = ConnectionGuard {
            _held: Arc::new(GuardInner {
                _slot: slot,
                ip: counted.then_some(ip),
                per_source: per_source.clone(),
            }),
        };
        let _ = stream.set_nodelay(true);
        let request_guard = guard.clone();
        let app = app
            .clone()
            .map_request(move |r: hyper::Request<hyper::body::Incoming>| {
                let mut r = r.map(axum::body::Body::new);
                r.extensions_mut().insert(ConnectInfo(addr));
                r.extensions_mut().insert(request_guard.clone());
                r
            });
        let conn = builder
            .serve_connection(
                TokioIo::new(crate::errors::ParseErrorJson::new(stream)),
                TowerToHyperService::new(app),
            )
            .with_upgrades();
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let _guard = guard;
            let mut conn = std::pin::pin!(conn);
            let stopping = tokio::select! {
                _ = conn.as_mut() => false,
                _ = stop.wait_for(|s| *s) => true,
            };
            if stopping {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}
