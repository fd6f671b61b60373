//! `sovra export`, `sovra import`, `sovra seal|unseal` and `sovra migration status|cancel|keygen`
//! (PROTOCOL.md §20, §21): moving a cloud to another node, and sealing it.
//!
//! Export and import run where the cloud key is: the node hands out the archive without keys
//! (it may not hold them, and never gives them away); the CLI adds them, seals the bundle and
//! signs it. Import writes the cloud into this home, has the running node serve it (SIGHUP),
//! signs the move statement and has the node announce it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;
use sovra_node::migration::moves::{AnnounceRequest, AnnounceResponse};
use sovra_node::owner::migration::{ExportRequest, MigrationStatus};
use sovra_proto::encoding::hex;
use sovra_proto::keyfile::{self, KeyRole};
use sovra_proto::migration::{
    Archive, ArchivedKeys, DEFAULT_ARGON2, Destination, LockWith, MoveStatement, Unlock,
    open_bundle, read_header, seal_bundle,
};
use sovra_proto::{EncryptionKey, EncryptionSecret, IdentityDocument, os_rng};

use crate::cli::{Ctx, client_error};

/// Long enough for a freeze to wait out running calls and a large cloud to be read.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(300);

pub struct ExportArgs {
    pub out: PathBuf,
    pub passphrase_file: Option<PathBuf>,
    pub to: Option<String>,
    pub freeze: bool,
}

pub async fn export(ctx: &Ctx, args: ExportArgs) -> Result<()> {
    let name = ctx.cloud_name()?;
    let dir = sovra_node::home::cloud_dir(&ctx.home, &name);
    let keys = keyfile::load_cloud_keys(&dir.join("cloud.key")).with_context(|| {
        format!(
            "the cloud key is not in {}; export from the device that holds it",
            dir.display()
        )
    })?;
    if args.out.exists() {
        bail!("{} exists; refusing to overwrite it", args.out.display());
    }
    // Ask for the passphrase before freezing anything.
    let lock = match (&args.to, &args.passphrase_file) {
        (Some(to), _) => Lock::Recipient(EncryptionKey::from_b64("--to", to)?),
        (None, file) => Lock::Passphrase(passphrase(file.as_deref(), true)?),
    };
    let owner = ctx.owner_with_timeout(EXPORT_TIMEOUT)?;
    let mut archive: Archive = owner
        .call(
            "POST",
            "/api/owner/migration/export",
            Some(&serde_json::to_value(ExportRequest {
                freeze: args.freeze,
            })?),
        )
        .await
        .map_err(|e| client_error(e, owner.base()))?;
    archive.keys = Some(ArchivedKeys::of(&keys));
    archive.cloud.encryption_key = keys.encryption.public().to_b64();
    let bytes = archive.to_bytes();
    let sha = archive.sha256();
    let lock = match &lock {
        Lock::Recipient(k) => LockWith::Recipient(*k),
        Lock::Passphrase(p) => LockWith::Passphrase(p, DEFAULT_ARGON2),
    };
    let bundle = seal_bundle(
        &mut os_rng(),
        &keys.signing,
        &bytes,
        lock,
        jiff::Timestamp::now(),
    )?;
    write_private(&args.out, &bundle)?;
    let rows: usize = archive.tables.values().map(|t| t.rows.len()).sum();
    let messages = archive.tables.get("messages").map_or(0, |t| t.rows.len());
    ctx.print(
        &json!({
            "out": args.out,
            "archive_sha256": hex(&sha),
            "bytes": bundle.len(),
            "rows": rows,
            "messages": messages,
            "frozen": args.freeze,
        }),
        |_| {
            println!("Wrote {} ({} bytes).", args.out.display(), bundle.len());
            println!("archive sha256: {}", hex(&sha));
            println!("{rows} rows, {messages} messages (session content stays behind).");
            if args.freeze {
                println!(
                    "The cloud is frozen here for the move: peers wait and retry. Import the bundle on the new node (`sovra import`); `sovra migration cancel` unfreezes it instead."
                );
            }
        },
    );
    Ok(())
}

