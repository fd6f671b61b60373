//! `sovra peer add|list|remove|grant|revoke|lookup|check`: the whitelist.

use anyhow::{Context, Result, bail};

use sovra_proto::WhitelistEntry;
use sovra_proto::owner::{ByHandleBody, LookupAt, Peer, PeerBody, PeerCheck, PeerChecks};

use crate::cli::{Ctx, encode, names, typed};

pub async fn run(ctx: &Ctx, command: PeerCommand) -> Result<()> {
    match command {
        PeerCommand::Add {
            handle,
            pubkey: None,
            registry,
            allow,
            rate,
            expires,
            swarm,
            present_as,
            ..
        } => {
            if present_as.is_some() {
                bail!(
                    "--present-as goes with --pubkey; add the peer, then `sovra peer add … --pubkey … --present-as`"
                );
            }
            let v = ctx
                .call(
                    "POST",
                    "/peers/by-handle",
                    Some(serde_json::to_value(ByHandleBody {
                        handle: handle.clone(),
                        registry,
                        allowed_capabilities: allow,
                        rate_limit_per_day: Some(rate),
                        expires_at: expires,
                        swarm,
                    })?),
                )
                .await?;
            let added: sovra_proto::owner::PeerByHandle = typed(&v)?;
            ctx.print(&v, |_| {
                let l = &added.lookup;
                println!("Whitelisted {handle} as the registry vouches for it");
                println!("  fingerprint: {}", l.fingerprint);
                println!("  safety code: {}", l.safety_code);
                println!("  endpoint:    {}", l.endpoint.as_deref().unwrap_or("-"));
                println!(
                    "  may call:    {}",
                    names(&added.peer.entry.allowed_capabilities)
                );
                if l.was_reset {
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
            swarm,
            present_as,
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
                    Some(serde_json::to_value(PeerBody {
                        entry: WhitelistEntry {
                            peer_pubkey: key.to_b64(),
                            peer_handle: handle.clone(),
                            allowed_capabilities: allow,
                            rate_limit_per_day: rate,
                            expires_at: expires,
                        },
                        url,
                        relays: (!relays.is_empty()).then_some(relays),
                        encryption_key,
                        swarm,
                        present_as,
                    })?),
                )
                .await?;
            let peer: sovra_proto::owner::Peer = typed(&v)?;
            ctx.print(&v, |_| {
                println!("Whitelisted {handle}");
                println!("  fingerprint: {}", peer.fingerprint);
                println!("  may call:    {}", names(&peer.entry.allowed_capabilities));
            });
        }
        PeerCommand::List => {
            let v = ctx.call("GET", "/peers", None).await?;
            let peers: sovra_proto::owner::Peers = typed(&v)?;
            ctx.print(&v, |_| {
                if peers.peers.is_empty() {
                    println!("The whitelist is empty.");
                }
                for p in &peers.peers {
                    let e = &p.entry;
                    println!(
                        "{:<20} {}  swarm: {}  may call: {}  rate: {}/day  expires: {}  url: {}",
                        e.peer_handle,
                        p.fingerprint,
                        p.swarm,
                        names(&e.allowed_capabilities),
                        e.rate_limit_per_day,
                        e.expires_at.as_deref().unwrap_or("never"),
                        p.url.as_deref().unwrap_or("-"),
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
            let found: LookupAt = typed(&v)?;
            let l = &found.lookup;
            ctx.print(&v, |_| {
                println!("{} at {}", handle, found.registry);
                println!("  key:         ed25519:{}", l.pubkey);
                println!("  fingerprint: {}", l.fingerprint);
                println!("  safety code: {}", l.safety_code);
                println!("  endpoint:    {}", l.endpoint.as_deref().unwrap_or("-"));
                println!(
                    "  key changes: {}{}",
                    l.key_changes,
                    if l.was_reset {
                        " (last one a reset)"
                    } else {
                        ""
                    }
                );
            });
        }
        PeerCommand::Check => {
            let v = ctx.call("POST", "/peers/check", None).await?;
            let checks: PeerChecks = typed(&v)?;
            ctx.print(&v, |_| {
                if checks.checks.is_empty() {
                    println!("No peers were added by handle.");
                }
                for c in &checks.checks {
                    match c {
                        PeerCheck::Unchanged { handle } => println!("{handle}: unchanged"),
                        PeerCheck::Rotated { handle, .. } => {
                            println!("{handle}: rotated; followed (grants kept)")
                        }
                        PeerCheck::Reset { handle, request, .. } => println!(
                            "{handle}: KEY RESET at the registry; approve with `sovra pending approve {request}` after comparing safety codes"
                        ),
                        PeerCheck::Failed { handle, error } => {
                            println!("{handle}: check failed: {error}")
                        }
                    }
                }
            });
        }
        PeerCommand::Grant { peer, capability } => {
            change_grant(ctx, &peer, &capability, true).await?
        }
        PeerCommand::Revoke { peer, capability } => {
            change_grant(ctx, &peer, &capability, false).await?
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

/// `peer grant` / `peer revoke`: one capability added to or taken from a peer's grants, the
/// others and everything else about the entry kept.
async fn change_grant(ctx: &Ctx, peer: &str, capability: &str, allow: bool) -> Result<()> {
    let found = crate::cli::find_peer(ctx, peer).await?;
    let mut entry = found.entry;
    let caps = &mut entry.allowed_capabilities;
    let had = caps.iter().any(|c| c == capability);
    match (allow, had) {
        (true, true) | (false, false) => {
            println!(
                "{peer} {} call {capability} already; nothing changed.",
                if allow { "may" } else { "may not" }
            );
            return Ok(());
        }
        (true, false) => caps.push(capability.to_owned()),
        (false, true) => caps.retain(|c| c != capability),
    }
    let v = ctx
        .call("PUT", "/peers", Some(serde_json::to_value(&entry)?))
        .await?;
    let written: Peer = typed(&v)?;
    ctx.print(&v, |_| {
        println!(
            "{peer} may call: {}",
            names(&written.entry.allowed_capabilities)
        )
    });
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum PeerCommand {
    /// Add or update a peer. With the handle alone, its key and endpoint come from the
    /// registry (verified against the pinned registry key) and follow its rotations.
    Add {
        #[arg(value_parser = crate::cli::peer_arg)]
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
        #[arg(value_parser = crate::cli::peer_arg)]
        peer: String,
    },
    /// Let a peer call one more capability, keeping its other grants.
    ///
    /// Example: sovra peer grant @bob.cloud WordCount
    Grant {
        #[arg(value_parser = crate::cli::peer_arg)]
        peer: String,
        capability: String,
    },
    /// Stop a peer calling one capability, keeping its other grants.
    Revoke {
        #[arg(value_parser = crate::cli::peer_arg)]
        peer: String,
        capability: String,
    },
    /// Show who a registry says a handle is, with the safety code to compare; adds nothing.
    Lookup {
        #[arg(value_parser = crate::cli::peer_arg)]
        handle: String,
        #[arg(long, env = "SOVRA_REGISTRY")]
        registry: Option<String>,
    },
    /// Ask the registries about every peer added by handle now (rotations are followed,
    /// resets become pending requests). The node also does this hourly.
    Check,
}
