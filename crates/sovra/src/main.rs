//! `sovra`: one binary for every Sovra process and the owner's CLI.
//!
//! Owner commands (`peer`, `pending`, `cap`, `send`, …) talk to the running node's owner API,
//! signing each request with the cloud's device key from the home directory. `quickstart` runs
//! two real nodes on loopback; `selfcheck` exercises the protocol core without a network.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

mod bench;
mod cli;
mod quickstart;
mod selfcheck;

use cli::{Ctx, Exit, exit, ms_to_time};

#[derive(Parser)]
#[command(
    name = "sovra",
    version,
    about = "Sovereign clouds for AI agent swarms, federated over rapp-d2d/1.0"
)]
struct Cli {
    /// Where clouds live (default: $XDG_DATA_HOME/sovra or ~/.local/share/sovra).
    #[arg(long, global = true, env = "SOVRA_HOME")]
    home: Option<PathBuf>,
    /// Which cloud to act for, when the home holds several (name or handle).
    #[arg(long, global = true, env = "SOVRA_CLOUD")]
    cloud: Option<String>,
    /// The node's URL (default: the one `sovra node serve` recorded in the home).
    #[arg(long, global = true, env = "SOVRA_NODE")]
    node: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a registry, a relay and two clouds on two local nodes and walk a conversation
    /// through them, bob reachable only through the relay (the README's
    /// first command).
    Quickstart {
        /// Keep the clouds in this directory instead of a temporary one.
        #[arg(long = "dir")]
        dir: Option<PathBuf>,
    },
    /// Exercise the protocol core in one process, without a network.
    Selfcheck {
        /// Keep the clouds' key files in this directory instead of a temporary one.
        #[arg(long = "keys")]
        home: Option<PathBuf>,
    },
    /// Create a cloud: keys, a device key for this CLI, a database and a config.
    Init {
        #[arg(long)]
        handle: String,
    },
    /// Run the node that serves every cloud in the home.
    Node {
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// Manage the whitelist.
    Peer {
        #[command(subcommand)]
        command: PeerCommand,
    },
    /// Handshakes from peers not on the whitelist, waiting for a decision.
    Pending {
        #[command(subcommand)]
        command: PendingCommand,
    },
    /// Capabilities exposed to peers.
    Cap {
        #[command(subcommand)]
        command: CapCommand,
    },
    /// Send a message (with optional capability calls) and wait for it to be delivered and,
    /// when it makes calls, for the reply.
    Send(SendArgs),
    /// List conversations.
    Conversations,
    /// Show the messages exchanged with a peer.
    Log { peer: String },
    /// Close the open conversation with a peer (its session-retention content is deleted).
    Close { peer: String },
    /// Claim this cloud's handle at a registry with a phone number (prompts for the SMS code).
    Register {
        /// Your phone number in international form, e.g. "+1 415 555 2671".
        #[arg(long)]
        phone: String,
        /// The handle to claim; must be this cloud's (default: this cloud's).
        #[arg(long)]
        handle: Option<String>,
        /// The registry's URL (its key is pinned on first use).
        #[arg(long, env = "SOVRA_REGISTRY")]
        registry: String,
    },
    /// Replace this cloud's key: the registry links old to new, peers follow automatically.
    /// Needs the phone's code (prompted) as well as the current key.
    Rotate {
        #[arg(long)]
        phone: String,
    },
    /// Run a relay: ciphertext-only store-and-forward over WebSocket.
    Relay {
        #[command(subcommand)]
        command: RelayCommand,
    },
    /// Run a registry: phone-verified handles and signed key records.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Benchmarks (figures go in docs/BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Built-in agents for exec capabilities (used by quickstart).
    #[command(hide = true)]
    Agent { name: String },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Messages per second and p50/p99 latency into a real node on loopback.
    D2d {
        /// Concurrent conversations to measure, one run each.
        #[arg(long, value_delimiter = ',', default_value = "1,32")]
        conversations: Vec<usize>,
        /// Seconds per run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Payload plaintext size in bytes.
        #[arg(long, default_value_t = 1024)]
        size: usize,
    },
    /// Envelopes per second and end-to-end latency through a relay process, then its memory
    /// per idle connection.
    Relay {
        #[arg(long, default_value_t = 100)]
        clouds: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 1024)]
        size: usize,
        /// Idle connections for the memory measurement.
        #[arg(long, default_value_t = 10_000)]
        idle: usize,
    },
    /// Handle lookups per second and latency against a registry holding many handles.
    Registry {
        /// Handles registered before measuring.
        #[arg(long, default_value_t = 1_000_000)]
        handles: usize,
        /// Offered load of the fixed-rate run, lookups per second.
        #[arg(long, default_value_t = 500)]
        rate: u32,
        /// Seconds per run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Keep the registry here (reused if it already holds the handles).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Serve until SIGINT or SIGTERM. Creates the registry's keys on first start.
    Serve {
        /// Where the registry keeps its keys and database (default: <home>/registry).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long, default_value = "127.0.0.1:7871")]
        listen: String,
        /// Handles are @name.<domain>.
        #[arg(long, default_value = "cloud")]
        domain: String,
        /// How codes are sent: console (to this log), twilio (TWILIO_* variables) or
        /// webhook (SOVRA_SMS_WEBHOOK_URL).
        #[arg(long, default_value = "console")]
        sms: String,
    },
}

