//! `sovra.toml`: settings for the serving processes, below flags and environment variables.
//!
//! The file is `<home>/sovra.toml`, or `--config F` (`SOVRA_CONFIG`). Each key becomes the
//! default of the flag of the same name, so precedence is clap's own: a flag, then its
//! `SOVRA_*` variable, then the file, then the built-in default. Unknown keys are refused, so a
//! typo is an error, not a silently ignored setting.
//!
//! ```toml
//! log_format = "json"
//! [node]
//! listen = "0.0.0.0:7870"
//! public_url = "https://node.example"
//! [registry]
//! domain = "cloud"
//! [relay]
//! pow_difficulty = 20
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;
use toml::Value;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    log_format: Option<String>,
    #[serde(default)]
    node: Section<NodeKeys>,
    #[serde(default)]
    registry: Section<RegistryKeys>,
    #[serde(default)]
    relay: Section<RelayKeys>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
struct Section<T>(T);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeKeys {
    listen: Option<Value>,
    public_url: Option<Value>,
    no_endpoint: Option<Value>,
    stranger_pow: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryKeys {
    dir: Option<Value>,
    listen: Option<Value>,
    domain: Option<Value>,
    sms: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RelayKeys {
    dir: Option<Value>,
    listen: Option<Value>,
    public_url: Option<Value>,
    ttl: Option<Value>,
    pow_difficulty: Option<Value>,
    rate: Option<Value>,
    burst: Option<Value>,
    quota: Option<Value>,
}

/// A TOML value as the command line would spell it (strings, numbers, booleans).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Boolean(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// The config file to read: `--config`/`SOVRA_CONFIG`, else `<home>/sovra.toml` if present.
pub fn path(explicit: Option<&Path>, home: &Path) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_owned()),
        None => Some(home.join("sovra.toml")).filter(|p| p.exists()),
    }
}

/// `cmd` with the file's values as defaults of the serving commands' flags.
pub fn apply(cmd: clap::Command, file: &Path) -> Result<clap::Command> {
    let raw =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let f: File = toml::from_str(&raw).with_context(|| format!("{}", file.display()))?;
    let mut cmd = cmd;
    if let Some(v) = f.log_format {
        cmd = cmd.mut_arg("log_format", |a| a.default_value(v));
    }
    let node = f.node.0;
    let node = [
        ("listen", node.listen),
        ("public_url", node.public_url),
        ("no_endpoint", node.no_endpoint),
        ("stranger_pow", node.stranger_pow),
    ];
    cmd = defaults(cmd, &["node", "serve"], &node);
    let r = f.registry.0;
    let registry = [
        ("dir", r.dir),
        ("listen", r.listen),
        ("domain", r.domain),
        ("sms", r.sms),
    ];
    cmd = defaults(cmd, &["registry", "serve"], &registry);
    let r = f.relay.0;
    let relay = [
        ("dir", r.dir),
        ("listen", r.listen),
        ("public_url", r.public_url),
        ("ttl", r.ttl),
        ("pow_difficulty", r.pow_difficulty),
        ("rate", r.rate),
        ("burst", r.burst),
        ("quota", r.quota),
    ];
    Ok(defaults(cmd, &["relay", "serve"], &relay))
}

fn defaults(cmd: clap::Command, path: &[&str], keys: &[(&str, Option<Value>)]) -> clap::Command {
    let (first, rest) = path.split_first().expect("a subcommand path");
    let keys: Vec<(String, String)> = keys
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| ((*k).to_owned(), text(v))))
        .collect();
    if keys.is_empty() {
        return cmd;
    }
    let rest: Vec<String> = rest.iter().map(|s| (*s).to_owned()).collect();
    cmd.mut_subcommand(*first, move |mut sub| {
        for name in &rest {
            let keys = keys.clone();
            sub = sub.mut_subcommand(name, move |mut leaf| {
                for (k, v) in &keys {
                    leaf = leaf.mut_arg(k, |a| a.default_value(v.clone()));
                }
                leaf
            });
        }
        sub
    })
}
