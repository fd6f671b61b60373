//! `sovra device list|attach|detach|recover`: a cloud's devices (client instances), changed
//! only by artifacts the cloud key signs here, in the home that holds it (PROTOCOL.md §19.4).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use sovra_proto::client_instance::{
    Attachment, Detachment, Recovery, client_instance_id, fresh_ids,
};
use sovra_proto::device::{KeyCertificate, PURPOSE_OWNER};
use sovra_proto::keyfile::{self, KeyRole};
use sovra_proto::{PublicKey, SigningKeypair, os_rng};

use sovra_proto::owner::{
    AttachDevice, DetachDevice, Device, DeviceChanged, Devices, RecoverDevice,
};

use crate::cli::{Ctx, typed};

/// The cloud key, which must be in this home: devices are the human's to manage.
fn cloud_key(ctx: &Ctx) -> Result<SigningKeypair> {
    let dir = sovra_node::home::cloud_dir(&ctx.home, &ctx.cloud_name()?);
    Ok(keyfile::load_cloud_keys(&dir.join("cloud.key"))
        .with_context(|| {
            format!(
                "the cloud key is not in {} — manage devices from the home that holds it",
                dir.display()
            )
        })?
        .signing)
}

/// The serving node's key, from its signed statement.
async fn node_id(ctx: &Ctx) -> Result<PublicKey> {
    let owner = ctx.owner()?;
    let node = owner
        .base()
        .rsplit_once("/clouds/")
        .map_or(owner.base(), |(n, _)| n)
        .to_owned();
    let doc: sovra_proto::node::NodeDocument = sovra_client::D2dClient::default()
        .get(&node, "/api/node")
        .await
        .map_err(|e| anyhow::anyhow!("{node}/api/node: {e}"))?;
    Ok(doc.verify()?)
}

/// The device named by its key or client-instance id, with its artifacts.
async fn find(ctx: &Ctx, which: &str) -> Result<Device> {
    let list: Devices = typed(&ctx.call("GET", "/devices", None).await?)?;
    list.devices
        .into_iter()
        .find(|d| d.device == which || d.client_instance_id == which)
        .ok_or_else(|| anyhow::anyhow!("no device {which} in this cloud"))
}

/// The device's newest artifact carrying `id_field` (an attachment, a detachment).
fn last_artifact(device: &Device, id_field: &str) -> Option<Value> {
    device
        .artifacts
        .iter()
        .rev()
        .find(|a| a.get(id_field).is_some())
        .cloned()
}

/// Makes a new device key and attaches it (an attachment and an owner certificate the cloud
/// key signs here); `keep` stores the key before the node learns of it, so a device the node
/// accepted always has its key somewhere.
pub async fn attach(
    ctx: &Ctx,
    label: &str,
    keep: impl FnOnce(&SigningKeypair) -> Result<()>,
) -> Result<(SigningKeypair, Value)> {
    let cloud = cloud_key(ctx)?;
    let node = node_id(ctx).await?;
    let device = SigningKeypair::generate(&mut os_rng());
    let now = jiff::Timestamp::now();
    let attachment = Attachment::sign(
        &cloud,
        &node,
        &device.public(),
        fresh_ids(&mut os_rng()),
        now,
    );
    let certificate = KeyCertificate::issue(&cloud, &device.public(), PURPOSE_OWNER, label, now);
    keep(&device)?;
    let v = ctx
        .call(
            "POST",
            "/devices/attach",
            Some(serde_json::to_value(AttachDevice {
                attachment: serde_json::to_value(&attachment)?,
                device_certificate: certificate,
            })?),
        )
        .await?;
    let _: DeviceChanged = typed(&v)?;
    Ok((device, v))
}

pub async fn run(ctx: &Ctx, command: DeviceCommand) -> Result<()> {
    match command {
        DeviceCommand::List => {
            let v = ctx.call("GET", "/devices", None).await?;
            let list: Devices = typed(&v)?;
            ctx.print(&v, |_| {
                for d in &list.devices {
                    println!("{}  {:<10} {}", d.client_instance_id, d.label, d.state);
                }
            });
        }
        DeviceCommand::Attach { label, key_out } => {
            let key_out = match key_out {
                Some(k) => k,
                None => default_key_out(ctx, &label)?,
            };
            if key_out.exists() {
                bail!("{} exists; refusing to overwrite a key", key_out.display());
            }
            let (device, v) = attach(ctx, &label, |device| {
                Ok(keyfile::save_signing_key(
                    &key_out,
                    KeyRole::Device,
                    device,
                )?)
            })
            .await?;
            ctx.print(&v, |_| {
                println!(
                    "Attached {} ({label}); its key is in {} — move it to the device.",
                    client_instance_id(&device.public()),
                    key_out.display()
                )
            });
        }
        DeviceCommand::Detach { device, reason } => {
            let cloud = cloud_key(ctx)?;
            let node = node_id(ctx).await?;
            let entry = find(ctx, &device).await?;
            let Some(attachment) = last_artifact(&entry, "attachment/id")
                .and_then(|a| serde_json::from_value::<Attachment>(a).ok())
            else {
                bail!(
                    "{device} was certified when the cloud was made, not attached by an artifact; \
                     it cannot be detached this way"
                );
            };
            let detachment = Detachment::sign(
                &cloud,
                &node,
                &attachment,
                &reason,
                None,
                fresh_ids(&mut os_rng()),
                jiff::Timestamp::now(),
            );
            let v = ctx
                .call(
                    "POST",
                    "/devices/detach",
                    Some(serde_json::to_value(DetachDevice {
                        detachment: serde_json::to_value(&detachment)?,
                    })?),
                )
                .await?;
            let _: DeviceChanged = typed(&v)?;
            ctx.print(&v, |_| println!("Detached {device} ({reason})."));
        }
        DeviceCommand::Recover { device } => {
            let cloud = cloud_key(ctx)?;
            let node = node_id(ctx).await?;
            let entry = find(ctx, &device).await?;
            let Some(detachment) = last_artifact(&entry, "detachment/id")
                .and_then(|d| serde_json::from_value::<Detachment>(d).ok())
            else {
                bail!("{device} was never detached");
            };
            let recovery = Recovery::sign(
                &cloud,
                &node,
                &detachment,
                "reattach-existing-device",
                fresh_ids(&mut os_rng()),
                jiff::Timestamp::now(),
            );
            let v = ctx
                .call(
                    "POST",
                    "/devices/recover",
                    Some(serde_json::to_value(RecoverDevice {
                        recovery: serde_json::to_value(&recovery)?,
                    })?),
                )
                .await?;
            let _: DeviceChanged = typed(&v)?;
            ctx.print(&v, |_| println!("Recovered {device}."));
        }
    }
    Ok(())
}

/// Default place for a new device's key: beside the cloud, named for the label.
pub fn default_key_out(ctx: &Ctx, label: &str) -> Result<PathBuf> {
    let dir = sovra_node::home::cloud_dir(&ctx.home, &ctx.cloud_name()?);
    Ok(dir.join(format!("device-{label}.key")))
}

#[derive(clap::Subcommand)]
pub enum DeviceCommand {
    /// Each device, and whether it is attached.
    List,
    /// Make a new device key, attach it, and write the key for the device to take.
    Attach {
        #[arg(long)]
        label: String,
        /// Where to write the new device's key (0600).
        #[arg(long)]
        key_out: Option<std::path::PathBuf>,
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