#[derive(Subcommand)]
enum RelayCommand {
    /// Keep this cloud reachable through a relay (and publish it as a hint).
    Add { url: String },
    /// The relays this cloud uses.
    List,
    /// Stop publishing a relay.
    Remove { url: String },
    /// Serve until SIGINT or SIGTERM.
    Serve {
        /// Where the relay keeps its database (default: <home>/relay).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long, default_value = "127.0.0.1:7872")]
        listen: String,
        /// The URL clouds connect to, which they sign (default: ws://<listen address>).
        #[arg(long)]
        public_url: Option<String>,
        /// Undelivered envelopes expire after this many seconds.
        #[arg(long, default_value_t = 7 * 24 * 3600)]
        ttl: u64,
        /// Leading zero bits of the first-contact proof of work (0: none).
        #[arg(long, default_value_t = 18)]
        pow_difficulty: u8,
        /// Frames per second per sender key, and the burst.
        #[arg(long, default_value_t = 100.0)]
        rate: f64,
        #[arg(long, default_value_t = 500.0)]
        burst: f64,
        /// Most envelopes waiting per recipient.
        #[arg(long, default_value_t = 10_000)]
        quota: i64,
    },
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Serve until SIGINT or SIGTERM; in-flight requests finish first.
    Serve {
        #[arg(long, default_value = "127.0.0.1:7870")]
        listen: String,
        /// The URL peers reach this node at (default: http://<listen address>).
        #[arg(long)]
        public_url: Option<String>,
    },
}

#[derive(Subcommand)]
enum PeerCommand {
    /// Add or update a peer. With the handle alone, its key and endpoint come from the
    /// registry (verified against the pinned registry key) and follow its rotations.
    Add {
        handle: String,
        /// The peer's Ed25519 key (`ed25519:…` or base64), to add it without a registry.
        #[arg(long)]
        pubkey: Option<String>,
        /// The peer cloud's base URL (with --pubkey).
        #[arg(long)]
        url: Option<String>,
        /// A relay the peer is reachable through (with --pubkey; repeatable).
        #[arg(long = "relay", requires = "pubkey")]
        relays: Vec<String>,
        /// The peer's X25519 key, needed to reach it through relays alone (with --pubkey).
        #[arg(long, requires = "pubkey")]
        encryption_key: Option<String>,
        /// Resolve the handle at this registry (default: the one pinned for its domain).
        #[arg(long, env = "SOVRA_REGISTRY", conflicts_with = "pubkey")]
        registry: Option<String>,
        /// A capability the peer may call (repeatable).
        #[arg(long = "allow")]
        allow: Vec<String>,
        /// Handshakes plus messages accepted per rolling day.
        #[arg(long, default_value_t = 100)]
        rate: u32,
        /// RFC 3339 expiry, e.g. 2027-04-19T00:00:00Z.
        #[arg(long)]
        expires: Option<String>,
    },
    List,
    Remove {
        peer: String,
    },
    /// Show who a registry says a handle is, with the safety code to compare; adds nothing.
    Lookup {
        handle: String,
        #[arg(long, env = "SOVRA_REGISTRY")]
        registry: Option<String>,
    },
    /// Ask the registries about every peer added by handle now (rotations are followed,
    /// resets become pending requests). The node also does this hourly.
    Check,
}

