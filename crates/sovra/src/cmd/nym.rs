//! `sovra nym create|list|retire`: public faces this cloud's key issues (PROTOCOL.md §19.7), run
//! where the cloud key is. `sovra peer add … --present-as NYM` shows one to a peer.

use anyhow::{Context, Result};
use sovra_proto::nym::NymCertificate;
use sovra_proto::owner::{AddNym, NymAdded, NymRetired, Nyms};

use crate::cli::{Ctx, encode, typed};

pub async fn run(ctx: &Ctx, command: NymCommand) -> Result<()> {
    match command {
        NymCommand::Create { nym } => {
            let dir = sovra_node::home::cloud_dir(&ctx.home, &ctx.cloud_name()?);
            let cloud = sovra_proto::keyfile::load_cloud_keys(&dir.join("cloud.key"))
                .with_context(|| {
                    format!(
                        "the cloud key is not in {}; create nyms where it is",
                        dir.display()
                    )
                })?;
            let certificate = NymCertificate::issue(&cloud.signing, &nym, jiff::Timestamp::now())?;
            let v = ctx
                .call(
                    "POST",
                    "/nyms",
                    Some(serde_json::to_value(AddNym { certificate })?),
                )
                .await?;
            let added: NymAdded = typed(&v)?;
            ctx.print(&v, |_| {
                println!(
                    "{} is this cloud's, to present with --present-as.",
                    added.nym
                )
            });
        }
        NymCommand::List => {
            let v = ctx.call("GET", "/nyms", None).await?;
            let list: Nyms = typed(&v)?;
            ctx.print(&v, |_| {
                for n in &list.nyms {
                    let retired = if n.retired_at.is_some() {
                        "  (retired)"
                    } else {
                        ""
                    };
                    println!("{}{retired}", n.nym);
                }
            });
        }
        NymCommand::Retire { nym } => {
            let v = ctx
                .call("POST", &format!("/nyms/{}/retire", encode(&nym)), None)
                .await?;
            let _: NymRetired = typed(&v)?;
            ctx.print(&v, |_| {
                println!("Retired {nym}; peers shown it see the handle again.")
            });
        }
    }
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum NymCommand {
    /// Issue a nym (handle syntax, e.g. @amber-river.nym) signed by the cloud key.
    Create { nym: String },
    /// This cloud's nyms.
    List,
    /// Retire a nym; peers it was presented to see the handle again.
    Retire { nym: String },
}
