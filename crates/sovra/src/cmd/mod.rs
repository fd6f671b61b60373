//! One file per command family, each defining its own subcommands' arguments (clap); `main.rs`
//! holds the top-level commands and dispatches here.
//! This file holds what the three long-running processes (node, registry, relay) share.

pub mod actions;
pub mod agent;
pub mod bench;
pub mod cap;
pub mod conversations;
pub mod device;
pub mod docs;
pub mod drafts;
pub mod heirs;
pub mod host;
pub mod inbox;
pub mod migration;
pub mod node;
pub mod nym;
pub mod peer;
pub mod pending;
pub mod quickstart;
pub mod registry;
pub mod relay;
pub mod selfcheck;
pub mod send;
pub mod swarm;
pub mod web;

/// `--log-format` (or `SOVRA_LOG_FORMAT`): `text` or `json`, set once by `main`.
pub static LOG_FORMAT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Logs of the long-running processes go to stderr (`info` unless `RUST_LOG` says otherwise),
/// as text — coloured only on a terminal — or one JSON object a line (`--log-format json`), and
/// raises the open-files limit so the service's own connection cap, not the kernel's default of
/// 1,024, bounds connections.
pub fn init_logging() {
    use std::io::IsTerminal;
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match LOG_FORMAT.get().map(String::as_str) {
        Some("json") => builder.json().init(),
        _ => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    match sovra_http::serve::raise_nofile() {
        Some(n) => tracing::info!("open-files limit: {n}"),
        None => tracing::info!("open-files limit: unlimited"),
    }
}

pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
