//! Benchmarks: `d2d` and `registry` (this file), `relay` (`relay.rs`), `agents` (`agents.rs`),
//! `export` (`export.rs`) and `inbox` (`inbox.rs`).
//!
//! `sovra bench d2d`: messages per second and latency from clouds to a cloud on loopback.
//!
//! A real node hosts @bob.cloud (SQLite, fsync'd commits, full verification). The driver plays
//! N sender clouds (keys in memory), each whitelisted at Bob; each opens a conversation with a
//! real handshake over HTTP and then sends sealed, signed 1 KiB messages back to back. A
//! message's latency is seal+sign at the sender, the HTTP round trip, and Bob's verify, open,
//! replay check and commit — everything up to `{"received": true}`.

use std::time::{Duration, Instant};

mod agents;
mod export;
mod inbox;
mod relay;
pub use agents::agents;
pub use export::export;
pub use inbox::inbox;
pub use relay::{RelayArgs, relay};

use anyhow::{Context, Result, bail};
use serde_json::json;
use sovra_client::D2dClient;
use sovra_proto::handshake;
use sovra_proto::{CloudKeys, HandshakeOutcome, Payload, Session, os_rng};

/// One bench sender: a fresh cloud key whitelisted at Bob (`url`: where Bob delivers to it)
/// with an open conversation from a real handshake.
pub(super) async fn open_sender(
    bob: &sovra_client::OwnerClient,
    d2d: &D2dClient,
    identity: &sovra_proto::Identity,
    handle: &str,
    url: Option<String>,
) -> Result<(CloudKeys, Session)> {
    let keys = CloudKeys::generate(&mut os_rng());
    bob.call::<serde_json::Value>(
        "PUT",
        "/api/owner/peers",
        Some(&json!({
            "peer_pubkey": keys.public().to_b64(), "peer_handle": handle,
            "rate_limit_per_day": 100_000_000u32, "url": url,
        })),
    )
    .await?;
    let (req, pending) = handshake::initiate(
        &mut os_rng(),
        &keys,
        None,
        identity.pubkey,
        identity.encryption_key,
        "bench",
        jiff::Timestamp::now(),
    )?;
    let resp = d2d.handshake(bob.base(), &req).await?;
    let HandshakeOutcome::Accepted { session, .. } = pending.complete(&resp)? else {
        bail!("bob refused a bench sender");
    };
    Ok((keys, *session))
}

/// One run's row: count, rate, p50 and p99 of `latencies`; printed unless `json_out`.
pub(super) fn report(
    n: usize,
    mut latencies: Vec<Duration>,
    elapsed: f64,
    what: &str,
    json_out: bool,
) -> serde_json::Value {
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let rate = latencies.len() as f64 / elapsed;
    let row = json!({
        "conversations": n,
        what: latencies.len(),
        "seconds": elapsed,
        format!("{what}_per_second"): rate,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    });
    if !json_out {
        println!(
            "{n:>3} conversation(s): {:>7} {what} in {elapsed:.1} s = {rate:>8.0}/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
            latencies.len(),
            pct(0.50),
            pct(0.99)
        );
    }
    row
}

pub async fn d2d(conversations: &[usize], seconds: u64, size: usize, json_out: bool) -> Result<()> {
    let dir = tempfile::tempdir()?;
    sovra_node::home::init_cloud(dir.path(), "@bob.cloud").await?;
    let node = super::quickstart::start_node(dir.path()).await?;
    let bob = super::quickstart::owner(dir.path(), &node, "bob")?;
    let base = bob.base().to_owned();
    let d2d = D2dClient::new(Duration::from_secs(30));
    let identity = d2d.identity(&base).await?;
    let text = "x".repeat(size.saturating_sub(br#"{"text":""}"#.len()));

    let mut results = Vec::new();
    for &n in conversations {
        // n sender clouds, each whitelisted, each with one open conversation.
        let mut sessions = Vec::with_capacity(n);
        for i in 0..n {
            sessions.push(
                open_sender(&bob, &d2d, &identity, &format!("@sender{i}.cloud"), None).await?,
            );
        }
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for (keys, session) in sessions {
            let (d2d, base, text) = (d2d.clone(), base.clone(), text.clone());
            tasks.spawn(async move {
                let mut latencies = Vec::new();
                let payload = Payload::text(text);
                let mut seq = 1u64;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let m = session.seal(&mut os_rng(), &keys.signing, seq, &payload)?;
                    d2d.message(&base, &m).await?;
                    latencies.push(t.elapsed());
                    seq += 1;
                }
                Ok::<_, anyhow::Error>(latencies)
            });
        }
        let mut all = Vec::new();
        while let Some(r) = tasks.join_next().await {
            all.extend(r.context("sender task")??);
        }
        let row = report(
            n,
            all,
            started.elapsed().as_secs_f64(),
            "messages",
            json_out,
        );
        results.push(row);
    }
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"size": size, "results": results}))?
        );
    }
    node.stop().await?;
    Ok(())
}

