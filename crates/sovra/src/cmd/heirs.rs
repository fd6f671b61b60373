//! `sovra heirs list|add|remove|endowment|clear|inherited|claim` (PROTOCOL.md §22): the cloud
//! key's inheritance policy, and, on an heir's side, taking a cloud it inherited. Policies are
//! signed here, where the cloud key is; the node checks and keeps them.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sovra_proto::inheritance::{Heir, HeirGrant, InheritanceClaim, InheritancePolicy};
use sovra_proto::migration::{Unlock, open_bundle};

use crate::cli::{Ctx, time_text};

/// Days in `180d` or `180`.
pub fn parse_days(text: &str) -> Result<u64, String> {
    text.trim_end_matches('d')
        .parse::<u64>()
        .map_err(|_| format!("{text:?}: a number of days, like 180d"))
}

fn cloud_keys(ctx: &Ctx) -> Result<sovra_proto::CloudKeys> {
    let dir = sovra_node::home::cloud_dir(&ctx.home, &ctx.cloud_name()?);
    sovra_proto::keyfile::load_cloud_keys(&dir.join("cloud.key")).with_context(|| {
        format!(
            "the cloud key is not in {}; manage heirs where it is",
            dir.display()
        )
    })
}

async fn current(ctx: &Ctx) -> Result<Option<InheritancePolicy>> {
    let v = ctx.call("GET", "/heirs", None).await?;
    Ok(serde_json::from_value(v["policy"].clone()).ok())
}

/// The whitelist entry for `handle`: its key and URL.
async fn peer(ctx: &Ctx, handle: &str) -> Result<(String, Option<String>)> {
    let p = crate::cli::find_peer(ctx, handle).await?;
    Ok((p.entry.peer_pubkey, p.url))
}

async fn publish(ctx: &Ctx, heirs: Vec<Heir>, days: u64, endowment: &str) -> Result<Value> {
    let keys = cloud_keys(ctx)?;
    let policy = InheritancePolicy::issue(
        &keys.signing,
        heirs,
        days,
        endowment,
        jiff::Timestamp::now(),
    )?;
    ctx.call("PUT", "/heirs", Some(json!({ "policy": policy })))
        .await
}

pub async fn run(ctx: &Ctx, command: HeirsCommand) -> Result<()> {
    match command {
        HeirsCommand::List => {
            let v = ctx.call("GET", "/heirs", None).await?;
            ctx.print(&v, |v| match v["policy"]["heirs"].as_array() {
                None => println!("No heirs."),
                Some(heirs) => {
                    for h in heirs {
                        println!(
                            "{}  {}",
                            h["handle"].as_str().unwrap_or(""),
                            h["grant"].as_str().unwrap_or("")
                        );
                    }
                    println!(
                        "after {} days without you; fires {}{}",
                        v["policy"]["inactive_days"],
                        time_text(&v["fires_at"]),
                        if v["fired_at"].is_null() {
                            ""
                        } else {
                            " (fired)"
                        }
                    );
                    if let Some(e) = v["policy"]["endowment"].as_str().filter(|e| !e.is_empty()) {
                        println!("endowment: {e}");
                    }
                }
            });
        }
        HeirsCommand::Add {
            handle,
            after,
            grant,
        } => {
            let handle = handle.to_lowercase();
            let (key, _) = peer(ctx, &handle).await?;
            let now = current(ctx).await?;
            let mut heirs: Vec<Heir> = now.as_ref().map(|p| p.heirs.clone()).unwrap_or_default();
            heirs.retain(|h| h.pubkey != key);
            heirs.push(Heir {
                pubkey: key,
                handle: handle.clone(),
                grant: match grant.as_str() {
                    "control" => HeirGrant::Control,
                    _ => HeirGrant::Read,
                },
            });
            let days = after
                .or(now.as_ref().map(|p| p.inactive_days))
                .unwrap_or(180);
            let endowment = now.map(|p| p.endowment).unwrap_or_default();
            let v = publish(ctx, heirs, days, &endowment).await?;
            ctx.print(&v, |v| {
                println!(
                    "{handle} inherits ({grant}) if you do not use this cloud for {days} days (next: {}).",
                    time_text(&v["fires_at"])
                )
            });
        }
        HeirsCommand::Remove { handle } => {
            let handle = handle.to_lowercase();
            let Some(now) = current(ctx).await? else {
                bail!("this cloud has no heirs");
            };
            let mut heirs = now.heirs.clone();
            heirs.retain(|h| h.handle != handle);
            if heirs.len() == now.heirs.len() {
                bail!("{handle} is not an heir");
            }
            let v = publish(ctx, heirs, now.inactive_days, &now.endowment).await?;
            ctx.print(&v, |_| println!("{handle} is no longer an heir."));
        }
        HeirsCommand::Endowment { text } => {
            let now = current(ctx).await?;
            let (heirs, days) = now.map_or((Vec::new(), 180), |p| (p.heirs, p.inactive_days));
            let v = publish(ctx, heirs, days, &text).await?;
            ctx.print(&v, |_| {
                println!("Endowment signed and kept with the policy.")
            });
        }
        HeirsCommand::Clear => {
            let v = ctx.call("DELETE", "/heirs", None).await?;
            ctx.print(&v, |_| println!("No heirs; the switch is off."));
        }
        HeirsCommand::Inherited => {
            let v = ctx.call("GET", "/inherited", None).await?;
            ctx.print(&v, |v| {
                for i in v["inherited"].as_array().into_iter().flatten() {
                    println!(
                        "{}  {}  since {}",
                        i["handle"]
                            .as_str()
                            .unwrap_or(i["cloud"].as_str().unwrap_or("")),
                        i["grant"].as_str().unwrap_or(""),
                        time_text(&i["received_at"])
                    );
                }
            });
        }
        HeirsCommand::Claim { handle } => claim(ctx, &handle.to_lowercase()).await?,
    }
    Ok(())
}

