//! Hosting humans whose cloud keys stay on their own devices (PROTOCOL.md §19): a node with
//! three hosted clouds and a self-hosted peer on another node, talking through host-key
//! certificates; onboarding refusals; one tenant's device refused by another's owner API; and
//! revocation taking the node's voice away.

mod common;

use std::path::Path;

use common::{Owner, TestNode, fast_settings};
use serde_json::json;
use sovra_client::OwnerClient;
use sovra_node::home;
use sovra_node::home::Admission;
use sovra_node::hosting::{NodeConfig, NodeDb, NodeIdentity};
use sovra_proto::host::{ActivateRequest, HostCertificate, OnboardRequest, OnboardResponse};
use sovra_proto::{CloudKeys, SigningKeypair, os_rng};

/// A node that hosts by invite, serving no cloud of its own.
async fn hosting_node() -> TestNode {
    let mut node = TestNode::start(&[]).await;
    node.stop().await;
    NodeIdentity::configure(
        node.home.path(),
        &NodeConfig {
            operator_contact: Some("ops@host.example".into()),
            hosting_policy: "invite".into(),
            phone_registry: None,
        },
    )
    .unwrap();
    node.serve(fast_settings()).await;
    node
}

async fn invite(node: &TestNode) -> String {
    NodeDb::open(node.home.path())
        .await
        .unwrap()
        .create_invite(7)
        .await
        .unwrap()
}

/// The owner API of a hosted cloud, as its human's device reaches it.
fn device_owner(device_home: &Path, name: &str, base_url: &str) -> Owner {
    let device = home::load_device(&home::cloud_dir(device_home, name)).unwrap();
    Owner(OwnerClient::new(
        base_url,
        device,
        std::time::Duration::from_secs(10),
    ))
}

async fn wait_text(owner: &Owner, text: &str) {
    owner
        .wait_for(text, |m| {
            m["direction"] == "in" && m["payload"]["text"] == text
        })
        .await;
}

