//! `sovra web`: pairs a browser with the cloud (PROTOCOL.md §24.1). A new device is attached
//! for it — revocable like any device with `sovra device detach` — and the node is asked for a
//! one-time code bound to it; the browser that opens the printed link and confirms becomes a
//! session of that device. The device's own key is never written: the session cookie stands for
//! it, and the key would only be a second way in.

use anyhow::Result;
use sovra_proto::owner::{NewWebPairing, WebPairing};

use crate::cli::{Ctx, typed};

pub async fn run(ctx: &Ctx, label: &str, open: Option<bool>) -> Result<()> {
    let (device, _) = super::device::attach(ctx, label, |_| Ok(())).await?;
    let request = NewWebPairing {
        device: device.public().to_b64(),
    };
    let v = ctx
        .call(
            "POST",
            "/web/pairings",
            Some(serde_json::to_value(&request)?),
        )
        .await?;
    let pairing: WebPairing = typed(&v)?;
    let url = format!("{}{}", ctx.owner()?.base(), pairing.path);
    let graphical = std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some()
        || cfg!(target_os = "macos");
    let opened = open.unwrap_or(graphical && !ctx.json) && launch(&url);
    ctx.print(
        &serde_json::json!({ "url": url, "expires_at": pairing.expires_at, "opened": opened }),
        |_| {
            println!(
                "Open this link in the browser to pair (once, within 10 minutes):\n\n  {url}\n"
            );
            if opened {
                println!("(opened in your browser)");
            }
            println!(
                "The browser becomes a device of this cloud ({label}); end it any time with \
             `sovra device list` and `sovra device detach ID`."
            );
        },
    );
    Ok(())
}

/// Hands `url` to the desktop's browser; false when there is none to hand it to.
fn launch(url: &str) -> bool {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}
