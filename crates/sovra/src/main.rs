//! `sovra`: one binary for every Sovra process and the owner's CLI.
//!
//! Owner commands (`peer`, `pending`, `cap`, `send`, …) talk to the running node's owner API,
//! signing each request with the cloud's device key from the home directory. `quickstart` runs
//! two real nodes on loopback; `selfcheck` exercises the protocol core without a network.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

mod cli;
mod cmd;
mod config;

use cli::{Ctx, Exit, exit};
use cmd::actions::{ActArgs, ConnectionsCommand, FileCommand};
use cmd::bench::BenchCommand;
use cmd::cap::CapCommand;
use cmd::conversations::OutboxCommand;
use cmd::device::DeviceCommand;
use cmd::drafts::DraftsCommand;
use cmd::heirs::HeirsCommand;
use cmd::host::HostCommand;
use cmd::migration::MigrationCommand;
use cmd::node::NodeCommand;
use cmd::nym::NymCommand;
use cmd::peer::PeerCommand;
use cmd::pending::PendingCommand;
use cmd::registry::RegistryCommand;
use cmd::relay::RelayCommand;
use cmd::send::SendArgs;
use cmd::swarm::SwarmCommand;
use cmd::{
    actions, agent, bench, cap, conversations, device, docs, drafts, heirs, host, inbox, migration,
    node, nym, peer, pending, quickstart, registry, relay, selfcheck, send, swarm, web,
};

