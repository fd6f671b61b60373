//! `sovra swarm create|list|show|remove|soul|memory|set|token`: the swarms inside this cloud.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::json;
use sovra_proto::owner::{
    AgentToken, CreateSwarm, NewText, Swarm, SwarmRemoved, SwarmSettings, SwarmText, Swarms,
    TextSaved, TokensRevoked,
};

use crate::cli::{Ctx, encode, names, typed};

pub async fn run(ctx: &Ctx, command: SwarmCommand) -> Result<()> {
    match command {
        SwarmCommand::Create { name } => {
            let body = CreateSwarm {
                name: name.clone(),
                settings: SwarmSettings::default(),
            };
            let v = ctx
                .call("POST", "/swarms", Some(serde_json::to_value(&body)?))
                .await?;
            let _: Swarm = typed(&v)?;
            ctx.print(&v, |_| {
                println!("Created swarm {name} (mode auto, no brain yet).");
                println!("Next: `sovra swarm soul {name} --edit`, then `sovra swarm set {name} --brain …`.");
            });
        }
        SwarmCommand::List => {
            let v = ctx.call("GET", "/swarms", None).await?;
            let list: Swarms = typed(&v)?;
            ctx.print(&v, |_| {
                for s in &list.swarms {
                    println!(
                        "{:<16} mode {:<6}  brain {:<9}  {}/{} answers today  peers: {}  capabilities: {}",
                        s.name,
                        s.mode,
                        s.brain["kind"].as_str().unwrap_or("none"),
                        s.used_today,
                        s.budget_per_day,
                        names(&s.peers),
                        names(&s.capabilities),
                    );
                }
            });
        }
        SwarmCommand::Show { name } => {
            let v = ctx
                .call("GET", &format!("/swarms/{}", encode(&name)), None)
                .await?;
            let swarm: Swarm = typed(&v)?;
            ctx.print(&v, |_| print_swarm(&swarm));
        }
        SwarmCommand::Remove { name } => {
            let v = ctx
                .call("DELETE", &format!("/swarms/{}", encode(&name)), None)
                .await?;
            let _: SwarmRemoved = typed(&v)?;
            ctx.print(&v, |_| println!("Removed swarm {name}."));
        }
        SwarmCommand::Soul { name, edit, file } => {
            text_file(ctx, &name, "soul", edit, file.as_deref()).await?;
        }
        SwarmCommand::Memory { name, edit, file } => {
            text_file(ctx, &name, "memory", edit, file.as_deref()).await?;
        }
        SwarmCommand::Set(args) => set(ctx, *args).await?,
        SwarmCommand::Token { name, revoke } => {
            let path = format!("/swarms/{}/tokens", encode(&name));
            if revoke {
                let v = ctx.call("DELETE", &path, None).await?;
                let revoked: TokensRevoked = typed(&v)?;
                ctx.print(&v, |_| {
                    println!("Revoked {} token(s) of swarm {name}.", revoked.revoked)
                });
            } else {
                let t: AgentToken = typed(&ctx.call("POST", &path, None).await?)?;
                if ctx.json {
                    println!("{}", json!({ "token": t.token }));
                } else {
                    println!("{}", t.token);
                    eprintln!(
                        "This is the only time the token is shown. Agents send it as `Authorization: Bearer …` to /api/agent/*."
                    );
                }
            }
        }
    }
    Ok(())
}

fn print_swarm(s: &Swarm) {
    println!("swarm {}", s.name);
    println!("  mode:          {}", s.mode);
    println!("  brain:         {}", s.brain);
    println!(
        "  budget:        {} of {} answers used today",
        s.used_today, s.budget_per_day
    );
    println!("  auto turns:    at most {} in a row", s.max_auto_turns);
    println!(
        "  memory:        {} recent turns, {} characters; notes {} bytes",
        s.memory_messages, s.memory_chars, s.notes_bytes
    );
    println!("  soul:          {} bytes", s.soul_bytes);
    println!("  agent tokens:  {}", s.tokens);
    println!("  peers:         {}", names(&s.peers));
    println!("  capabilities:  {}", names(&s.capabilities));
}

/// Shows, or replaces from a file or the editor, a swarm's soul or notes.
async fn text_file(
    ctx: &Ctx,
    name: &str,
    which: &str,
    edit: bool,
    file: Option<&Path>,
) -> Result<()> {
    let path = format!("/swarms/{}/{which}", encode(name));
    let text = match (edit, file) {
        (false, None) => {
            let v = ctx.call("GET", &path, None).await?;
            let current: SwarmText = typed(&v)?;
            ctx.print(&v, |_| print!("{}", current.text));
            return Ok(());
        }
        (_, Some(f)) => {
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?
        }
        (true, None) => {
            let current: SwarmText = typed(&ctx.call("GET", &path, None).await?)?;
            edit_text(&current.text)?
        }
    };
    let v = ctx
        .call("PUT", &path, Some(serde_json::to_value(NewText { text })?))
        .await?;
    let saved: TextSaved = typed(&v)?;
    ctx.print(&v, |_| {
        println!("Saved {which} of {name} ({} bytes).", saved.bytes)
    });
    Ok(())
}

