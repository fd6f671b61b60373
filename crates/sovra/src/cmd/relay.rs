//! `sovra relay add|list|remove` (this cloud's relays) and `sovra relay serve`.

use std::time::Duration;

use anyhow::{Context, Result};

use super::{init_logging, shutdown_signal};
use crate::cli::Ctx;

pub async fn run(ctx: &Ctx, command: RelayCommand) -> Result<()> {
    match command {
        RelayCommand::Add { url, ca_file } => {
            let ca_pem = match ca_file {
                Some(f) => Some(
                    std::fs::read_to_string(&f)
                        .with_context(|| format!("cannot read {}", f.display()))?,
                ),
                None => None,
            };
            let body = sovra_proto::owner::AddRelayBody { url, ca_pem };
            let v = ctx
                .call("PUT", "/relays", Some(serde_json::to_value(body)?))
                .await?;
            let added: sovra_proto::owner::RelayAdded = crate::cli::typed(&v)?;
            ctx.print(&v, |_| {
                println!("Reachable through {} now.", added.relay);
                if added.published {
                    println!("Published in the registry record; peers will try it when the endpoint fails.");
                }
            });
            Ok(())
        }
        RelayCommand::List => {
            let v = ctx.call("GET", "/relays", None).await?;
            let relays: sovra_proto::owner::Relays = crate::cli::typed(&v)?;
            ctx.print(&v, |_| {
                if relays.relays.is_empty() {
                    println!("No relays.");
                }
                for r in &relays.relays {
                    println!("{r}");
                }
            });
            Ok(())
        }
        RelayCommand::Remove { url } => {
            let v = ctx
                .call(
                    "DELETE",
                    "/relays",
                    Some(serde_json::to_value(sovra_proto::owner::RelayBody {
                        url: url.clone(),
                    })?),
                )
                .await?;
            ctx.print(&v, |_| println!("Removed {url}."));
            Ok(())
        }
        RelayCommand::Serve {
            dir,
            listen,
            public_url,
            ttl,
            pow_difficulty,
            rate,
            burst,
            quota,
        } => {
            init_logging();
            let dir = dir.unwrap_or_else(|| ctx.home.join("relay"));
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let addr = listener.local_addr()?;
            let url = public_url.unwrap_or_else(|| format!("ws://{addr}"));
            let mut settings = sovra_relay::Settings::new(url.clone());
            settings.ttl = Duration::from_secs(ttl);
            settings.pow_difficulty = pow_difficulty;
            settings.rate_per_second = rate;
            settings.burst = burst;
            settings.quota.envelopes = quota;
            // One sender may hold a quarter of a recipient's queue.
            settings.quota.per_sender_envelopes = (quota / 4).max(1);
            let relay = sovra_relay::server::open(&dir, settings).await?;
            println!(
                "relay on {url}  (listening on {addr}, data in {})",
                dir.display()
            );
            sovra_relay::server::serve(listener, relay, shutdown_signal()).await?;
            Ok(())
        }
    }
}

#[derive(clap::Subcommand)]
pub enum RelayCommand {
    /// Keep this cloud reachable through a relay (and publish it as a hint). The node first
    /// connects and authenticates; a relay it cannot use is refused.
    Add {
        /// ws://… or wss://… (wss is checked against the system's CA roots).
        url: String,
        /// Also trust the CA certificates in this PEM file for this relay (a private CA).
        #[arg(long)]
        ca_file: Option<std::path::PathBuf>,
    },
    /// The relays this cloud uses.
    List,
    /// Stop publishing a relay.
    Remove { url: String },
    /// Serve until SIGINT or SIGTERM.
    Serve {
        /// Where the relay keeps its database (default: <home>/relay).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
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
