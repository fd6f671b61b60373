//! Devices (client instances) of a hosted cloud, attached, detached and recovered only by
//! artifacts its cloud key signed (PROTOCOL.md §19.4); each artifact checked against its JSON
//! Schema; every refusal, and the published vectors validated against the schemas.

mod common;

use common::Owner;
use serde_json::{Value, json};
use sovra_client::OwnerClient;
use sovra_node::home;
use sovra_node::home::Admission;
use sovra_node::hosting::NodeIdentity;
use sovra_proto::client_instance::{Attachment, Detachment, Recovery, fresh_ids};
use sovra_proto::device::KeyCertificate;
use sovra_proto::{SigningKeypair, os_rng};

fn owner(base: &str, device: SigningKeypair) -> Owner {
    Owner(OwnerClient::new(
        base,
        device,
        std::time::Duration::from_secs(10),
    ))
}

#[tokio::test]
async fn devices_come_and_go_only_by_the_cloud_keys_word() {
    let (h, code) = common::hosting_node().await;
    let node = NodeIdentity::load_or_create(h.home.path()).unwrap().keys;
    let device_home = tempfile::tempdir().unwrap();
    let (dir, base) = home::init_hosted_cloud(
        device_home.path(),
        "@dana.cloud",
        &h.url,
        &Admission::Invite(code),
    )
    .await
    .unwrap();
    let cloud = sovra_proto::keyfile::load_cloud_keys(&dir.join("cloud.key"))
        .unwrap()
        .signing;
    let dana = owner(&base, home::load_device(&dir).unwrap());

    // A second device: the cloud key signs its attachment and certificate.
    let phone = SigningKeypair::generate(&mut os_rng());
    let now = jiff::Timestamp::now();
    let attachment = Attachment::sign(
        &cloud,
        &node.public(),
        &phone.public(),
        fresh_ids(&mut os_rng()),
        now,
    );
    let certificate = KeyCertificate::issue(&cloud, &phone.public(), "owner", "phone", now);
    let attach = |a: &Value, c: &KeyCertificate| json!({"attachment": a, "device_certificate": c});
    dana.ok(
        "POST",
        "/devices/attach",
        Some(attach(&json!(attachment), &certificate)),
    )
    .await;
    let phone_key = phone.public();
    let phone_owner = owner(&base, SigningKeypair::from_seed(&phone.seed()));
    phone_owner.ok("GET", "/whoami", None).await;
    let list = dana.ok("GET", "/devices", None).await;
    assert_eq!(list["devices"].as_array().unwrap().len(), 2, "{list}");
    // With a second device attached, each is the other's second factor for high-trust
    // operations (PROTOCOL §15.6); device changes carry the cloud key's signature instead.
    let dana_key = home::load_device(&dir).unwrap().public().to_b64();
    let peer = json!({"peer_pubkey": SigningKeypair::generate(&mut os_rng()).public().to_b64(),
                      "peer_handle": "@eve.cloud", "allowed_capabilities": [], "rate_limit_per_day": 5});
    let err = dana
        .call("PUT", "/peers", Some(peer.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("elevation_required"), "{err}");
    let err = dana
        .call(
            "POST",
            "/elevation/approve",
            Some(json!({ "device": dana_key })),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("self_approval"), "{err}");
    phone_owner
        .ok(
            "POST",
            "/elevation/approve",
            Some(json!({ "device": dana_key })),
        )
        .await;
    dana.ok("PUT", "/peers", Some(peer)).await;

    // The operator cannot mint one (its key is not the participant's)…
    let stooge = SigningKeypair::generate(&mut os_rng());
    let minted = Attachment::sign(
        &node,
        &node.public(),
        &stooge.public(),
        fresh_ids(&mut os_rng()),
        now,
    );
    let minted_cert = KeyCertificate::issue(&node, &stooge.public(), "owner", "x", now);
    let err = dana
        .call(
            "POST",
            "/devices/attach",
            Some(attach(&json!(minted), &minted_cert)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("not_participant"));
    // …an artifact outside its schema is refused before anything else…
    let mut extra = json!(Attachment::sign(
        &cloud,
        &node.public(),
        &stooge.public(),
        fresh_ids(&mut os_rng()),
        now
    ));
    extra["surprise"] = json!(true);
    let err = dana
        .call(
            "POST",
            "/devices/attach",
            Some(attach(&extra, &certificate)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("malformed"));
    assert!(
        err.to_string().contains("client-instance-attachment.v1"),
        "{err}"
    );
    // …and so is one made for another node.
    let elsewhere = Attachment::sign(
        &cloud,
        &SigningKeypair::generate(&mut os_rng()).public(),
        &stooge.public(),
        fresh_ids(&mut os_rng()),
        now,
    );
    let stooge_cert = KeyCertificate::issue(&cloud, &stooge.public(), "owner", "x", now);
    let err = dana
        .call(
            "POST",
            "/devices/attach",
            Some(attach(&json!(elsewhere), &stooge_cert)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("malformed"));

    // The phone is lost: detached, it is refused; the user and the node are untouched.
    let detachment = Detachment::sign(
        &cloud,
        &node.public(),
        &attachment,
        "device-loss",
        Some("left on a train".into()),
        fresh_ids(&mut os_rng()),
        now,
    );
    dana.ok(
        "POST",
        "/devices/detach",
        Some(json!({"detachment": detachment})),
    )
    .await;
    let err = phone_owner.call("GET", "/whoami", None).await.unwrap_err();
    assert_eq!(err.code(), Some("unauthorized"));
    dana.ok("GET", "/whoami", None).await;

    // Recovery fails closed: an unknown detachment, another device's, another participant's.
    let fake_detachment = Detachment::sign(
        &cloud,
        &node.public(),
        &attachment,
        "device-loss",
        None,
        fresh_ids(&mut os_rng()),
        now,
    );
    let first_device = home::load_device(&dir).unwrap().public();
    let mut other_device = detachment.clone();
    other_device.client_instance_id =
        sovra_proto::client_instance::client_instance_id(&first_device);
    let mallory = SigningKeypair::generate(&mut os_rng());
    for (recovery, want) in [
        (
            Recovery::sign(
                &cloud,
                &node.public(),
                &fake_detachment,
                "reattach-existing-device",
                fresh_ids(&mut os_rng()),
                now,
            ),
            "recovery_refused",
        ),
        (
            Recovery::sign(
                &cloud,
                &node.public(),
                &other_device,
                "reattach-existing-device",
                fresh_ids(&mut os_rng()),
                now,
            ),
            "recovery_refused",
        ),
        (
            Recovery::sign(
                &mallory,
                &node.public(),
                &detachment,
                "reattach-existing-device",
                fresh_ids(&mut os_rng()),
                now,
            ),
            "not_participant",
        ),
    ] {
        let err = dana
            .call(
                "POST",
                "/devices/recover",
                Some(json!({"recovery": recovery})),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(want), "{err}");
    }
    let err = phone_owner.call("GET", "/whoami", None).await.unwrap_err();
    assert_eq!(err.code(), Some("unauthorized"));
    // The real one brings the phone back, once.
    let recovery = Recovery::sign(
        &cloud,
        &node.public(),
        &detachment,
        "reattach-existing-device",
        fresh_ids(&mut os_rng()),
        now,
    );
    dana.ok(
        "POST",
        "/devices/recover",
        Some(json!({"recovery": recovery})),
    )
    .await;
    phone_owner.ok("GET", "/whoami", None).await;
    let err = dana
        .call(
            "POST",
            "/devices/recover",
            Some(json!({"recovery": recovery})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("replayed_artifact"));
    let list = dana.ok("GET", "/devices", None).await;
    let phone_entry = list["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device"] == phone_key.to_b64())
        .unwrap();
    assert_eq!(phone_entry["state"], "attached");
    assert_eq!(phone_entry["artifacts"].as_array().unwrap().len(), 3);
}

/// The published vectors are valid against the published schemas, and verify.
#[test]
fn the_device_vectors_match_the_schemas() {
    use sovra_node::hosting::schemas::validate;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/test-vectors/devices.json"
    ))
    .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    for (field, schema) in [
        ("attachment", "client-instance-attachment.v1"),
        ("detachment", "client-instance-detachment.v1"),
        ("recovery", "client-instance-recovery.v1"),
    ] {
        validate(schema, &v[field]).unwrap();
        validate("participant-bind.v1", &v[field]["participant-bind"]).unwrap();
    }
    let a: Attachment = serde_json::from_value(v["attachment"].clone()).unwrap();
    let d: Detachment = serde_json::from_value(v["detachment"].clone()).unwrap();
    let r: Recovery = serde_json::from_value(v["recovery"].clone()).unwrap();
    a.verify().unwrap();
    d.verify().unwrap();
    r.verify().unwrap();
}
