//! The web page's pairing and sessions over plain HTTP (PROTOCOL.md §24): what a code and a
//! cookie open, and everything they refuse. The page in a real browser is
//! `crates/sovra/tests/web.rs`.

mod common;

use common::TestNode;
use serde_json::{Value, json};
use sovra_node::hosting::NodeIdentity;
use sovra_proto::client_instance::{Attachment, fresh_ids};
use sovra_proto::device::KeyCertificate;
use sovra_proto::{SigningKeypair, os_rng};

/// Attaches a new device as `sovra web` does; returns its key (base64).
async fn attach(node: &TestNode, owner: &common::Owner, label: &str) -> String {
    let cloud = sovra_proto::keyfile::load_cloud_keys(&node.dir("alice").join("cloud.key"))
        .unwrap()
        .signing;
    let node_key = NodeIdentity::load_or_create(node.home.path())
        .unwrap()
        .keys
        .public();
    let device = SigningKeypair::generate(&mut os_rng());
    let now = jiff::Timestamp::now();
    let attachment = Attachment::sign(
        &cloud,
        &node_key,
        &device.public(),
        fresh_ids(&mut os_rng()),
        now,
    );
    let certificate = KeyCertificate::issue(&cloud, &device.public(), "owner", label, now);
    owner
        .ok(
            "POST",
            "/devices/attach",
            Some(json!({"attachment": attachment, "device_certificate": certificate})),
        )
        .await;
    device.public().to_b64()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Spends `code`; the session cookie (`name=value`) on success.
async fn spend(base: &str, code: &str) -> (u16, Option<String>) {
    let r = client()
        .post(format!("{base}/web/pair"))
        .form(&[("code", code)])
        .send()
        .await
        .unwrap();
    let cookie = r
        .headers()
        .get("set-cookie")
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned());
    (r.status().as_u16(), cookie)
}

async fn as_session(
    base: &str,
    method: reqwest::Method,
    path: &str,
    cookie: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut r = client()
        .request(method, format!("{base}/api/owner{path}"))
        .header("cookie", cookie);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_pairing_code_opens_one_session_that_acts_as_its_device() {
    let node = TestNode::start(&["@alice.cloud"]).await;
    let owner = node.owner("alice");
    let base = node.cloud_url("alice");

    // Only an attached device gets a code.
    let stranger = SigningKeypair::generate(&mut os_rng()).public().to_b64();
    let err = owner
        .call("POST", "/web/pairings", Some(json!({"device": stranger})))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown_device"), "{err}");
    let refused = owner
        .call(
            "POST",
            "/web/pairings",
            Some(json!({"device": "not base64!"})),
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("400"), "{refused}");

    let device = attach(&node, &owner, "web").await;
    let pairing = owner
        .ok("POST", "/web/pairings", Some(json!({"device": device})))
        .await;
    let code = pairing["code"].as_str().unwrap();
    assert!(code.starts_with("sovra-pair-"));
    assert_eq!(pairing["path"], format!("/web/pair?code={code}"));

    // The confirm page spends nothing; a wrong code opens nothing and says so as a page.
    let page = client()
        .get(format!("{base}{}", pairing["path"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Pair this browser"));
    let wrong = client()
        .post(format!("{base}/web/pair"))
        .form(&[("code", "sovra-pair-00")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400);
    assert!(
        wrong.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(wrong.text().await.unwrap().contains("does not work"));

    let (status, cookie) = spend(&base, code).await;
    assert_eq!(status, 303);
    let cookie = cookie.unwrap();
    assert!(cookie.starts_with("sovra_web=sovra-web-"));
    // Once only.
    assert_eq!(spend(&base, code).await, (400, None));

    // Reads need only the cookie; the session is the device.
    let (status, me) = as_session(&base, reqwest::Method::GET, "/whoami", &cookie, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(me["handle"], "@alice.cloud");
    let (status, _) = as_session(&base, reqwest::Method::GET, "/elevation", &cookie, &[]).await;
    assert_eq!(status, 200);

    // The app page carries the session's CSRF token; writes need it.
    let app = client()
        .get(format!("{base}/web/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(app.status(), 200);
    let html = app.text().await.unwrap();
    let csrf = html
        .split("name=\"sovra-csrf\" content=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let swarm = json!({"name": "helpers"});
    let post = |headers: Vec<(&'static str, String)>| {
        let base = base.clone();
        let cookie = cookie.clone();
        let swarm = swarm.clone();
        async move {
            let mut r = client()
                .post(format!("{base}/api/owner/swarms"))
                .header("cookie", cookie)
                .json(&swarm);
            for (k, v) in headers {
                r = r.header(k, v);
            }
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = post(vec![]).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("csrf")));
    let (status, body) = post(vec![("x-sovra-csrf", "0".repeat(32))]).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("csrf")));
    let (status, body) = post(vec![
        ("x-sovra-csrf", csrf.clone()),
        ("sec-fetch-site", "cross-site".into()),
    ])
    .await;
    assert_eq!((status, body["error"].as_str()), (403, Some("csrf")));
    let (status, body) = post(vec![
        ("x-sovra-csrf", csrf.clone()),
        ("origin", "http://evil.example".into()),
    ])
    .await;
    assert_eq!((status, body["error"].as_str()), (403, Some("csrf")));
    // Nothing was written by any of those.
    assert!(
        !owner
            .ok("GET", "/swarms", None)
            .await
            .to_string()
            .contains("helpers"),
        "a refused write wrote"
    );
    let (status, _) = post(vec![("x-sovra-csrf", csrf.clone())]).await;
    assert_eq!(status, 201);

    // A cookie that is not a session is refused like a bad signature.
    let (status, body) = as_session(
        &base,
        reqwest::Method::GET,
        "/whoami",
        "sovra_web=sovra-web-00",
        &[],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );

    // Signing out ends this session only.
    let out = client()
        .post(format!("{base}/web/logout"))
        .header("cookie", &cookie)
        .header("x-sovra-csrf", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, _) = as_session(&base, reqwest::Method::GET, "/whoami", &cookie, &[]).await;
    assert_eq!(status, 401);
    // The device stays attached, and the CLI's signed requests are untouched.
    owner.ok("GET", "/whoami", None).await;
}

#[tokio::test]
async fn pairing_codes_are_bounded_and_the_page_is_locked_down() {
    let node = TestNode::start(&["@alice.cloud"]).await;
    let owner = node.owner("alice");
    let base = node.cloud_url("alice");
    let device = attach(&node, &owner, "web").await;
    for _ in 0..sovra_node::store::MAX_PAIRINGS {
        owner
            .ok("POST", "/web/pairings", Some(json!({"device": device})))
            .await;
    }
    let err = owner
        .call("POST", "/web/pairings", Some(json!({"device": device})))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("too_many_pairings"), "{err}");

    // Every page and asset: a strict policy, no framing, no sniffing, no referrer.
    for path in [
        "/web/",
        "/web/pair?code=x",
        "/web/assets/app.js",
        "/web/assets/app.css",
    ] {
        let r = client().get(format!("{base}{path}")).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
    }
    let r = client()
        .get(format!("{base}/web/assets/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "not_found");
    // The QR code is the owner's: no session, no card.
    let r = client()
        .get(format!("{base}/web/qr.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // What is shown as HTML is escaped.
    let r = client()
        .get(format!("{base}/web/pair?code=%22%3E%3Cscript%3E"))
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(!text.contains("\"><script>") && text.contains("&quot;&gt;&lt;script&gt;"));
}
