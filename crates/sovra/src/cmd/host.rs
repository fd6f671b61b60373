//! `sovra init --hosted-by` (a human's device asking a node to host its cloud), `sovra host
//! invite|status` (the node's operator) and `sovra host revoke` (a hosted cloud's owner).

use std::path::Path;

use anyhow::Result;
use serde_json::{Value, json};

use crate::cli::Ctx;

/// `sovra init --handle @h --hosted-by URL (--invite CODE | --phone NUMBER)`, run on the
/// human's device.
pub async fn init_hosted(
    ctx: &Ctx,
    handle: &str,
    node_url: &str,
    invite: Option<String>,
    phone: Option<String>,
) -> Result<()> {
    let admission = admission(node_url, invite, phone).await?;
    let (dir, base) =
        sovra_node::home::init_hosted_cloud(&ctx.home, handle, node_url, &admission).await?;
    print_hosted(ctx, handle, &dir, &base)
}

/// How this human is admitted at `node_url`: an operator's invite, or a phone code from the
/// node's registry (read from the terminal).
pub async fn admission(
    node_url: &str,
    invite: Option<String>,
    phone: Option<String>,
) -> Result<sovra_node::home::Admission> {
    use sovra_node::home::Admission;
    Ok(match (invite, phone) {
        (Some(code), _) => Admission::Invite(code),
        (None, Some(phone)) => {
            let statement: sovra_proto::node::NodeDocument = sovra_client::D2dClient::default()
                .get(node_url, "/api/node")
                .await
                .map_err(|e| anyhow::anyhow!("{node_url}/api/node: {e}"))?;
            let Some(registry) = statement.phone_registry else {
                anyhow::bail!("{node_url} does not host by phone; ask its operator for an invite");
            };
            let sent = sovra_client::RegistryClient::new(&registry, sovra_client::DEFAULT_TIMEOUT)
                .request_code(&phone)
                .await
                .map_err(|e| anyhow::anyhow!("{registry}: {e}"))?;
            let code = super::registry::read_code(&phone)?;
            Admission::Phone(sovra_proto::registry::PhoneProof {
                verification_id: sent.verification_id,
                code,
            })
        }
        (None, None) => anyhow::bail!("give --invite CODE or --phone NUMBER"),
    })
}

pub fn print_hosted(ctx: &Ctx, handle: &str, dir: &std::path::Path, base: &str) -> Result<()> {
    let keys = sovra_proto::keyfile::load_cloud_keys(&dir.join("cloud.key"))?;
    let v = json!({
        "handle": handle,
        "pubkey": keys.public().to_human(),
        "fingerprint": keys.public().fingerprint(),
        "dir": dir,
        "url": base,
    });
    ctx.print(&v, |_| {
        println!("Created {handle}, hosted at {base}");
        println!(
            "  key:         {} (kept here, in {})",
            keys.public().to_human(),
            dir.display()
        );
        println!("  fingerprint: {}", keys.public().fingerprint());
        println!(
            "The node holds only a host key this cloud key certified for {} days; \
             `sovra host revoke` withdraws it.",
            sovra_node::home::HOST_PERIOD_DAYS
        );
    });
    Ok(())
}

pub async fn run(ctx: &Ctx, command: HostCommand) -> Result<()> {
    match command {
        HostCommand::Invite { days } => {
            let db = sovra_node::hosting::NodeDb::open(&ctx.home).await?;
            let code = db.create_invite(days).await?;
            ctx.print(&json!({ "invite": code, "days": days }), |_| {
                println!("{code}");
                println!("(valid {days} days, for one cloud: `sovra init --handle @name.cloud --hosted-by <this node's URL> --invite {code}`)");
            });
        }
        HostCommand::Status => status(ctx).await?,
        HostCommand::Reports => {
            let db = sovra_node::hosting::NodeDb::open(&ctx.home).await?;
            let reports = db.reports().await?;
            ctx.print(&json!({ "reports": reports }), |_| {
                if reports.is_empty() {
                    println!("No reports.");
                }
                for r in &reports {
                    println!(
                        "{}  {:<8} {}  {}{}",
                        crate::cli::time_text(&json!(r.at)),
                        r.subject_kind,
                        r.subject,
                        r.reason,
                        r.reporter
                            .as_deref()
                            .map(|c| format!("  (from {c})"))
                            .unwrap_or_default()
                    );
                }
            });
        }
        HostCommand::Quota {
            name,
            storage_mb,
            messages_per_day,
            brain_answers_per_day,
            capabilities,
        } => {
            let dir = sovra_node::home::cloud_dir(&ctx.home, &name);
            if !dir.join("cloud.json").exists() {
                anyhow::bail!("no cloud {name} on this node");
            }
            let quota = sovra_node::hosting::quota::Quota {
                storage_bytes: storage_mb.map(|m| m * 1024 * 1024),
                messages_per_day,
                brain_answers_per_day,
                capabilities,
            };
            quota.save(&dir)?;
            ctx.print(&json!({ "cloud": name, "quota": quota }), |_| {
                println!("Quota of {name} set; the node applies it within a minute.")
            });
        }
        HostCommand::Renew { days } => {
            let dir = sovra_node::home::cloud_dir(&ctx.home, &ctx.cloud_name()?);
            let cloud = sovra_proto::keyfile::load_cloud_keys(&dir.join("cloud.key"))?;
            let current: sovra_proto::host::HostCertificate =
                serde_json::from_slice(&std::fs::read(dir.join("host-certificate.json"))?)?;
            let key = |f: &'static str, t: &str| sovra_proto::PublicKey::from_b64(f, t);
            let renewed = sovra_proto::host::HostCertificate::issue(
                &cloud.signing,
                &key("host_key", &current.host_key)?,
                &sovra_proto::EncryptionKey::from_b64(
                    "host_encryption_key",
                    &current.host_encryption_key,
                )?,
                &key("node_id", &current.node_id)?,
                jiff::Timestamp::now(),
                jiff::SignedDuration::from_hours(24 * days),
            )?;
            let v = ctx
                .call(
                    "PUT",
                    "/host/certificate",
                    Some(serde_json::to_value(
                        sovra_proto::owner::RenewCertificate {
                            host_certificate: renewed.clone(),
                        },
                    )?),
                )
                .await?;
            sovra_node::home::write_atomic(
                &dir.join("host-certificate.json"),
                &serde_json::to_vec_pretty(&renewed)?,
            )?;
            let r: sovra_proto::owner::Renewed = crate::cli::typed(&v)?;
            ctx.print(&v, |_| {
                println!("The node's host key is certified until {}.", r.expires_at)
            });
        }
        HostCommand::Revoke => {
            let v = ctx.call("POST", "/host/revoke", None).await?;
            let _: sovra_proto::owner::HostRevoked = crate::cli::typed(&v)?;
            ctx.print(&v, |_| {
                println!("The node no longer holds a key that speaks for this cloud.")
            });
        }
    }
    Ok(())
}

