//! What every owner command shares: finding the home, the cloud and its node, calling the
//! owner API, printing for humans or as JSON, and exit codes.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use sovra_client::{ClientError, OwnerClient};
use sovra_node::home;

/// Exit codes (README §CLI): 0 success, 1 failure, 2 usage, 3 not found, 4 refused by the
/// peer or policy, 5 timed out waiting, 6 node unreachable.
pub mod exit {
    pub const FAILURE: u8 = 1;
    pub const NOT_FOUND: u8 = 3;
    pub const REFUSED: u8 = 4;
    pub const TIMEOUT: u8 = 5;
    pub const UNREACHABLE: u8 = 6;

    /// The `error` of a `--json` failure without a node's code.
    pub fn name(code: u8) -> &'static str {
        match code {
            NOT_FOUND => "not_found",
            REFUSED => "refused",
            TIMEOUT => "timeout",
            UNREACHABLE => "unreachable",
            _ => "failed",
        }
    }
}

/// An error that carries its exit code.
#[derive(Debug)]
pub struct Exit(pub u8, pub String);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}
impl std::error::Error for Exit {}

/// The default home: `$SOVRA_HOME`, else `$XDG_DATA_HOME/sovra`, else `~/.local/share/sovra`.
pub fn default_home() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("sovra");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/sovra")
}

#[derive(Clone)]
pub struct Ctx {
    pub home: PathBuf,
    pub cloud: Option<String>,
    pub node: Option<String>,
    pub json: bool,
}

impl Ctx {
    /// The cloud a command acts for: `--cloud`, or the only cloud in the home.
    pub fn cloud_name(&self) -> Result<String> {
        if let Some(c) = &self.cloud {
            return Ok(c
                .trim_start_matches('@')
                .split('.')
                .next()
                .unwrap_or(c)
                .to_owned());
        }
        let clouds = home::list_clouds(&self.home)?;
        match clouds.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(Exit(
                exit::NOT_FOUND,
                format!(
                    "no cloud in {}; create one with `sovra init --handle @you.cloud`",
                    self.home.display()
                ),
            )
            .into()),
            many => bail!(
                "{} clouds in this home ({}); choose one with --cloud",
                many.len(),
                many.join(", ")
            ),
        }
    }

    pub fn owner(&self) -> Result<OwnerClient> {
        self.owner_with_timeout(Duration::from_secs(30))
    }

    /// The owner client with a time limit of its own (an export reads the whole cloud).
    pub fn owner_with_timeout(&self, timeout: Duration) -> Result<OwnerClient> {
        let name = self.cloud_name()?;
        let dir = home::cloud_dir(&self.home, &name);
        // A cloud hosted elsewhere: this home is the human's device; talk to its node.
        if let Some(base) = home::load_config(&dir).ok().and_then(|c| c.hosted_by) {
            let device = home::load_device(&dir)
                .with_context(|| format!("loading the device key of cloud {name}"))?;
            return Ok(OwnerClient::new(base, device, timeout));
        }
        let node = match &self.node {
            Some(n) => n.clone(),
            None => home::read_node_info(&self.home)
                .map(|i| i.local.unwrap_or(i.url))
                .ok_or_else(|| Exit(exit::UNREACHABLE, format!(
                    "no running node recorded in {}; start one with `sovra node serve` or pass --node URL",
                    self.home.display()
                )))?,
        };
        let device = home::load_device(&home::cloud_dir(&self.home, &name))
            .with_context(|| format!("loading the device key of cloud {name}"))?;
        Ok(OwnerClient::new(
            format!("{}/clouds/{name}", node.trim_end_matches('/')),
            device,
            timeout,
        ))
    }

    /// Calls the owner API. A high-trust operation refused for want of a second factor
    /// (`elevation_required`) is, on a terminal, confirmed with a phone code there and tried
    /// again; in a script it fails with what to run first.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let owner = self.owner()?;
        let path = format!("/api/owner{path}");
        match owner.call(method, &path, body.as_ref()).await {
            Err(ClientError::Status { code, message, .. }) if code == "elevation_required" => {
                use std::io::IsTerminal;
                if !std::io::stdin().is_terminal() {
                    return Err(Exit(
                        exit::REFUSED,
                        format!(
                            "{message}. In a script, run `sovra elevate --phone NUMBER` first, or approve this device ({}) from another: `sovra elevate --approve {}`",
                            owner.device_key().to_human(),
                            owner.device_key().to_human()
                        ),
                    )
                    .into());
                }
                eprintln!("{message}.");
                eprint!("The phone number on record for this cloud: ");
                let mut phone = String::new();
                std::io::stdin().read_line(&mut phone)?;
                Box::pin(crate::cmd::registry::elevate_by_phone(self, phone.trim())).await?;
                owner
                    .call(method, &path, body.as_ref())
                    .await
                    .map_err(|e| client_error(e, owner.base()))
            }
            other => other.map_err(|e| client_error(e, owner.base())),
        }
    }

    /// Prints `value` as JSON with `--json`, else through `human`.
    pub fn print(&self, value: &Value, human: impl FnOnce(&Value)) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value).expect("json"));
        } else {
            human(value);
        }
    }
}