#[tokio::test]
async fn hosted_humans_keep_their_keys_and_talk_through_certified_host_keys() {
    let h = hosting_node().await;
    let a = TestNode::start(&["@alice.cloud"]).await;
    let alice = a.owner("alice");
    let node_id = NodeIdentity::load_or_create(h.home.path())
        .unwrap()
        .keys
        .public();

    // Three humans, each with the cloud key on their own device (a home of their own).
    let mut humans = Vec::new();
    for handle in ["@dana.cloud", "@erin.cloud", "@fay.cloud"] {
        let device_home = tempfile::tempdir().unwrap();
        let (dir, base) = home::init_hosted_cloud(
            device_home.path(),
            handle,
            &h.url,
            &Admission::Invite(invite(&h).await),
        )
        .await
        .unwrap();
        let name = handle[1..].split('.').next().unwrap().to_owned();
        assert_eq!(base, h.cloud_url(&name));
        assert!(dir.join("cloud.key").exists());
        // The node holds a host key pair and the certificate, never the cloud key.
        assert!(!h.dir(&name).join("cloud.key").exists());
        assert!(h.dir(&name).join("host.key").exists());
        let owner = device_owner(device_home.path(), &name, &base);
        humans.push((device_home, name, owner));
    }
    let (dana, erin) = (&humans[0].2, &humans[1].2);
    let dana_key = sovra_proto::keyfile::load_cloud_keys(
        &home::cloud_dir(humans[0].0.path(), "dana").join("cloud.key"),
    )
    .unwrap()
    .public();

    // Served at once, without a restart; the node counts them; peers see who hosts whom.
    let doc: sovra_proto::node::NodeDocument = reqwest::get(format!("{}/api/node", h.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((doc.verify().unwrap(), doc.clouds_hosted), (node_id, 3));
    let id = sovra_client::D2dClient::default()
        .identity(&h.cloud_url("dana"))
        .await
        .unwrap();
    assert_eq!((id.pubkey, id.hosted_by), (dana_key, Some(node_id)));
    let me = dana.ok("GET", "/whoami", None).await;
    assert_eq!(me["hosted_by"], json!(node_id.to_b64()));
    assert_eq!(me["pubkey"], json!(dana_key.to_human()));

    // A self-hosted cloud and a hosted one talk both ways; two hosted ones too.
    alice.add_peer(dana, "@dana.cloud", &[]).await;
    dana.add_peer(&alice, "@alice.cloud", &[]).await;
    alice
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@dana.cloud", "text": "hi dana"})),
        )
        .await;
    wait_text(dana, "hi dana").await;
    dana.ok(
        "POST",
        "/send",
        Some(json!({"to": "@alice.cloud", "text": "hi alice"})),
    )
    .await;
    wait_text(&alice, "hi alice").await;
    dana.add_peer(erin, "@erin.cloud", &[]).await;
    erin.add_peer(dana, "@dana.cloud", &[]).await;
    erin.ok(
        "POST",
        "/send",
        Some(json!({"to": "@dana.cloud", "text": "neighbour"})),
    )
    .await;
    wait_text(dana, "neighbour").await;

    // Isolation: erin's device is nobody on dana's owner API.
    let erin_device = home::load_device(&home::cloud_dir(humans[1].0.path(), "erin")).unwrap();
    let intruder = Owner(OwnerClient::new(
        h.cloud_url("dana"),
        erin_device,
        std::time::Duration::from_secs(10),
    ));
    // Every owner endpoint, read or write, answers erin's device the same way.
    let body = Some(json!({}));
    for (method, path) in [
        ("GET", "/whoami"),
        ("GET", "/peers"),
        ("PUT", "/peers"),
        ("POST", "/peers/by-handle"),
        ("POST", "/peers/check"),
        ("DELETE", "/peers/@alice.cloud"),
        ("GET", "/relays"),
        ("PUT", "/relays"),
        ("GET", "/registry"),
        ("POST", "/registry/verifications"),
        ("POST", "/registry/register"),
        ("POST", "/registry/rotate"),
        ("POST", "/registry/heartbeat"),
        ("GET", "/registry/lookup/@alice.cloud"),
        ("GET", "/pending"),
        ("POST", "/pending/x/approve"),
        ("POST", "/pending/x/deny"),
        ("GET", "/capabilities"),
        ("PUT", "/capabilities/Echo"),
        ("DELETE", "/capabilities/Echo"),
        ("GET", "/conversations"),
        ("POST", "/conversations/x/close"),
        ("GET", "/conversations/x/context"),
        ("GET", "/messages"),
        ("GET", "/outbox"),
        ("POST", "/send"),
        ("GET", "/swarms"),
        ("POST", "/swarms"),
        ("GET", "/swarms/main"),
        ("PATCH", "/swarms/main"),
        ("DELETE", "/swarms/main"),
        ("GET", "/swarms/main/soul"),
        ("PUT", "/swarms/main/soul"),
        ("GET", "/swarms/main/memory"),
        ("PUT", "/swarms/main/memory"),
        ("POST", "/swarms/main/tokens"),
        ("DELETE", "/swarms/main/tokens"),
        ("GET", "/drafts"),
        ("POST", "/drafts/x/send"),
        ("POST", "/drafts/x/discard"),
        ("POST", "/host/revoke"),
        ("PUT", "/host/certificate"),
        ("GET", "/nyms"),
        ("POST", "/nyms"),
        ("POST", "/nyms/@x.nym/retire"),
        ("GET", "/devices"),
        ("POST", "/devices/attach"),
        ("POST", "/devices/detach"),
        ("POST", "/devices/recover"),
        ("GET", "/events"),
    ] {
        let b = if method == "GET" || method == "DELETE" {
            None
        } else {
            body.clone()
        };
        let err = intruder.call(method, path, b).await.unwrap_err();
        assert_eq!(err.code(), Some("unauthorized"), "{method} {path}");
    }
    dana.ok("GET", "/whoami", None).await;
    // The operator's own device key for no cloud at all cannot either (there is none: the
    // node holds no device of dana's) — and a self-hosted cloud cannot revoke a host key.
    let err = alice.call("POST", "/host/revoke", None).await.unwrap_err();
    assert_eq!(err.code(), Some("not_hosted"));

    // Renewal: the device certifies the same host keys for another period; a certificate
    // for other keys is refused; conversation carries on under the renewed certificate.
    let dana_cloud = sovra_proto::keyfile::load_cloud_keys(
        &home::cloud_dir(humans[0].0.path(), "dana").join("cloud.key"),
    )
    .unwrap()
    .signing;
    let id = sovra_client::D2dClient::default()
        .identity(&h.cloud_url("dana"))
        .await
        .unwrap();
    let held: HostCertificate = serde_json::from_slice(
        &std::fs::read(h.dir("dana").join("host-certificate.json")).unwrap(),
    )
    .unwrap();
    let host_key = sovra_proto::PublicKey::from_b64("k", &held.host_key).unwrap();
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(10);
    let renewed = HostCertificate::issue(
        &dana_cloud,
        &host_key,
        &id.encryption_key,
        &node_id,
        later,
        jiff::SignedDuration::from_hours(24 * 60),
    )
    .unwrap();
    let wrong = HostCertificate::issue(
        &dana_cloud,
        &SigningKeypair::generate(&mut os_rng()).public(),
        &id.encryption_key,
        &node_id,
        later,
        jiff::SignedDuration::from_hours(24 * 60),
    )
    .unwrap();
    let err = dana
        .call(
            "PUT",
            "/host/certificate",
            Some(json!({"host_certificate": wrong})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("malformed"));
    dana.ok(
        "PUT",
        "/host/certificate",
        Some(json!({"host_certificate": renewed})),
    )
    .await;
    let me = dana.ok("GET", "/whoami", None).await;
    assert_eq!(me["host_certificate_expires_at"], json!(renewed.expires_at));
    alice
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@dana.cloud", "text": "after renewal"})),
        )
        .await;
    wait_text(dana, "after renewal").await;

    // Revocation: the node stops speaking and listening for dana at once…
    dana.ok("POST", "/host/revoke", None).await;
    assert!(!h.dir("dana").join("host.key").exists());
    let err = dana
        .call(
            "POST",
            "/send",
            Some(json!({"to": "@alice.cloud", "text": "still me?"})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("host_revoked"));
    let err = sovra_client::D2dClient::default()
        .identity(&h.cloud_url("dana"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("host_revoked"));
    // …and after a restart does not serve it at all, while the others carry on.
    let mut h = h;
    h.stop().await;
    h.serve(fast_settings()).await;
    let err = sovra_client::D2dClient::default()
        .identity(&h.cloud_url("dana"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("not_found"));
    sovra_client::D2dClient::default()
        .identity(&h.cloud_url("erin"))
        .await
        .unwrap();
}

#[tokio::test]
async fn onboarding_refuses_what_the_cloud_key_did_not_sign() {
    let h = hosting_node().await;
    let client = sovra_client::D2dClient::default();
    let cloud = CloudKeys::generate(&mut os_rng());
    let code = invite(&h).await;
    let ask = |handle: &str, code: &str| OnboardRequest {
        handle: handle.into(),
        cloud_key: cloud.public().to_b64(),
        invite: Some(code.into()),
        phone_attestation: None,
    };
    // Unknown invite, bad handle.
    for (req, want) in [
        (ask("@gus.cloud", "sovra-invite-nope"), "invite_invalid"),
        (ask("gus", &code), "malformed"),
    ] {
        let err = client
            .post::<_, OnboardResponse>(&h.url, "/api/host/clouds", &req)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(want));
    }
    let offer: OnboardResponse = client
        .post(&h.url, "/api/host/clouds", &ask("@gus.cloud", &code))
        .await
        .unwrap();
    // The invite is spent; the name is taken.
    let code2 = invite(&h).await;
    for (req, want) in [
        (ask("@hal.cloud", &code), "invite_invalid"),
        (ask("@gus.cloud", &code2), "name_taken"),
    ] {
        let err = client
            .post::<_, OnboardResponse>(&h.url, "/api/host/clouds", &req)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(want));
    }

    // An onboarding never activated lapses after a day: its name and invite come back.
    let code3 = invite(&h).await;
    client
        .post::<_, OnboardResponse>(&h.url, "/api/host/clouds", &ask("@old.cloud", &code3))
        .await
        .unwrap();
    let code4 = invite(&h).await;
    let err = client
        .post::<_, OnboardResponse>(&h.url, "/api/host/clouds", &ask("@old.cloud", &code4))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("name_taken"));
    let touched = std::process::Command::new("touch")
        .args(["-d", "2 days ago"])
        .arg(h.dir("old").join("onboarding.json"))
        .status()
        .unwrap();
    assert!(touched.success());
    client
        .post::<_, OnboardResponse>(&h.url, "/api/host/clouds", &ask("@old.cloud", &code4))
        .await
        .unwrap();
    client
        .post::<_, OnboardResponse>(&h.url, "/api/host/clouds", &ask("@new.cloud", &code3))
        .await
        .unwrap();

    let node_id = sovra_proto::PublicKey::from_b64("n", &offer.node_id).unwrap();
    let host_key = sovra_proto::PublicKey::from_b64("k", &offer.host_key).unwrap();
    let host_x = sovra_proto::EncryptionKey::from_b64("x", &offer.host_encryption_key).unwrap();
    let now = jiff::Timestamp::now();
    let period = jiff::SignedDuration::from_hours(24 * 30);
    let device = SigningKeypair::generate(&mut os_rng());
    let good_device = sovra_proto::device::KeyCertificate::issue(
        &cloud.signing,
        &device.public(),
        "owner",
        "cli",
        now,
    );
    let activate = |cert: HostCertificate, device_cert| ActivateRequest {
        host_certificate: cert,
        device_key: device.public().to_b64(),
        device_certificate: device_cert,
    };
    let path = format!("/api/host/clouds/{}/activate", offer.name);
    let other = SigningKeypair::generate(&mut os_rng());
    let cases = [
        // The host keys certified for another node.
        (
            activate(
                HostCertificate::issue(
                    &cloud.signing,
                    &host_key,
                    &host_x,
                    &other.public(),
                    now,
                    period,
                )
                .unwrap(),
                good_device.clone(),
            ),
            "malformed",
        ),
        // Someone else's cloud key certifying them.
        (
            activate(
                HostCertificate::issue(&other, &host_key, &host_x, &node_id, now, period).unwrap(),
                good_device.clone(),
            ),
            "bad_signature",
        ),
        // A device the operator (or anyone but the cloud key) minted.
        (
            activate(
                HostCertificate::issue(&cloud.signing, &host_key, &host_x, &node_id, now, period)
                    .unwrap(),
                sovra_proto::device::KeyCertificate::issue(
                    &other,
                    &device.public(),
                    "owner",
                    "cli",
                    now,
                ),
            ),
            "malformed",
        ),
    ];
    for (req, want) in cases {
        let err = client
            .post::<_, serde_json::Value>(&h.url, &path, &req)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(want), "{err}");
        // Nothing was served or stored as a cloud.
        assert!(!h.dir(&offer.name).join("cloud.json").exists());
    }
    let err = client
        .post::<_, serde_json::Value>(
            &h.url,
            "/api/host/clouds/nobody/activate",
            &activate(
                HostCertificate::issue(&cloud.signing, &host_key, &host_x, &node_id, now, period)
                    .unwrap(),
                good_device.clone(),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("unknown_onboarding"));
    // Done right, it is served.
    client
        .post::<_, serde_json::Value>(
            &h.url,
            &path,
            &activate(
                HostCertificate::issue(&cloud.signing, &host_key, &host_x, &node_id, now, period)
                    .unwrap(),
                good_device,
            ),
        )
        .await
        .unwrap();
    client.identity(&h.cloud_url("gus")).await.unwrap();

    // A closed node takes nobody.
    let mut h = h;
    h.stop().await;
    NodeIdentity::configure(h.home.path(), &NodeConfig::default()).unwrap();
    h.serve(fast_settings()).await;
    let err = client
        .post::<_, OnboardResponse>(&h.url, "/api/host/clouds", &ask("@ivy.cloud", &code2))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("hosting_closed"));
}

