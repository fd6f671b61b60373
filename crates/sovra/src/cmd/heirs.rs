//! `sovra heirs list|add|remove|endowment|clear|inherited|claim` (PROTOCOL.md §22): the cloud
//! key's inheritance policy, and, on an heir's side, taking a cloud it inherited. Policies are
//! signed here, where the cloud key is; the node checks and keeps them.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sovra_proto::inheritance::{Heir, HeirGrant, InheritanceClaim, InheritancePolicy};
use sovra_proto::migration::{Unlock, open_bundle};

use sovra_proto::owner::lifecycle::{HeirsStatus, Inherited};

use crate::cli::{Ctx, time_of, typed};

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
    let status: HeirsStatus = typed(&ctx.call("GET", "/heirs", None).await?)?;
    Ok(status.policy)
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
            let status: HeirsStatus = typed(&v)?;
            ctx.print(&v, |_| match &status.policy {
                None => println!("No heirs."),
                Some(policy) => {
                    for h in &policy.heirs {
                        println!("{}  {}", h.handle, h.grant.as_str());
                    }
                    println!(
                        "after {} days without you; fires {}{}",
                        policy.inactive_days,
                        status.fires_at.map_or_else(|| "-".into(), time_of),
                        if status.fired_at.is_some() {
                            " (fired)"
                        } else {
                            ""
                        }
                    );
                    if !policy.endowment.is_empty() {
                        println!("endowment: {}", policy.endowment);
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
            let status: HeirsStatus = typed(&v)?;
            ctx.print(&v, |_| {
                println!(
                    "{handle} inherits ({grant}) if you do not use this cloud for {days} days (next: {}).",
                    status.fires_at.map_or_else(|| "-".into(), time_of)
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
            let _: sovra_proto::owner::HeirsRemoved = typed(&v)?;
            ctx.print(&v, |_| println!("No heirs; the switch is off."));
        }
        HeirsCommand::Inherited => {
            let v = ctx.call("GET", "/inherited", None).await?;
            let list: Inherited = typed(&v)?;
            ctx.print(&v, |_| {
                for i in &list.inherited {
                    println!(
                        "{}  {}  since {}",
                        i.handle.as_deref().unwrap_or(&i.cloud),
                        i.grant,
                        time_of(i.received_at)
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
    let inherited: Inherited = typed(&ctx.call("GET", "/inherited", None).await?)?;
    let entry = inherited
        .inherited
        .into_iter()
        .find(|i| i.handle.as_deref() == Some(handle))
        .with_context(|| format!("no inheritance notice from {handle}"))?;
    if entry.grant != "control" {
        bail!("{handle} left you read access only: talk to it, it answers from its memory");
    }
    let cloud = sovra_proto::PublicKey::from_b64("cloud", &entry.cloud)?;
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