enum Lock {
    Recipient(EncryptionKey),
    Passphrase(zeroize::Zeroizing<String>),
}

pub struct ImportArgs {
    pub file: PathBuf,
    pub passphrase_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub name: Option<String>,
    /// Move to this hosting node instead of the node running on this home.
    pub hosted_by: Option<String>,
    pub invite: Option<String>,
    pub phone: Option<String>,
}

pub async fn import(ctx: &Ctx, args: ImportArgs) -> Result<()> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let (header, _) = read_header(&bytes).context("not a Sovra migration bundle")?;
    // The node must run: it serves the cloud at once and announces the move.
    let node = match &args.hosted_by {
        Some(_) => None,
        None => Some(running_node(ctx)?),
    };
    let archive = match &header.lock {
        sovra_proto::migration::Lock::X25519 { .. } => {
            let path = args
                .key_file
                .context("this bundle is sealed to an X25519 key: give --key-file")?;
            let secret = keyfile::load_secret(&path, KeyRole::Bundle)?;
            open_bundle(
                &bytes,
                Unlock::Secret(&EncryptionSecret::from_bytes(*secret)),
            )?
            .1
        }
        sovra_proto::migration::Lock::Passphrase { .. } => {
            let pass = passphrase(args.passphrase_file.as_deref(), false)?;
            open_bundle(&bytes, Unlock::Passphrase(&pass))?.1
        }
    };
    match (node, args.hosted_by) {
        (Some(node), _) => import_opened(ctx, &node, &archive, args.name.as_deref()).await,
        (None, Some(url)) => {
            let admission = super::host::admission(&url, args.invite, args.phone).await?;
            import_hosted(ctx, &url, &admission, archive).await
        }
        (None, None) => unreachable!("a node or a hosting URL"),
    }
}

/// Moves the cloud in `archive` to the hosting node at `node_url` (this home is the human's
/// device): onboarding with the cloud's own keys (the node gets a host key they certify), the
/// content uploaded without keys, then the move statement naming the new host key.
async fn import_hosted(
    ctx: &Ctx,
    node_url: &str,
    admission: &sovra_node::home::Admission,
    mut archive: Archive,
) -> Result<()> {
    let keys = archive
        .keys
        .take()
        .context("the bundle holds no keys")?
        .keys()?;
    let handle = archive.cloud.handle.clone();
    let sha = {
        let mut with_keys = archive.clone();
        with_keys.keys = Some(ArchivedKeys::of(&keys));
        with_keys.sha256()
    };
    let (dir, base) = sovra_node::home::host_cloud(
        &ctx.home,
        &handle,
        node_url,
        admission,
        ArchivedKeys::of(&keys).keys()?,
    )
    .await?;
    let device = sovra_node::home::load_device(&dir)?;
    let owner = sovra_client::OwnerClient::new(base.clone(), device, EXPORT_TIMEOUT);
    let imported: sovra_proto::owner::Imported = owner
        .call(
            "POST",
            "/api/owner/migration/import",
            Some(&serde_json::to_value(&archive)?),
        )
        .await
        .map_err(|e| client_error(e, owner.base()))?;
    let identity = wait_served(&base).await?;
    let certificate: sovra_proto::host::HostCertificate =
        serde_json::from_slice(&std::fs::read(dir.join("host-certificate.json"))?)?;
    let host_encryption_key =
        EncryptionKey::from_b64("host_encryption_key", &certificate.host_encryption_key)?;
    let statement = MoveStatement::issue(
        &keys.signing,
        &handle,
        archive.move_seq + 1,
        &Destination {
            endpoint: identity.endpoints.first().map(String::as_str),
            relays: &identity.relays,
            encryption_key: &host_encryption_key,
            host_certificate: Some(&certificate),
        },
        &sha,
        jiff::Timestamp::now(),
    )?;
    let answer = announce(&owner, statement, archive.exported_from.clone()).await?;
    ctx.print(
        &json!({ "handle": handle, "url": base, "rows": imported.rows, "archive_sha256": hex(&sha), "announce": answer }),
        |_| {
            println!("{handle} is hosted at {base} now ({} rows).", imported.rows);
            println!(
                "Move statement {}: {} peer(s) told, {} waiting; old node {}.",
                answer.seq,
                answer.peers_told,
                answer.peers_waiting,
                if answer.old_node_told { "told" } else { "not reached yet (retried)" }
            );
        },
    );
    Ok(())
}