/// Opens `$VISUAL`, `$EDITOR` or `vi` on the text and returns what was saved.
fn edit_text(current: &str) -> Result<String> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let file = tempfile::Builder::new().suffix(".md").tempfile()?;
    std::fs::write(file.path(), current)?;
    let mut parts = editor.split_whitespace();
    let program = parts.next().context("the editor command is empty")?;
    let status = std::process::Command::new(program)
        .args(parts)
        .arg(file.path())
        .status()
        .with_context(|| format!("starting {editor}"))?;
    if !status.success() {
        bail!("{editor} exited with {status}; nothing saved");
    }
    Ok(std::fs::read_to_string(file.path())?)
}

async fn set(ctx: &Ctx, a: SwarmSetArgs) -> Result<()> {
    let mut body = SwarmSettings {
        mode: a.mode.clone(),
        budget_per_day: a.budget,
        max_auto_turns: a.max_auto_turns,
        memory_messages: a.memory_messages,
        memory_chars: a.memory_chars,
        ..SwarmSettings::default()
    };
    let timeout = a.timeout_ms.map(|t| json!(t));
    let need_url = |kind: &str| -> Result<String> {
        a.url
            .clone()
            .with_context(|| format!("--brain {kind} needs --url"))
    };
    if let Some(kind) = a.brain.as_deref() {
        let mut brain = match kind {
            "none" => json!({"kind": "none"}),
            "openai" => {
                let model = a.model.clone().context("--brain openai needs --model")?;
                let mut b = json!({"kind": "openai", "url": need_url(kind)?, "model": model});
                if let Some(var) = &a.api_key_env {
                    b["api_key"] = json!({"env": var});
                }
                if let Some(t) = a.temperature {
                    b["temperature"] = json!(t);
                }
                if let Some(n) = a.max_tokens {
                    b["max_tokens"] = json!(n);
                }
                b
            }
            "brainstem" => json!({"kind": "brainstem", "url": need_url(kind)?}),
            "http" => json!({"kind": "http", "url": need_url(kind)?}),
            "exec" => {
                if a.exec.is_empty() {
                    bail!("--brain exec needs the command after `--`: --brain exec -- CMD ARGS…");
                }
                json!({"kind": "exec", "command": a.exec})
            }
            other => bail!("unknown brain {other:?}: none, openai, brainstem, http or exec"),
        };
        if let (Some(t), false) = (&timeout, kind == "none") {
            brain["timeout_ms"] = t.clone();
        }
        body.brain = Some(brain);
    }
    if let Some(f) = &a.api_key_file {
        let key = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        body.api_key = Some(key.trim().to_owned());
    }
    let body = serde_json::to_value(&body)?;
    if body.as_object().is_some_and(|o| o.is_empty()) {
        bail!("nothing to change: give --mode, --budget, --brain, …");
    }
    let v = ctx
        .call("PATCH", &format!("/swarms/{}", encode(&a.name)), Some(body))
        .await?;
    let swarm: Swarm = typed(&v)?;
    ctx.print(&v, |_| print_swarm(&swarm));
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum SwarmCommand {
    /// Create a swarm (mode auto, no brain until you set one).
    Create {
        name: String,
    },
    List,
    Show {
        name: String,
    },
    /// Remove a swarm (not main; not while peers or capabilities use it).
    Remove {
        name: String,
    },
    /// Show the soul (system prompt), or replace it from a file or your $EDITOR.
    Soul {
        name: String,
        #[arg(long, conflicts_with = "file")]
        edit: bool,
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    /// Show the long-term notes, or replace them from a file or your $EDITOR.
    Memory {
        name: String,
        #[arg(long, conflicts_with = "file")]
        edit: bool,
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    /// Change a swarm's mode, budget or brain. The brain: --brain openai --url URL --model M,
    /// --brain brainstem --url URL, --brain http --url URL, --brain exec -- CMD ARGS…,
    /// --brain none.
    Set(Box<SwarmSetArgs>),
    /// Create an agent API token for this swarm (printed once), or revoke all of them.
    Token {
        name: String,
        #[arg(long)]
        revoke: bool,
    },
}

#[derive(clap::Args)]
pub struct SwarmSetArgs {
    pub name: String,
    /// auto (answer at once), review (draft for you), off (store only).
    #[arg(long)]
    pub mode: Option<String>,
    /// Brain answers per day.
    #[arg(long)]
    pub budget: Option<i64>,
    /// Automatic messages in a row answered before the conversation waits for a human.
    #[arg(long)]
    pub max_auto_turns: Option<i64>,
    /// Recent turns given to the brain.
    #[arg(long)]
    pub memory_messages: Option<i64>,
    /// Characters of recent turns given to the brain.
    #[arg(long)]
    pub memory_chars: Option<i64>,
    /// none, openai, brainstem, http or exec.
    #[arg(long)]
    pub brain: Option<String>,
    /// The brain's base URL (openai: as OpenAI clients take it, e.g. http://127.0.0.1:11434/v1).
    #[arg(long)]
    pub url: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    /// The environment variable of the node holding the API key.
    #[arg(long, conflicts_with = "api_key_file")]
    pub api_key_env: Option<String>,
    /// A file holding the API key; it is copied into the swarm's 0600 api-key file.
    #[arg(long)]
    pub api_key_file: Option<std::path::PathBuf>,
    #[arg(long)]
    pub temperature: Option<f32>,
    #[arg(long)]
    pub max_tokens: Option<u32>,
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// With --brain exec: the command and its arguments, after `--`.
    #[arg(last = true)]
    pub exec: Vec<String>,
}