#[derive(Subcommand)]
enum PendingCommand {
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
    },
    Deny {
        id: String,
    },
}

#[derive(Subcommand)]
enum CapCommand {
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
        /// Run this command (no shell): args JSON on stdin, JSON on stdout. Must come last.
        #[arg(long, num_args = 1.., allow_hyphen_values = true)]
        exec: Vec<String>,
    },
    Withdraw {
        name: String,
    },
    List,
}

#[derive(Args)]
struct SendArgs {
    /// The peer's handle or key.
    peer: String,
    text: String,
    /// Call a capability: --call NAME '<json args>' (repeatable).
    #[arg(long = "call", num_args = 2, value_names = ["CAP", "JSON"])]
    call: Vec<String>,
    /// How long the peer may keep this: session, 90d or permanent.
    #[arg(long, default_value = "session")]
    retention: String,
    /// Seconds to wait for delivery and the reply.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Wait for a reply even without calls.
    #[arg(long)]
    wait_reply: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e
                .downcast_ref::<Exit>()
                .map(|x| x.0)
                .unwrap_or(exit::FAILURE);
            eprintln!("sovra: {e:#}");
            ExitCode::from(code)
        }
    }
}

/// `sovra registry serve`.
async fn registry_serve(
    dir: &std::path::Path,
    listen: &str,
    domain: &str,
    sms: &str,
) -> Result<()> {
    use sovra_registry::sms::{ConsoleGateway, SmsGateway, TwilioGateway, WebhookGateway};
    // The console gateway "sends" codes to this log.
    init_logging();
    let gateway: std::sync::Arc<dyn SmsGateway> = match sms {
        "console" => std::sync::Arc::new(ConsoleGateway::default()),
        "twilio" => std::sync::Arc::new(TwilioGateway::from_env().map_err(anyhow::Error::msg)?),
        "webhook" => std::sync::Arc::new(WebhookGateway::from_env().map_err(anyhow::Error::msg)?),
        other => bail!("unknown SMS gateway {other:?}: console, twilio or webhook"),
    };
    let settings = sovra_registry::Settings {
        domain: domain.to_owned(),
        ..Default::default()
    };
    let registry = std::sync::Arc::new(sovra_registry::home::open(dir, settings, gateway).await?);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    println!(
        "registry on http://{addr}  key {}  handles @name.{domain}  sms: {sms}",
        registry.public().to_human()
    );
    sovra_registry::api::serve(listener, registry, shutdown_signal()).await?;
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    let ctx = Ctx {
        home: cli.home.clone().unwrap_or_else(cli::default_home),
        cloud: cli.cloud.clone(),
        node: cli.node.clone(),
        json: cli.json,
    };
    match cli.command {
        Command::Quickstart { dir } => quickstart::run(dir, ctx.json).await,
        Command::Selfcheck { home } => selfcheck::run(home, ctx.json),
        Command::Agent { name } => agent(&name),
        Command::Bench {
            command:
                BenchCommand::D2d {
                    conversations,
                    seconds,
                    size,
                },
        } => bench::d2d(&conversations, seconds, size, ctx.json).await,
        Command::Bench {
            command:
                BenchCommand::Relay {
                    clouds,
                    seconds,
                    size,
                    idle,
                },
        } => bench::relay(clouds, seconds, size, idle, ctx.json).await,
        Command::Bench {
            command:
                BenchCommand::Registry {
                    handles,
                    rate,
                    seconds,
                    dir,
                },
        } => bench::registry(handles, rate, seconds, dir, ctx.json).await,
        Command::Registry {
            command:
                RegistryCommand::Serve {
                    dir,
                    listen,
                    domain,
                    sms,
                },
        } => {
            let dir = dir.unwrap_or_else(|| ctx.home.join("registry"));
            registry_serve(&dir, &listen, &domain, &sms).await
        }
        Command::Relay {
            command: RelayCommand::Add { url },
        } => {
            let v = ctx
                .call("PUT", "/relays", Some(json!({ "url": url })))
                .await?;
            ctx.print(&v, |v| {
                println!("Reachable through {} now.", v["relay"].as_str().unwrap_or(""));
                if v["published"] == true {
                    println!("Published in the registry record; peers will try it when the endpoint fails.");
                }
            });
            Ok(())
        }
        Command::Relay {
            command: RelayCommand::List,
        } => {
            let v = ctx.call("GET", "/relays", None).await?;
            ctx.print(&v, |v| {
                let relays = v["relays"].as_array().cloned().unwrap_or_default();
                if relays.is_empty() {
                    println!("No relays.");
                }
                for r in relays {
                    println!("{}", r.as_str().unwrap_or(""));
                }
            });
            Ok(())
        }
        Command::Relay {
            command: RelayCommand::Remove { url },
        } => {
            let v = ctx
                .call("DELETE", "/relays", Some(json!({ "url": url })))
                .await?;
            ctx.print(&v, |_| println!("Removed {url}."));
            Ok(())
        }
        Command::Relay {
            command:
                RelayCommand::Serve {
                    dir,
                    listen,
                    public_url,
                    ttl,
                    pow_difficulty,
                    rate,
                    burst,
                    quota,
                },
        } => {
            init_logging();
            let dir = dir.unwrap_or_else(|| ctx.home.join("relay"));
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let addr = listener.local_addr()?;
            let url = public_url.unwrap_or_else(|| format!("ws://{addr}"));
            let mut settings = sovra_relay::Settings::new(url.clone());
            settings.ttl = Duration::from_secs(ttl);
            settings.pow_difficulty = pow_difficulty;
            settings.rate_per_second = rate;
            settings.burst = burst;
            settings.quota.envelopes = quota;
            let relay = sovra_relay::server::open(&dir, settings).await?;
            println!(
                "relay on {url}  (listening on {addr}, data in {})",
                dir.display()
            );
            sovra_relay::server::serve(listener, relay, shutdown_signal()).await?;
            Ok(())
        }
        Command::Init { handle } => {
            let (dir, keys) = sovra_node::home::init_cloud(&ctx.home, &handle).await?;
            let v = json!({
                "handle": handle,
                "pubkey": keys.public().to_human(),
                "fingerprint": keys.public().fingerprint(),
                "dir": dir,
            });
            ctx.print(&v, |v| {
                println!(
                    "Created {} in {}",
                    v["handle"].as_str().unwrap_or(""),
                    dir.display()
                );
                println!("  key:         {}", v["pubkey"].as_str().unwrap_or(""));
                println!("  fingerprint: {}", v["fingerprint"].as_str().unwrap_or(""));
                println!("Next: `sovra node serve`, then `sovra peer add …`.");
            });
            Ok(())
        }
        Command::Node {
            command: NodeCommand::Serve { listen, public_url },
        } => serve(&ctx, &listen, public_url).await,
        Command::Peer { command } => peer(&ctx, command).await,
        Command::Register {
            phone,
            handle,
            registry,
        } => register(&ctx, &phone, handle.as_deref(), &registry).await,
        Command::Rotate { phone } => rotate(&ctx, &phone).await,
        Command::Pending { command } => pending(&ctx, command).await,
        Command::Cap { command } => cap(&ctx, command).await,
        Command::Send(args) => send(&ctx, args).await,
        Command::Conversations => {
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
        Command::Log { peer } => log(&ctx, &peer).await,
        Command::Close { peer } => {
            let conv = find_conversation(&ctx, &peer).await?;
            let id = conv["id"].as_str().unwrap_or_default().to_owned();
            let v = ctx
                .call("POST", &format!("/conversations/{id}/close"), None)
                .await?;
            ctx.print(&v, |_| println!("Closed conversation {id} with {peer}."));
            Ok(())
        }
    }
}

/// Logs of the long-running processes go to stderr, `info` unless `RUST_LOG` says otherwise.
fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

async fn serve(ctx: &Ctx, listen: &str, public_url: Option<String>) -> Result<()> {
    init_logging();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let url = public_url.unwrap_or_else(|| format!("http://{addr}"));
    let node = sovra_node::open_node(&ctx.home, &url, sovra_node::Settings::default()).await?;
    if node.clouds.is_empty() {
        bail!(
            "no clouds in {}; create one with `sovra init --handle @you.cloud`",
            ctx.home.display()
        );
    }
    sovra_node::home::write_node_info(
        &ctx.home,
        &sovra_node::home::NodeInfo {
            url: url.clone(),
            pid: std::process::id(),
        },
    )?;
    for (name, cloud) in &node.clouds {
        tracing::info!(
            "serving {} ({name}) at {}",
            cloud.config.handle,
            cloud.base_url
        );
    }
    eprintln!("sovra node listening on {addr}");
    sovra_node::serve(node, listener, shutdown_signal()).await?;
    eprintln!("sovra node stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

async fn peer(ctx: &Ctx, command: PeerCommand) -> Result<()> {
    match command {
        PeerCommand::Add {
            handle,
            pubkey: None,
            registry,
            allow,
            rate,
            expires,
            ..
        } => {
            let v = ctx
                .call(
                    "POST",
                    "/peers/by-handle",
                    Some(json!({
                        "handle": handle,
                        "registry": registry,
                        "allowed_capabilities": allow,
                        "rate_limit_per_day": rate,
                        "expires_at": expires,
                    })),
                )
                .await?;
            ctx.print(&v, |v| {
                let l = &v["lookup"];
                println!("Whitelisted {handle} as the registry vouches for it");
                println!("  fingerprint: {}", l["fingerprint"].as_str().unwrap_or(""));
                println!("  safety code: {}", l["safety_code"].as_str().unwrap_or(""));
                println!("  endpoint:    {}", l["endpoint"].as_str().unwrap_or("-"));
                println!(
                    "  may call:    {}",
                    list(&v["entry"]["allowed_capabilities"])
                );
                if l["was_reset"] == true {
                    println!("  note: this handle's key was last changed by a registry reset");
                }
                println!("Compare the safety code with {handle}'s owner (call, or in person).");
            });
        }
        PeerCommand::Add {
            handle,
            pubkey: Some(pubkey),
            url,
            relays,
            encryption_key,
            allow,
            rate,
            expires,
            ..
        } => {
            if url.is_none() && relays.is_empty() {
                bail!("with --pubkey, give --url or --relay (or add the peer by handle alone)");
            }
            let key = sovra_proto::PublicKey::from_human(&pubkey).context("--pubkey")?;
            let v = ctx
                .call(
                    "PUT",
                    "/peers",
                    Some(json!({
                        "peer_pubkey": key.to_b64(),
                        "peer_handle": handle,
                        "allowed_capabilities": allow,
                        "rate_limit_per_day": rate,
                        "expires_at": expires,
                        "url": url,
                        "relays": (!relays.is_empty()).then_some(relays),
                        "encryption_key": encryption_key,
                    })),
                )
                .await?;
            ctx.print(&v, |v| {
                println!("Whitelisted {handle}");
                println!("  fingerprint: {}", v["fingerprint"].as_str().unwrap_or(""));
                println!(
                    "  may call:    {}",
                    list(&v["entry"]["allowed_capabilities"])
                );
            });
        }
        PeerCommand::List => {
            let v = ctx.call("GET", "/peers", None).await?;
            ctx.print(&v, |v| {
                let peers = v["peers"].as_array().cloned().unwrap_or_default();
                if peers.is_empty() {
                    println!("The whitelist is empty.");
                }
                for p in peers {
                    let e = &p["entry"];
                    println!(
                        "{:<20} {}  may call: {}  rate: {}/day  expires: {}  url: {}",
                        e["peer_handle"].as_str().unwrap_or(""),
                        p["fingerprint"].as_str().unwrap_or(""),
                        list(&e["allowed_capabilities"]),
                        e["rate_limit_per_day"],
                        e["expires_at"].as_str().unwrap_or("never"),
                        p["url"].as_str().unwrap_or("-"),
                    );
                }
            });
        }
        PeerCommand::Lookup { handle, registry } => {
            let query = registry
                .map(|r| format!("?registry={}", encode(&r)))
                .unwrap_or_default();
            let v = ctx
                .call(
                    "GET",
                    &format!("/registry/lookup/{}{query}", encode(&handle)),
                    None,
                )
                .await?;
            ctx.print(&v, |v| {
                println!("{} at {}", handle, v["registry"].as_str().unwrap_or(""));
                println!(
                    "  key:         ed25519:{}",
                    v["pubkey"].as_str().unwrap_or("")
                );
                println!("  fingerprint: {}", v["fingerprint"].as_str().unwrap_or(""));
                println!("  safety code: {}", v["safety_code"].as_str().unwrap_or(""));
                println!("  endpoint:    {}", v["endpoint"].as_str().unwrap_or("-"));
                println!(
                    "  key changes: {}{}",
                    v["key_changes"],
                    if v["was_reset"] == true {
                        " (last one a reset)"
                    } else {
                        ""
                    }
                );
            });
        }
        PeerCommand::Check => {
            let v = ctx.call("POST", "/peers/check", None).await?;
            ctx.print(&v, |v| {
                let checks = v["checks"].as_array().cloned().unwrap_or_default();
                if checks.is_empty() {
                    println!("No peers were added by handle.");
                }
                for c in checks {
                    let handle = c["handle"].as_str().unwrap_or("");
                    match c["outcome"].as_str().unwrap_or("") {
                        "unchanged" => println!("{handle}: unchanged"),
                        "rotated" => println!("{handle}: rotated; followed (grants kept)"),
                        "reset" => println!(
                            "{handle}: KEY RESET at the registry; approve with `sovra pending approve {}` after comparing safety codes",
                            c["request"].as_str().unwrap_or("")
                        ),
                        _ => println!("{handle}: check failed: {}", c["error"].as_str().unwrap_or("")),
                    }
                }
            });
        }
        PeerCommand::Remove { peer } => {
            let v = ctx
                .call("DELETE", &format!("/peers/{}", encode(&peer)), None)
                .await?;
            ctx.print(&v, |_| {
                println!("Removed {peer}; its conversations are closed.")
            });
        }
    }
    Ok(())
}

/// Has the node ask `registry` to text a code to `phone`, then reads the code the human types.
async fn phone_proof(ctx: &Ctx, registry: &str, phone: &str) -> Result<Value> {
    let sent = ctx
        .call(
            "POST",
            "/registry/verifications",
            Some(json!({"registry": registry, "phone": phone})),
        )
        .await?;
    eprint!("A code was sent to {phone}. Code: ");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the code")?;
    let code = line.trim();
    if code.is_empty() {
        bail!("no code given");
    }
    Ok(json!({"verification_id": sent["verification_id"], "code": code}))
}

async fn register(ctx: &Ctx, phone: &str, handle: Option<&str>, registry: &str) -> Result<()> {
    let me = ctx.call("GET", "/whoami", None).await?;
    let mine = me["handle"].as_str().unwrap_or_default();
    if let Some(h) = handle
        && h != mine
    {
        bail!(
            "this cloud is {mine}; to claim {h}, create a cloud for it (`sovra init --handle {h}`) and select it with --cloud"
        );
    }
    let mut body = phone_proof(ctx, registry, phone).await?;
    body["registry"] = json!(registry);
    let v = ctx.call("POST", "/registry/register", Some(body)).await?;
    ctx.print(&v, |v| {
        println!(
            "Registered {} at {}",
            v["handle"].as_str().unwrap_or(""),
            v["registry"].as_str().unwrap_or("")
        );
        println!(
            "  fingerprint:  {}",
            v["fingerprint"].as_str().unwrap_or("")
        );
        println!("  endpoint:     {}", v["endpoint"].as_str().unwrap_or("-"));
        println!(
            "  registry key: ed25519:{} (pinned)",
            v["registry_key"].as_str().unwrap_or("")
        );
        if v["was_reset"] == true {
            println!(
                "  This replaced the phone's previous key: peers will be asked to re-approve."
            );
        }
        println!(
            "Peers can now add you with `sovra peer add {}`.",
            v["handle"].as_str().unwrap_or("")
        );
    });
    Ok(())
}

async fn rotate(ctx: &Ctx, phone: &str) -> Result<()> {
    let status = ctx.call("GET", "/registry", None).await?;
    let registry = status["registration"]["registry_url"]
        .as_str()
        .context("this cloud is not registered; run `sovra register` first")?
        .to_owned();
    let body = phone_proof(ctx, &registry, phone).await?;
    let v = ctx.call("POST", "/registry/rotate", Some(body)).await?;
    ctx.print(&v, |v| {
        println!(
            "Rotated {}'s key; peers follow it automatically.",
            v["handle"].as_str().unwrap_or("")
        );
        println!(
            "  new fingerprint: {}",
            v["fingerprint"].as_str().unwrap_or("")
        );
        println!("  open conversations were closed; the next message opens a new one.");
    });
    Ok(())
}

async fn pending(ctx: &Ctx, command: PendingCommand) -> Result<()> {
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
                    println!(
                        "{}  {} ({})  at {}  {what}: {}",
                        p["id"].as_str().unwrap_or(""),
                        p["peer_handle"].as_str().unwrap_or("(no handle)"),
                        key.map(|k| k.fingerprint()).unwrap_or_default(),
                        ms_to_time(&p["received_at"]),
                        p["topic"].as_str().unwrap_or(""),
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
        } => {
            let v = ctx
                .call(
                    "POST",
                    &format!("/pending/{}/approve", encode(&id)),
                    Some(json!({
                        // Absent, a key reset keeps the old key's grants.
                        "allowed_capabilities": (!allow.is_empty()).then_some(allow),
                        "url": url, "rate_limit_per_day": rate, "handle": handle,
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

async fn cap(ctx: &Ctx, command: CapCommand) -> Result<()> {
    match command {
        CapCommand::Expose {
            name,
            description,
            timeout_ms,
            http,
            chat,
            model,
            exec,
        } => {
            let adapter = if let Some(url) = http {
                json!({"kind": "http", "url": url, "timeout_ms": timeout_ms})
            } else if let Some(url) = chat {
                json!({"kind": "chat", "url": url, "model": model, "timeout_ms": timeout_ms})
            } else if !exec.is_empty() {
                json!({"kind": "exec", "command": exec, "timeout_ms": timeout_ms})
            } else {
                bail!("give one adapter: --exec CMD [ARGS…], --http URL or --chat URL --model M");
            };
            let v = ctx
                .call(
                    "PUT",
                    &format!("/capabilities/{}", encode(&name)),
                    Some(json!({"description": description, "adapter": adapter})),
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
            ctx.print(&v, |v| {
                let caps = v["capabilities"].as_array().cloned().unwrap_or_default();
                if caps.is_empty() {
                    println!("Nothing is exposed.");
                }
                for c in caps {
                    println!(
                        "{:<20} [{}] {}",
                        c["name"].as_str().unwrap_or(""),
                        c["adapter"]["kind"].as_str().unwrap_or(""),
                        c["description"].as_str().unwrap_or("")
                    );
                }
            });
        }
    }
    Ok(())
}

async fn send(ctx: &Ctx, args: SendArgs) -> Result<()> {
    let mut calls = Vec::new();
    for pair in args.call.chunks(2) {
        let parsed: Value = serde_json::from_str(&pair[1])
            .with_context(|| format!("--call {}: args are not JSON", pair[0]))?;
        calls.push(json!({"capability": pair[0], "args": parsed}));
    }
    let body =
        json!({"to": args.peer, "text": args.text, "calls": calls, "retention": args.retention});
    let sent = ctx.call("POST", "/send", Some(body)).await?;
    let conv = sent["conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let seq = sent["seq"].as_u64().unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let want_reply = !calls.is_empty() || args.wait_reply;
    let mut spinner = Spinner::new(format!("delivering to {}", args.peer));
    // Delivery first (the outbox retries in the background), then the reply.
    loop {
        let outbox = ctx.call("GET", "/outbox", None).await?;
        let item = outbox["outbox"].as_array().and_then(|l| {
            l.iter()
                .find(|i| i["conversation_id"] == conv.as_str() && i["seq"] == seq)
                .cloned()
        });
        match item.as_ref().and_then(|i| i["state"].as_str()) {
            Some("delivered") => break,
            Some("failed") => {
                spinner.done();
                bail!(
                    "delivery failed: {}",
                    item.as_ref()
                        .and_then(|i| i["last_error"].as_str())
                        .unwrap_or("unknown")
                );
            }
            _ => {}
        }
        if Instant::now() > deadline {
            spinner.done();
            return Err(Exit(
                exit::TIMEOUT,
                format!(
                    "not delivered within {} s; the node keeps retrying",
                    args.timeout
                ),
            )
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
        let msgs = ctx
            .call("GET", &format!("/messages?conversation={conv}"), None)
            .await?;
        let reply = msgs["messages"].as_array().and_then(|l| {
            l.iter()
                .find(|m| m["direction"] == "in" && m["in_reply_to"] == seq)
                .cloned()
        });
        if let Some(reply) = reply {
            spinner.done();
            ctx.print(&reply, |r| print_message(r, &args.peer));
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

async fn log(ctx: &Ctx, peer: &str) -> Result<()> {
    let conv = find_conversation(ctx, peer).await?;
    let id = conv["id"].as_str().unwrap_or_default();
    let v = ctx
        .call("GET", &format!("/messages?conversation={id}"), None)
        .await?;
    ctx.print(&v, |v| {
        println!(
            "Conversation {id} with {peer} ({}), topic: {}",
            conv["state"].as_str().unwrap_or(""),
            conv["topic"].as_str().unwrap_or("")
        );
        for m in v["messages"].as_array().cloned().unwrap_or_default() {
            print_message(&m, peer);
        }
    });
    Ok(())
}

fn print_message(m: &Value, peer: &str) {
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

fn list(v: &Value) -> String {
    let items: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if items.is_empty() {
        "nothing".into()
    } else {
        items.join(", ")
    }
}

/// Percent-encodes a path segment (handles contain '@' and keys '/', '+', '=').
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
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

/// The built-in word counter: `{"text": …}` → `{"words": N}`.
pub(crate) fn word_count(args: &Value) -> Result<Value> {
    let text = args["text"]
        .as_str()
        .context("args.text must be a string")?;
    Ok(json!({"words": text.split_whitespace().count()}))
}

/// `sovra agent word-count`: reads `{"text": …}` on stdin, writes `{"words": N}`.
fn agent(name: &str) -> Result<()> {
    match name {
        "word-count" => {
            let input: Value =
                serde_json::from_reader(std::io::stdin()).context("stdin is not JSON")?;
            let text = input["text"]
                .as_str()
                .context("args.text must be a string")?;
            println!("{}", json!({"words": text.split_whitespace().count()}));
            Ok(())
        }
        other => bail!("no built-in agent {other:?}"),
    }
}