/// Bytes under `dir` and the newest modification time (unix ms) among its files.
fn usage(dir: &Path) -> (u64, i64) {
    let (mut bytes, mut newest) = (0u64, 0i64);
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
                continue;
            }
            bytes += meta.len();
            if let Ok(m) = meta.modified()
                && let Ok(since) = m.duration_since(std::time::UNIX_EPOCH)
            {
                newest = newest.max(since.as_millis() as i64);
            }
        }
    }
    (bytes, newest)
}

/// The operator's view: metadata only (which clouds, how they are held, their size on disk and
/// last activity, invites) — never a message or a peer.
async fn status(ctx: &Ctx) -> Result<()> {
    use sovra_node::home;
    let identity = sovra_node::hosting::NodeIdentity::load_or_create(&ctx.home)?;
    let db = sovra_node::hosting::NodeDb::open(&ctx.home).await?;
    let (waiting, used) = db.invite_counts().await?;
    let mut clouds = Vec::new();
    for name in home::list_clouds(&ctx.home)? {
        let dir = home::cloud_dir(&ctx.home, &name);
        let config = home::load_config(&dir)?;
        if config.hosted_by.is_some() {
            continue;
        }
        let (bytes, last) = usage(&dir);
        let held = if !config.hosted {
            "own key"
        } else if dir.join("host.key").exists() {
            "host key"
        } else {
            "revoked"
        };
        let quota = sovra_node::hosting::quota::Quota::load(&dir)?;
        let meta = sovra_node::hosting::quota::Metadata::read(&dir)
            .await
            .unwrap_or_default();
        clouds.push(json!({
            "name": name, "handle": config.handle, "keys": held,
            "bytes": bytes, "last_activity_at": last, "quota": quota,
            "devices": meta.devices, "messages_last_day": meta.messages_last_day,
        }));
    }
    let v = json!({
        "node_id": identity.keys.public().to_b64(),
        "hosting_policy": identity.config.hosting_policy,
        "operator_contact": identity.config.operator_contact,
        "clouds": clouds,
        "invites": { "waiting": waiting, "used": used },
    });
    ctx.print(&v, |v: &Value| {
        println!(
            "node-id {}  ({} hosting)",
            identity.keys.public().to_human(),
            identity.config.hosting_policy
        );
        for c in v["clouds"].as_array().into_iter().flatten() {
            println!(
                "  {:<16} {:<24} {:<9} {:>10} bytes  {} devices  {} messages/24h  last active {}",
                c["name"].as_str().unwrap_or(""),
                c["handle"].as_str().unwrap_or(""),
                c["keys"].as_str().unwrap_or(""),
                c["bytes"],
                c["devices"],
                c["messages_last_day"],
                crate::cli::time_text(&c["last_activity_at"]),
            );
        }
        println!("invites: {waiting} waiting, {used} used");
    });
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum HostCommand {
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

/// `--hosted-by URL (--invite CODE | --phone NUMBER)`: a hosting node, and how this human is
/// admitted there (`init`, `import`).
#[derive(clap::Args)]
pub struct HostedBy {
    /// Have the node at this URL host the cloud: the cloud key stays in this home (your
    /// device), the node gets only a host key this cloud key certifies.
    #[arg(long)]
    pub hosted_by: Option<String>,
    /// The invite code the node's operator gave you (a node hosting by invite).
    #[arg(long, requires = "hosted_by", conflicts_with = "phone")]
    pub invite: Option<String>,
    /// Your phone number, for a node hosting by phone: its registry texts a code.
    #[arg(long, requires = "hosted_by")]
    pub phone: Option<String>,
}
