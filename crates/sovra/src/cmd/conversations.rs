//! `sovra conversations`, `sovra log PEER`, `sovra close PEER`, `sovra outbox list|cancel`.

use anyhow::Result;
use serde_json::Value;

use crate::cli::{Ctx, Exit, exit, ms_to_time};

/// `sovra conversations`.
pub async fn list(ctx: &Ctx) -> Result<()> {
    let v = ctx.call("GET", "/conversations", None).await?;
    ctx.print(&v, |v| {
        let list = v["conversations"].as_array().cloned().unwrap_or_default();
        if list.is_empty() {
            println!("No conversations.");
        }
        for c in list {
            println!(
                "{}  {:<20} {:<9} {:<6} since {}  topic: {}",
                c["id"].as_str().unwrap_or(""),
                c["peer_handle"].as_str().unwrap_or("?"),
                c["role"].as_str().unwrap_or(""),
                c["state"].as_str().unwrap_or(""),
                ms_to_time(&c["created_at"]),
                c["topic"].as_str().unwrap_or(""),
            );
        }
    });
    Ok(())
}

/// `sovra close PEER`.
pub async fn close(ctx: &Ctx, peer: &str) -> Result<()> {
    let conv = find_conversation(ctx, peer).await?;
    let id = conv["id"].as_str().unwrap_or_default().to_owned();
    let v = ctx
        .call("POST", &format!("/conversations/{id}/close"), None)
        .await?;
    ctx.print(&v, |_| println!("Closed conversation {id} with {peer}."));
    Ok(())
}

async fn find_conversation(ctx: &Ctx, peer: &str) -> Result<Value> {
    let v = ctx.call("GET", "/conversations", None).await?;
    v["conversations"]
        .as_array()
        .and_then(|l| {
            l.iter()
                .find(|c| {
                    (c["peer_handle"] == peer || c["peer_pubkey"] == peer) && c["state"] == "open"
                })
                .or_else(|| {
                    l.iter()
                        .find(|c| c["peer_handle"] == peer || c["peer_pubkey"] == peer)
                })
                .cloned()
        })
        .ok_or_else(|| Exit(exit::NOT_FOUND, format!("no conversation with {peer}")).into())
}

/// `sovra log PEER [--context] [--all]`: the current conversation with the peer, or with
/// `--all` every one kept, oldest first.
pub async fn log(ctx: &Ctx, peer: &str, context: bool, all: bool) -> Result<()> {
    if !all {
        let conv = find_conversation(ctx, peer).await?;
        let v = log_one(ctx, &conv, context).await?;
        ctx.print(&v, |v| print_log(v, &conv, peer));
        return Ok(());
    }
    let v = ctx.call("GET", "/conversations", None).await?;
    let mut convs: Vec<Value> = v["conversations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["peer_handle"] == peer || c["peer_pubkey"] == peer)
        .cloned()
        .collect();
    if convs.is_empty() {
        return Err(Exit(exit::NOT_FOUND, format!("no conversation with {peer}")).into());
    }
    convs.sort_by_key(|c| c["created_at"].as_i64());
    let mut logs = Vec::with_capacity(convs.len());
    for conv in &convs {
        logs.push(log_one(ctx, conv, context).await?);
    }
    let v = serde_json::json!({ "conversations": logs });
    ctx.print(&v, |_| {
        for (log, conv) in logs.iter().zip(&convs) {
            print_log(log, conv, peer);
        }
    });
    Ok(())
}

/// One conversation's messages (and, with `context`, what brains were given).
async fn log_one(ctx: &Ctx, conv: &Value, context: bool) -> Result<Value> {
    let id = conv["id"].as_str().unwrap_or_default();
    let mut v = ctx
        .call("GET", &format!("/messages?conversation={id}"), None)
        .await?;
    if context {
        let runs = ctx
            .call("GET", &format!("/conversations/{id}/context"), None)
            .await?;
        v["runs"] = runs["runs"].clone();
    }
    v["conversation"] = conv.clone();
    Ok(v)
}

fn print_log(v: &Value, conv: &Value, peer: &str) {
    println!(
        "Conversation {} with {peer} ({}), topic: {}",
        conv["id"].as_str().unwrap_or(""),
        conv["state"].as_str().unwrap_or(""),
        conv["topic"].as_str().unwrap_or("")
    );
    let runs = v["runs"].as_array().cloned().unwrap_or_default();
    for m in v["messages"].as_array().cloned().unwrap_or_default() {
        print_message(&m, peer);
        let run = runs
            .iter()
            .find(|r| m["direction"] == "in" && r["seq"] == m["seq"]);
        if let Some(run) = run {
            print_context(run);
        }
    }
}

/// What a brain was given for one answer, indented under the message it answered.
fn print_context(run: &Value) {
    println!(
        "    ┌ brain of swarm {} was given [keep: {}]:",
        run["swarm"].as_str().unwrap_or(""),
        run["retention"].as_str().unwrap_or("")
    );
    let system = run["context"]["system"].as_str().unwrap_or("");
    if !system.is_empty() {
        for line in system.lines() {
            println!("    │ system: {line}");
        }
    }
    for t in run["context"]["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        println!(
            "    │ {}: {}",
            t["role"].as_str().unwrap_or(""),
            t["content"].as_str().unwrap_or("")
        );
    }
    match run["error"].as_str() {
        Some(e) => println!("    └ failed: {e}"),
        None => println!("    └ answered"),
    }
}

