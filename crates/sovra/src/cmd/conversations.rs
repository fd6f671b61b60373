//! `sovra conversations`, `sovra log PEER`, `sovra close PEER`, `sovra outbox list|cancel`.

use anyhow::Result;
use serde_json::Value;
use sovra_proto::owner::{
    BrainRun, BrainRuns, Cancelled, Closed, Conversation, Conversations, Message, Messages, Outbox,
};

use crate::cli::{Ctx, Exit, exit, time_of, typed};

async fn conversations(ctx: &Ctx) -> Result<(Value, Conversations)> {
    let v = ctx.call("GET", "/conversations", None).await?;
    let list = typed(&v)?;
    Ok((v, list))
}

/// `sovra conversations`.
pub async fn list(ctx: &Ctx) -> Result<()> {
    let (v, list) = conversations(ctx).await?;
    ctx.print(&v, |_| {
        if list.conversations.is_empty() {
            println!("No conversations.");
        }
        for c in &list.conversations {
            println!(
                "{}  {:<20} {:<9} {:<6} since {}  topic: {}",
                c.id,
                c.peer_handle.as_deref().unwrap_or("?"),
                c.role,
                c.state,
                time_of(c.created_at),
                c.topic,
            );
        }
    });
    Ok(())
}

/// `sovra close PEER`.
pub async fn close(ctx: &Ctx, peer: &str) -> Result<()> {
    let conv = find_conversation(ctx, peer).await?;
    let v = ctx
        .call("POST", &format!("/conversations/{}/close", conv.id), None)
        .await?;
    let closed: Closed = typed(&v)?;
    ctx.print(&v, |_| {
        println!("Closed conversation {} with {peer}.", closed.closed)
    });
    Ok(())
}

fn with(c: &Conversation, peer: &str) -> bool {
    c.peer_handle.as_deref() == Some(peer) || c.peer_pubkey == peer
}

/// The open conversation with `peer`, else the newest one.
async fn find_conversation(ctx: &Ctx, peer: &str) -> Result<Conversation> {
    let (_, list) = conversations(ctx).await?;
    let all: Vec<Conversation> = list
        .conversations
        .into_iter()
        .filter(|c| with(c, peer))
        .collect();
    all.iter()
        .find(|c| c.state == "open")
        .or_else(|| all.first())
        .cloned()
        .ok_or_else(|| Exit(exit::NOT_FOUND, format!("no conversation with {peer}")).into())
}

/// `sovra log PEER [--context] [--all]`: the current conversation with the peer, or with
/// `--all` every one kept, oldest first.
pub async fn log(ctx: &Ctx, peer: &str, context: bool, all: bool) -> Result<()> {
    if !all {
        let conv = find_conversation(ctx, peer).await?;
        let (v, messages, runs) = log_one(ctx, &conv, context).await?;
        ctx.print(&v, |_| print_log(&messages, &runs, &conv, peer));
        return Ok(());
    }
    let (_, list) = conversations(ctx).await?;
    let mut convs: Vec<Conversation> = list
        .conversations
        .into_iter()
        .filter(|c| with(c, peer))
        .collect();
    if convs.is_empty() {
        return Err(Exit(exit::NOT_FOUND, format!("no conversation with {peer}")).into());
    }
    convs.sort_by_key(|c| c.created_at);
    let mut logs = Vec::with_capacity(convs.len());
    for conv in &convs {
        logs.push(log_one(ctx, conv, context).await?);
    }
    let v = serde_json::json!({ "conversations": logs.iter().map(|l| &l.0).collect::<Vec<_>>() });
    ctx.print(&v, |_| {
        for ((_, messages, runs), conv) in logs.iter().zip(&convs) {
            print_log(messages, runs, conv, peer);
        }
    });
    Ok(())
}

/// One conversation's messages (and, with `context`, what brains were given), as JSON for
/// `--json` and typed for people.
async fn log_one(
    ctx: &Ctx,
    conv: &Conversation,
    context: bool,
) -> Result<(Value, Vec<Message>, Vec<BrainRun>)> {
    let mut v = ctx
        .call("GET", &format!("/messages?conversation={}", conv.id), None)
        .await?;
    let messages: Messages = typed(&v)?;
    let mut runs = Vec::new();
    if context {
        let answer = ctx
            .call("GET", &format!("/conversations/{}/context", conv.id), None)
            .await?;
        let typed_runs: BrainRuns = typed(&answer)?;
        runs = typed_runs.runs;
        v["runs"] = answer["runs"].clone();
    }
    v["conversation"] = serde_json::to_value(conv)?;
    Ok((v, messages.messages, runs))
}

fn print_log(messages: &[Message], runs: &[BrainRun], conv: &Conversation, peer: &str) {
    println!(
        "Conversation {} with {peer} ({}), topic: {}",
        conv.id, conv.state, conv.topic
    );
    for m in messages {
        print_message(m, peer);
        let run = runs.iter().find(|r| m.direction == "in" && r.seq == m.seq);
        if let Some(run) = run {
            print_context(run);
        }
    }
}

/// What a brain was given for one answer, indented under the message it answered.
fn print_context(run: &BrainRun) {
    println!(
        "    ┌ brain of swarm {} was given [keep: {}]:",
        run.swarm, run.retention
    );
    let system = run.context["system"].as_str().unwrap_or("");
    if !system.is_empty() {
        for line in system.lines() {
            println!("    │ system: {line}");
        }
    }
    for t in run.context["messages"]
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
    match run.error.as_deref() {
        Some(e) => println!("    └ failed: {e}"),
        None => println!("    └ answered"),
    }
}

pub(crate) fn print_message(m: &Message, peer: &str) {
    let who = if m.direction == "in" { peer } else { "me" };
    let reply = m
        .in_reply_to
        .map(|s| format!(" (reply to {s})"))
        .unwrap_or_default();
    let keep = serde_json::to_value(m.retention)
        .ok()
        .and_then(|r| r.as_str().map(str::to_owned))
        .unwrap_or_default();
    println!(
        "[{}] #{} {who}{reply} [keep: {keep}]: {}",
        time_of(m.at),
        m.seq,
        m.payload.text
    );
    if let Some(code) = &m.payload.refusal {
        println!("    refused: {code}");
    }
    for c in &m.payload.calls {
        println!("    call {} {}", c.capability, c.args);
    }
    for r in &m.payload.results {
        match (r.ok, &r.output) {
            (true, Some(output)) => println!("    result {}: {output}", r.capability),
            (true, None) => println!("    result {}: null", r.capability),
            (false, _) => println!(
                "    result {}: error: {}",
                r.capability,
                r.error.as_deref().unwrap_or("")
            ),
        }
    }
}

/// `sovra outbox list`: deliveries, newest first, with their state.
pub async fn outbox(ctx: &Ctx) -> Result<()> {
    let v = ctx.call("GET", "/outbox", None).await?;
    let outbox: Outbox = typed(&v)?;
    ctx.print(&v, |_| {
        if outbox.outbox.is_empty() {
            println!("The outbox is empty.");
        }
        for i in &outbox.outbox {
            println!(
                "{:>6}  {:<9} seq {:<5} attempts {:<3} next {}  {}",
                i.id,
                i.state,
                i.seq,
                i.attempts,
                time_of(i.next_attempt_at),
                i.last_error.as_deref().unwrap_or(""),
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
    let _: Cancelled = typed(&v)?;
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
