//! `sovra`: one binary for every Sovra process and the owner's CLI.
//!
//! Today it has `quickstart`, which walks two clouds through a whole rapp-d2d/1.0 conversation
//! in-process (the node, registry and relay arrive with their issues), and `identity`, which
//! prints a signed identity document for a fresh cloud. ARCHITECTURE.md maps the rest.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod quickstart;

#[derive(Parser)]
#[command(
    name = "sovra",
    version,
    about = "Sovereign clouds for AI agent swarms, federated over rapp-d2d/1.0"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run two clouds (@alice.cloud and @bob.cloud) through a complete rapp-d2d/1.0
    /// conversation and print the transcript. Until the node exists this is an in-process
    /// protocol self-check: keys on disk, identity documents, handshake, sealed messages both
    /// ways, a capability call, and the attacks every receiver must refuse.
    Quickstart {
        /// Keep the clouds' key files in this directory instead of a temporary one.
        #[arg(long)]
        home: Option<std::path::PathBuf>,
        /// Print the transcript as JSON lines.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Quickstart { home, json } => quickstart::run(home, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sovra: {e:#}");
            ExitCode::FAILURE
        }
    }
}