/// `sovra bench registry`: lookups against a registry holding `handles` handles, on loopback.
///
/// Setup registers `@user<i>.cloud` for i in 0..handles through `Registry::import` (real keys,
/// real record and lookup signatures), in chunks, unless `dir` already holds them. Then two
/// runs of `seconds` each: a fixed offered load of `rate` lookups/s (open loop: a request is
/// sent on schedule whether or not earlier ones returned, so queueing shows in the latency),
/// and a closed loop with 32 concurrent clients for the maximum rate. Every answer is parsed
/// and its registry signature verified once per run's first response, and the status of all
/// is checked.
pub async fn registry(
    handles: usize,
    rate: u32,
    seconds: u64,
    dir: Option<std::path::PathBuf>,
    json_out: bool,
) -> Result<()> {
    use sovra_proto::registry::{CloudRecord, Lookup};
    use sovra_registry::RegistryStore;
    use sovra_registry::sms::ConsoleGateway;
    use std::sync::Arc;

    let temp = tempfile::tempdir()?;
    let dir = dir.unwrap_or_else(|| temp.path().to_owned());
    let registry = Arc::new(
        sovra_registry::home::open(
            &dir,
            // The benchmark is one client measuring the registry, not an abuser.
            sovra_registry::Settings {
                lookups_per_client_per_minute: u32::MAX,
                ..Default::default()
            },
            Arc::new(ConsoleGateway::default()),
        )
        .await?,
    );
    let present = registry
        .store
        .cloud_by_handle(&format!("@user{}.cloud", handles.saturating_sub(1)))
        .await?
        .is_some();
    let setup = Instant::now();
    if !present {
        const CHUNK: usize = 10_000;
        let mut start = 0;
        while start < handles {
            let end = (start + CHUNK).min(handles);
            // Keys and record signatures on both cores.
            let mid = start + (end - start) / 2;
            let make = |range: std::ops::Range<usize>| {
                std::thread::spawn(move || {
                    let now = jiff::Timestamp::now();
                    range
                        .map(|i| {
                            let keys = CloudKeys::generate(&mut os_rng());
                            let record = CloudRecord::sign(
                                &keys,
                                &format!("@user{i}.cloud"),
                                None,
                                vec![],
                                now,
                            )
                            .expect("valid record");
                            (format!("+1{:010}", 2_000_000_000u64 + i as u64), record)
                        })
                        .collect::<Vec<_>>()
                })
            };
            let (a, b) = (make(start..mid), make(mid..end));
            let mut entries = a.join().map_err(|_| anyhow::anyhow!("setup thread"))?;
            entries.extend(b.join().map_err(|_| anyhow::anyhow!("setup thread"))?);
            registry.import(&entries).await?;
            start = end;
            if !json_out && start % 100_000 == 0 {
                eprintln!(
                    "  registered {start} handles ({:.0} s)",
                    setup.elapsed().as_secs_f64()
                );
            }
        }
    }
    let setup_secs = setup.elapsed().as_secs_f64();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sovra_registry::api::serve(
        listener,
        registry.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    let http = reqwest::Client::new();
    let registry_key = registry.public();

    // Check one answer fully before measuring.
    let probe: Lookup = http
        .get(format!("{url}/v1/handles/@user0.cloud"))
        .send()
        .await?
        .json()
        .await?;
    probe.verify(&registry_key, "@user0.cloud")?;

    let lookup = |http: reqwest::Client, url: String, i: usize| async move {
        let t = Instant::now();
        let r = http
            .get(format!("{url}/v1/handles/@user{i}.cloud"))
            .send()
            .await?;
        let ok = r.status().is_success();
        r.bytes().await?;
        if !ok {
            bail!("lookup of @user{i}.cloud failed");
        }
        Ok::<_, anyhow::Error>(t.elapsed())
    };
    let pick = move || (rand_core::Rng::next_u64(&mut os_rng()) % handles as u64) as usize;

    // Open loop at `rate`.
    let mut tasks = tokio::task::JoinSet::new();
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        ticker.tick().await;
        tasks.spawn(lookup(http.clone(), url.clone(), pick()));
    }
    let mut fixed = Vec::new();
    while let Some(r) = tasks.join_next().await {
        fixed.push(r??);
    }
    let fixed_secs = started.elapsed().as_secs_f64();

    // Closed loop, 32 clients.
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut closed_tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (http, url) = (http.clone(), url.clone());
        closed_tasks.spawn(async move {
            let mut out = Vec::new();
            while Instant::now() < deadline {
                out.push(lookup(http.clone(), url.clone(), pick()).await?);
            }
            Ok::<_, anyhow::Error>(out)
        });
    }
    let mut closed = Vec::new();
    let mut tasks = std::mem::take(&mut closed_tasks);
    while let Some(r) = tasks.join_next().await {
        closed.extend(r??);
    }
    let closed_secs = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    let _ = server.await;

    let summarize = |mut v: Vec<Duration>, secs: f64| {
        v.sort();
        let pct =
            |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1000.0;
        json!({"lookups": v.len(), "per_second": v.len() as f64 / secs, "p50_ms": pct(0.5), "p99_ms": pct(0.99)})
    };
    let out = json!({
        "handles": handles,
        "setup_seconds": setup_secs,
        "fixed_rate": rate,
        "fixed": summarize(fixed, fixed_secs),
        "closed_32": summarize(closed, closed_secs),
    });
    if json_out {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{} handles (setup {:.0} s)", handles, setup_secs);
        for (name, key) in [
            (format!("offered {rate}/s"), "fixed"),
            ("32 concurrent".to_string(), "closed_32"),
        ] {
            let r = &out[key];
            println!(
                "  {:<16} {:>8.0} lookups/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
                name,
                r["per_second"].as_f64().unwrap_or(0.0),
                r["p50_ms"].as_f64().unwrap_or(0.0),
                r["p99_ms"].as_f64().unwrap_or(0.0)
            );
        }
    }
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Messages per second and p50/p99 latency into a real node on loopback.
    D2d {
        /// Concurrent conversations to measure, one run each.
        #[arg(long, value_delimiter = ',', default_value = "1,32")]
        conversations: Vec<usize>,
        /// Seconds per run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Payload plaintext size in bytes.
        #[arg(long, default_value_t = 1024)]
        size: usize,
    },
    /// Answered messages per second and latency from send to the automatic reply, with a
    /// brain that answers instantly (the node's overhead around a brain).
    Agents {
        #[arg(long, value_delimiter = ',', default_value = "1,32")]
        conversations: Vec<usize>,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Federation actions verified and stored per second into one cloud (`POST /api/inbox`),
    /// with p50/p99 latency to the 202.
    Inbox {
        /// Concurrent issuers to measure, one run each.
        #[arg(long, value_delimiter = ',', default_value = "1,32")]
        issuers: Vec<usize>,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Envelopes per second and end-to-end latency through a relay process, then its memory
    /// per idle connection.
    Relay(RelayArgs),
    /// Time and size of moving a cloud: export over the owner API, seal, open, import.
    Export {
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
        #[arg(long, default_value_t = 100)]
        conversations: usize,
        /// Bytes of text per message.
        #[arg(long, default_value_t = 256)]
        size: usize,
    },
    /// Handle lookups per second and latency against a registry holding many handles.
    Registry {
        /// Handles registered before measuring.
        #[arg(long, default_value_t = 1_000_000)]
        handles: usize,
        /// Offered load of the fixed-rate run, lookups per second.
        #[arg(long, default_value_t = 500)]
        rate: u32,
        /// Seconds per run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Keep the registry here (reused if it already holds the handles).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}