/// A hosted cloud keeps relay links too: it authenticates with its host key and certificate and
/// the relay knows it as its cloud key, so a peer reaching it by relay alone gets through.
#[tokio::test]
async fn a_hosted_cloud_is_reachable_through_a_relay() {
    let (relay, _relay_dir) = common::start_relay().await;
    let h = hosting_node().await;
    let a = TestNode::start(&["@alice.cloud"]).await;
    let alice = a.owner("alice");
    let device_home = tempfile::tempdir().unwrap();
    let (_, base) = home::init_hosted_cloud(
        device_home.path(),
        "@gil.cloud",
        &h.url,
        &Admission::Invite(invite(&h).await),
    )
    .await
    .unwrap();
    let gil = device_owner(device_home.path(), "gil", &base);
    gil.ok("PUT", "/relays", Some(json!({"url": relay}))).await;
    gil.add_peer(&alice, "@alice.cloud", &[]).await;
    let id = sovra_client::D2dClient::default()
        .identity(&base)
        .await
        .unwrap();
    // Alice knows gil by key, relay and (host) encryption key only.
    alice
        .ok(
            "PUT",
            "/peers",
            Some(json!({
                "peer_pubkey": id.pubkey.to_b64(), "peer_handle": "@gil.cloud",
                "relays": [relay], "encryption_key": id.encryption_key.to_b64(),
            })),
        )
        .await;
    alice
        .ok(
            "POST",
            "/send",
            Some(json!({"to": "@gil.cloud", "text": "by relay"})),
        )
        .await;
    wait_text(&gil, "by relay").await;
}

