//! `sovra pending list|approve|deny`: requests waiting for the owner.

use anyhow::Result;
use serde_json::json;

use crate::cli::{Ctx, encode, ms_to_time};

pub async fn run(ctx: &Ctx, command: PendingCommand) -> Result<()> {
    match command {
        PendingCommand::List => {
            let v = ctx.call("GET", "/pending", None).await?;
            ctx.print(&v, |v| {
                let list = v["pending"].as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    println!("No pending requests.");
                }
                for p in list {
                    let key = sovra_proto::PublicKey::from_b64(
                        "k",
                        p["peer_pubkey"].as_str().unwrap_or(""),
                    );
                    let what = if p["reason"] == "key_reset" {
                        "KEY RESET"
                    } else {
                        "topic"
                    };
                    // Whether the claimed name is this key's, as the registry says.
                    let mark = match p["handle_status"].as_str() {
                        Some("verified") => " [verified]",
                        Some("impostor") => {
                            " [IMPOSTOR: the registry gives this handle to another key]"
                        }
                        _ if p["peer_handle"].is_string() => " [unverified]",
                        _ => "",
                    };
                    println!(
                        "{}  {}{mark} ({})  at {}  {what}: {}",
                        p["id"].as_str().unwrap_or(""),
                        p["peer_handle"].as_str().unwrap_or("(no handle)"),
                        key.map(|k| k.fingerprint()).unwrap_or_default(),
                        ms_to_time(&p["received_at"]),
                        p["topic"].as_str().unwrap_or(""),
                    );
                }
                let shown = v["pending"].as_array().map_or(0, Vec::len) as u64;
                if let Some(total) = v["total"].as_u64().filter(|t| *t > shown) {
                    println!(
                        "({shown} of {total} shown, oldest first; decide on these to see more)"
                    );
                }
            });
        }
        PendingCommand::Approve {
            id,
            allow,
            url,
            rate,
            handle,
            force,
        } => {
            let v = ctx
                .call(
                    "POST",
                    &format!("/pending/{}/approve", encode(&id)),
                    Some(json!({
                        // Absent, a key reset keeps the old key's grants.
                        "allowed_capabilities": (!allow.is_empty()).then_some(allow),
                        "url": url, "rate_limit_per_day": rate, "handle": handle,
                        "force": force,
                    })),
                )
                .await?;
            ctx.print(&v, |v| {
                println!(
                    "Approved {}",
                    v["entry"]["peer_handle"].as_str().unwrap_or("")
                )
            });
        }
        PendingCommand::Deny { id } => {
            let v = ctx
                .call("POST", &format!("/pending/{}/deny", encode(&id)), None)
                .await?;
            ctx.print(&v, |_| println!("Denied request {id}"));
        }
    }
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum PendingCommand {
    List,
    /// Whitelist the peer behind a pending request.
    Approve {
        id: String,
        /// A capability to grant (repeatable). For a key reset, default: the old key's grants.
        #[arg(long = "allow")]
        allow: Vec<String>,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        rate: Option<u32>,
        #[arg(long)]
        handle: Option<String>,
        /// Approve even though the registry gives the claimed handle to another key.
        #[arg(long)]
        force: bool,
    },
    Deny {
        id: String,
    },
}
