//! `sovra completions SHELL` and `sovra man --out DIR`: generated from the clap definitions,
//! so they never drift from the commands.

use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;

/// Shell completions on stdout (`sovra completions bash > /etc/bash_completion.d/sovra`).
/// Written from a buffer: a reader that stops early (`| head`) ends it quietly.
pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    use std::io::Write;
    let mut cmd = crate::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "sovra", &mut script);
    match std::io::stdout().write_all(&script) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// One man page per command and subcommand (`sovra.1`, `sovra-peer.1`, `sovra-peer-add.1`, …).
pub fn man(out: &Path) -> Result<usize> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let cmd = crate::Cli::command();
    write_pages(out, cmd, "sovra")
}

fn write_pages(out: &Path, cmd: clap::Command, name: &str) -> Result<usize> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .render(&mut page)?;
    let path = out.join(format!("{name}.1"));
    std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
    let mut n = 1;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        n += write_pages(out, sub.clone(), &format!("{name}-{}", sub.get_name()))?;
    }
    Ok(n)
}
