//! The owner's web page in a real browser (headless Chromium), against two real node
//! processes driven by the real CLI: pair, approve a pending peer and see its next message
//! accepted, edit a grant and see a call refused, review and send a draft, watch a message
//! arrive live; then what a session may not do, and a detached device's session ending.
//!
//! Every page is checked for labels, names and keyboard use, and — with `SOVRA_AXE` naming
//! axe-core's `axe.min.js`, as CI does — audited against WCAG 2 A/AA. Screenshots of every page
//! go to `target/tmp/screenshots/`; `SOVRA_BLESS=1` also writes them to `docs/screenshots/`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::browser::Browser;
use common::cli::{NodeProcess, expose_word_count, json, ok, run};

fn shots() -> Vec<PathBuf> {
    let mut dirs = vec![Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")];
    if std::env::var_os("SOVRA_BLESS").is_some() {
        dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots"));
    }
    dirs
}

async fn shot(b: &mut Browser, name: &str) {
    for dir in shots() {
        b.screenshot(&dir.join(format!("{name}.png"))).await;
    }
}

/// Until `f` says yes (20 s).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Shows page `name` (a `#hash` route), waits for `ready` in it, and checks what a screen
/// reader needs: every field labelled, every button and link named, every image described.
async fn open(b: &mut Browser, name: &str, ready: &str) {
    b.eval(&format!("location.hash = '#{name}'; route()")).await;
    b.wait_for(ready).await;
    let unlabelled = b
        .eval(
            "[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
               .filter(e => e.labels.length === 0).map(e => e.outerHTML)
             .concat([...document.querySelectorAll('button, a')]
               .filter(e => !e.textContent.trim()).map(e => e.outerHTML))
             .concat([...document.querySelectorAll('img')].filter(e => !e.alt).map(e => e.outerHTML))",
        )
        .await;
    assert_eq!(unlabelled, serde_json::json!([]), "page {name}");
    if let Some(violations) = b.audit().await {
        assert!(violations.is_empty(), "page {name}: {violations:#?}");
    }
}

async fn status_says(b: &mut Browser, text: &str) {
    b.wait_for(&format!(
        "document.getElementById('status').textContent.includes({text:?})"
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_uses_the_web_page_in_a_real_browser() {
    let Some(mut b) = Browser::launch().await else {
        return;
    };
    let a = tempfile::tempdir().unwrap();
    let bob_home = tempfile::tempdir().unwrap();
    let (ah, bh) = (a.path(), bob_home.path());
    let alice = json(ah, &["init", "--handle", "@alice.cloud"]);
    json(bh, &["init", "--handle", "@bob.cloud"]);
    let node_a = NodeProcess::start(ah);
    let node_b = NodeProcess::start(bh);
    let url_a = format!("{}/clouds/alice", NodeProcess::url(ah));
    let url_b = format!("{}/clouds/bob", NodeProcess::url(bh));
    expose_word_count(ah);
    // Bob knows Alice; Alice has never heard of Bob: his first message waits for her.
    ok(
        bh,
        &[
            "peer",
            "add",
            "@alice.cloud",
            "--pubkey",
            alice["pubkey"].as_str().unwrap(),
            "--url",
            &url_a,
        ],
    );
    let _ = run(bh, &["send", "@alice.cloud", "hello, it is Bob"]);
    eventually("Bob's request waits for Alice", || {
        json(ah, &["pending", "list"])["pending"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    });

    // Pairing: `sovra web` prints a one-time link; the browser confirms it.
    let pairing = json(ah, &["web", "--no-open"]);
    let link = pairing["url"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&format!("{url_a}/web/pair?code=sovra-pair-")));
    b.goto(&link).await;
    b.wait_for("document.getElementById('pair')").await;
    if let Some(violations) = b.audit().await {
        assert!(violations.is_empty(), "the pairing page: {violations:#?}");
    }
    shot(&mut b, "pair").await;
    b.click("#pair").await;
    b.wait_for("location.pathname.endsWith('/web/') && document.querySelector('.card[data-id]')")
        .await;
    // The request shows who knocked, the handle's mark and the safety code to compare.
    let card = b
        .eval("document.querySelector('.card[data-id]').innerText")
        .await;
    let card = card.as_str().unwrap();
    assert!(card.contains("@bob.cloud"), "{card}");
    assert!(card.contains("unverified"), "{card}");
    let code = json(ah, &["pending", "list"])["pending"][0]["safety_code"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(code.len() >= 30 && card.contains(&code), "{card}");
    shot(&mut b, "pending").await;

    // The code is spent: a second try opens nothing.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let code_param = link.split("code=").nth(1).unwrap();
    let again = http
        .post(format!("{url_a}/web/pair"))
        .form(&[("code", code_param)])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
    assert!(again.headers().get("set-cookie").is_none());

    // A write without the session's CSRF token is refused, even from the page's own origin.
    let refused = b
        .eval(
            "fetch('../api/owner/pending/x/deny', {method: 'POST'}).then(async r => [r.status, (await r.json()).error])",
        )
        .await;
    assert_eq!(refused, serde_json::json!([403, "csrf"]));

    // Approving is high-trust: the page asks for a second factor (this cloud has no phone on
    // record, so another device: the CLI's) and names the command; then approving works.
    b.click(".card[data-id] button.approve").await;
    b.wait_for("document.getElementById('elevate-command')")
        .await;
    shot(&mut b, "elevate").await;
    let command = b
        .eval("document.getElementById('elevate-command').textContent")
        .await;
    let words: Vec<&str> = command.as_str().unwrap().split(' ').collect();
    assert_eq!(words[..3], ["sovra", "elevate", "--approve"]);
    ok(ah, &words[1..]);
    // Bob has no registry record: Alice types the address he gave her, to answer him.
    b.fill(".card[data-id] input[name=url]", &url_b).await;
    // By keyboard this time: Tab to the button, Enter.
    b.tab_to(".card[data-id] button.approve").await;
    b.press("Enter").await;
    status_says(&mut b, "Approved @bob.cloud").await;
    assert_eq!(
        b.eval("document.getElementById('elevate').children.length")
            .await,
        0
    );
    ok(bh, &["send", "@alice.cloud", "second try"]);
    eventually("Bob's message reaches Alice", || {
        ok(ah, &["log", "@bob.cloud"]).contains("second try")
    });

    // Edit a grant: Bob may count words, then may not.
    let grants = ".card[data-handle='@bob.cloud'] input[name=grants]";
    open(
        &mut b,
        "peers",
        &format!("document.querySelector(\"{grants}\")"),
    )
    .await;
    b.fill(grants, "WordCount").await;
    b.click(".card[data-handle='@bob.cloud'] button.save").await;
    status_says(&mut b, "Saved @bob.cloud").await;
    shot(&mut b, "peers").await;
    let counted = ok(
        bh,
        &[
            "send",
            "@alice.cloud",
            "count",
            "--call",
            "WordCount",
            r#"{"text":"one two"}"#,
        ],
    );
    assert!(counted.contains(r#"{"words":2}"#), "{counted}");
    b.eval("document.getElementById('status').textContent = ''")
        .await;
    b.fill(grants, "").await;
    b.click(".card[data-handle='@bob.cloud'] button.save").await;
    status_says(&mut b, "Saved @bob.cloud").await;
    let out = run(
        bh,
        &[
            "send",
            "@alice.cloud",
            "count again",
            "--call",
            "WordCount",
            r#"{"text":"one two"}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not granted"));

    // Review a draft: the brain drafts, Alice rewrites it in the page and sends it.
    let work = tempfile::tempdir().unwrap();
    let brain = work.path().join("brain.sh");
    std::fs::write(
        &brain,
        "#!/bin/sh\ncat > /dev/null\necho '{\"text\":\"drafted by the brain\"}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&brain, std::fs::Permissions::from_mode(0o755)).unwrap();
    ok(
        ah,
        &[
            "swarm",
            "set",
            "main",
            "--mode",
            "review",
            "--brain",
            "exec",
            "--",
            brain.to_str().unwrap(),
        ],
    );
    ok(bh, &["send", "@alice.cloud", "what do you think?"]);
    eventually("a draft waits", || {
        json(ah, &["drafts", "list"])["drafts"]
            .as_array()
            .is_some_and(|d| !d.is_empty())
    });
    open(
        &mut b,
        "drafts",
        "document.querySelector('textarea[name=draft]')?.value === 'drafted by the brain'",
    )
    .await;
    shot(&mut b, "drafts").await;
    b.fill("textarea[name=draft]", "Alice wrote this herself.")
        .await;
    b.click("button.send").await;
    status_says(&mut b, "Draft sent.").await;
    eventually("the edited draft reaches Bob", || {
        ok(bh, &["log", "@alice.cloud"]).contains("Alice wrote this herself.")
    });

    // A conversation, live: Bob's message appears without a reload.
    ok(ah, &["swarm", "set", "main", "--mode", "off"]);
    open(
        &mut b,
        "conversations",
        "document.querySelector('ul.list a')",
    )
    .await;
    b.click("ul.list a").await;
    b.wait_for("document.querySelectorAll('#thread li').length > 0")
        .await;
    // The event stream is open before Bob speaks.
    tokio::time::sleep(Duration::from_millis(500)).await;
    ok(bh, &["send", "@alice.cloud", "watch this arrive"]);
    b.wait_for(
        "[...document.querySelectorAll('#thread li')].some(li => li.textContent.includes('watch this arrive'))",
    )
    .await;
    shot(&mut b, "conversations").await;

    // The other pages, for the record (and that each renders).
    open(
        &mut b,
        "swarms",
        "document.querySelector('select[name=mode]')",
    )
    .await;
    shot(&mut b, "swarms").await;
    open(
        &mut b,
        "capabilities",
        "document.body.innerText.includes('WordCount')",
    )
    .await;
    shot(&mut b, "capabilities").await;
    open(
        &mut b,
        "devices",
        "document.querySelectorAll('#view .card').length >= 1",
    )
    .await;
    shot(&mut b, "devices").await;
    open(
        &mut b,
        "card",
        "document.querySelector('.qr img')?.complete && document.querySelector('.qr img').naturalWidth > 0",
    )
    .await;
    shot(&mut b, "card").await;
    b.viewport(true).await;
    open(&mut b, "pending", "document.querySelector('h1')").await;
    let overflow = b
        .eval("document.documentElement.scrollWidth <= window.innerWidth")
        .await;
    assert_eq!(overflow, true, "the page fits a phone's width");
    open(
        &mut b,
        "peers",
        &format!("document.querySelector(\"{grants}\")"),
    )
    .await;
    shot(&mut b, "phone-peers").await;

    // The page's headers, and a session's cookie.
    let page = http.get(format!("{url_a}/web/")).send().await.unwrap();
    assert_eq!(page.status(), 401, "no cookie, no app");
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    let second = json(ah, &["web", "--no-open", "--label", "web-2"]);
    let code_2 = second["url"]
        .as_str()
        .unwrap()
        .split("code=")
        .nth(1)
        .unwrap();
    let paired = http
        .post(format!("{url_a}/web/pair"))
        .form(&[("code", code_2)])
        .send()
        .await
        .unwrap();
    assert_eq!(paired.status(), 303);
    let cookie = paired.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(cookie.contains("Path=/clouds/alice/"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let whoami = |http: reqwest::Client, session: String| {
        let url = format!("{url_a}/api/owner/whoami");
        async move {
            http.get(url)
                .header("cookie", session)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(whoami(http.clone(), session.clone()).await, 200);
    // Detaching the device ends its session.
    let devices = json(ah, &["device", "list"]);
    let web_2 = devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["label"] == "web-2")
        .unwrap()["client_instance_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(ah, &["device", "detach", &web_2]);
    assert_eq!(whoami(http.clone(), session).await, 401);

    // Signing out in the browser ends that session too.
    b.viewport(false).await;
    b.click("#logout").await;
    b.wait_for("document.body.innerText.includes('not paired')")
        .await;
    drop(node_a);
    drop(node_b);
}