/// The node running on this home, if its process is alive.
pub fn running_node(ctx: &Ctx) -> Result<sovra_node::home::NodeInfo> {
    crate::cli::running_node(&ctx.home)
        .map(|(node, _)| node)
        .with_context(|| {
            format!(
                "no running node in {}; start `sovra node serve` there first (it may run with no cloud)",
                ctx.home.display()
            )
        })
}

/// Writes an opened archive into this home as a cloud, has the running `node` serve it, and
/// announces the move with a statement its key signs (`sovra import`, `sovra heirs claim`).
pub async fn import_opened(
    ctx: &Ctx,
    node: &sovra_node::home::NodeInfo,
    archive: &Archive,
    name: Option<&str>,
) -> Result<()> {
    let keys = archive
        .keys
        .as_ref()
        .context("the bundle holds no keys")?
        .keys()?;
    let dir = sovra_node::migration::import::import_cloud(&ctx.home, name, archive).await?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    crate::cli::reload_node(&ctx.home)?;
    let local = node.local.clone().unwrap_or(node.url.clone());
    let base = format!("{}/clouds/{name}", local.trim_end_matches('/'));
    let identity = wait_served(&base).await?;
    let statement = MoveStatement::issue(
        &keys.signing,
        &archive.cloud.handle,
        archive.move_seq + 1,
        &Destination {
            endpoint: identity.endpoints.first().map(String::as_str),
            relays: &identity.relays,
            encryption_key: &keys.encryption.public(),
            host_certificate: None,
        },
        &archive.sha256(),
        jiff::Timestamp::now(),
    )?;
    let ctx = Ctx {
        cloud: Some(name.clone()),
        ..ctx.clone()
    };
    let owner = ctx.owner()?;
    let answer = announce(&owner, statement, archive.exported_from.clone()).await?;
    ctx.print(
        &json!({
            "cloud": name,
            "handle": archive.cloud.handle,
            "archive_sha256": hex(&archive.sha256()),
            "announce": answer,
        }),
        |_| {
            println!(
                "Imported {} as {name}, served at {base}.",
                archive.cloud.handle
            );
            println!("archive sha256: {}", hex(&archive.sha256()));
            println!(
                "Move statement {}: {} peer(s) told, {} to be told as they come online; old node {}; registry {}.",
                answer.seq,
                answer.peers_told,
                answer.peers_waiting,
                if answer.old_node_told { "told" } else { "not reached yet (retried)" },
                if answer.registry_updated { "updated" } else { "not updated" },
            );
        },
    );
    Ok(())
}

/// Has the node now serving the cloud announce its move (§20.5).
async fn announce(
    owner: &sovra_client::OwnerClient,
    statement: MoveStatement,
    old_endpoint: Option<String>,
) -> Result<AnnounceResponse> {
    owner
        .call(
            "POST",
            "/api/owner/migration/announce",
            Some(&serde_json::to_value(AnnounceRequest {
                statement,
                old_endpoint,
            })?),
        )
        .await
        .map_err(|e| client_error(e, owner.base()))
}