/// Takes a cloud this one inherited with `control`: asks its node for the bundle (sealed to
/// this cloud's key), opens it, and imports it into this home as a move.
async fn claim(ctx: &Ctx, handle: &str) -> Result<()> {
    let node = super::migration::running_node(ctx)?;
    let keys = cloud_keys(ctx)?;
    let inherited = ctx.call("GET", "/inherited", None).await?;
    let entry = inherited["inherited"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["handle"].as_str() == Some(handle))
        .with_context(|| format!("no inheritance notice from {handle}"))?;
    if entry["grant"] != "control" {
        bail!("{handle} left you read access only: talk to it, it answers from its memory");
    }
    let cloud = sovra_proto::PublicKey::from_b64("cloud", entry["cloud"].as_str().unwrap_or(""))?;
    let (_, url) = peer(ctx, handle).await?;
    let url = url.with_context(|| format!("no URL is known for {handle}"))?;
    let claim = InheritanceClaim::sign(&keys.signing, &cloud, jiff::Timestamp::now());
    let answer: sovra_node::migration::heirs::ClaimResponse =
        sovra_client::D2dClient::new(std::time::Duration::from_secs(300))
            .post(&url, "/api/d2d/inheritance/claim", &claim)
            .await
            .map_err(|e| anyhow::anyhow!("{handle} refused the claim: {e}"))?;
    let bundle = sovra_proto::encoding::b64_decode("bundle", &answer.bundle, 1 << 31)?;
    let (_, archive) = open_bundle(&bundle, Unlock::Secret(&keys.encryption))?;
    let ctx = Ctx {
        cloud: None,
        ..ctx.clone()
    };
    super::migration::import_opened(&ctx, &node, &archive, None).await
}

#[derive(clap::Subcommand)]
pub enum HeirsCommand {
    /// The heirs, the inactivity period, when the switch fires, the endowment.
    List,
    /// Name a whitelisted peer heir (signed by the cloud key here).
    ///
    /// Example: sovra heirs add @bob.cloud --after 180d --grant control
    Add {
        #[arg(value_parser = crate::cli::peer_arg)]
        handle: String,
        /// Owner inactivity before the switch fires (days: 180d).
        #[arg(long, value_parser = parse_days)]
        after: Option<u64>,
        /// `read`: talk to the sealed cloud; `control`: also take it.
        #[arg(long, default_value = "read", value_parser = ["read", "control"])]
        grant: String,
    },
    /// No longer name this peer heir.
    Remove {
        #[arg(value_parser = crate::cli::peer_arg)]
        handle: String,
    },
    /// Free-form words for the heirs, signed with the policy.
    Endowment { text: String },
    /// Remove every heir: the switch is off.
    Clear,
    /// Clouds whose switch named this cloud heir.
    Inherited,
    /// Take a cloud you inherited with control: it moves to this home's node.
    Claim {
        #[arg(value_parser = crate::cli::peer_arg)]
        handle: String,
    },
}
