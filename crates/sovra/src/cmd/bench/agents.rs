//! `sovra bench agents`: answered messages per second, and latency from send to the automatic
//! reply, into a real node whose main swarm has a brain that answers instantly (an `http` brain
//! on loopback), so the figure is the node's overhead around the brain.
//!
//! The driver plays N sender clouds: each is whitelisted at Bob with the driver's own D2D
//! endpoint as its URL, opens a conversation with a real handshake, then sends one sealed,
//! signed message at a time and waits until Bob's reply — sealed, signed, delivered by Bob's
//! outbox to the driver's endpoint — arrives and opens. Per message Bob receives, verifies and
//! commits it, runs the job (the brain call over HTTP, its context kept for the owner), seals
//! and commits the reply, and delivers it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::Json;
use axum::extract::{Path, State};
use axum::routing::post;
use serde_json::{Value, json};
use sovra_client::D2dClient;
use sovra_proto::{MessageRequest, Payload, Session, os_rng};
use tokio::sync::oneshot;

/// One sender: its session, and who waits for the reply to which of its messages.
struct Sender {
    session: Session,
    waiting: Mutex<HashMap<u64, oneshot::Sender<()>>>,
}

type Senders = Arc<Mutex<Vec<Arc<Sender>>>>;

/// The driver's D2D endpoint: opens Bob's replies and wakes whoever waits for them.
async fn receive(
    State(senders): State<Senders>,
    Path(i): Path<usize>,
    Json(m): Json<MessageRequest>,
) -> Json<Value> {
    let sender = senders.lock().expect("senders").get(i).cloned();
    if let Some(s) = sender
        && let Ok(parsed) = m.parse()
        && let Ok(payload) = s.session.open(&parsed)
        && let Some(answered) = payload.in_reply_to
        && let Some(tx) = s.waiting.lock().expect("waiting").remove(&answered)
    {
        let _ = tx.send(());
    }
    Json(json!({"received": true}))
}

async fn serve(app: axum::Router) -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

pub async fn agents(conversations: &[usize], seconds: u64, json_out: bool) -> Result<()> {
    let brain =
        serve(axum::Router::new().route("/brain", post(|| async { Json(json!({"text": "ok"})) })))
            .await?;
    let senders: Senders = Arc::default();
    let driver = serve(
        axum::Router::new()
            .route("/s/{i}/api/d2d/message", post(receive))
            .with_state(senders.clone()),
    )
    .await?;

    let dir = tempfile::tempdir()?;
    sovra_node::home::init_cloud(dir.path(), "@bob.cloud").await?;
    let node = super::super::quickstart::start_node(dir.path()).await?;
    let bob = super::super::quickstart::owner(dir.path(), &node, "bob")?;
    bob.call::<Value>(
        "PATCH",
        "/api/owner/swarms/main",
        Some(&json!({"budget_per_day": 1_000_000,
                     "brain": {"kind": "http", "url": format!("{brain}/brain")}})),
    )
    .await?;
    let base = bob.base().to_owned();
    let d2d = D2dClient::new(Duration::from_secs(30));
    let identity = d2d.identity(&base).await?;

    let mut results = Vec::new();
    for &n in conversations {
        let mut run = Vec::with_capacity(n);
        for _ in 0..n {
            let i = senders.lock().expect("senders").len();
            let (keys, session) = super::open_sender(
                &bob,
                &d2d,
                &identity,
                &format!("@sender{i}.cloud"),
                Some(format!("{driver}/s/{i}")),
            )
            .await?;
            let sender = Arc::new(Sender {
                session,
                waiting: Mutex::default(),
            });
            senders.lock().expect("senders").push(sender.clone());
            run.push((keys, sender));
        }
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for (keys, sender) in run {
            let (d2d, base) = (d2d.clone(), base.clone());
            tasks.spawn(async move {
                let mut latencies = Vec::new();
                let payload = Payload::text("What is the status of my order?");
                let mut seq = 1u64;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let (tx, rx) = oneshot::channel();
                    sender.waiting.lock().expect("waiting").insert(seq, tx);
                    let m = sender
                        .session
                        .seal(&mut os_rng(), &keys.signing, seq, &payload)?;
                    d2d.message(&base, &m).await?;
                    tokio::time::timeout(Duration::from_secs(30), rx)
                        .await
                        .context("no automatic reply within 30 s")??;
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
        let row = super::report(
            n,
            all,
            started.elapsed().as_secs_f64(),
            "answered",
            json_out,
        );
        results.push(row);
    }
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"results": results}))?
        );
    }
    node.stop().await?;
    Ok(())
}
