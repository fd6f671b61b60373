//! Headless Chromium (Debian's `chromium`) driven over the Chrome DevTools Protocol: launch,
//! navigate, run script in the page, wait for a condition, take a screenshot.
//!
//! A few commands of the protocol are all the web tests need, so they are spoken here over the
//! WebSocket client the workspace already has, rather than through a generated binding of the
//! whole protocol (which would add minutes of build for every test run).
//!
//! Without a browser a test is skipped with a message, unless `SOVRA_REQUIRE_BROWSER` is set
//! (CI sets it, after installing Chromium), when it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct Browser {
    child: Child,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next: u64,
    _profile: tempfile::TempDir,
}

/// The browser binary: `SOVRA_CHROMIUM`, else Debian's.
fn binary() -> Option<PathBuf> {
    let path = std::env::var_os("SOVRA_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.exists().then_some(path)
}

impl Browser {
    /// A fresh browser with an empty profile, or `None` (test skipped) when there is none and
    /// none is required.
    pub async fn launch() -> Option<Browser> {
        let Some(bin) = binary() else {
            assert!(
                std::env::var_os("SOVRA_REQUIRE_BROWSER").is_none(),
                "SOVRA_REQUIRE_BROWSER is set but there is no /usr/bin/chromium \
                 (apt-get install chromium, or set SOVRA_CHROMIUM)"
            );
            eprintln!("SKIPPED: no Chromium (apt-get install chromium to run the web tests)");
            return None;
        };
        let profile = tempfile::tempdir().unwrap();
        // The flags the machine notes ask for: no sandbox (root), and nothing that reaches out
        // to the (closed) network at start.
        let child = Command::new(bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                "--window-size=1200,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        // Chromium writes the port it chose, and the browser target's path, to this file.
        let port_file = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let Some(port) = text
                    .lines()
                    .next()
                    .and_then(|l| l.trim().parse::<u16>().ok())
            {
                break port;
            }
            assert!(Instant::now() < deadline, "chromium did not open DevTools");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let targets: Vec<Value> = loop {
            let list = reqwest::get(format!("http://127.0.0.1:{port}/json/list")).await;
            if let Ok(r) = list
                && let Ok(v) = r.json::<Vec<Value>>().await
                && v.iter().any(|t| t["type"] == "page")
            {
                break v;
            }
            assert!(Instant::now() < deadline, "chromium opened no page");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let page = targets.iter().find(|t| t["type"] == "page").unwrap();
        let (ws, _) =
            tokio_tungstenite::connect_async(page["webSocketDebuggerUrl"].as_str().unwrap())
                .await
                .expect("connect to the page's DevTools");
        let mut b = Browser {
            child,
            ws,
            next: 0,
            _profile: profile,
        };
        b.send("Page.enable", json!({})).await;
        b.send("Runtime.enable", json!({})).await;
        Some(b)
    }

    /// One protocol command and its result (events that arrive meanwhile are dropped).
    pub async fn send(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        self.ws
            .send(Message::text(
                json!({"id": id, "method": method, "params": params}).to_string(),
            ))
            .await
            .unwrap();
        let wait = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let msg = self.ws.next().await.expect("DevTools closed").unwrap();
                let Message::Text(text) = msg else { continue };
                let v: Value = serde_json::from_str(&text).unwrap();
                if v["id"] == id {
                    return v;
                }
            }
        });
        let v = wait
            .await
            .unwrap_or_else(|_| panic!("{method} got no answer"));
        assert!(v.get("error").is_none(), "{method}: {}", v["error"]);
        v["result"].clone()
    }

    /// Runs `expression` in the page (awaiting a promise) and returns its value.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .send(
                "Runtime.evaluate",
                json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
            )
            .await;
        assert!(
            r.get("exceptionDetails").is_none(),
            "{expression}: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn goto(&mut self, url: &str) {
        self.send("Page.navigate", json!({"url": url})).await;
        self.wait_for(&format!(
            "location.href.startsWith({:?})",
            url.split('#').next().unwrap()
        ))
        .await;
        self.wait_for("document.readyState === 'complete'").await;
    }

    /// Waits (up to 15 s) until `condition`, a script expression, is true in the page.
    pub async fn wait_for(&mut self, condition: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            // A navigation in progress has no document to run in: try again.
            let r = self
                .send(
                    "Runtime.evaluate",
                    json!({"expression": format!("!!({condition})"), "returnByValue": true}),
                )
                .await;
            if r["result"]["value"] == true {
                return;
            }
            if Instant::now() > deadline {
                let body = self
                    .eval("document.body ? document.body.innerText : ''")
                    .await;
                panic!("timed out waiting for {condition}; the page says:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element `selector` names, as a user's click would (a mouse press and release
    /// at its centre).
    pub async fn click(&mut self, selector: &str) {
        self.wait_for(&format!("document.querySelector({selector:?})"))
            .await;
        let at = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({selector:?}); e.scrollIntoView({{block: 'center'}});
                 const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
            ))
            .await;
        let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
        for kind in ["mousePressed", "mouseReleased"] {
            self.send(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await;
        }
    }

    /// Focuses the field `selector` names, clears it and types `text` into it.
    pub async fn fill(&mut self, selector: &str, text: &str) {
        self.wait_for(&format!("document.querySelector({selector:?})"))
            .await;
        self.eval(&format!(
            "(() => {{ const e = document.querySelector({selector:?}); e.focus(); e.select && e.select(); }})()"
        ))
        .await;
        self.send("Input.insertText", json!({"text": text})).await;
    }

    /// Presses and releases a key as a keyboard would: `Tab`, `Shift+Tab` or `Enter`.
    pub async fn press(&mut self, key: &str) {
        let (name, code, text, modifiers) = match key {
            "Tab" => ("Tab", 9, "", 0),
            "Shift+Tab" => ("Tab", 9, "", 8),
            "Enter" => ("Enter", 13, "\r", 0),
            other => panic!("no key {other}"),
        };
        for kind in ["keyDown", "keyUp"] {
            let mut event = json!({
                "type": kind, "key": name, "code": name, "modifiers": modifiers,
                "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code,
            });
            if kind == "keyDown" && !text.is_empty() {
                event["text"] = json!(text);
            }
            self.send("Input.dispatchKeyEvent", event).await;
        }
    }

    /// Moves the focus with Tab (at most 60 presses) until `selector` has it.
    pub async fn tab_to(&mut self, selector: &str) {
        for _ in 0..60 {
            let there = self
                .eval(&format!(
                    "document.activeElement === document.querySelector({selector:?})"
                ))
                .await;
            if there == true {
                return;
            }
            self.press("Tab").await;
        }
        panic!("Tab never reached {selector}");
    }

    /// The WCAG 2 A and AA violations axe-core finds on the page now, one line each, or `None`
    /// without axe-core (`SOVRA_AXE`: the path of its `axe.min.js`; CI installs it from npm).
    /// DevTools evaluation is not subject to the page's CSP, so the page itself stays strict.
    pub async fn audit(&mut self) -> Option<Vec<String>> {
        let path = std::env::var_os("SOVRA_AXE").map(PathBuf::from)?;
        let loaded = self.eval("typeof axe !== 'undefined'").await;
        if loaded != true {
            let script = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("SOVRA_AXE={}: {e}", path.display()));
            self.send(
                "Runtime.evaluate",
                json!({"expression": script, "returnByValue": true}),
            )
            .await;
        }
        let found = self
            .eval(
                "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})
                   .then(r => r.violations.map(v => v.id + ' (' + v.impact + '): '
                     + v.nodes.map(n => n.target.join(' ')).join(', ')))",
            )
            .await;
        Some(
            found
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect(),
        )
    }

    /// The page as a phone (`true`) or a laptop shows it.
    pub async fn viewport(&mut self, phone: bool) {
        let (w, h) = if phone { (390, 844) } else { (1200, 900) };
        self.send(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": w, "height": h, "deviceScaleFactor": 1, "mobile": phone}),
        )
        .await;
    }

    /// Writes a PNG of the whole page to `path`.
    pub async fn screenshot(&mut self, path: &Path) {
        let shot = self
            .send(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        let png = data_encoding::BASE64
            .decode(shot["data"].as_str().unwrap().as_bytes())
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