/// Reports attach to the layer that answers for them: a hosted cloud's pod-user id, or the
/// node-id; a device is never a public subject; unknown subjects and junk are refused.
#[tokio::test]
async fn reports_attach_to_the_responsible_layer() {
    use sovra_proto::client_instance::{client_instance_id, node_ref, participant_id};
    let h = hosting_node().await;
    let device_home = tempfile::tempdir().unwrap();
    let (dir, _) = home::init_hosted_cloud(
        device_home.path(),
        "@kai.cloud",
        &h.url,
        &Admission::Invite(invite(&h).await),
    )
    .await
    .unwrap();
    let kai = sovra_proto::keyfile::load_cloud_keys(&dir.join("cloud.key"))
        .unwrap()
        .public();
    let node = NodeIdentity::load_or_create(h.home.path())
        .unwrap()
        .keys
        .public();
    let http = reqwest::Client::new();
    let report = |subject: String| {
        let http = http.clone();
        let url = format!("{}/api/host/reports", h.url);
        async move {
            let r = http
                .post(url)
                .json(&json!({"subject": subject, "reason": "spam", "reporter": "me@example"}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (s, b) = report(participant_id(&kai)).await;
    assert_eq!(
        (s, b["subject_kind"].as_str()),
        (202, Some("pod-user")),
        "{b}"
    );
    let (s, b) = report(node_ref(&node)).await;
    assert_eq!((s, b["subject_kind"].as_str()), (202, Some("node")), "{b}");
    let device = SigningKeypair::generate(&mut os_rng()).public();
    for (subject, status, code) in [
        (client_instance_id(&device), 400, "malformed"),
        (participant_id(&device), 404, "unknown_subject"),
        ("whoever".to_owned(), 400, "malformed"),
    ] {
        let (s, b) = report(subject).await;
        assert_eq!((s, b["error"].as_str()), (status, Some(code)), "{b}");
    }
    let kept = NodeDb::open(h.home.path())
        .await
        .unwrap()
        .reports()
        .await
        .unwrap();
    assert_eq!(kept.len(), 2);
    assert!(kept.iter().any(|r| r.subject == participant_id(&kai)));
}

/// A node hosting by phone: its registry's attestation — for this node, for this very cloud
/// key — admits one cloud per phone; a phone used once, an attestation for another node, or an
/// invite instead are refused.
#[tokio::test]
async fn a_phone_verified_at_the_nodes_registry_admits_one_cloud() {
    use sovra_proto::registry::{AttestationRequest, PhoneProof};
    use sovra_registry::sms::ConsoleGateway;
    // A real registry with a console "SMS" gateway the test reads codes from.
    let reg_dir = tempfile::tempdir().unwrap();
    let sms = std::sync::Arc::new(ConsoleGateway::default());
    let registry = std::sync::Arc::new(
        sovra_registry::home::open(
            reg_dir.path(),
            sovra_registry::Settings {
                sends_per_phone: 100,
                sends_per_client: 100,
                ..sovra_registry::Settings::default()
            },
            sms.clone(),
        )
        .await
        .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let reg_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(sovra_registry::api::serve(
        listener,
        registry.clone(),
        std::future::pending(),
    ));
    let reg = sovra_client::RegistryClient::new(&reg_url, sovra_client::DEFAULT_TIMEOUT);
    let proof = |phone: &'static str| {
        let (reg, sms) = (reg.clone(), sms.clone());
        async move {
            let sent = reg.request_code(phone).await.unwrap();
            let e164: String = phone
                .chars()
                .filter(|c| *c == '+' || c.is_ascii_digit())
                .collect();
            PhoneProof {
                verification_id: sent.verification_id,
                code: sms.last_code_to(&e164).unwrap(),
            }
        }
    };

    let mut h = TestNode::start(&[]).await;
    h.stop().await;
    let key = reg.info().await.unwrap().registry_key;
    NodeIdentity::configure(
        h.home.path(),
        &NodeConfig {
            operator_contact: None,
            hosting_policy: "phone".into(),
            phone_registry: Some(sovra_node::hosting::node_id::PhoneRegistry {
                url: reg_url.clone(),
                key,
            }),
        },
    )
    .unwrap();
    h.serve(fast_settings()).await;

    let first = tempfile::tempdir().unwrap();
    let admission = Admission::Phone(proof("+1 415 555 0171").await);
    let (_, base) = home::init_hosted_cloud(first.path(), "@hana.cloud", &h.url, &admission)
        .await
        .unwrap();
    sovra_client::D2dClient::default()
        .identity(&base)
        .await
        .unwrap();

    // The same phone again: refused, whatever the name.
    let again = Admission::Phone(proof("+1 415 555 0171").await);
    let err = home::init_hosted_cloud(
        tempfile::tempdir().unwrap().path(),
        "@hiro.cloud",
        &h.url,
        &again,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("phone_used"), "{err}");

    // An attestation made for another node, and an invite, are not admissions here.
    let client = sovra_client::D2dClient::default();
    let cloud = CloudKeys::generate(&mut os_rng());
    let elsewhere = reg
        .attest(&AttestationRequest {
            phone: proof("+1 415 555 0172").await,
            cloud_key: cloud.public().to_b64(),
            audience: "http://elsewhere.example".into(),
        })
        .await
        .unwrap();
    for (req, want) in [
        (
            OnboardRequest {
                handle: "@ivo.cloud".into(),
                cloud_key: cloud.public().to_b64(),
                invite: None,
                phone_attestation: Some(elsewhere),
            },
            "malformed",
        ),
        (
            OnboardRequest {
                handle: "@ivo.cloud".into(),
                cloud_key: cloud.public().to_b64(),
                invite: Some(invite(&h).await),
                phone_attestation: None,
            },
            "phone_required",
        ),
    ] {
        let err = client
            .post::<_, OnboardResponse>(&h.url, "/api/host/clouds", &req)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(want), "{err}");
    }
}

/// A cloud written into the home while the node runs answers like one served from the start,
/// routes with path parameters included (their parameters are the cloud's, not the node's
/// `/clouds/{name}/{*rest}` too).
#[tokio::test]
async fn a_cloud_added_while_serving_answers_every_route() {
    let node = common::TestNode::start(&["@alice.cloud"]).await;
    sovra_node::home::init_cloud(node.home.path(), "@carol.cloud")
        .await
        .unwrap();
    let added = node.serve_new_clouds().await;
    assert_eq!(added, vec!["carol".to_owned()]);
    let carol = node.owner("carol");
    assert_eq!(
        carol.ok("GET", "/whoami", None).await["handle"],
        "@carol.cloud"
    );
    let exposed = carol
        .ok(
            "PUT",
            "/capabilities/Echo",
            Some(serde_json::json!({
                "description": "echo",
                "adapter": {"kind": "exec", "command": ["/bin/cat"]},
            })),
        )
        .await;
    assert_eq!(exposed["name"], "Echo");
    let err = carol
        .call("POST", "/pending/nope/approve", Some(serde_json::json!({})))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown_request"), "{err}");
    assert_eq!(carol.ok("GET", "/swarms/main", None).await["name"], "main");
}
