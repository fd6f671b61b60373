//! The actions surface from the command line (PROTOCOL.md §23): `sovra follow|unfollow ID`,
//! `sovra connect|disconnect ID`, `sovra connections [approve|deny ID]`, `sovra post TEXT
//! [--file F]`, `sovra act ID TYPE [TEXT]`, `sovra feed`, `sovra followers`, `sovra following`,
//! `sovra file put|get|list`, `sovra block|unblock ID`, `sovra blocked`. An id tag is a Sovra handle (`@bob.cloud`) or a Cloudillo
//! domain (`bob.cloudillo.net`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use sovra_proto::action::owner::{Actions, File, Files, Issued, Relations};

use crate::cli::{Ctx, client_error, encode, typed};

/// An id tag from the command line: handles are case-insensitive, domains too.
pub fn id_tag_arg(text: &str) -> Result<String, String> {
    let t = text.trim().to_lowercase();
    match t.is_empty() {
        true => Err("an id tag is a handle (@bob.cloud) or a domain".into()),
        false => Ok(t),
    }
}

fn issued(ctx: &Ctx, v: &Value, done: &str) -> Result<()> {
    let i: Issued = typed(v)?;
    ctx.print(v, |_| {
        let to = match i.deliveries {
            0 => "no inbox to deliver to".to_owned(),
            1 => "queued for 1 inbox".to_owned(),
            n => format!("queued for {n} inboxes"),
        };
        println!("{done} ({} {}, {to}).", i.action.kind, i.action.id);
    });
    Ok(())
}

async fn relation(ctx: &Ctx, path: &str, id_tag: &str, done: &str) -> Result<()> {
    let v = ctx
        .call("POST", path, Some(json!({ "id_tag": id_tag })))
        .await?;
    issued(ctx, &v, done)
}

pub async fn follow(ctx: &Ctx, id_tag: &str) -> Result<()> {
    relation(
        ctx,
        "/actions/follow",
        id_tag,
        &format!("Following {id_tag}"),
    )
    .await
}

pub async fn unfollow(ctx: &Ctx, id_tag: &str) -> Result<()> {
    relation(
        ctx,
        "/actions/unfollow",
        id_tag,
        &format!("No longer following {id_tag}"),
    )
    .await
}

pub async fn connect(ctx: &Ctx, id_tag: &str) -> Result<()> {
    relation(
        ctx,
        "/actions/connect",
        id_tag,
        &format!("Asked {id_tag} to connect (or accepted their request)"),
    )
    .await
}

pub async fn disconnect(ctx: &Ctx, id_tag: &str) -> Result<()> {
    relation(
        ctx,
        "/actions/disconnect",
        id_tag,
        &format!("Disconnected from {id_tag}"),
    )
    .await
}

fn print_relations(ctx: &Ctx, v: &Value, empty: &str) -> Result<()> {
    let r: Relations = typed(v)?;
    ctx.print(v, |_| {
        if r.relations.is_empty() {
            println!("{empty}");
        }
        for x in &r.relations {
            let state = match x.state.as_str() {
                "asked" => "asked to connect: `sovra connections approve` or `deny`",
                "requested" => "waiting for their approval",
                s => s,
            };
            println!("{:<32} since {}  {state}", x.id_tag, x.since);
        }
    });
    Ok(())
}

pub async fn block(ctx: &Ctx, id_tag: &str, undo: bool) -> Result<()> {
    let (path, done) = match undo {
        false => (
            "/actions/block",
            format!(
                "Blocked {id_tag}: its actions are refused; its follow and any connection ended."
            ),
        ),
        true => ("/actions/unblock", format!("Unblocked {id_tag}.")),
    };
    let v = ctx
        .call("POST", path, Some(json!({ "id_tag": id_tag })))
        .await?;
    ctx.print(&v, |_| println!("{done}"));
    Ok(())
}

