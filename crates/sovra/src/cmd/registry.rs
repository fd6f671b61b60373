//! `sovra registry serve`, `sovra register` and `sovra rotate`: running a registry, and this
//! cloud's handle at one.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::{init_logging, shutdown_signal};
use sovra_proto::owner::{
    ApproveDevice, Elevated, ElevationDropped, ElevationStatus, Register, Registered,
    RegistryStatus, Rotated, SendCode,
};
use sovra_proto::registry::{CodeResponse, PhoneProof};

use crate::cli::{Ctx, typed};

/// `sovra registry serve`.
pub async fn serve(dir: &std::path::Path, listen: &str, domain: &str, sms: &str) -> Result<()> {
    use sovra_registry::sms::{ConsoleGateway, SmsGateway, TwilioGateway, WebhookGateway};
    // The console gateway "sends" codes to this log.
    init_logging();
    let gateway: std::sync::Arc<dyn SmsGateway> = match sms {
        "console" => std::sync::Arc::new(ConsoleGateway::default()),
        "twilio" => std::sync::Arc::new(TwilioGateway::from_env().map_err(anyhow::Error::msg)?),
        "webhook" => std::sync::Arc::new(WebhookGateway::from_env().map_err(anyhow::Error::msg)?),
        other => bail!("unknown SMS gateway {other:?}: console, twilio or webhook"),
    };
    let settings = sovra_registry::Settings {
        domain: domain.to_owned(),
        ..Default::default()
    };
    let registry = std::sync::Arc::new(sovra_registry::home::open(dir, settings, gateway).await?);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    println!(
        "registry on http://{addr}  key {}  handles @name.{domain}  sms: {sms}",
        registry.public().to_human()
    );
    sovra_registry::api::serve(listener, registry, shutdown_signal()).await?;
    Ok(())
}

