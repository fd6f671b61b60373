//! `sovra inbox`: follows the node's event stream (`GET /api/owner/events`, Server-Sent
//! Events) and prints one line per event, or each event's JSON with `--json`. Ctrl-C ends it
//! with exit 0.

use anyhow::Result;
use serde_json::Value;

use crate::cli::{Ctx, client_error, time_text};

pub async fn run(ctx: &Ctx) -> Result<()> {
    let owner = ctx.owner()?;
    let mut resp = owner
        .stream("/api/owner/events")
        .await
        .map_err(|e| client_error(e, owner.base()))?;
    if !ctx.json {
        eprintln!("Following {} (Ctrl-C to stop)…", owner.base());
    }
    let mut buf = String::new();
    loop {
        let chunk = tokio::select! {
            c = resp.chunk() => c,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let Some(chunk) = chunk? else {
            anyhow::bail!("the node closed the event stream");
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        // SSE: events end with a blank line; a `data:` line holds the JSON.
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            for line in block.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    let Ok(event) = serde_json::from_str::<Value>(data.trim()) else {
                        continue;
                    };
                    if ctx.json {
                        println!("{event}");
                    } else {
                        println!("{}", describe(&event));
                    }
                }
            }
        }
    }
}

/// One readable line per event.
fn describe(e: &Value) -> String {
    let s = |k: &str| e[k].as_str().unwrap_or("").to_owned();
    let when = time_text(&e["at"]);
    let who = e["peer"].as_str().unwrap_or("?");
    match e["kind"].as_str().unwrap_or("") {
        "message" => format!("[{when}] {who} → {}: {}", s("swarm"), s("text")),
        "reply" => match e["refusal"].as_str() {
            Some(code) => format!("[{when}] {who} refused #{}: {code}", e["in_reply_to"]),
            None => format!(
                "[{when}] {who} replied to #{}: {}",
                e["in_reply_to"],
                s("text")
            ),
        },
        "draft" => format!(
            "[{when}] draft {} for {who} (swarm {}): {}  — `sovra drafts send {}`",
            s("id"),
            s("swarm"),
            s("text"),
            s("id")
        ),
        "pending" => format!(
            "[{when}] {who} asks to talk (\"{}\") — `sovra pending approve {}`",
            s("text"),
            s("id")
        ),
        "brain_error" => format!(
            "[{when}] the brain of {} failed: {}",
            s("swarm"),
            s("reason")
        ),
        "waiting" => format!(
            "[{when}] {who}'s message #{} waits for you: {}",
            e["seq"],
            s("reason")
        ),
        "action" => match s("reason").as_str() {
            "FLLW" => format!("[{when}] {who} follows you"),
            "CONN" => format!("[{when}] {who} asks to connect — `sovra connections approve {who}`"),
            "APRV" => format!("[{when}] {who} accepted your connection"),
            t => format!("[{when}] {t} from {who}: {}", s("text")),
        },
        other => format!("[{when}] {other}: {}", s("reason")),
    }
}
