//! `sovra pending list|approve|deny`: requests waiting for the owner.

use anyhow::Result;
use sovra_proto::owner::ApproveBody;

use crate::cli::{Ctx, encode, time_text, typed};
use sovra_proto::owner::{HandleStatus, PendingPage};

pub async fn run(ctx: &Ctx, command: PendingCommand) -> Result<()> {
    match command {
        PendingCommand::List => {
            let v = ctx.call("GET", "/pending", None).await?;
            let page: PendingPage = typed(&v)?;
            ctx.print(&v, |_| {
                if page.pending.is_empty() {
                    println!("No pending requests.");
                }
                for p in &page.pending {
                    let key = sovra_proto::PublicKey::from_b64("k", &p.peer_pubkey);
                    let what = if p.reason == "key_reset" {
                        "KEY RESET"
                    } else {
                        "topic"
                    };
                    // Whether the claimed name is this key's, as the registry says.
                    let mark = match p.handle_status {
                        HandleStatus::Verified => " [verified]",
                        HandleStatus::Impostor => {
                            " [IMPOSTOR: the registry gives this handle to another key]"
                        }
                        _ if p.peer_handle.is_some() => " [unverified]",
                        _ => "",
                    };
                    println!(
                        "{}  {}{mark} ({})  at {}  {what}: {}",
                        p.id,
                        p.peer_handle.as_deref().unwrap_or("(no handle)"),
                        key.map(|k| k.fingerprint()).unwrap_or_default(),
                        time_text(&p.received_at.into()),
                        p.topic,
                    );
                }
                let shown = page.pending.len() as i64;
                if let Some(total) = Some(page.total).filter(|t| *t > shown) {
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
                    Some(serde_json::to_value(ApproveBody {
                        // Absent, a key reset keeps the old key's grants.
                        allowed_capabilities: (!allow.is_empty()).then_some(allow),
                        url,
                        rate_limit_per_day: rate,
                        handle,
                        force,
                        expires_at: None,
                    })?),
                )
                .await?;
            let peer: sovra_proto::owner::Peer = typed(&v)?;
            ctx.print(&v, |_| println!("Approved {}", peer.entry.peer_handle));
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
        #[arg(long, value_parser = crate::cli::peer_arg)]
        handle: Option<String>,
        /// Approve even though the registry gives the claimed handle to another key.
        #[arg(long)]
        force: bool,
    },
    Deny {
        id: String,
    },
}
