//! `sovra drafts list|send ID [--text …]|discard ID`: review-mode answers waiting for you.

use anyhow::Result;
use sovra_proto::owner::{DraftDiscarded, DraftSent, Drafts, SendDraft};

use crate::cli::{Ctx, time_of, typed};

pub async fn run(ctx: &Ctx, command: DraftsCommand) -> Result<()> {
    match command {
        DraftsCommand::List => {
            let v = ctx.call("GET", "/drafts", None).await?;
            let list: Drafts = typed(&v)?;
            ctx.print(&v, |_| {
                if list.drafts.is_empty() {
                    println!("No drafts waiting.");
                }
                for d in &list.drafts {
                    println!(
                        "{}  [{}] swarm {} answering #{} of {}: {}",
                        d.id,
                        time_of(d.created_at),
                        d.swarm,
                        d.in_reply_to,
                        d.conversation_id,
                        d.payload.text,
                    );
                }
            });
        }
        DraftsCommand::Send { id, text } => {
            let body = serde_json::to_value(SendDraft { text })?;
            let v = ctx
                .call("POST", &format!("/drafts/{id}/send"), Some(body))
                .await?;
            let sent: DraftSent = typed(&v)?;
            ctx.print(&v, |_| println!("Sent draft {id} as message {}.", sent.seq));
        }
        DraftsCommand::Discard { id } => {
            let v = ctx
                .call("POST", &format!("/drafts/{id}/discard"), None)
                .await?;
            let _: DraftDiscarded = typed(&v)?;
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
