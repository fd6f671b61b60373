//! `sovra cap expose|list|withdraw`: capabilities exposed to peers.

use anyhow::{Result, bail};
use serde_json::json;

use crate::cli::{Ctx, encode};

pub async fn run(ctx: &Ctx, command: CapCommand) -> Result<()> {
    match command {
        CapCommand::Expose {
            name,
            description,
            timeout_ms,
            http,
            chat,
            model,
            swarm,
            exec,
        } => {
            let adapter = if let Some(url) = http {
                json!({"kind": "http", "url": url, "timeout_ms": timeout_ms})
            } else if let Some(url) = chat {
                json!({"kind": "chat", "url": url, "model": model, "timeout_ms": timeout_ms})
            } else if !exec.is_empty() {
                // The node runs it from its own working directory: a path relative to the
                // user's is made absolute here.
                let mut command = exec;
                let program = std::path::Path::new(&command[0]);
                if program.components().count() > 1 && program.is_relative() && program.exists() {
                    command[0] = std::fs::canonicalize(program)?.display().to_string();
                }
                json!({"kind": "exec", "command": command, "timeout_ms": timeout_ms})
            } else {
                bail!("give one adapter: --exec CMD [ARGS…], --http URL or --chat URL --model M");
            };
            let v = ctx
                .call(
                    "PUT",
                    &format!("/capabilities/{}", encode(&name)),
                    Some(serde_json::to_value(sovra_proto::owner::CapabilityBody {
                        description,
                        adapter,
                        swarm,
                    })?),
                )
                .await?;
            ctx.print(&v, |_| {
                println!(
                    "Exposed {name}. Peers still need a grant (`sovra peer add … --allow {name}`)."
                )
            });
        }
        CapCommand::Withdraw { name } => {
            let v = ctx
                .call("DELETE", &format!("/capabilities/{}", encode(&name)), None)
                .await?;
            ctx.print(&v, |_| println!("Withdrew {name}."));
        }
        CapCommand::List => {
            let v = ctx.call("GET", "/capabilities", None).await?;
            let caps: sovra_proto::owner::Capabilities = crate::cli::typed(&v)?;
            ctx.print(&v, |_| {
                if caps.capabilities.is_empty() {
                    println!("Nothing is exposed.");
                }
                for c in &caps.capabilities {
                    println!(
                        "{:<20} [{}] {}",
                        c.name,
                        c.adapter["kind"].as_str().unwrap_or(""),
                        c.description
                    );
                }
            });
        }
    }
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum CapCommand {
    /// Expose a capability to peers (they still need a grant to call it).
    Expose {
        name: String,
        #[arg(long)]
        description: String,
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
        /// POST the args to this local URL.
        #[arg(long, conflicts_with_all = ["chat", "exec"])]
        http: Option<String>,
        /// An OpenAI-compatible endpoint (base URL); needs --model.
        #[arg(long, requires = "model", conflicts_with = "exec")]
        chat: Option<String>,
        #[arg(long)]
        model: Option<String>,
        /// The swarm it belongs to (a chat adapter speaks with its soul; default: main).
        #[arg(long)]
        swarm: Option<String>,
        /// Run this command (no shell): args JSON on stdin, JSON on stdout. Must come last.
        #[arg(long, num_args = 1.., allow_hyphen_values = true)]
        exec: Vec<String>,
    },
    Withdraw {
        name: String,
    },
    List,
}
