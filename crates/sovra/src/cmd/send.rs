//! `sovra send`: queue a message, wait for its delivery and (with calls or `--wait-reply`) for
//! the reply.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use sovra_proto::Call;
use sovra_proto::owner::{Messages, Outbox, SendRequest, Sent};

use super::conversations::print_message;
use crate::cli::{Ctx, Exit, exit, typed};

pub async fn run(ctx: &Ctx, args: SendArgs) -> Result<()> {
    let mut calls = Vec::new();
    // `--call CAP [JSON]`: a value opening a JSON object, array or string is the arguments of
    // the capability before it; any other value names the next capability (args `{}`).
    for value in &args.call {
        let is_args = value.trim_start().starts_with(['{', '[', '"']);
        match (is_args, calls.last_mut()) {
            (true, Some(Value::Object(call))) if call["args"] == json!({}) => {
                let name = call["capability"].as_str().unwrap_or("").to_owned();
                call["args"] = serde_json::from_str(value)
                    .with_context(|| format!("--call {name}: args are not JSON"))?;
            }
            (true, _) => bail!("--call {value}: arguments come after a capability name"),
            (false, _) => calls.push(json!({"capability": value, "args": {}})),
        }
    }
    let calls: Vec<Call> = calls
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()?;
    let request = SendRequest {
        to: args.peer.clone(),
        text: args.text.clone(),
        calls,
        retention: Some(serde_json::from_value(Value::String(
            args.retention.clone(),
        ))?),
        swarm: args.swarm.clone(),
        reply_to: args.reply_to,
        ..SendRequest::default()
    };
    let sent: Sent = typed(
        &ctx.call("POST", "/send", Some(serde_json::to_value(&request)?))
            .await?,
    )?;
    let (conv, seq) = (sent.conversation_id, sent.seq);
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let want_reply = !request.calls.is_empty() || args.wait_reply;
    let mut spinner = Spinner::new(format!("delivering to {}", args.peer));
    // Delivery first (the outbox retries in the background), then the reply.
    loop {
        let outbox: Outbox = typed(&ctx.call("GET", "/outbox", None).await?)?;
        let item = outbox
            .outbox
            .into_iter()
            .find(|i| i.conversation_id == conv && i.seq as u64 == seq);
        let last_error = item.as_ref().and_then(|i| i.last_error.clone());
        match item.as_ref().map(|i| i.state.as_str()) {
            Some("delivered") => break,
            Some("failed") => {
                spinner.done();
                let why = last_error.unwrap_or_else(|| "unknown".into());
                // The peer (or its policy) said no: exit 4; anything else: 1.
                let code = match why.starts_with("refused by the peer") {
                    true => exit::REFUSED,
                    false => exit::FAILURE,
                };
                return Err(Exit(code, format!("not delivered: {why}")).into());
            }
            _ => {}
        }
        if Instant::now() > deadline {
            spinner.done();
            // Still retrying: say why the last attempt failed. A peer that keeps answering
            // "rate_limited" is refusing by policy (exit 4), not slow.
            return Err(match last_error {
                Some(why) if why.contains("rate_limited") => Exit(
                    exit::REFUSED,
                    format!(
                        "{} refuses for now: {why}; the node keeps retrying",
                        args.peer
                    ),
                ),
                Some(why) => Exit(
                    exit::TIMEOUT,
                    format!(
                        "not delivered within {} s (last attempt: {why}); the node keeps retrying",
                        args.timeout
                    ),
                ),
                None => Exit(
                    exit::TIMEOUT,
                    format!(
                        "not delivered within {} s; the node keeps retrying",
                        args.timeout
                    ),
                ),
            }
            .into());
        }
        spinner.tick();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !want_reply {
        spinner.done();
        let v = json!({"conversation_id": conv, "seq": seq, "delivered": true});
        ctx.print(&v, |_| {
            println!("Delivered to {} (message {seq}).", args.peer)
        });
        return Ok(());
    }
    spinner.label(format!("waiting for {}'s reply", args.peer));
    loop {
        let msgs: Messages = typed(
            &ctx.call("GET", &format!("/messages?conversation={conv}"), None)
                .await?,
        )?;
        let reply = msgs
            .messages
            .into_iter()
            .find(|m| m.direction == "in" && m.in_reply_to == Some(seq as i64));
        if let Some(reply) = reply {
            spinner.done();
            let json = serde_json::to_value(&reply)?;
            if let Some(code) = &reply.payload.refusal {
                ctx.print(&json, |_| print_message(&reply, &args.peer));
                return Err(Exit(
                    exit::REFUSED,
                    format!("{} did not act on it: {code}", args.peer),
                )
                .into());
            }
            ctx.print(&json, |_| {
                // A plain answer prints plainly, and so do answers that are only text (a
                // `chat` capability's `{"text": …}`); other call results are shown in full.
                let texts: Option<Vec<String>> = reply
                    .payload
                    .results
                    .iter()
                    .map(|r| {
                        let output = r.output.as_ref()?.as_object().filter(|o| o.len() == 1)?;
                        r.ok.then(|| output.get("text")?.as_str().map(str::to_owned))?
                    })
                    .collect();
                match texts {
                    Some(texts) => {
                        for line in std::iter::once(reply.payload.text.as_str())
                            .filter(|t| !t.is_empty())
                            .chain(texts.iter().map(String::as_str))
                        {
                            println!("{line}");
                        }
                    }
                    None => print_message(&reply, &args.peer),
                }
            });
            // A call the peer refused (not granted, no such capability) is a refusal: exit 4.
            let refused: Vec<String> = reply
                .payload
                .results
                .iter()
                .filter(|r| !r.ok)
                .map(|r| format!("{}: {}", r.capability, r.error.as_deref().unwrap_or("")))
                .collect();
            if !refused.is_empty() {
                return Err(Exit(
                    exit::REFUSED,
                    format!("{} did not run: {}", args.peer, refused.join("; ")),
                )
                .into());
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            spinner.done();
            return Err(Exit(
                exit::TIMEOUT,
                format!("delivered, but no reply within {} s", args.timeout),
            )
            .into());
        }
        spinner.tick();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A waiting indicator on stderr: a spinner on a terminal, one line otherwise.
struct Spinner {
    label: String,
    tty: bool,
    n: usize,
    shown: bool,
}

impl Spinner {
    fn new(label: String) -> Self {
        Spinner {
            label,
            tty: std::io::stderr().is_terminal(),
            n: 0,
            shown: false,
        }
    }
    fn label(&mut self, label: String) {
        self.label = label;
        self.shown = false;
    }
    fn tick(&mut self) {
        const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
        if self.tty {
            eprint!("\r{} {}…", FRAMES[self.n % 4], self.label);
        } else if !self.shown {
            eprintln!("{}…", self.label);
        }
        self.shown = true;
        self.n += 1;
    }
    fn done(&mut self) {
        if self.tty && self.n > 0 {
            eprint!("\r\x1b[2K");
        }
    }
}

#[derive(clap::Args)]
pub struct SendArgs {
    /// The peer's handle or key.
    #[arg(value_parser = crate::cli::peer_arg)]
    peer: String,
    text: String,
    /// Call a capability: --call NAME ['<json args>'] (repeatable; no args means {}).
    #[arg(long = "call", num_args = 1..=2, value_names = ["CAP", "JSON"])]
    call: Vec<String>,
    /// How long the peer may keep this: session, 90d or permanent.
    #[arg(long, default_value = "session", value_parser = ["session", "90d", "permanent"])]
    retention: String,
    /// Seconds to wait for delivery and the reply.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Wait for a reply even without calls.
    #[arg(long)]
    wait_reply: bool,
    /// Address one of the peer's swarms (the peer must grant `swarm:NAME`).
    #[arg(long)]
    swarm: Option<String>,
    /// Answer the peer's message with this seq (a reply written by hand).
    #[arg(long)]
    reply_to: Option<u64>,
}
