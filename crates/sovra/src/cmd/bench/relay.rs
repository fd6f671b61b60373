//! `sovra bench relay`: envelopes per second and end-to-end latency through a relay process,
//! then its memory per idle connection.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;
use sovra_proto::{CloudKeys, os_rng};

#[derive(clap::Args)]
pub struct RelayArgs {
    #[arg(long, default_value_t = 100)]
    clouds: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Idle connections for the memory measurement.
    #[arg(long, default_value_t = 10_000)]
    idle: usize,
    /// Ack every request with a response, as a node does, and ack the responses.
    #[arg(long)]
    answered: bool,
    /// Benchmark this program's `relay serve` instead of this one's (to compare two builds
    /// under the same load generator).
    #[arg(long)]
    relay_bin: Option<std::path::PathBuf>,
}

/// A `sovra relay serve` child process, for benchmarks that must see its own memory.
struct RelayChild {
    child: std::process::Child,
    url: String,
}

impl RelayChild {
    fn start(dir: &std::path::Path, program: Option<&std::path::Path>) -> Result<RelayChild> {
        use std::io::BufRead;
        let program = match program {
            Some(p) => p.to_owned(),
            None => std::env::current_exe()?,
        };
        let mut child = std::process::Command::new(program)
            .args([
                "relay",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--pow-difficulty",
                "0",
            ])
            .args([
                "--rate", "1000000", "--burst", "1000000", "--quota", "1000000",
            ])
            .arg("--dir")
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().context("relay stdout")?)
            .read_line(&mut first)?;
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("ws://"))
            .with_context(|| format!("no URL in {first:?}"))?
            .to_owned();
        Ok(RelayChild { child, url })
    }

    /// Resident memory, from /proc.
    fn rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .context("VmRSS")
    }
}

impl Drop for RelayChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sovra bench relay`: envelopes per second and end-to-end latency through a relay process
/// with `clouds` connected clouds (each sending `size`-byte bodies to the next and acking what
/// it receives), then the relay's memory per idle authenticated connection with `idle` of them.
pub async fn relay(args: RelayArgs, json_out: bool) -> Result<()> {
    let RelayArgs {
        clouds,
        seconds,
        size,
        idle,
        answered,
        relay_bin,
    } = args;
    use sovra_client::RelayConnection;
    use sovra_proto::relay::{AckResponse, EnvelopeContent};

    let dir = tempfile::tempdir()?;
    let relay = RelayChild::start(dir.path(), relay_bin.as_deref())?;
    let keys: Vec<CloudKeys> = (0..clouds)
        .map(|_| CloudKeys::generate(&mut os_rng()))
        .collect();
    let mut conns = Vec::with_capacity(clouds);
    for k in &keys {
        conns.push(RelayConnection::connect(&relay.url, &k.signing).await?);
    }
    let base = Instant::now();
    let deadline = base + Duration::from_secs(seconds);
    let pad = "x".repeat(size.saturating_sub(40));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mut conn) in conns.into_iter().enumerate() {
        let to = keys[(i + 1) % clouds].public();
        let pad = pad.clone();
        tasks.spawn(async move {
            let (mut sent, mut responses) = (0u64, 0u64);
            let mut latencies = Vec::new();
            // A request is acked with a response when `answered` (as a node answers every
            // relayed request); a response is acked plainly.
            let mut take = |e: sovra_proto::relay::Envelope| {
                let reply = match &e.content {
                    EnvelopeContent::Request { body, .. } => {
                        if let Some(t) = body["t"].as_u64() {
                            latencies.push(base.elapsed().saturating_sub(Duration::from_micros(t)));
                        }
                        answered.then(|| AckResponse {
                            status: 200,
                            body: json!({"received": true}),
                            contact: true,
                        })
                    }
                    _ => {
                        responses += 1;
                        None
                    }
                };
                (e.envelope, reply)
            };
            while Instant::now() < deadline {
                let t = base.elapsed().as_micros() as u64;
                conn.send(&to, "/api/d2d/message", json!({"t": t, "pad": pad}))
                    .await?;
                sent += 1;
                for e in conn.take_buffered() {
                    let (id, reply) = take(e);
                    conn.ack(&id, reply).await?;
                }
            }
            // Collect what is still on its way.
            while let Ok(Ok(e)) =
                tokio::time::timeout(Duration::from_millis(1500), conn.next_envelope()).await
            {
                let (id, reply) = take(e);
                conn.ack(&id, reply).await?;
            }
            Ok::<_, anyhow::Error>((sent, latencies, responses))
        });
    }
    let (mut sent, mut all, mut responses) = (0u64, Vec::new(), 0u64);
    while let Some(r) = tasks.join_next().await {
        let (s, l, n) = r.context("cloud task")??;
        sent += s;
        all.extend(l);
        responses += n;
    }
    let elapsed = seconds as f64;
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    let throughput = json!({
        "clouds": clouds, "size": size, "seconds": elapsed,
        "answered": answered, "accepted": sent, "delivered": all.len(), "responses": responses,
        "envelopes_per_second": sent as f64 / elapsed,
        "p50_ms": pct(0.50), "p99_ms": pct(0.99),
    });

    // Idle connections: authenticated, then silent.
    let before = relay.rss_kib()?;
    let mut idle_conns = Vec::with_capacity(idle);
    let mut opening = tokio::task::JoinSet::new();
    let url = relay.url.clone();
    for chunk in 0..idle.div_ceil(500) {
        for _ in 0..500.min(idle - chunk * 500) {
            let url = url.clone();
            opening.spawn(async move {
                let k = sovra_proto::SigningKeypair::generate(&mut os_rng());
                RelayConnection::connect(&url, &k).await
            });
        }
        while let Some(c) = opening.join_next().await {
            idle_conns.push(c??);
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = relay.rss_kib()?;
    let per_conn = (after.saturating_sub(before)) as f64 * 1024.0 / idle.max(1) as f64;
    let memory = json!({
        "idle_connections": idle_conns.len(),
        "rss_before_kib": before, "rss_after_kib": after,
        "bytes_per_idle_connection": per_conn,
    });
    drop(idle_conns);
    let out = json!({"throughput": throughput, "idle": memory});
    if json_out {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{clouds} clouds, {size} B bodies{}: {sent} envelopes accepted in {elapsed:.0} s = {:.0} env/s; delivered {}{}; end-to-end p50 {:.2} ms  p99 {:.2} ms",
            if answered {
                ", every request answered"
            } else {
                ""
            },
            throughput["envelopes_per_second"].as_f64().unwrap_or(0.0),
            all.len(),
            if answered {
                format!(", {responses} responses back")
            } else {
                String::new()
            },
            pct(0.5),
            pct(0.99)
        );
        println!(
            "{} idle connections: relay RSS {} KiB -> {} KiB = {:.1} KiB per connection",
            idle,
            before,
            after,
            per_conn / 1024.0
        );
    }
    Ok(())
}
