//! Nodes and a real registry on loopback: registering by phone, peering by handle alone, the
//! pinned registry key, rotations followed with grants kept, resets held for the owner.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Owner, TestNode};
use serde_json::{Value, json};
use sovra_registry::sms::ConsoleGateway;
use sovra_registry::{Registry, Settings, SqliteStore};

struct Reg {
    url: String,
    sms: Arc<ConsoleGateway>,
    _registry: Arc<Registry<SqliteStore>>,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

fn settings() -> Settings {
    Settings {
        sends_per_phone: 100,
        sends_per_client: 100,
        ..Settings::default()
    }
}

impl Reg {
    async fn start(settings: Settings) -> Reg {
        Self::start_at("127.0.0.1:0", settings).await
    }

    async fn start_at(addr: &str, settings: Settings) -> Reg {
        let dir = tempfile::tempdir().unwrap();
        let sms = Arc::new(ConsoleGateway::default());
        let registry = Arc::new(
            sovra_registry::home::open(dir.path(), settings, sms.clone())
                .await
                .unwrap(),
        );
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn({
            let registry = registry.clone();
            async move {
                sovra_registry::api::serve(listener, registry, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            }
        });
        Reg {
            url,
            sms,
            _registry: registry,
            _dir: dir,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) -> String {
        let _ = self.stop.take().unwrap().send(());
        (&mut self.task).await.unwrap();
        self.url.clone()
    }

    /// Asks `owner`'s node to have a code sent, and reads it off the "phone".
    async fn proof(&self, owner: &Owner, phone: &str) -> Value {
        let sent = owner
            .ok(
                "POST",
                "/registry/verifications",
                Some(json!({"registry": self.url, "phone": phone})),
            )
            .await;
        let e164: String = phone
            .chars()
            .filter(|c| *c == '+' || c.is_ascii_digit())
            .collect();
        let code = self.sms.last_code_to(&e164).expect("a code was sent");
        json!({"verification_id": sent["verification_id"], "code": code})
    }

    async fn register(&self, owner: &Owner, phone: &str) -> Value {
        let mut body = self.proof(owner, phone).await;
        body["registry"] = json!(self.url);
        owner.ok("POST", "/registry/register", Some(body)).await
    }
}

async fn status(owner: &Owner, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
    match owner.call(method, path, body).await {
        Ok(_) => (200, String::new()),
        Err(sovra_client::ClientError::Status { status, code, .. }) => (status, code),
        Err(e) => panic!("{method} {path}: {e}"),
    }
}

async fn entry_for(owner: &Owner, handle: &str) -> Value {
    let peers = owner.ok("GET", "/peers", None).await;
    peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["entry"]["peer_handle"] == handle)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Polls `owner`'s messages until one inbound with `text` arrives.
async fn wait_text(owner: &Owner, text: &str) {
    for _ in 0..200 {
        let msgs = owner.ok("GET", "/messages", None).await;
        if msgs["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["direction"] == "in" && m["payload"]["text"] == text)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{text:?} never arrived");
}

#[tokio::test]
async fn register_then_peer_by_handle_alone_and_talk() {
    let reg = Reg::start(settings()).await;
    let a = TestNode::start(&["@alice.cloud", "@carol.cloud"]).await;
    let b = TestNode::start(&["@bob.cloud"]).await;
    let (alice, carol, bob) = (a.owner("alice"), a.owner("carol"), b.owner("bob"));

    let registered = reg.register(&alice, "+1 415 555 0101").await;
    assert_eq!(registered["handle"], "@alice.cloud");
    assert_eq!(registered["endpoint"], json!(a.cloud_url("alice")));
    reg.register(&bob, "+1 415 555 0102").await;
    let status_now = alice.ok("GET", "/registry", None).await;
    assert_eq!(status_now["registration"]["handle"], "@alice.cloud");
    assert_eq!(status_now["pinned"][0]["url"], json!(reg.url));

    // A cloud that never met a registry must be told which one to ask.
    let (s, code) = status(
        &carol,
        "POST",
        "/peers/by-handle",
        Some(json!({"handle": "@bob.cloud"})),
    )
    .await;
    assert_eq!((s, code.as_str()), (400, "no_registry"));

    // Bob adds alice by handle alone (his registry is pinned for .cloud since he registered).
    let added = bob
        .ok(
            "POST",
            "/peers/by-handle",
            Some(json!({"handle": "@alice.cloud", "allowed_capabilities": ["Echo"]})),
        )
        .await;
    assert_eq!(added["entry"]["peer_pubkey"], json!(alice.pubkey().await));
    assert_eq!(added["url"], json!(a.cloud_url("alice")));
    assert_eq!(added["registry"], json!(reg.url));
    let looked = alice.ok("GET", "/registry/lookup/@bob.cloud", None).await;
    // Both owners read the same safety code.
    assert_eq!(added["lookup"]["safety_code"], looked["safety_code"]);
    let bob_me = bob.ok("GET", "/whoami", None).await;
    assert_eq!(looked["fingerprint"], bob_me["fingerprint"]);
    alice
        .ok(
            "POST",
            "/peers/by-handle",
            Some(json!({"handle": "@bob.cloud"})),
        )
        .await;

    alice
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@bob.cloud", "text": "found you by handle"})),
        )
        .await;
    wait_text(&bob, "found you by handle").await;

    // Unknown handles, bad handles and bad registry URLs are refused cleanly.
    let (s, code) = status(
        &bob,
        "POST",
        "/peers/by-handle",
        Some(json!({"handle": "@nobody.cloud"})),
    )
    .await;
    assert_eq!((s, code.as_str()), (404, "unknown_handle"));
    let (s, _) = status(
        &bob,
        "POST",
        "/peers/by-handle",
        Some(json!({"handle": "not a handle"})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, code) = status(
        &bob,
        "POST",
        "/peers/by-handle",
        Some(json!({"handle": "@alice.cloud", "registry": "ftp://x"})),
    )
    .await;
    assert_eq!((s, code.as_str()), (400, "malformed"));
    let (s, code) = status(&bob, "POST", "/peers/by-handle", Some(json!({"handle": 5}))).await;
    assert_eq!((s, code.as_str()), (400, "malformed"));

    // The registry's refusals come through with their own codes: a wrong code…
    let mut proof = reg.proof(&carol, "+1 415 555 0103").await;
    proof["code"] = json!(if proof["code"] == "000000" {
        "111111"
    } else {
        "000000"
    });
    proof["registry"] = json!(reg.url);
    let (s, code) = status(&carol, "POST", "/registry/register", Some(proof)).await;
    assert_eq!((s, code.as_str()), (401, "wrong_code"));
    // …a cloud under another handle (and key) cannot re-register alice's active phone: the
    // SIM-swap lock answers first, telling nothing about the phone's handle…
    let mut proof = reg.proof(&carol, "+1 415 555 0101").await;
    proof["registry"] = json!(reg.url);
    let (s, code) = status(&carol, "POST", "/registry/register", Some(proof)).await;
    assert_eq!((s, code.as_str()), (423, "registration_locked"));
    // …and the SIM-swap lock: a new @alice.cloud (new key, same phone) is refused while the
    // real one is active.
    let thief = TestNode::start(&["@alice.cloud"]).await;
    let t = thief.owner("alice");
    let mut proof = reg.proof(&t, "+1 415 555 0101").await;
    proof["registry"] = json!(reg.url);
    let (s, code) = status(&t, "POST", "/registry/register", Some(proof)).await;
    assert_eq!((s, code.as_str()), (423, "registration_locked"));
    assert!(t.ok("GET", "/registry", None).await["registration"].is_null());
}

#[tokio::test]
async fn a_registry_presenting_another_key_is_not_believed() {
    let reg = Reg::start(settings()).await;
    let a = TestNode::start(&["@alice.cloud"]).await;
    let b = TestNode::start(&["@bob.cloud"]).await;
    let (alice, bob) = (a.owner("alice"), b.owner("bob"));
    reg.register(&alice, "+1 415 555 0111").await;
    reg.register(&bob, "+1 415 555 0112").await;

    // The registry's address now answers with a different registry (another key) that holds
    // a record for @alice.cloud under a key of its choosing.
    let url = reg.stop().await;
    let impostor = Reg::start_at(url.trim_start_matches("http://"), settings()).await;
    let mallory = TestNode::start(&["@alice.cloud"]).await;
    let m = mallory.owner("alice");
    let mut proof = impostor.proof(&m, "+1 415 555 0199").await;
    // Mallory's node never saw the original registry, so it pins the impostor happily…
    proof["registry"] = json!(impostor.url);
    m.ok("POST", "/registry/register", Some(proof)).await;
    // …but bob pinned the original key, and believes nothing the impostor signs.
    let (s, code) = status(
        &bob,
        "POST",
        "/peers/by-handle",
        Some(json!({"handle": "@alice.cloud"})),
    )
    .await;
    assert_eq!((s, code.as_str()), (502, "registry_untrusted"));
    assert_eq!(entry_for(&bob, "@alice.cloud").await, Value::Null);
}

#[tokio::test]
async fn a_rotation_is_followed_with_the_grants_kept() {
    let reg = Reg::start(settings()).await;
    let a = TestNode::start(&["@alice.cloud"]).await;
    let b = TestNode::start(&["@bob.cloud"]).await;
    let (alice, bob) = (a.owner("alice"), b.owner("bob"));
    reg.register(&alice, "+1 415 555 0121").await;
    reg.register(&bob, "+1 415 555 0122").await;
    bob.ok(
        "POST",
        "/peers/by-handle",
        Some(json!({"handle": "@alice.cloud", "allowed_capabilities": ["Echo", "Search"], "rate_limit_per_day": 321})),
    )
    .await;
    alice
        .ok(
            "POST",
            "/peers/by-handle",
            Some(json!({"handle": "@bob.cloud"})),
        )
        .await;
    alice
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@bob.cloud", "text": "before"})),
        )
        .await;
    wait_text(&bob, "before").await;
    let old_key = alice.pubkey().await;

    let proof = reg.proof(&alice, "+1 415 555 0121").await;
    let rotated = alice.ok("POST", "/registry/rotate", Some(proof)).await;
    assert_eq!(rotated["key_changes"], 1);
    // The CLI's device key was re-certified: the owner API still answers, with the new key.
    let new_key = alice.pubkey().await;
    assert_ne!(new_key, old_key);
    assert_eq!(rotated["pubkey"], json!(new_key));
    // The old conversation closed with the old key.
    let convs = alice.ok("GET", "/conversations", None).await;
    assert!(
        convs["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["state"] == "closed")
    );
    // The new key is on disk, the old one gone.
    let on_disk = sovra_proto::keyfile::load_cloud_keys(&a.dir("alice").join("cloud.key")).unwrap();
    assert_eq!(on_disk.public().to_b64(), new_key);
    assert!(!a.dir("alice").join("cloud.key.next").exists());

    // Alice's next message opens a handshake under the new key; bob has not looked at the
    // registry since, so the unknown key naming @alice.cloud makes him check, and follow.
    alice
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@bob.cloud", "text": "after"})),
        )
        .await;
    wait_text(&bob, "after").await;
    let entry = entry_for(&bob, "@alice.cloud").await;
    assert_eq!(entry["entry"]["peer_pubkey"], json!(new_key));
    assert_eq!(
        entry["entry"]["allowed_capabilities"],
        json!(["Echo", "Search"])
    );
    assert_eq!(entry["entry"]["rate_limit_per_day"], 321);
    assert!(
        bob.ok("GET", "/pending", None).await["pending"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // An explicit check finds nothing further to do.
    let checks = bob.ok("POST", "/peers/check", None).await;
    assert_eq!(checks["checks"][0]["outcome"], "unchanged");
}

#[tokio::test]
async fn a_reset_waits_for_the_owner_and_approval_keeps_the_grants() {
    // No registration lock, so the phone's owner can recover at once.
    let reg = Reg::start(Settings {
        lock_period: Duration::ZERO,
        ..settings()
    })
    .await;
    let a = TestNode::start(&["@alice.cloud"]).await;
    let b = TestNode::start(&["@bob.cloud"]).await;
    let (alice, bob) = (a.owner("alice"), b.owner("bob"));
    reg.register(&alice, "+1 415 555 0131").await;
    reg.register(&bob, "+1 415 555 0132").await;
    bob.ok(
        "POST",
        "/peers/by-handle",
        Some(json!({"handle": "@alice.cloud", "allowed_capabilities": ["Echo"]})),
    )
    .await;
    let old_key = alice.pubkey().await;

    // Alice lost her cloud; a fresh one with the same handle recovers through the phone alone.
    let a2 = TestNode::start(&["@alice.cloud"]).await;
    let alice2 = a2.owner("alice");
    let recovered = reg.register(&alice2, "+1 415 555 0131").await;
    assert_eq!(recovered["was_reset"], true);
    let new_key = alice2.pubkey().await;

    let checks = bob.ok("POST", "/peers/check", None).await;
    assert_eq!(checks["checks"][0]["outcome"], "reset");
    assert_eq!(checks["checks"][0]["to"], json!(new_key));
    // Nothing trusted silently: the entry still holds the old key…
    let entry = entry_for(&bob, "@alice.cloud").await;
    assert_eq!(entry["entry"]["peer_pubkey"], json!(old_key));
    // …a handshake from the new key is refused and waits…
    alice2
        .ok(
            "POST",
            "/peers/by-handle",
            Some(json!({"handle": "@bob.cloud"})),
        )
        .await;
    let (s, code) = status(
        &alice2,
        "POST",
        "/send",
        Some(json!({"to": "@bob.cloud", "text": "it's me, really"})),
    )
    .await;
    assert_eq!((s, code.as_str()), (409, "refused"));
    // …and the owner has exactly one request about it, saying why.
    let pending = bob.ok("GET", "/pending", None).await;
    let list = pending["pending"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{pending}");
    assert_eq!(list[0]["reason"], "key_reset");
    assert_eq!(list[0]["peer_pubkey"], json!(new_key));
    // Checking again does not ask twice.
    bob.ok("POST", "/peers/check", None).await;
    assert_eq!(
        bob.ok("GET", "/pending", None).await["pending"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let id = list[0]["id"].as_str().unwrap();
    let approved = bob
        .ok("POST", &format!("/pending/{id}/approve"), Some(json!({})))
        .await;
    assert_eq!(approved["entry"]["peer_pubkey"], json!(new_key));
    assert_eq!(approved["entry"]["allowed_capabilities"], json!(["Echo"]));
    assert_eq!(approved["registry"], json!(reg.url));
    let peers = bob.ok("GET", "/peers", None).await;
    assert_eq!(peers["peers"].as_array().unwrap().len(), 1, "{peers}");

    alice2
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@bob.cloud", "text": "thanks"})),
        )
        .await;
    wait_text(&bob, "thanks").await;
}

#[tokio::test]
async fn a_rotation_interrupted_before_the_key_swap_is_finished_on_restart() {
    use sovra_proto::registry::{ChainLink, CloudRecord, PhoneProof, RotateRequest, operation};
    let reg = Reg::start(settings()).await;
    let mut a = TestNode::start(&["@alice.cloud"]).await;
    let alice = a.owner("alice");
    reg.register(&alice, "+1 415 555 0151").await;
    let proof = reg.proof(&alice, "+1 415 555 0151").await;
    a.stop().await;

    // What rotate_key does up to the registry's acceptance, then the "crash": cloud.key.next
    // written, cloud.key not yet replaced.
    let dir = a.dir("alice");
    let old = sovra_proto::keyfile::load_cloud_keys(&dir.join("cloud.key")).unwrap();
    let new = sovra_proto::CloudKeys::generate(&mut sovra_proto::os_rng());
    sovra_proto::keyfile::save_cloud_keys(&dir.join("cloud.key.next"), &new).unwrap();
    let vid = proof["verification_id"].as_str().unwrap().to_owned();
    let now = jiff::Timestamp::now();
    let request = RotateRequest {
        phone: PhoneProof {
            verification_id: vid.clone(),
            code: proof["code"].as_str().unwrap().to_owned(),
        },
        link: ChainLink::rotation(&old.signing, &new.signing, now),
        record: CloudRecord::sign(
            &new,
            "@alice.cloud",
            Some(a.cloud_url("alice")),
            vec![],
            now,
        )
        .unwrap(),
        op_sig: sovra_proto::encoding::b64(&old.signing.sign(&operation::rotate(
            "@alice.cloud",
            &vid,
            &new.public(),
        ))),
    };
    sovra_client::RegistryClient::new(&reg.url, Duration::from_secs(5))
        .rotate("@alice.cloud", &request)
        .await
        .unwrap();

    // On restart the node's first sweep sees the registry publishes the new key and adopts it.
    a.serve(common::fast_settings()).await;
    let alice = a.owner("alice");
    let want = new.public().to_b64();
    for _ in 0..100 {
        if let Ok(me) = alice.call("GET", "/whoami", None).await
            && me["pubkey"]
                .as_str()
                .unwrap()
                .trim_start_matches("ed25519:")
                == want
        {
            assert!(!dir.join("cloud.key.next").exists());
            let on_disk = sovra_proto::keyfile::load_cloud_keys(&dir.join("cloud.key")).unwrap();
            assert_eq!(on_disk.public().to_b64(), want);
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the interrupted rotation was not finished");
}

/// The pending request of the stranger claiming `handle`, once its handle was checked.
async fn checked_request(owner: &Owner, key: &str) -> Value {
    for _ in 0..200 {
        let list = owner.ok("GET", "/pending", None).await;
        if let Some(p) = list["pending"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["peer_pubkey"] == key)
            && p["handle_status"] != "unverified"
        {
            return p.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    owner.ok("GET", "/pending", None).await
}

/// A handle shown to the owner says whether it is the key's: verified by the registry's signed
/// record, unverified, or an impostor — which cannot be approved under that name without force.
#[tokio::test]
async fn claimed_handles_are_marked_verified_unverified_or_impostor() {
    let reg = Reg::start(settings()).await;
    let a = TestNode::start(&["@alice.cloud"]).await;
    let b = TestNode::start(&["@bob.cloud"]).await;
    let (alice, bob) = (a.owner("alice"), b.owner("bob"));
    reg.register(&alice, "+1 415 555 0101").await;
    reg.register(&bob, "+1 415 555 0102").await;
    let (raw, id) = b.raw("bob").await;
    // Mallory, registered nowhere, calls herself @alice.cloud.
    let knock = |handle: &'static str| {
        let (raw, id) = (&raw, &id);
        async move {
            let me = sovra_proto::CloudKeys::generate(&mut sovra_proto::os_rng());
            let (req, _) = sovra_proto::handshake::initiate(
                &mut sovra_proto::os_rng(),
                &me,
                Some(handle),
                id.pubkey,
                id.encryption_key,
                "hi, it's me",
                jiff::Timestamp::now(),
            )
            .unwrap();
            assert_eq!(raw.post("/api/d2d/handshake", &json!(req)).await.0, 200);
            me.public().to_b64()
        }
    };
    let mallory = knock("@alice.cloud").await;
    let p = checked_request(&bob, &mallory).await;
    assert_eq!(p["handle_status"], "impostor", "{p}");
    // A handle no registry knows stays unverified.
    let nobody = knock("@nobody.cloud").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let list = bob.ok("GET", "/pending", None).await;
    let p = list["pending"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["peer_pubkey"] == nobody)
        .unwrap();
    assert_eq!(p["handle_status"], "unverified", "{p}");

    // The real alice knocks too: verified.
    alice
        .ok(
            "PUT",
            "/peers",
            Some(
                json!({"peer_pubkey": bob.pubkey().await, "peer_handle": "@bob.cloud",
                        "url": b.cloud_url("bob")}),
            ),
        )
        .await;
    let _ = alice
        .call(
            "POST",
            "/send",
            Some(json!({"to": "@bob.cloud", "text": "hi"})),
        )
        .await;
    let real = checked_request(&bob, &alice.pubkey().await).await;
    assert_eq!(real["handle_status"], "verified", "{real}");

    // Approving the impostor under the name it stole is refused without force…
    let mallory_id = p_id(&bob, &mallory).await;
    let (s, code) = status(
        &bob,
        "POST",
        &format!("/pending/{mallory_id}/approve"),
        Some(json!({})),
    )
    .await;
    assert_eq!((s, code.as_str()), (409, "impostor"));
    assert!(entry_for(&bob, "@alice.cloud").await.is_null());
    // …allowed under another name, or with force (the owner's explicit choice); the real
    // alice approves plainly.
    bob.ok(
        "POST",
        &format!("/pending/{mallory_id}/approve"),
        Some(json!({"force": true})),
    )
    .await;
    let real_id = p_id(&bob, &alice.pubkey().await).await;
    bob.ok(
        "POST",
        &format!("/pending/{real_id}/approve"),
        Some(json!({})),
    )
    .await;
    let peers = bob.ok("GET", "/peers", None).await;
    let of = |key: &str| {
        peers["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["entry"]["peer_pubkey"] == key)
            .cloned()
            .unwrap()
    };
    assert_eq!(of(&mallory)["entry"]["peer_handle"], "@alice.cloud");
    assert_eq!(of(&mallory)["handle_status"], "unverified");
    // The real alice, verified, follows her registry record: endpoint and registry come with it.
    let real_entry = of(&alice.pubkey().await);
    assert_eq!(real_entry["entry"]["peer_handle"], "@alice.cloud");
    assert_eq!(real_entry["handle_status"], "verified", "{real_entry}");
    assert_eq!(real_entry["url"], json!(a.cloud_url("alice")));
    assert_eq!(real_entry["registry"], json!(reg.url));
    let nobody_id = p_id(&bob, &nobody).await;
    bob.ok(
        "POST",
        &format!("/pending/{nobody_id}/approve"),
        Some(json!({"handle": "@somebody.cloud"})),
    )
    .await;
}

async fn p_id(owner: &Owner, key: &str) -> String {
    let list = owner.ok("GET", "/pending", None).await;
    list["pending"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["peer_pubkey"] == key)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// PROTOCOL §15.6: with a phone on record, a high-trust operation needs the device *and* a
/// fresh phone code; neither alone is enough.
#[tokio::test]
async fn high_trust_operations_need_the_device_and_the_phone() {
    let reg = Reg::start(settings()).await;
    let a = TestNode::start(&["@alice.cloud"]).await;
    let alice = a.owner("alice");
    let phone = "+1 415 555 0111";
    reg.register(&alice, phone).await;
    // Registering proved both factors: the window is open. Closing it, like `sudo -k`:
    alice.ok("PUT", "/peers", Some(json!({"peer_pubkey": sovra_proto::CloudKeys::generate(&mut sovra_proto::os_rng()).public().to_b64(), "peer_handle": "@x.cloud", "allowed_capabilities": [], "rate_limit_per_day": 10}))).await;
    alice.ok("DELETE", "/elevation", None).await;
    let st = alice.ok("GET", "/elevation", None).await;
    assert_eq!(st["two_factor"], true);
    assert_eq!(st["factors"], json!(["phone"]));
    assert!(st["elevated_until"].is_null());

    // The device alone (a thief with the laptop): high-trust refused, low-trust fine.
    let new_peer = || {
        json!({"peer_pubkey": sovra_proto::CloudKeys::generate(&mut sovra_proto::os_rng()).public().to_b64(),
               "peer_handle": "@mallory.cloud", "allowed_capabilities": ["Echo"], "rate_limit_per_day": 10})
    };
    for (method, path, body) in [
        ("PUT", "/peers", Some(new_peer())),
        ("DELETE", "/peers/@x.cloud", None),
        ("POST", "/migration/export", Some(json!({}))),
        ("POST", "/seal", Some(json!({"unseal": "owner"}))),
        (
            "PUT",
            "/capabilities/Echo",
            Some(json!({"description": "e", "adapter": {"kind": "exec", "command": ["/bin/cat"]}})),
        ),
    ] {
        let (s, code) = status(&alice, method, path, body).await;
        assert_eq!(
            (s, code.as_str()),
            (403, "elevation_required"),
            "{method} {path}"
        );
    }
    alice.ok("GET", "/peers", None).await;
    // …and a code for another phone does not open the window.
    let other = reg.proof(&alice, "+1 415 555 0199").await;
    let (s, code) = status(&alice, "POST", "/elevation", Some(other)).await;
    assert_eq!((s, code.as_str()), (403, "phone_mismatch"));
    let mut wrong = reg.proof(&alice, phone).await;
    wrong["code"] = json!("000000");
    let (s, _) = status(&alice, "POST", "/elevation", Some(wrong)).await;
    assert_eq!(s, 401);

    // The phone alone (a SIM swap): the registry gives an elevation for the cloud to anyone
    // holding the code, but the node takes it only inside a request signed by a device.
    let proof = reg.proof(&alice, phone).await;
    let stranger = sovra_proto::SigningKeypair::generate(&mut sovra_proto::os_rng());
    let thief = Owner(sovra_client::OwnerClient::new(
        a.cloud_url("alice"),
        stranger,
        Duration::from_secs(5),
    ));
    let (s, code) = status(&thief, "POST", "/elevation", Some(proof.clone())).await;
    assert_eq!((s, code.as_str()), (401, "unauthorized"));
    let (s, _) = status(&thief, "PUT", "/peers", Some(new_peer())).await;
    assert_eq!(s, 401);

    // Both factors: the owner's device with a fresh code.
    let fresh = reg.proof(&alice, phone).await;
    let opened = alice.ok("POST", "/elevation", Some(fresh.clone())).await;
    let until = opened["elevated_until"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    let now = jiff::Timestamp::now().as_millisecond();
    assert!(
        until > now && until <= now + 15 * 60 * 1000 + 1000,
        "{opened}"
    );
    alice.ok("PUT", "/peers", Some(new_peer())).await;
    alice.ok("DELETE", "/peers/@x.cloud", None).await;
    // A spent code does not open it twice.
    alice.ok("DELETE", "/elevation", None).await;
    let (s, _) = status(&alice, "POST", "/elevation", Some(fresh)).await;
    assert!((400..500).contains(&s), "{s}");
    let _ = proof;
}

/// `registry_key` pins a registry's key learned from a trusted source instead of on first use.
#[tokio::test]
async fn a_registry_key_given_by_the_owner_is_pinned_or_refused() {
    let reg = Reg::start(settings()).await;
    let a = TestNode::start(&["@alice.cloud"]).await;
    let alice = a.owner("alice");
    let real = reqwest::get(format!("{}/v1/registry", reg.url))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["registry_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = sovra_proto::SigningKeypair::generate(&mut sovra_proto::os_rng())
        .public()
        .to_human();
    let ask =
        |key: String| json!({"registry": reg.url, "phone": "+1 415 555 0123", "registry_key": key});
    let (s, code) = status(
        &alice,
        "POST",
        "/registry/verifications",
        Some(ask(other.clone())),
    )
    .await;
    assert_eq!((s, code.as_str()), (409, "registry_key_mismatch"));
    assert_eq!(
        alice.ok("GET", "/registry", None).await["pinned"],
        json!([]),
        "nothing pinned"
    );
    alice
        .ok("POST", "/registry/verifications", Some(ask(real)))
        .await;
    assert_eq!(
        alice.ok("GET", "/registry", None).await["pinned"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Once pinned, another key given is still refused.
    let (s, code) = status(&alice, "POST", "/registry/verifications", Some(ask(other))).await;
    assert_eq!((s, code.as_str()), (409, "registry_key_mismatch"));
}

#[tokio::test]
async fn actions_find_a_handle_through_its_registry_record() {
    let reg = Reg::start(settings()).await;
    let a = TestNode::start(&["@alice.cloud"]).await;
    let b = TestNode::start(&["@bob.cloud"]).await;
    let (alice, bob) = (a.owner("alice"), b.owner("bob"));
    reg.register(&alice, "+1 415 555 0111").await;
    reg.register(&bob, "+1 415 555 0112").await;
    // Neither is on the other's whitelist: both ends find the other by its registry record.
    alice
        .ok(
            "POST",
            "/actions/follow",
            Some(json!({"id_tag": "@bob.cloud"})),
        )
        .await;
    for _ in 0..200 {
        let f = bob.ok("GET", "/actions/followers", None).await;
        if f["relations"][0]["id_tag"] == "@alice.cloud" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let f = bob.ok("GET", "/actions/followers", None).await;
    assert_eq!(f["relations"][0]["id_tag"], "@alice.cloud", "{f}");
    // A connection approved with `whitelist` also makes the requester a D2D peer, no grants.
    alice
        .ok(
            "POST",
            "/actions/connect",
            Some(json!({"id_tag": "@bob.cloud"})),
        )
        .await;
    for _ in 0..200 {
        let c = bob.ok("GET", "/actions/connections", None).await;
        if c["relations"][0]["state"] == "asked" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bob.ok(
        "POST",
        "/actions/approve",
        Some(json!({"id_tag": "@alice.cloud", "whitelist": true})),
    )
    .await;
    let peer = entry_for(&bob, "@alice.cloud").await;
    assert_eq!(
        peer["entry"]["peer_pubkey"],
        json!(alice.pubkey().await),
        "{peer}"
    );
    assert_eq!(peer["entry"]["allowed_capabilities"], json!([]));
    assert_eq!(peer["registry"], json!(reg.url));
    // A handle the registry does not know is refused, nothing sent.
    let (s, code) = status(
        &alice,
        "POST",
        "/actions/follow",
        Some(json!({"id_tag": "@nobody.cloud"})),
    )
    .await;
    assert_eq!((s, code.as_str()), (424, "issuer_unknown"));
}
