//! `sovra bench d2d`: messages per second and latency from clouds to a cloud on loopback.
//!
//! A real node hosts @bob.cloud (SQLite, fsync'd commits, full verification). The driver plays
//! N sender clouds (keys in memory), each whitelisted at Bob; each opens a conversation with a
//! real handshake over HTTP and then sends sealed, signed 1 KiB messages back to back. A
//! message's latency is seal+sign at the sender, the HTTP round trip, and Bob's verify, open,
//! replay check and commit — everything up to `{"received": true}`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;
use sovra_client::D2dClient;
use sovra_proto::handshake;
use sovra_proto::{CloudKeys, HandshakeOutcome, Payload, os_rng};

pub async fn d2d(conversations: &[usize], seconds: u64, size: usize, json_out: bool) -> Result<()> {
    let dir = tempfile::tempdir()?;
    sovra_node::home::init_cloud(dir.path(), "@bob.cloud").await?;
    let node = crate::quickstart::start_node(dir.path()).await?;
    let bob = crate::quickstart::owner(dir.path(), &node, "bob")?;
    let base = bob.base().to_owned();
    let d2d = D2dClient::new(Duration::from_secs(30));
    let identity = d2d.identity(&base).await?;
    let text = "x".repeat(size.saturating_sub(br#"{"text":""}"#.len()));

    let mut results = Vec::new();
    for &n in conversations {
        // n sender clouds, each whitelisted, each with one open conversation.
        let mut sessions = Vec::with_capacity(n);
        for i in 0..n {
            let keys = CloudKeys::generate(&mut os_rng());
            bob.call::<serde_json::Value>("PUT", "/api/owner/peers", Some(&json!({
                "peer_pubkey": keys.public().to_b64(), "peer_handle": format!("@sender{i}.cloud"),
                "rate_limit_per_day": 100_000_000u32,
            })))
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
            let resp = d2d.handshake(&base, &req).await?;
            let HandshakeOutcome::Accepted { session, .. } = pending.complete(&resp)? else {
                bail!("bob refused a bench sender");
            };
            sessions.push((keys, session));
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
        let elapsed = started.elapsed().as_secs_f64();
        all.sort();
        let pct = |p: f64| {
            all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0
        };
        let row = json!({
            "conversations": n,
            "messages": all.len(),
            "seconds": elapsed,
            "messages_per_second": all.len() as f64 / elapsed,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
        });
        if !json_out {
            println!(
                "{:>3} conversation(s): {:>7} messages in {:.1} s = {:>8.0} msg/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
                n,
                all.len(),
                elapsed,
                row["messages_per_second"].as_f64().unwrap_or(0.0),
                row["p50_ms"].as_f64().unwrap_or(0.0),
                row["p99_ms"].as_f64().unwrap_or(0.0)
            );
        }
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