/// Waits until the node serves the imported cloud; returns its identity document.
async fn wait_served(base: &str) -> Result<IdentityDocument> {
    let client = sovra_client::D2dClient::new(Duration::from_secs(5));
    let start = std::time::Instant::now();
    loop {
        match client
            .get::<IdentityDocument>(base, "/api/d2d/identity")
            .await
        {
            Ok(doc) => return Ok(doc),
            Err(e) if start.elapsed() > Duration::from_secs(15) => {
                bail!("the node did not start serving the cloud at {base}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

pub async fn seal(ctx: &Ctx, swarm: Option<String>, last: bool) -> Result<()> {
    let v = ctx
        .call(
            "POST",
            "/seal",
            Some(json!({ "swarm": swarm, "unseal": if last { "never" } else { "owner" } })),
        )
        .await?;
    ctx.print(&v, |_| {
        let what = swarm
            .as_deref()
            .map_or("The cloud".to_owned(), |s| format!("Swarm {s}"));
        println!(
            "{what} is sealed: read-only, answering from frozen memory.{}",
            if last {
                " The seal is final."
            } else {
                " `sovra unseal` lifts it."
            }
        )
    });
    Ok(())
}

pub async fn unseal(ctx: &Ctx, swarm: Option<String>) -> Result<()> {
    let v = ctx
        .call("POST", "/unseal", Some(json!({ "swarm": swarm })))
        .await?;
    ctx.print(&v, |_| println!("Unsealed."));
    Ok(())
}

pub async fn run(ctx: &Ctx, command: MigrationCommand) -> Result<()> {
    match command {
        MigrationCommand::Status => {
            let v = ctx.call("GET", "/migration", None).await?;
            ctx.print(&v, |v| {
                let status: MigrationStatus =
                    serde_json::from_value(v.clone()).expect("the node's own type");
                println!("state: {}", status.state);
                if let Some(s) = &status.statement {
                    println!(
                        "moved to: {} (statement {})",
                        s.endpoint.as_deref().unwrap_or("its relays"),
                        s.seq
                    );
                }
                println!("moves so far: {}", status.move_seq);
                for seal in &status.seals {
                    println!(
                        "sealed: {} (unseal: {})",
                        if seal.swarm == "*" {
                            "the whole cloud"
                        } else {
                            &seal.swarm
                        },
                        serde_json::to_value(seal.unseal)
                            .expect("json")
                            .as_str()
                            .unwrap_or("")
                    );
                }
            });
        }
        MigrationCommand::Cancel => {
            let v = ctx.call("POST", "/migration/cancel", None).await?;
            ctx.print(&v, |_| {
                println!("The move is cancelled; the cloud takes messages again.")
            });
        }
        MigrationCommand::Keygen { out } => {
            let secret = EncryptionSecret::generate(&mut os_rng());
            keyfile::save_secret(&out, KeyRole::Bundle, &secret.to_bytes())?;
            let public = secret.public().to_b64();
            ctx.print(&json!({ "key_file": out, "public_key": public }), |_| {
                println!("Wrote {} (0600).", out.display());
                println!(
                    "Give this to whoever exports a cloud for you: sovra export --to {public}"
                );
            });
        }
    }
    Ok(())
}

/// The passphrase: the first line of `file`, or asked on the terminal (twice when `confirm`).
fn passphrase(file: Option<&Path>, confirm: bool) -> Result<zeroize::Zeroizing<String>> {
    if let Some(path) = file {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        );
        let line = text.lines().next().unwrap_or("").to_owned();
        if line.is_empty() {
            bail!("{} holds no passphrase", path.display());
        }
        return Ok(zeroize::Zeroizing::new(line));
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the passphrase on: give --passphrase-file");
    }
    let first = zeroize::Zeroizing::new(rpassword::prompt_password("Bundle passphrase: ")?);
    if first.chars().count() < 8 {
        bail!("a passphrase of at least 8 characters, please");
    }
    if confirm {
        let again = zeroize::Zeroizing::new(rpassword::prompt_password("Again: ")?);
        if *again != *first {
            bail!("the two passphrases differ");
        }
    }
    Ok(first)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum MigrationCommand {
    /// serving, moving or moved (with the move statement), and the seals in force.
    Status,
    /// Unfreeze a cloud exported with --move whose move was abandoned.
    Cancel,
    /// Make an X25519 key file to receive bundles (`sovra export --to` its public key).
    Keygen {
        #[arg(long)]
        out: std::path::PathBuf,
    },
}
