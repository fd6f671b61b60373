//! `sovra`: one binary for every Sovra process and the owner's CLI.
//!
//! Owner commands (`peer`, `pending`, `cap`, `send`, …) talk to the running node's owner API,
//! signing each request with the cloud's device key from the home directory. `quickstart` runs
//! two real nodes on loopback; `selfcheck` exercises the protocol core without a network.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

mod cli;
mod cmd;
mod config;

use cli::{Ctx, Exit, exit};
use cmd::{
    agent, bench, cap, conversations, device, docs, drafts, heirs, host, inbox, migration, node,
    nym, peer, pending, quickstart, registry, relay, selfcheck, send, swarm,
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
        #[arg(long)]
        handle: String,
        /// Have the node at this URL host the cloud: the cloud key stays in this home (your
        /// device), the node gets only a host key this cloud key certifies.
        #[arg(long)]
        hosted_by: Option<String>,
        /// The invite code the node's operator gave you (a node hosting by invite).
        #[arg(long, requires = "hosted_by", conflicts_with = "phone")]
        invite: Option<String>,
        /// Your phone number, for a node hosting by phone: its registry texts a code.
        #[arg(long, requires = "hosted_by")]
        phone: Option<String>,
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
        /// Move the cloud to this hosting node instead (this home is your device; the node gets
        /// a host key your cloud key certifies).
        #[arg(long)]
        hosted_by: Option<String>,
        /// With --hosted-by: the operator's invite code.
        #[arg(long, requires = "hosted_by", conflicts_with = "phone")]
        invite: Option<String>,
        /// With --hosted-by: your phone number, for a node hosting by phone.
        #[arg(long, requires = "hosted_by")]
        phone: Option<String>,
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

#[derive(Subcommand)]
pub(crate) enum BenchCommand {
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
    /// Answered messages per second and latency from send to the automatic reply, with a
    /// brain that answers instantly (the node's overhead around a brain).
    Agents {
        #[arg(long, value_delimiter = ',', default_value = "1,32")]
        conversations: Vec<usize>,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
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
    /// Time and size of moving a cloud: export over the owner API, seal, open, import.
    Export {
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
        #[arg(long, default_value_t = 100)]
        conversations: usize,
        /// Bytes of text per message.
        #[arg(long, default_value_t = 256)]
        size: usize,
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
pub(crate) enum RegistryCommand {
    /// Serve until SIGINT or SIGTERM. Creates the registry's keys on first start.
    Serve {
        /// Where the registry keeps its keys and database (default: <home>/registry).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long, env = "SOVRA_REGISTRY_LISTEN", default_value = "127.0.0.1:7871")]
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
pub(crate) enum OutboxCommand {
    /// The latest deliveries and their state.
    List,
    /// Stop delivering a message still pending (its id from `outbox list`).
    Cancel { id: i64 },
}

#[derive(Subcommand)]
pub(crate) enum HeirsCommand {
    /// The heirs, the inactivity period, when the switch fires, the endowment.
    List,
    /// Name a whitelisted peer heir (signed by the cloud key here).
    ///
    /// Example: sovra heirs add @bob.cloud --after 180d --grant control
    Add {
        handle: String,
        /// Owner inactivity before the switch fires (days: 180d).
        #[arg(long, value_parser = crate::cmd::heirs::parse_days)]
        after: Option<u64>,
        /// `read`: talk to the sealed cloud; `control`: also take it.
        #[arg(long, default_value = "read", value_parser = ["read", "control"])]
        grant: String,
    },
    /// No longer name this peer heir.
    Remove { handle: String },
    /// Free-form words for the heirs, signed with the policy.
    Endowment { text: String },
    /// Remove every heir: the switch is off.
    Clear,
    /// Clouds whose switch named this cloud heir.
    Inherited,
    /// Take a cloud you inherited with control: it moves to this home's node.
    Claim { handle: String },
}

#[derive(Subcommand)]
pub(crate) enum MigrationCommand {
    /// serving, moving or moved (with the move statement), and the seals in force.
    Status,
    /// Unfreeze a cloud exported with --move whose move was abandoned.
    Cancel,
    /// Make an X25519 key file to receive bundles (`sovra export --to` its public key).
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
pub(crate) enum NymCommand {
    /// Issue a nym (handle syntax, e.g. @amber-river.nym) signed by the cloud key.
    Create { nym: String },
    /// This cloud's nyms.
    List,
    /// Retire a nym; peers it was presented to see the handle again.
    Retire { nym: String },
}

#[derive(Subcommand)]
pub(crate) enum DeviceCommand {
    /// Each device, and whether it is attached.
    List,
    /// Make a new device key, attach it, and write the key for the device to take.
    Attach {
        #[arg(long)]
        label: String,
        /// Where to write the new device's key (0600).
        #[arg(long)]
        key_out: Option<PathBuf>,
    },
    /// End one device (by key or client-instance id); the cloud is untouched.
    Detach {
        device: String,
        /// user-request, device-loss, session-expired, policy or migration.
        #[arg(long, default_value = "user-request")]
        reason: String,
    },
    /// Bring a detached device back.
    Recover { device: String },
}

#[derive(Subcommand)]
pub(crate) enum HostCommand {
    /// (Operator) Make an invite code: one hosted cloud for whoever holds it.
    Invite {
        /// Days the code stays valid.
        #[arg(long, default_value_t = 7)]
        days: u32,
    },
    /// (Operator) What this node hosts: clouds, their size and last activity, invites. No
    /// content.
    Status,
    /// (Operator) Set what one cloud may take of this node; the node applies it within a
    /// minute. Without limits given, clears the cloud's quota.
    Quota {
        /// The cloud's name on this node.
        name: String,
        #[arg(long)]
        storage_mb: Option<u64>,
        #[arg(long)]
        messages_per_day: Option<u64>,
        #[arg(long)]
        brain_answers_per_day: Option<u64>,
        #[arg(long)]
        capabilities: Option<u64>,
    },
    /// (Operator) Reports filed about the clouds hosted here or about this node, newest first.
    Reports,
    /// (A hosted cloud's owner) Withdraw the node's host key: it stops speaking for the cloud.
    Revoke,
    /// (A hosted cloud's owner) Certify the node's host key for another period (before the
    /// current certificate expires; peers refuse an expired one).
    Renew {
        #[arg(long, default_value_t = 30)]
        days: i64,
    },
}

#[derive(Subcommand)]
pub(crate) enum RelayCommand {
    /// Keep this cloud reachable through a relay (and publish it as a hint). The node first
    /// connects and authenticates; a relay it cannot use is refused.
    Add {
        /// ws://… or wss://… (wss is checked against the system's CA roots).
        url: String,
        /// Also trust the CA certificates in this PEM file for this relay (a private CA).
        #[arg(long)]
        ca_file: Option<PathBuf>,
    },
    /// The relays this cloud uses.
    List,
    /// Stop publishing a relay.
    Remove { url: String },
    /// Serve until SIGINT or SIGTERM.
    Serve {
        /// Where the relay keeps its database (default: <home>/relay).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long, env = "SOVRA_RELAY_LISTEN", default_value = "127.0.0.1:7872")]
        listen: String,
        /// The URL clouds connect to, which they sign (default: ws://<listen address>).
        #[arg(long, env = "SOVRA_RELAY_PUBLIC_URL")]
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
pub(crate) enum NodeCommand {
    /// Create the node's own key (its node-id, distinct from every cloud's) and set what it
    /// publishes at /api/node. Safe to run again: the key is kept, the settings replaced.
    Init {
        /// How to reach the operator (an address or URL), published at /api/node.
        #[arg(long)]
        operator_contact: Option<String>,
        /// Who may get a cloud here: closed, invite (`sovra host invite` makes the codes), or
        /// phone (one cloud per phone verified by --phone-registry).
        #[arg(long, default_value = "closed")]
        hosting_policy: String,
        /// With --hosting-policy phone: the registry whose phone checks admit a cloud (its key
        /// is pinned now).
        #[arg(long)]
        phone_registry: Option<String>,
    },
    /// Serve until SIGINT or SIGTERM; in-flight requests finish first.
    Serve {
        #[arg(long, env = "SOVRA_NODE_LISTEN", default_value = "127.0.0.1:7870")]
        listen: String,
        /// The URL peers reach this node at (default: http://<listen address>).
        #[arg(long, env = "SOVRA_NODE_PUBLIC_URL")]
        public_url: Option<String>,
        /// Tell peers no URL: the clouds are reached only through their relays (a node behind
        /// NAT).
        #[arg(long)]
        no_endpoint: bool,
        /// Ask a handshake from a key not on the whitelist for a proof of work of this many
        /// leading zero bits (0: none; Sovra nodes pay up to 24 automatically).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=24))]
        stranger_pow: u8,
    },
}

#[derive(Subcommand)]
pub(crate) enum PeerCommand {
    /// Add or update a peer. With the handle alone, its key and endpoint come from the
    /// registry (verified against the pinned registry key) and follow its rotations.
    Add {
        #[arg(value_parser = cli::peer_arg)]
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
        /// The swarm that answers this peer (default: main).
        #[arg(long)]
        swarm: Option<String>,
        /// Present this nym of ours to the peer instead of our handle (`sovra nym create`).
        #[arg(long)]
        present_as: Option<String>,
    },
    List,
    Remove {
        #[arg(value_parser = cli::peer_arg)]
        peer: String,
    },
    /// Let a peer call one more capability, keeping its other grants.
    ///
    /// Example: sovra peer grant @bob.cloud WordCount
    Grant {
        #[arg(value_parser = cli::peer_arg)]
        peer: String,
        capability: String,
    },
    /// Stop a peer calling one capability, keeping its other grants.
    Revoke {
        #[arg(value_parser = cli::peer_arg)]
        peer: String,
        capability: String,
    },
    /// Show who a registry says a handle is, with the safety code to compare; adds nothing.
    Lookup {
        #[arg(value_parser = cli::peer_arg)]
        handle: String,
        #[arg(long, env = "SOVRA_REGISTRY")]
        registry: Option<String>,
    },
    /// Ask the registries about every peer added by handle now (rotations are followed,
    /// resets become pending requests). The node also does this hourly.
    Check,
}

#[derive(Subcommand)]
pub(crate) enum SwarmCommand {
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
        file: Option<PathBuf>,
    },
    /// Show the long-term notes, or replace them from a file or your $EDITOR.
    Memory {
        name: String,
        #[arg(long, conflicts_with = "file")]
        edit: bool,
        #[arg(long)]
        file: Option<PathBuf>,
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

#[derive(Args)]
pub(crate) struct SwarmSetArgs {
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
    pub api_key_file: Option<PathBuf>,
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

#[derive(Subcommand)]
pub(crate) enum DraftsCommand {
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

#[derive(Subcommand)]
pub(crate) enum PendingCommand {
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

#[derive(Subcommand)]
pub(crate) enum CapCommand {
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

#[derive(Args)]
pub(crate) struct SendArgs {
    /// The peer's handle or key.
    #[arg(value_parser = cli::peer_arg)]
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
        Command::Relay { command } => relay::run(&ctx, command).await,
        Command::Init {
            handle,
            hosted_by: Some(url),
            invite,
            phone,
        } => host::init_hosted(&ctx, &handle, &url, invite, phone).await,
        Command::Init { handle, .. } => node::init(&ctx, &handle).await,
        Command::Host { command } => host::run(&ctx, command).await,
        Command::Device { command } => device::run(&ctx, command).await,
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
            hosted_by,
            invite,
            phone,
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
        } => registry::register(&ctx, &phone, handle.as_deref(), &registry).await,
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
        Command::Close { peer } => conversations::close(&ctx, &peer).await,
    }
}