#[derive(Parser)]
#[command(
    name = "sovra",
    version,
    about = "Sovereign clouds for AI agent swarms, federated over rapp-d2d/1.0"
)]
pub(crate) struct Cli {
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
    /// Settings for the serving processes (default: <home>/sovra.toml when it exists); flags
    /// and SOVRA_* variables override it.
    #[arg(long, global = true, env = "SOVRA_CONFIG")]
    config: Option<PathBuf>,
    /// How the serving processes log to stderr: text, or one JSON object a line.
    #[arg(long, global = true, env = "SOVRA_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
        /// The cloud's handle, e.g. @alice.cloud (lowercased).
        #[arg(long, value_parser = crate::cli::peer_arg)]
        handle: String,
        #[command(flatten)]
        hosting: host::HostedBy,
    },
    /// Operate a node that hosts other people's clouds, or (from a hosted cloud's device)
    /// withdraw its node's host key.
    Host {
        #[command(subcommand)]
        command: HostCommand,
    },
    /// Public faces (nyms) this cloud's key issues, to present to chosen peers instead of the
    /// handle (run where the cloud key is).
    Nym {
        #[command(subcommand)]
        command: NymCommand,
    },
    /// This cloud's devices (client instances): attach, detach and recover them with
    /// artifacts the cloud key signs (run where the cloud key is).
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Pair a browser with this cloud: prints (and, on a desktop, opens) a one-time link to
    /// the owner's web page on the node's loopback address. The browser becomes a device of
    /// the cloud; end it with `sovra device detach`. Run where the cloud key is.
    ///
    /// Example: sovra web --label laptop-firefox
    Web {
        /// The new device's label, as `sovra device list` shows it.
        #[arg(long, default_value = "web")]
        label: String,
        /// Open the link in the desktop's browser (default: when there is a desktop).
        #[arg(long, conflicts_with = "no_open")]
        open: bool,
        /// Only print the link.
        #[arg(long)]
        no_open: bool,
    },
    /// Write this cloud's migration bundle: everything it holds (as its data policies allow),
    /// encrypted and signed by the cloud key. Run where the cloud key is.
    ///
    /// Example: sovra export --out alice.bundle --move
    Export {
        /// The bundle file to write (refused if it exists).
        #[arg(long)]
        out: PathBuf,
        /// Read the passphrase from this file's first line instead of asking on the terminal.
        #[arg(long, conflicts_with = "to")]
        passphrase_file: Option<PathBuf>,
        /// Seal the bundle to this X25519 public key (base64, from `sovra migration keygen`)
        /// instead of a passphrase.
        #[arg(long)]
        to: Option<String>,
        /// Freeze the cloud here for a move: peers are told to retry until the new node
        /// announces it, then are sent there.
        #[arg(long = "move")]
        freeze: bool,
    },
    /// Recreate a cloud from a migration bundle on the node running on this home, serve it at
    /// once, and announce the move (registry, old node, peers).
    ///
    /// Example: sovra import alice.bundle --passphrase-file pass.txt
    Import {
        file: PathBuf,
        #[arg(long, conflicts_with = "key_file")]
        passphrase_file: Option<PathBuf>,
        /// The X25519 key file (`sovra migration keygen`) a bundle was sealed to.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// The cloud's directory name here (default: from its handle).
        #[arg(long, conflicts_with = "hosted_by")]
        name: Option<String>,
        /// Move the cloud to a hosting node instead of the node on this home.
        #[command(flatten)]
        hosting: host::HostedBy,
    },
    /// Seal a swarm or the whole cloud: read-only, answering peers from frozen memory.
    Seal {
        #[arg(long)]
        swarm: Option<String>,
        /// Make the seal final: nobody can lift it.
        #[arg(long = "final")]
        last: bool,
    },
    /// Lift a seal that was not made final.
    Unseal {
        #[arg(long)]
        swarm: Option<String>,
    },
    /// Open this device's elevated window for high-trust operations (whitelist and grant
    /// changes, sealing, export, devices) with a phone code, or approve another device; without
    /// options, show the window.
    ///
    /// Example: sovra elevate --phone "+1 415 555 2671"
    Elevate {
        /// The phone number on record: the registry texts a code, typed here.
        #[arg(long, conflicts_with_all = ["approve", "drop"])]
        phone: Option<String>,
        /// Be the second factor of another device of this cloud (its key, ed25519:…).
        #[arg(long, conflicts_with = "drop")]
        approve: Option<String>,
        /// Close this device's window now.
        #[arg(long)]
        drop: bool,
    },
    /// Print shell completions (bash, zsh, fish, elvish, powershell) to stdout.
    ///
    /// Example: sovra completions bash > ~/.local/share/bash-completion/completions/sovra
    Completions { shell: clap_complete::Shell },
    /// Write man pages for every command into a directory.
    ///
    /// Example: sovra man --out /usr/local/share/man/man1
    Man {
        #[arg(long)]
        out: PathBuf,
    },
    /// Heirs: who inherits this cloud if you stop using it, and clouds you inherit.
    Heirs {
        #[command(subcommand)]
        command: HeirsCommand,
    },
    /// Where this cloud stands in a move; cancel a frozen move; make a key to receive bundles.
    Migration {
        #[command(subcommand)]
        command: MigrationCommand,
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
    /// Deliveries waiting, done or given up; cancel one still waiting.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Show the messages exchanged with a peer.
    Log {
        #[arg(value_parser = cli::peer_arg)]
        peer: String,
        /// Also show what the brain was given for each automatic answer.
        #[arg(long)]
        context: bool,
        /// Every conversation kept with the peer, not only the current one.
        #[arg(long)]
        all: bool,
    },
    /// Swarms: the agents inside this cloud, their souls, memory, brains and tokens.
    Swarm {
        #[command(subcommand)]
        command: SwarmCommand,
    },
    /// Answers review-mode swarms drafted, waiting for you.
    Drafts {
        #[command(subcommand)]
        command: DraftsCommand,
    },
    /// Follow new messages, replies, drafts and pending requests live (Ctrl-C to stop).
    Inbox,
    /// Follow a cloud (a handle, or a Cloudillo domain): its posts come to your feed.
    Follow {
        #[arg(value_parser = cmd::actions::id_tag_arg)]
        id_tag: String,
    },
    /// Stop following a cloud.
    Unfollow {
        #[arg(value_parser = cmd::actions::id_tag_arg)]
        id_tag: String,
    },
    /// Ask a cloud to connect (posts, messages, comments and file shares both ways once it
    /// approves).
    Connect {
        #[arg(value_parser = cmd::actions::id_tag_arg)]
        id_tag: String,
    },
    /// End a connection.
    Disconnect {
        #[arg(value_parser = cmd::actions::id_tag_arg)]
        id_tag: String,
    },
    /// Connections and requests to connect; approve or deny a request.
    Connections {
        #[command(subcommand)]
        command: Option<ConnectionsCommand>,
    },
    /// Post to your followers and connections, e.g. `sovra post "hello" --file photo.png`.
    Post {
        text: String,
        /// A file to attach (repeatable); stored in this cloud first.
        #[arg(long)]
        file: Vec<PathBuf>,
        /// Only followers and connections may read it (not listed at /api/actions).
        #[arg(long)]
        private: bool,
    },
    /// Send one action to a connected cloud, e.g. `sovra act @bob.cloud MSG "hi"`.
    Act(ActArgs),
    /// What other clouds sent you: posts, messages, comments, reactions, shares.
    Feed {
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: u32,
        /// What this cloud sent instead.
        #[arg(long)]
        sent: bool,
    },
    /// Refuse a cloud's actions (its follow and any connection end); `--undo` lifts it.
    Block {
        #[arg(value_parser = cmd::actions::id_tag_arg)]
        id_tag: String,
        #[arg(long)]
        undo: bool,
    },
    /// Clouds whose actions are refused.
    Blocked,
    /// Clouds following this one.
    Followers,
    /// Clouds this one follows.
    Following,
    /// Files stored in this cloud (content-addressed, f1~…).
    File {
        #[command(subcommand)]
        command: FileCommand,
    },
    /// Close the open conversation with a peer (its session-retention content is deleted).
    Close {
        #[arg(value_parser = cli::peer_arg)]
        peer: String,
    },
    /// Claim this cloud's handle at a registry with a phone number (prompts for the SMS code).
    Register {
        /// Your phone number in international form, e.g. "+1 415 555 2671".
        #[arg(long)]
        phone: String,
        /// The handle to claim; must be this cloud's (default: this cloud's).
        #[arg(long, value_parser = crate::cli::peer_arg)]
        handle: Option<String>,
        /// The registry's URL (its key is pinned on first use, unless --registry-key gives it).
        #[arg(long, env = "SOVRA_REGISTRY")]
        registry: String,
        /// The registry's key (ed25519:…) from a source you trust, pinned instead of whatever
        /// the registry presents on first contact.
        #[arg(long, env = "SOVRA_REGISTRY_KEY")]
        registry_key: Option<String>,
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
    /// Built-in agents (used by quickstart): `word-count` (an exec capability) and `model` (a
    /// small OpenAI-compatible model server).
    #[command(hide = true)]
    Agent {
        name: String,
        /// `model`: where to listen.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
}

/// The command line, with `sovra.toml`'s values as the defaults of the flags it sets.
fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let first = Cli::parse();
    let home = first.home.clone().unwrap_or_else(cli::default_home);
    let Some(file) = config::path(first.config.as_deref(), &home) else {
        return first;
    };
    let cmd = match config::apply(Cli::command(), &file) {
        Ok(cmd) => cmd,
        Err(e) => {
            eprintln!("sovra: {e:#}");
            std::process::exit(2);
        }
    };
    Cli::from_arg_matches(&cmd.get_matches()).unwrap_or_else(|e| e.exit())
}

fn main() -> ExitCode {
    let cli = parse();
    let json = cli.json;
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
                .or_else(|| e.downcast_ref::<cli::Refusal>().map(|r| r.exit))
                .unwrap_or(exit::FAILURE);
            if json {
                // `--json` output stays JSON when it fails: the node's error code when there is
                // one, else what the exit code means.
                let error = e
                    .downcast_ref::<cli::Refusal>()
                    .map(|r| r.code.clone())
                    .or_else(|| {
                        e.downcast_ref::<sovra_client::ClientError>()
                            .and_then(|c| c.code().map(str::to_owned))
                    })
                    .unwrap_or_else(|| exit::name(code).to_owned());
                println!(
                    "{}",
                    serde_json::json!({ "error": error, "message": format!("{e:#}"), "exit": code })
                );
            } else {
                eprintln!("sovra: {e:#}");
            }
            ExitCode::from(code)
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let _ = cmd::LOG_FORMAT.set(cli.log_format.clone());
    let ctx = Ctx {
        home: cli.home.clone().unwrap_or_else(cli::default_home),
        cloud: cli.cloud.clone(),
        node: cli.node.clone(),
        json: cli.json,
    };
    match cli.command {
        Command::Quickstart { dir } => quickstart::run(dir, ctx.json).await,
        Command::Selfcheck { home } => selfcheck::run(home, ctx.json),
        Command::Agent { name, listen } => agent::run(&name, &listen).await,
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
                BenchCommand::Agents {
                    conversations,
                    seconds,
                },
        } => bench::agents(&conversations, seconds, ctx.json).await,
        Command::Bench {
            command: BenchCommand::Inbox { issuers, seconds },
        } => bench::inbox(&issuers, seconds, ctx.json).await,
        Command::Bench {
            command: BenchCommand::Relay(args),
        } => bench::relay(args, ctx.json).await,
        Command::Bench {
            command:
                BenchCommand::Export {
                    messages,
                    conversations,
                    size,
                },
        } => bench::export(messages, conversations, size, ctx.json).await,
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
            registry::serve(&dir, &listen, &domain, &sms).await
        }
        Command::Registry {
            command:
                RegistryCommand::Admin {
                    dir,
                    domain,
                    action,
                },
        } => {
            let dir = dir.unwrap_or_else(|| ctx.home.join("registry"));
            registry::admin(&ctx, &dir, &domain, action).await
        }
        Command::Relay { command } => relay::run(&ctx, command).await,
        Command::Init {
            handle,
            hosting:
                host::HostedBy {
                    hosted_by: Some(url),
                    invite,
                    phone,
                },
        } => host::init_hosted(&ctx, &handle, &url, invite, phone).await,
        Command::Init { handle, .. } => node::init(&ctx, &handle).await,
        Command::Host { command } => host::run(&ctx, command).await,
        Command::Device { command } => device::run(&ctx, command).await,
        Command::Web {
            label,
            open,
            no_open,
        } => web::run(&ctx, &label, (open || no_open).then_some(open)).await,
        Command::Nym { command } => nym::run(&ctx, command).await,
        Command::Export {
            out,
            passphrase_file,
            to,
            freeze,
        } => {
            migration::export(
                &ctx,
                migration::ExportArgs {
                    out,
                    passphrase_file,
                    to,
                    freeze,
                },
            )
            .await
        }
        Command::Import {
            file,
            passphrase_file,
            key_file,
            name,
            hosting:
                host::HostedBy {
                    hosted_by,
                    invite,
                    phone,
                },
        } => {
            migration::import(
                &ctx,
                migration::ImportArgs {
                    file,
                    passphrase_file,
                    key_file,
                    name,
                    hosted_by,
                    invite,
                    phone,
                },
            )
            .await
        }
        Command::Seal { swarm, last } => migration::seal(&ctx, swarm, last).await,
        Command::Unseal { swarm } => migration::unseal(&ctx, swarm).await,
        Command::Migration { command } => migration::run(&ctx, command).await,
        Command::Heirs { command } => heirs::run(&ctx, command).await,
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { out } => {
            let n = docs::man(&out)?;
            if !ctx.json {
                println!("Wrote {n} man pages to {}.", out.display());
            }
            Ok(())
        }
        Command::Elevate {
            phone,
            approve,
            drop,
        } => registry::elevate(&ctx, phone, approve, drop).await,
        Command::Node {
            command:
                NodeCommand::Init {
                    operator_contact,
                    hosting_policy,
                    phone_registry,
                },
        } => node::init_node(&ctx, operator_contact, hosting_policy, phone_registry).await,
        Command::Node {
            command:
                NodeCommand::Serve {
                    listen,
                    public_url,
                    no_endpoint,
                    stranger_pow,
                },
        } => node::serve(&ctx, &listen, public_url, no_endpoint, stranger_pow).await,
        Command::Peer { command } => peer::run(&ctx, command).await,
        Command::Register {
            phone,
            handle,
            registry,
            registry_key,
        } => registry::register(&ctx, &phone, handle.as_deref(), &registry, registry_key).await,
        Command::Rotate { phone } => registry::rotate(&ctx, &phone).await,
        Command::Pending { command } => pending::run(&ctx, command).await,
        Command::Cap { command } => cap::run(&ctx, command).await,
        Command::Send(args) => send::run(&ctx, args).await,
        Command::Conversations => conversations::list(&ctx).await,
        Command::Outbox {
            command: OutboxCommand::List,
        } => conversations::outbox(&ctx).await,
        Command::Outbox {
            command: OutboxCommand::Cancel { id },
        } => conversations::cancel(&ctx, id).await,
        Command::Log { peer, context, all } => conversations::log(&ctx, &peer, context, all).await,
        Command::Swarm { command } => swarm::run(&ctx, command).await,
        Command::Drafts { command } => drafts::run(&ctx, command).await,
        Command::Inbox => inbox::run(&ctx).await,
        Command::Follow { id_tag } => actions::follow(&ctx, &id_tag).await,
        Command::Unfollow { id_tag } => actions::unfollow(&ctx, &id_tag).await,
        Command::Connect { id_tag } => actions::connect(&ctx, &id_tag).await,
        Command::Disconnect { id_tag } => actions::disconnect(&ctx, &id_tag).await,
        Command::Connections { command } => actions::connections(&ctx, command).await,
        Command::Post {
            text,
            file,
            private,
        } => actions::post(&ctx, text, file, private).await,
        Command::Act(args) => actions::act(&ctx, args).await,
        Command::Feed { limit, sent } => actions::feed(&ctx, limit, sent).await,
        Command::Followers => actions::followers(&ctx).await,
        Command::Block { id_tag, undo } => actions::block(&ctx, &id_tag, undo).await,
        Command::Blocked => actions::blocked(&ctx).await,
        Command::Following => actions::following(&ctx).await,
        Command::File { command } => actions::file(&ctx, command).await,
        Command::Close { peer } => conversations::close(&ctx, &peer).await,
    }
}
