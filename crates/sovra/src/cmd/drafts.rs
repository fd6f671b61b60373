//! `sovra drafts list|send ID [--text …]|discard ID`: review-mode answers waiting for you.

use anyhow::Result;
use serde_json::json;

use crate::cli::{Ctx, ms_to_time};

pub async fn run(ctx: &Ctx, command: DraftsCommand) -> Result<()> {
    match command {
        DraftsCommand::List => {
            let v = ctx.call("GET", "/drafts", None).await?;
            ctx.print(&v, |v| {
                let drafts = v["drafts"].as_array().cloned().unwrap_or_default();
                if drafts.is_empty() {
                    println!("No drafts waiting.");
                }
                for d in drafts {
                    println!(
                        "{}  [{}] swarm {} answering #{} of {}: {}",
                        d["id"],
                        ms_to_time(&d["created_at"]),
                        d["swarm"].as_str().unwrap_or(""),
                        d["in_reply_to"],
                        d["conversation_id"].as_str().unwrap_or(""),
                        d["payload"]["text"].as_str().unwrap_or(""),
                    );
                }
            });
        }
        DraftsCommand::Send { id, text } => {
            let v = ctx
                .call(
                    "POST",
                    &format!("/drafts/{id}/send"),
                    Some(json!({ "text": text })),
                )
                .await?;
            ctx.print(&v, |v| println!("Sent draft {id} as message {}.", v["seq"]));
        }
        DraftsCommand::Discard { id } => {
            let v = ctx
                .call("POST", &format!("/drafts/{id}/discard"), None)
                .await?;
            ctx.print(&v, |_| println!("Discarded draft {id}."));
        }
    }
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum DraftsCommand {
    List,
    /// Send a draft as the reply, optionally with your own text.
    Send {
        id: i64,
        #[arg(long)]
        text: Option<String>,
    },
    Discard {
        id: i64,
    },
}