/// `sovra elevate`: open this device's elevated window (PROTOCOL.md §15.6) with a phone code,
/// approve another device, drop the window, or show where it stands.
pub async fn elevate(
    ctx: &Ctx,
    phone: Option<String>,
    approve: Option<String>,
    drop: bool,
) -> Result<()> {
    let opened = |v: &Value| -> Result<()> {
        let e: Elevated = typed(v)?;
        ctx.print(v, |_| {
            println!(
                "Elevated {}until {} (high-trust operations allowed).",
                e.device
                    .as_deref()
                    .map(|d| format!("device {d} "))
                    .unwrap_or_default(),
                crate::cli::time_of(e.elevated_until)
            )
        });
        Ok(())
    };
    match (phone, approve, drop) {
        (_, _, true) => {
            let v = ctx.call("DELETE", "/elevation", None).await?;
            let _: ElevationDropped = typed(&v)?;
            ctx.print(&v, |_| println!("This device's elevated window is closed."));
        }
        (_, Some(device), _) => {
            let key = sovra_proto::PublicKey::from_human(&device)
                .or_else(|_| sovra_proto::PublicKey::from_b64("device", &device))
                .context("--approve takes a device key (ed25519:… or base64)")?;
            let body = ApproveDevice {
                device: key.to_b64(),
            };
            let v = ctx
                .call(
                    "POST",
                    "/elevation/approve",
                    Some(serde_json::to_value(body)?),
                )
                .await?;
            opened(&v)?;
        }
        (Some(phone), None, false) => opened(&elevate_by_phone(ctx, &phone).await?)?,
        (None, None, false) => {
            let v = ctx.call("GET", "/elevation", None).await?;
            let status: ElevationStatus = typed(&v)?;
            ctx.print(&v, |_| match status.elevated_until {
                Some(until) => println!(
                    "Elevated until {} (high-trust operations allowed).",
                    crate::cli::time_of(until)
                ),
                None if status.factors.is_empty() => println!(
                    "Two-factor: no second factor (register a phone or attach a device); not elevated."
                ),
                None => println!(
                    "Two-factor: {}; not elevated.",
                    status.factors.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// Has the node ask this cloud's registry to text a code to `phone` (the number on record),
/// reads the code, and opens the window with it.
pub async fn elevate_by_phone(ctx: &Ctx, phone: &str) -> Result<Value> {
    let status: RegistryStatus = typed(&ctx.call("GET", "/registry", None).await?)?;
    let Some(registration) = status.registration else {
        bail!(
            "this cloud has no phone on record; approve this device from another one (`sovra elevate --approve <key>` there)"
        );
    };
    let proof = phone_proof(ctx, &registration.registry_url, phone, None).await?;
    ctx.call("POST", "/elevation", Some(serde_json::to_value(proof)?))
        .await
}

/// Has the node ask `registry` to text a code to `phone`, then reads the code the human types.
async fn phone_proof(
    ctx: &Ctx,
    registry: &str,
    phone: &str,
    registry_key: Option<&str>,
) -> Result<PhoneProof> {
    let request = SendCode {
        registry: registry.to_owned(),
        phone: phone.to_owned(),
        registry_key: registry_key.map(str::to_owned),
    };
    let sent: CodeResponse = typed(
        &ctx.call(
            "POST",
            "/registry/verifications",
            Some(serde_json::to_value(request)?),
        )
        .await?,
    )?;
    Ok(PhoneProof {
        verification_id: sent.verification_id,
        code: read_code(phone)?,
    })
}

/// Reads the code texted to `phone` as the human types it.
pub fn read_code(phone: &str) -> Result<String> {
    eprint!("A code was sent to {phone}. Code: ");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the code")?;
    let code = line.trim();
    if code.is_empty() {
        bail!("no code given");
    }
    Ok(code.to_owned())
}

pub async fn register(
    ctx: &Ctx,
    phone: &str,
    handle: Option<&str>,
    registry: &str,
    registry_key: Option<String>,
) -> Result<()> {
    let me: sovra_proto::owner::Whoami =
        crate::cli::typed(&ctx.call("GET", "/whoami", None).await?)?;
    let mine = me.handle.as_str();
    if let Some(h) = handle
        && h != mine
    {
        bail!(
            "this cloud is {mine}; to claim {h}, create a cloud for it (`sovra init --handle {h}`) and select it with --cloud"
        );
    }
    let mut body = Register {
        registry: registry.to_owned(),
        proof: phone_proof(ctx, registry, phone, registry_key.as_deref()).await?,
    };
    // A mistyped code is asked for again on a terminal, while the registry allows tries.
    let v = loop {
        match ctx
            .call(
                "POST",
                "/registry/register",
                Some(serde_json::to_value(&body)?),
            )
            .await
        {
            Err(e)
                if std::io::IsTerminal::is_terminal(&std::io::stdin())
                    && e.downcast_ref::<crate::cli::Refusal>()
                        .is_some_and(|r| r.code == "wrong_code") =>
            {
                eprintln!("That code is not the one sent.");
                body.proof.code = read_code(phone)?;
            }
            other => break other?,
        }
    };
    let r: Registered = typed(&v)?;
    ctx.print(&v, |_| {
        println!("Registered {} at {}", r.handle, r.registry);
        println!("  fingerprint:  {}", r.fingerprint);
        println!("  endpoint:     {}", r.endpoint.as_deref().unwrap_or("-"));
        println!("  registry key: ed25519:{} (pinned)", r.registry_key);
        if r.was_reset {
            println!(
                "  This replaced the phone's previous key: peers will be asked to re-approve."
            );
        }
        println!("Peers can now add you with `sovra peer add {}`.", r.handle);
    });
    Ok(())
}

pub async fn rotate(ctx: &Ctx, phone: &str) -> Result<()> {
    let status: RegistryStatus = typed(&ctx.call("GET", "/registry", None).await?)?;
    let registry = status
        .registration
        .context("this cloud is not registered; run `sovra register` first")?
        .registry_url;
    let body = phone_proof(ctx, &registry, phone, None).await?;
    let v = ctx
        .call(
            "POST",
            "/registry/rotate",
            Some(serde_json::to_value(body)?),
        )
        .await?;
    let r: Rotated = typed(&v)?;
    ctx.print(&v, |_| {
        println!("Rotated {}'s key; peers follow it automatically.", r.handle);
        println!("  new fingerprint: {}", r.fingerprint);
        println!("  open conversations were closed; the next message opens a new one.");
    });
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum RegistryCommand {
    /// Serve until SIGINT or SIGTERM. Creates the registry's keys on first start.
    Serve {
        /// Where the registry keeps its keys and database (default: <home>/registry).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
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
    /// The operator's tools, on the registry's own host (they open its database directly):
    /// list handles, suspend one, lift a suspension and the registration lock, take one down.
    /// Phone numbers are never shown (the registry holds none in clear).
    ///
    /// Example: sovra registry admin suspend @spammer.cloud --reason "bulk spam reports"
    Admin {
        /// Where the registry keeps its keys and database (default: <home>/registry).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// Handles are @name.<domain> (as `registry serve --domain`).
        #[arg(long, default_value = "cloud")]
        domain: String,
        #[command(subcommand)]
        action: AdminAction,
    },
}

#[derive(clap::Subcommand)]
pub enum AdminAction {
    /// Handles in order, with key, dates and state.
    List {
        /// Start after this handle (the last one of the previous page).
        #[arg(long, default_value = "", value_parser = crate::cli::peer_arg)]
        after: String,
        /// At most this many (1 – 1,000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Lookups and the owner's changes answer 403 `suspended` until `unlock`.
    Suspend {
        #[arg(value_parser = crate::cli::peer_arg)]
        handle: String,
        /// Why (shown to whoever looks the handle up); 1 – 500 bytes.
        #[arg(long)]
        reason: String,
    },
    /// Lifts a suspension and the registration lock: the handle's phone can claim it under a
    /// new key at once (check who asks first, out of band).
    Unlock {
        #[arg(value_parser = crate::cli::peer_arg)]
        handle: String,
    },
    /// Deletes the cloud (its phone and key are free) and retires the handle for the
    /// retirement period: lookups answer 410 `taken_down`, claims `handle_taken`.
    Takedown {
        #[arg(value_parser = crate::cli::peer_arg)]
        handle: String,
    },
}

/// `sovra registry admin`.
pub async fn admin(
    ctx: &Ctx,
    dir: &std::path::Path,
    domain: &str,
    action: AdminAction,
) -> Result<()> {
    if !dir.join("registry.db").exists() {
        bail!("no registry in {} (give --dir)", dir.display());
    }
    let settings = sovra_registry::Settings {
        domain: domain.to_owned(),
        ..Default::default()
    };
    let unused_sms = std::sync::Arc::new(sovra_registry::sms::ConsoleGateway::default());
    let registry = sovra_registry::home::open(dir, settings, unused_sms).await?;
    let done = match action {
        AdminAction::List { after, limit } => {
            let rows = registry.admin_list(&after, limit).await?;
            let list: Vec<Value> = rows
                .iter()
                .map(|c| {
                    json!({
                        "handle": c.handle,
                        "key": sovra_proto::PublicKey::from_b64("pubkey", &c.pubkey)
                            .map(|k| k.to_human())
                            .unwrap_or_else(|_| c.pubkey.clone()),
                        "created_at": c.created_at,
                        "last_active_at": c.last_active_at,
                        "suspended": c.suspended,
                    })
                })
                .collect();
            ctx.print(&json!({ "clouds": list }), |v| {
                for c in v["clouds"].as_array().into_iter().flatten() {
                    println!(
                        "{:<32} {}  created {}  active {}{}",
                        c["handle"].as_str().unwrap_or(""),
                        c["key"].as_str().unwrap_or(""),
                        crate::cli::time_text(&c["created_at"]),
                        crate::cli::time_text(&c["last_active_at"]),
                        c["suspended"]
                            .as_str()
                            .map(|r| format!("  SUSPENDED: {r}"))
                            .unwrap_or_default()
                    );
                }
            });
            return Ok(());
        }
        AdminAction::Suspend { handle: h, reason } => {
            registry.admin_suspend(&h, &reason).await?;
            json!({ "handle": h, "suspended": reason })
        }
        AdminAction::Unlock { handle: h } => {
            registry.admin_unlock(&h).await?;
            json!({ "handle": h, "unlocked": true })
        }
        AdminAction::Takedown { handle: h } => {
            registry.admin_take_down(&h).await?;
            json!({ "handle": h, "taken_down": true })
        }
    };
    ctx.print(&done, |v| {
        let h = v["handle"].as_str().unwrap_or("");
        if let Some(r) = v["suspended"].as_str() {
            println!("{h} is suspended ({r}).");
        } else if v["unlocked"] == true {
            println!("{h}: suspension and registration lock lifted.");
        } else {
            println!("{h} is taken down; the handle is retired.");
        }
    });
    Ok(())
}
