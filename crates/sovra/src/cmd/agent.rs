//! `sovra agent NAME` (hidden): built-in agents for exec capabilities, used by quickstart.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// The built-in word counter: `{"text": …}` → `{"words": N}`.
pub(crate) fn word_count(args: &Value) -> Result<Value> {
    let text = args["text"]
        .as_str()
        .context("args.text must be a string")?;
    Ok(json!({"words": text.split_whitespace().count()}))
}

/// `sovra agent word-count`: reads `{"text": …}` on stdin, writes `{"words": N}`.
pub fn run(name: &str) -> Result<()> {
    match name {
        "word-count" => {
            let input: Value =
                serde_json::from_reader(std::io::stdin()).context("stdin is not JSON")?;
            println!("{}", word_count(&input)?);
            Ok(())
        }
        other => bail!("no built-in agent {other:?}"),
    }
}
