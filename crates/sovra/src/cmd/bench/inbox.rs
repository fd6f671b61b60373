//! `sovra bench inbox`: verified and stored actions per second into one cloud, and the
//! latency of each `POST /api/inbox` up to its 202.
//!
//! A real node hosts @bob.cloud (SQLite, fsync'd commits). The driver serves N issuers'
//! profiles (`/<id tag>/api/me`, Ed25519 keys) and inboxes on loopback, and Bob's node is
//! pointed at it as the Cloudillo URL template, so Bob fetches each issuer's profile once, over
//! HTTP, like any other. Bob follows every issuer (a real FLLW, delivered to the driver), then
//! each issuer posts signed `POST` tokens back to back: per request Bob parses the token, checks
//! that he follows the issuer, looks the key up in his profile cache, verifies the signature and
//! commits the action `queued` before answering; the effects task runs beside it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::Json;
use axum::extract::Path;
use axum::routing::{get, post};
use serde_json::{Value, json};
use sovra_proto::SigningKeypair;
use sovra_proto::action::{self, ActionClaims, ActionKey, InboxRequest};

fn issuer_tag(i: usize) -> String {
    format!("issuer{i}.bench.example")
}

pub async fn inbox(issuers: &[usize], seconds: u64, json_out: bool) -> Result<()> {
    let most = issuers.iter().copied().max().unwrap_or(1);
    let keys: Arc<Vec<SigningKeypair>> = Arc::new(
        (0..most)
            .map(|_| SigningKeypair::generate(&mut sovra_proto::os_rng()))
            .collect(),
    );
    let profiles = keys.clone();
    let driver = axum::Router::new()
        .route(
            "/{tag}/api/me",
            get(move |Path(tag): Path<String>| {
                let keys = profiles.clone();
                async move {
                    let i: usize = tag
                        .strip_prefix("issuer")
                        .and_then(|t| t.split('.').next())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(usize::MAX);
                    let Some(k) = keys.get(i) else {
                        return Err(axum::http::StatusCode::NOT_FOUND);
                    };
                    Ok(Json(
                        json!({"data": {"idTag": tag, "name": tag, "type": "person",
                        "keys": [{"keyId": ActionKey::sovra_key_id(&k.public()),
                                  "publicKey": ActionKey::Ed25519(k.public()).to_spki_b64()}]}}),
                    ))
                }
            }),
        )
        .route(
            "/{tag}/api/inbox",
            post(|| async { (axum::http::StatusCode::CREATED, Json(json!({"data": {}}))) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let driver_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, driver).await });

    let dir = tempfile::tempdir()?;
    sovra_node::home::init_cloud(dir.path(), "@bob.cloud").await?;
    let settings = sovra_node::Settings {
        cloudillo_api: format!("{driver_url}/{{id_tag}}/api"),
        // The benchmark is one client measuring the node, not an abuser.
        actions_per_source_per_minute: u32::MAX,
        actions_per_minute: u32::MAX,
        ..Default::default()
    };
    let node = super::super::quickstart::start_node_with(dir.path(), settings).await?;
    let bob = super::super::quickstart::owner(dir.path(), &node, "bob")?;
    let inbox_url = format!("{}/api/inbox", bob.base());
    for i in 0..most {
        bob.call::<Value>(
            "POST",
            "/api/owner/actions/follow",
            Some(&json!({"id_tag": issuer_tag(i)})),
        )
        .await
        .with_context(|| format!("following {}", issuer_tag(i)))?;
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(most)
        .timeout(Duration::from_secs(30))
        .build()?;

    let mut results = Vec::new();
    let mut serial = 0u64;
    for &n in issuers {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let (http, url, keys) = (http.clone(), inbox_url.clone(), keys.clone());
            let first = serial;
            tasks.spawn(async move {
                let key = &keys[i];
                let tag = issuer_tag(i);
                let kid = ActionKey::sovra_key_id(&key.public());
                let mut latencies = Vec::new();
                let mut seq = first;
                while Instant::now() < deadline {
                    seq += 1;
                    let t = Instant::now();
                    let mut c =
                        ActionClaims::new(&tag, &kid, "POST", jiff::Timestamp::now().as_second());
                    c.c = Some(json!(format!("post {seq} from {tag}")));
                    c.v = Some("P".into());
                    let body = InboxRequest {
                        token: action::sign(key, &c),
                        related: None,
                    };
                    let resp = http.post(&url).json(&body).send().await?;
                    if resp.status() != 202 {
                        bail!("{} answered {}: {}", tag, resp.status(), resp.text().await?);
                    }
                    latencies.push(t.elapsed());
                }
                Ok::<_, anyhow::Error>(latencies)
            });
            serial += 1_000_000_000;
        }
        let mut all = Vec::new();
        while let Some(r) = tasks.join_next().await {
            all.extend(r.context("issuer task")??);
        }
        results.push(super::report(
            n,
            all,
            started.elapsed().as_secs_f64(),
            "actions",
            json_out,
        ));
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