/// A refusal the node explained: shown as its sentence, with the stable code after it.
#[derive(Debug)]
pub struct Refusal {
    pub exit: u8,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}
impl std::error::Error for Refusal {}

pub fn client_error(e: ClientError, base: &str) -> anyhow::Error {
    match e {
        ClientError::Transport(t) => Exit(
            exit::UNREACHABLE,
            format!("cannot reach the node at {base}: {t}"),
        )
        .into(),
        ClientError::Status {
            status,
            code,
            message,
        } => {
            let exit = match (status, code.as_str()) {
                (404, _) => exit::NOT_FOUND,
                (_, "refused" | "peer_expired") => exit::REFUSED,
                _ => exit::FAILURE,
            };
            Refusal {
                exit,
                code,
                message,
            }
            .into()
        }
        e => anyhow!(e),
    }
}

/// An owner API answer read as the shared type of its endpoint.
pub fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T> {
    serde_json::from_value(v.clone()).context("the node's answer is not what this CLI expects")
}

/// A time of an answer for a human: the owner API's RFC 3339 text as it is, or unix
/// milliseconds (the registry operator's tables) formatted.
pub fn time_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.as_i64().map_or_else(|| "-".into(), time_of),
    }
}

/// Unix milliseconds as an RFC 3339 time, for a human.
pub fn time_of(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(sovra_proto::time::format)
        .unwrap_or_else(|_| "-".into())
}

/// Names for a human: comma-separated, or "nothing".
pub fn names(items: &[String]) -> String {
    match items.is_empty() {
        true => "nothing".into(),
        false => items.join(", "),
    }
}

/// Percent-encodes a path segment (handles contain '@' and keys '/', '+', '=').
pub fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A peer named on the command line: handles are case-insensitive, so `@Bob.Cloud` is
/// `@bob.cloud`; a key is taken as given.
pub fn peer_arg(text: &str) -> Result<String, String> {
    match text.starts_with('@') {
        true => Ok(text.to_lowercase()),
        false => Ok(text.to_owned()),
    }
}

/// Tells the node running on `home` (if one is recorded) to serve clouds written into the home
/// since it started (SIGHUP). Returns the node's record when one was told.
pub fn reload_node(home: &std::path::Path) -> Result<Option<home::NodeInfo>> {
    let Some((node, pid)) = running_node(home) else {
        return Ok(None);
    };
    rustix::process::kill_process(pid, rustix::process::Signal::HUP)
        .with_context(|| format!("signalling the node (pid {})", node.pid))?;
    Ok(Some(node))
}

/// The node `node.json` records for `home`, if its process is alive (the file can outlive a
/// node killed without cleaning up).
pub fn running_node(home: &std::path::Path) -> Option<(home::NodeInfo, rustix::process::Pid)> {
    let node = home::read_node_info(home)?;
    let pid = rustix::process::Pid::from_raw(node.pid as i32)?;
    rustix::process::test_kill_process(pid).ok()?;
    Some((node, pid))
}

/// The peer `who` (handle or key) from `GET /peers`: its whole entry as the node lists it.
pub async fn find_peer(ctx: &Ctx, who: &str) -> Result<sovra_proto::owner::Peer> {
    let peers: sovra_proto::owner::Peers = typed(&ctx.call("GET", "/peers", None).await?)?;
    peers
        .peers
        .into_iter()
        .find(|p| p.entry.peer_handle == who || p.entry.peer_pubkey == who)
        .with_context(|| format!("{who} is not on the whitelist; `sovra peer add` it first"))
}
