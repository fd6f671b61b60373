//! `sovra inbox`: follows the node's event stream (`GET /api/owner/events`, Server-Sent
//! Events) and prints one line per event, or each event's JSON with `--json`. Ctrl-C ends it
//! with exit 0.

use anyhow::Result;
use sovra_proto::owner::Event;

use crate::cli::{Ctx, client_error, time_of};

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
                    // An event this CLI cannot read (a newer node's) is skipped, not fatal.
                    let Ok(event) = serde_json::from_str::<Event>(data.trim()) else {
                        continue;
                    };
                    if ctx.json {
                        println!("{}", data.trim());
                    } else {
                        println!("{}", describe(&event));
                    }
                }
            }
        }
    }
}

/// One readable line per event.
fn describe(e: &Event) -> String {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let n = |v: Option<u64>| v.map_or_else(|| "?".into(), |n| n.to_string());
    let when = time_of(e.at);
    let who = e.peer.as_deref().unwrap_or("?");
    match e.kind.as_ref() {
        "message" => format!("[{when}] {who} → {}: {}", s(&e.swarm), s(&e.text)),
        "reply" => match &e.refusal {
            Some(code) => format!("[{when}] {who} refused #{}: {code}", n(e.in_reply_to)),
            None => format!(
                "[{when}] {who} replied to #{}: {}",
                n(e.in_reply_to),
                s(&e.text)
            ),
        },
        "draft" => format!(
            "[{when}] draft {} for {who} (swarm {}): {}  — `sovra drafts send {}`",
            s(&e.id),
            s(&e.swarm),
            s(&e.text),
            s(&e.id)
        ),
        "pending" => format!(
            "[{when}] {who} asks to talk (\"{}\") — `sovra pending approve {}`",
            s(&e.text),
            s(&e.id)
        ),
        "brain_error" => format!(
            "[{when}] the brain of {} failed: {}",
            s(&e.swarm),
            s(&e.reason)
        ),
        "waiting" => format!(
            "[{when}] {who}'s message #{} waits for you: {}",
            n(e.seq),
            s(&e.reason)
        ),
        "action" => match s(&e.reason).as_str() {
            "FLLW" => format!("[{when}] {who} follows you"),
            "CONN" => format!("[{when}] {who} asks to connect — `sovra connections approve {who}`"),
            "APRV" => format!("[{when}] {who} accepted your connection"),
            t => format!("[{when}] {t} from {who}: {}", s(&e.text)),
        },
        other => format!("[{when}] {other}: {}", s(&e.reason)),
    }
}