pub(crate) fn print_message(m: &Value, peer: &str) {
    let who = if m["direction"] == "in" { peer } else { "me" };
    let reply = m["in_reply_to"]
        .as_u64()
        .map(|s| format!(" (reply to {s})"))
        .unwrap_or_default();
    println!(
        "[{}] #{} {who}{reply} [keep: {}]: {}",
        ms_to_time(&m["at"]),
        m["seq"],
        m["retention"].as_str().unwrap_or(""),
        m["payload"]["text"].as_str().unwrap_or("")
    );
    if let Some(code) = m["payload"]["refusal"].as_str() {
        println!("    refused: {code}");
    }
    for c in m["payload"]["calls"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        println!(
            "    call {} {}",
            c["capability"].as_str().unwrap_or(""),
            c["args"]
        );
    }
    for r in m["payload"]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        if r["ok"] == true {
            println!(
                "    result {}: {}",
                r["capability"].as_str().unwrap_or(""),
                r["output"]
            );
        } else {
            println!(
                "    result {}: error: {}",
                r["capability"].as_str().unwrap_or(""),
                r["error"].as_str().unwrap_or("")
            );
        }
    }
}

/// `sovra outbox list`: deliveries, newest first, with their state.
pub async fn outbox(ctx: &Ctx) -> Result<()> {
    let v = ctx.call("GET", "/outbox", None).await?;
    ctx.print(&v, |v| {
        let items = v["outbox"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            println!("The outbox is empty.");
        }
        for i in items {
            println!(
                "{:>6}  {:<9} seq {:<5} attempts {:<3} next {}  {}",
                i["id"],
                i["state"].as_str().unwrap_or(""),
                i["seq"],
                i["attempts"],
                ms_to_time(&i["next_attempt_at"]),
                i["last_error"].as_str().unwrap_or(""),
            );
        }
    });
    Ok(())
}

/// `sovra outbox cancel ID`.
pub async fn cancel(ctx: &Ctx, id: i64) -> Result<()> {
    let v = ctx
        .call("POST", &format!("/outbox/{id}/cancel"), None)
        .await?;
    ctx.print(&v, |_| println!("Delivery {id} cancelled."));
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum OutboxCommand {
    /// The latest deliveries and their state.
    List,
    /// Stop delivering a message still pending (its id from `outbox list`).
    Cancel { id: i64 },
}