pub async fn blocked(ctx: &Ctx) -> Result<()> {
    let v = ctx.call("GET", "/actions/blocked", None).await?;
    print_relations(ctx, &v, "Nobody is blocked.")
}

pub async fn followers(ctx: &Ctx) -> Result<()> {
    let v = ctx.call("GET", "/actions/followers", None).await?;
    print_relations(ctx, &v, "No followers.")
}

pub async fn following(ctx: &Ctx) -> Result<()> {
    let v = ctx.call("GET", "/actions/following", None).await?;
    print_relations(ctx, &v, "Not following anyone.")
}

pub async fn connections(ctx: &Ctx, command: Option<ConnectionsCommand>) -> Result<()> {
    match command {
        None | Some(ConnectionsCommand::List) => {
            let v = ctx.call("GET", "/actions/connections", None).await?;
            print_relations(ctx, &v, "No connections.")
        }
        Some(ConnectionsCommand::Approve { id_tag, whitelist }) => {
            let v = ctx
                .call(
                    "POST",
                    "/actions/approve",
                    Some(json!({ "id_tag": id_tag, "whitelist": whitelist })),
                )
                .await?;
            let also = match whitelist {
                true => "; whitelisted for D2D with no capabilities (`sovra peer grant` to add)",
                false => "",
            };
            issued(ctx, &v, &format!("Connected with {id_tag}{also}"))
        }
        Some(ConnectionsCommand::Deny { id_tag }) => {
            let v = ctx
                .call("POST", "/actions/deny", Some(json!({ "id_tag": id_tag })))
                .await?;
            ctx.print(&v, |_| println!("Dropped {id_tag}'s request to connect."));
            Ok(())
        }
    }
}

/// A media type from a file name's extension, for the common kinds; else octet-stream.
fn media_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("svg") => "image/svg+xml",
        Some("pdf") => "application/pdf",
        Some("json") => "application/json",
        Some("txt" | "md") => "text/plain",
        Some("mp4") => "video/mp4",
        Some("mp3") => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

async fn upload(ctx: &Ctx, path: &Path, content_type: Option<&str>) -> Result<File> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let owner = ctx.owner()?;
    let ct = content_type.unwrap_or_else(|| media_type(path));
    owner
        .put_bytes::<File>("/api/owner/files", ct, &bytes)
        .await
        .map_err(|e| client_error(e, owner.base()))
}

pub async fn post(ctx: &Ctx, text: String, files: Vec<PathBuf>, private: bool) -> Result<()> {
    let mut ids = Vec::new();
    for f in &files {
        ids.push(upload(ctx, f, None).await?.id);
    }
    let v = ctx
        .call(
            "POST",
            "/actions/post",
            Some(json!({ "text": text, "files": ids, "public": !private })),
        )
        .await?;
    issued(ctx, &v, "Posted")
}

pub async fn act(ctx: &Ctx, args: ActArgs) -> Result<()> {
    let content = match (args.data, args.text) {
        (Some(j), _) => Some(serde_json::from_str::<Value>(&j).context("--data is not JSON")?),
        (None, Some(t)) => Some(Value::String(t)),
        (None, None) => None,
    };
    let v = ctx
        .call(
            "POST",
            "/actions/send",
            Some(json!({
                "to": args.to, "type": args.kind.to_ascii_uppercase(), "content": content,
                "parent": args.parent, "files": args.file,
            })),
        )
        .await?;
    issued(ctx, &v, &format!("Sent to {}", args.to))
}

pub async fn feed(ctx: &Ctx, limit: u32, sent: bool) -> Result<()> {
    let path = match sent {
        true => "/actions/sent",
        false => "/actions/feed",
    };
    let v = ctx
        .call("GET", &format!("{path}?limit={limit}"), None)
        .await?;
    let a: Actions = typed(&v)?;
    ctx.print(&v, |_| {
        if a.actions.is_empty() {
            println!("Nothing yet.");
        }
        for x in &a.actions {
            let who = match sent {
                true => x.audience.clone().unwrap_or_else(|| "followers".into()),
                false => x.issuer.clone(),
            };
            let text = match &x.content {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            let files = match x.attachments.len() {
                0 => String::new(),
                n => format!("  [{n} file(s): {}]", x.attachments.join(" ")),
            };
            println!("{}  {:<10} {who:<28} {text}{files}", x.received_at, x.kind);
        }
    });
    Ok(())
}

pub async fn file(ctx: &Ctx, command: FileCommand) -> Result<()> {
    match command {
        FileCommand::Put { path, content_type } => {
            let f = upload(ctx, &path, content_type.as_deref()).await?;
            let v = serde_json::to_value(&f)?;
            ctx.print(&v, |_| {
                println!("{}  {} bytes  {}", f.id, f.size, f.content_type);
            });
        }
        FileCommand::Get { id, from, out } => {
            if let Some(id_tag) = from {
                ctx.call(
                    "POST",
                    "/files/fetch",
                    Some(json!({ "id_tag": id_tag, "id": id })),
                )
                .await?;
            }
            let owner = ctx.owner()?;
            let (_, bytes) = owner
                .get_bytes(&format!("/api/owner/files/{}", encode(&id)))
                .await
                .map_err(|e| client_error(e, owner.base()))?;
            match out {
                Some(path) => {
                    std::fs::write(&path, &bytes)
                        .with_context(|| format!("writing {}", path.display()))?;
                    if !ctx.json {
                        println!("Wrote {} bytes to {}", bytes.len(), path.display());
                    }
                }
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(&bytes)?;
                }
            }
        }
        FileCommand::List => {
            let v = ctx.call("GET", "/files", None).await?;
            let f: Files = typed(&v)?;
            ctx.print(&v, |_| {
                if f.files.is_empty() {
                    println!("No files.");
                }
                for x in &f.files {
                    println!(
                        "{}  {:>10} bytes  {:<24} {}",
                        x.id,
                        x.size,
                        x.content_type,
                        x.origin.as_deref().unwrap_or("uploaded here")
                    );
                }
            });
        }
    }
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum ConnectionsCommand {
    /// Every connection and request, both ways (the default).
    List,
    /// Accept a cloud's request to connect.
    Approve {
        #[arg(value_parser = id_tag_arg)]
        id_tag: String,
        /// Also put the handle on the D2D whitelist, with no capabilities.
        #[arg(long)]
        whitelist: bool,
    },
    /// Drop a cloud's request to connect, unanswered.
    Deny {
        #[arg(value_parser = id_tag_arg)]
        id_tag: String,
    },
}

#[derive(clap::Subcommand)]
pub enum FileCommand {
    /// Store a file in this cloud; prints its id (f1~…) to attach to a post or share.
    Put {
        path: PathBuf,
        /// Its media type (default: from the extension).
        #[arg(long = "type")]
        content_type: Option<String>,
    },
    /// Write a stored file to --out (or stdout); with --from, fetch it from that cloud first
    /// (kept only if its bytes hash to the id).
    Get {
        id: String,
        #[arg(long, value_parser = id_tag_arg)]
        from: Option<String>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The files stored here.
    List,
}

/// `sovra act ID TYPE [TEXT]`.
#[derive(clap::Args)]
pub struct ActArgs {
    /// The connected cloud it goes to.
    #[arg(value_parser = id_tag_arg)]
    pub to: String,
    /// MSG, CMNT, REACT:LIKE, FSHR… (a comment or reaction names its --parent).
    #[arg(value_name = "TYPE")]
    pub kind: String,
    /// Text content.
    pub text: Option<String>,
    /// JSON content instead of text, e.g. `--data '{"name": "minutes.txt"}'`.
    #[arg(long, conflicts_with = "text")]
    pub data: Option<String>,
    /// The action answered (a1~…).
    #[arg(long)]
    pub parent: Option<String>,
    /// A stored file's id to attach (repeatable).
    #[arg(long)]
    pub file: Vec<String>,
}
