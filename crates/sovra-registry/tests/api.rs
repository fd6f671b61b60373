//! The registry over real HTTP: registration, lookups a node can verify, rotation a peer
//! follows, the registration lock and key reset, renames, devices, and every refusal.

mod common;

use std::time::Duration;

use common::{TestRegistry, roomy};
use serde_json::{Value, json};
use sovra_proto::registry::{ChainLink, CloudRecord, Follow, Lookup, operation};
use sovra_proto::{CloudKeys, SigningKeypair, device::KeyCertificate, os_rng};
use sovra_registry::Settings;

const ALICE_PHONE: &str = "+1 415 555 2671";
const BOB_PHONE: &str = "+44 20 7946 0958";

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

fn record(keys: &CloudKeys, handle: &str) -> Value {
    json!(
        CloudRecord::sign(
            keys,
            handle,
            Some("http://127.0.0.1:9/clouds/x".into()),
            vec![],
            now()
        )
        .unwrap()
    )
}

async fn register(r: &TestRegistry, phone: &str, keys: &CloudKeys, handle: &str) -> (u16, Value) {
    let (vid, code) = r.code(phone).await;
    r.call(
        "POST",
        "/v1/clouds",
        Some(json!({ "verification_id": vid, "code": code, "record": record(keys, handle) })),
    )
    .await
}

fn verify(r: &TestRegistry, body: &Value, handle: &str) -> sovra_proto::registry::VerifiedLookup {
    let lookup: Lookup = serde_json::from_value(body.clone()).unwrap();
    lookup.verify(&r.registry.public(), handle).unwrap()
}

#[tokio::test]
async fn register_look_up_and_verify() {
    let r = TestRegistry::start(Settings::default()).await;
    let alice = CloudKeys::generate(&mut os_rng());
    let (s, body) = register(&r, ALICE_PHONE, &alice, "@alice.cloud").await;
    assert_eq!(s, 201, "{body}");
    let (s, info) = r.call("GET", "/v1/registry", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        r.call("GET", "/healthz", None).await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(
        r.call("GET", "/readyz", None).await,
        (200, json!({"status": "ready"}))
    );
    assert_eq!(info["registry_key"], r.registry.public().to_b64());

    // Any case finds it; the answer verifies under the registry key and names alice's keys.
    for asked in ["@alice.cloud", "@Alice.Cloud", "alice"] {
        let (s, body) = r.call("GET", &format!("/v1/handles/{asked}"), None).await;
        assert_eq!(s, 200, "{asked}: {body}");
        let v = verify(&r, &body, "@alice.cloud");
        assert_eq!(v.record.pubkey, alice.public());
        assert_eq!(v.record.encryption_key, alice.encryption.public());
        assert!(v.chain.is_empty());
    }
    // A forged registry key does not verify it.
    let (_, body) = r.call("GET", "/v1/handles/@alice.cloud", None).await;
    let lookup: Lookup = serde_json::from_value(body.clone()).unwrap();
    assert!(lookup.verify(&alice.public(), "@alice.cloud").is_err());

    // The phone number appears nowhere: not in any answer, not in the database file.
    let e164 = "+14155552671";
    assert!(!body.to_string().contains("4155552671"));
    let db = std::fs::read(r.registry_dir().join("registry.db")).unwrap_or_default();
    let wal = std::fs::read(r.registry_dir().join("registry.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(
            !bytes.windows(10).any(|w| w == &e164.as_bytes()[2..]),
            "phone in clear on disk"
        );
    }

    // Unknown handles, reserved and malformed ones.
    for (path, status, code) in [
        ("/v1/handles/@nobody.cloud", 404, "unknown_handle"),
        ("/v1/handles/@admin.cloud", 404, "unknown_handle"),
        ("/v1/handles/@alice.other", 404, "unknown_handle"),
        ("/v1/nothing", 404, "not_found"),
    ] {
        let (s, b) = r.call("GET", path, None).await;
        assert_eq!((s, b["error"].as_str()), (status, Some(code)), "{path}");
    }
    let (s, b) = r.call("DELETE", "/v1/handles/@alice.cloud", None).await;
    assert_eq!((s, b["error"].as_str()), (405, Some("method_not_allowed")));
}

#[tokio::test]
async fn claims_are_unique_by_phone_handle_lookalike_and_key() {
    let r = TestRegistry::start(roomy()).await;
    let mut rng = os_rng();
    let alice = CloudKeys::generate(&mut rng);
    assert_eq!(
        register(&r, ALICE_PHONE, &alice, "@alice.cloud").await.0,
        201
    );
    let bob = CloudKeys::generate(&mut rng);
    for (handle, status, code) in [
        ("@a1ice.cloud", 409, "handle_taken"),
        ("@al-ice.cloud", 409, "handle_taken"),
        ("@adm1n.cloud", 400, "reserved_handle"),
        ("@bob.other", 400, "invalid_handle"),
    ] {
        let (s, b) = register(&r, BOB_PHONE, &bob, handle).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (status, Some(code)),
            "{handle}: {b}"
        );
    }
    // A record whose handle was edited after signing, into a form that is not canonical.
    let mut edited = record(&bob, "@bob.cloud");
    edited["handle"] = json!("@Bob.cloud");
    let (vid, code) = r.code(BOB_PHONE).await;
    let (s, b) = r
        .call(
            "POST",
            "/v1/clouds",
            Some(json!({"verification_id": vid, "code": code, "record": edited})),
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_handle")),
        "{b}"
    );
    edited["handle"] = json!("@bobby.cloud");
    let (s, b) = r
        .call(
            "POST",
            "/v1/clouds",
            Some(json!({"verification_id": vid, "code": code, "record": edited})),
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (401, Some("bad_signature")),
        "{b}"
    );
    // Same key as alice under another phone: refused.
    let (s, b) = register(&r, "+33 6 12 34 56 78", &alice, "@carol.cloud").await;
    assert_eq!((s, b["error"].as_str()), (409, Some("key_taken")), "{b}");
    // Alice's phone again with her key and another handle: that is a rename, not a claim.
    let (s, b) = register(&r, ALICE_PHONE, &alice, "@alice2.cloud").await;
    assert_eq!((s, b["error"].as_str()), (409, Some("conflict")), "{b}");
    assert_eq!(register(&r, BOB_PHONE, &bob, "@bob.cloud").await.0, 201);
}

#[tokio::test]
async fn codes_expire_lock_out_and_are_single_use() {
    let settings = Settings {
        code_ttl: Duration::from_millis(600),
        ..roomy()
    };
    let r = TestRegistry::start(settings).await;
    let alice = CloudKeys::generate(&mut os_rng());
    let rec = record(&alice, "@alice.cloud");

    // Five wrong codes lock the verification; the right code no longer works.
    let (vid, code) = r.code(ALICE_PHONE).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in (1..=4).rev() {
        let (s, b) = r
            .call(
                "POST",
                "/v1/clouds",
                Some(json!({"verification_id": vid, "code": wrong, "record": rec})),
            )
            .await;
        assert_eq!(
            (s, b["error"].as_str(), b["attempts_left"].as_u64()),
            (401, Some("wrong_code"), Some(left))
        );
    }
    let (s, b) = r
        .call(
            "POST",
            "/v1/clouds",
            Some(json!({"verification_id": vid, "code": wrong, "record": rec})),
        )
        .await;
    assert_eq!((s, b["error"].as_str()), (429, Some("locked_out")));
    let (s, b) = r
        .call(
            "POST",
            "/v1/clouds",
            Some(json!({"verification_id": vid, "code": code, "record": rec})),
        )
        .await;
    assert_eq!((s, b["error"].as_str()), (429, Some("locked_out")));

    // Not six digits; unknown verification.
    let (vid, code) = r.code(ALICE_PHONE).await;
    let (s, b) = r
        .call(
            "POST",
            "/v1/clouds",
            Some(json!({"verification_id": vid, "code": "12a456", "record": rec})),
        )
        .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("malformed")));
    let (s, b) = r
        .call(
            "POST",
            "/v1/clouds",
            Some(json!({"verification_id": "nope", "code": code, "record": rec})),
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (404, Some("unknown_verification"))
    );

    // Single use.
    let ok = json!({"verification_id": vid, "code": code, "record": rec});
    assert_eq!(r.call("POST", "/v1/clouds", Some(ok.clone())).await.0, 201);
    let (s, b) = r.call("POST", "/v1/clouds", Some(ok)).await;
    assert_eq!((s, b["error"].as_str()), (409, Some("code_used")));

    // Expiry.
    let (vid, code) = r.code(ALICE_PHONE).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (s, b) = r
        .call(
            "POST",
            "/v1/whoami",
            Some(json!({"verification_id": vid, "code": code})),
        )
        .await;
    assert_eq!((s, b["error"].as_str()), (410, Some("code_expired")));
}

#[tokio::test]
async fn sends_are_rate_limited_and_phones_validated() {
    let settings = Settings {
        sends_per_phone: 2,
        sends_per_client: 3,
        ..Settings::default()
    };
    let r = TestRegistry::start(settings).await;
    for phone in [
        "4155552671",
        "+1 555",
        "call me",
        "",
        // An extension, or invisible direction marks, would be silently dropped by the parser:
        // refused, so what was asked for is what is verified.
        "+1 415 555 2671 ext. 12",
        "+1 415 555 2671 x12",
        "\u{200e}+1 415 555 2671",
        "+1 415\u{202e} 555 2671",
    ] {
        let (s, b) = r
            .call("POST", "/v1/verifications", Some(json!({"phone": phone})))
            .await;
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("invalid_phone")),
            "{phone:?}"
        );
    }
    r.code(ALICE_PHONE).await;
    r.code(ALICE_PHONE).await;
    let (s, b) = r
        .call(
            "POST",
            "/v1/verifications",
            Some(json!({"phone": ALICE_PHONE})),
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (429, Some("rate_limited")),
        "per phone"
    );
    assert!(b["retry_after_seconds"].as_u64().unwrap() > 0);
    r.code(BOB_PHONE).await;
    let (s, b) = r
        .call(
            "POST",
            "/v1/verifications",
            Some(json!({"phone": "+33 6 12 34 56 78"})),
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (429, Some("rate_limited")),
        "per client address"
    );

    // Malformed and oversized bodies.
    let resp = r
        .http
        .post(format!("{}/v1/verifications", r.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let resp = r
        .http
        .post(format!("{}/v1/clouds", r.url))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
}

#[tokio::test]
async fn rotation_is_followed_and_needs_phone_and_key() {
    let r = TestRegistry::start(roomy()).await;
    let mut rng = os_rng();
    let k1 = CloudKeys::generate(&mut rng);
    assert_eq!(register(&r, ALICE_PHONE, &k1, "@alice.cloud").await.0, 201);
    let k2 = CloudKeys::generate(&mut rng);
    let rotate_body = |vid: &str, code: &str, signer: &SigningKeypair| {
        json!({
            "verification_id": vid, "code": code,
            "link": ChainLink::rotation(&k1.signing, &k2.signing, now()),
            "record": record(&k2, "@alice.cloud"),
            "op_sig": sovra_proto::encoding::b64(&signer.sign(&operation::rotate("@alice.cloud", vid, &k2.public()))),
        })
    };
    // The key alone (bob's phone): refused; the phone alone (op signed by the new key): refused.
    assert_eq!(
        register(&r, BOB_PHONE, &CloudKeys::generate(&mut rng), "@bob.cloud")
            .await
            .0,
        201
    );
    let (vid, code) = r.code(BOB_PHONE).await;
    let (s, b) = r
        .call(
            "POST",
            "/v1/handles/@alice.cloud/rotate",
            Some(rotate_body(&vid, &code, &k1.signing)),
        )
        .await;
    assert_eq!((s, b["error"].as_str()), (403, Some("phone_mismatch")));
    let (vid, code) = r.code(ALICE_PHONE).await;
    let (s, b) = r
        .call(
            "POST",
            "/v1/handles/@alice.cloud/rotate",
            Some(rotate_body(&vid, &code, &k2.signing)),
        )
        .await;
    assert_eq!((s, b["error"].as_str()), (401, Some("bad_signature")));
    // Both: accepted, and a peer that pinned k1 follows to k2.
    let (s, body) = r
        .call(
            "POST",
            "/v1/handles/@alice.cloud/rotate",
            Some(rotate_body(&vid, &code, &k1.signing)),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (_, body) = r.call("GET", "/v1/handles/@alice.cloud", None).await;
    let v = verify(&r, &body, "@alice.cloud");
    assert_eq!(v.follow(&k1.public()), Follow::Rotated { to: k2.public() });
    assert!(!v.was_reset());
}

#[tokio::test]
async fn sim_swap_is_locked_then_recovered_as_a_reset() {
    let settings = Settings {
        lock_period: Duration::from_secs(2),
        ..roomy()
    };
    let r = TestRegistry::start(settings).await;
    let mut rng = os_rng();
    let k1 = CloudKeys::generate(&mut rng);
    assert_eq!(register(&r, ALICE_PHONE, &k1, "@alice.cloud").await.0, 201);
    // A new device with the phone but without k1: the cloud was just active → 423.
    let thief = CloudKeys::generate(&mut rng);
    let (s, b) = register(&r, ALICE_PHONE, &thief, "@alice.cloud").await;
    assert_eq!(
        (s, b["error"].as_str()),
        (423, Some("registration_locked")),
        "{b}"
    );
    let wait = b["retry_after_seconds"].as_u64().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    // A second handle for the active phone under a new key is the same SIM swap: 423, not a
    // 409 that would tell the thief which handle the phone holds.
    let (s, b) = register(&r, ALICE_PHONE, &thief, "@other.cloud").await;
    assert_eq!(
        (s, b["error"].as_str()),
        (423, Some("registration_locked")),
        "{b}"
    );
    let (_, body) = r.call("GET", "/v1/handles/@alice.cloud", None).await;
    assert_eq!(verify(&r, &body, "@alice.cloud").record.pubkey, k1.public());

    // After the lock period the phone recovers the handle, marked as a reset.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let k3 = CloudKeys::generate(&mut rng);
    let (s, body) = register(&r, ALICE_PHONE, &k3, "@alice.cloud").await;
    assert_eq!(s, 200, "{body}");
    let v = verify(&r, &body, "@alice.cloud");
    assert!(v.was_reset());
    assert_eq!(v.follow(&k1.public()), Follow::Reset { to: k3.public() });

    // Whoami with the phone alone names the handle and the current key.
    let (vid, code) = r.code(ALICE_PHONE).await;
    let (s, b) = r
        .call(
            "POST",
            "/v1/whoami",
            Some(json!({"verification_id": vid, "code": code})),
        )
        .await;
    assert_eq!((s, b["handle"].as_str()), (200, Some("@alice.cloud")));
    assert_eq!(b["pubkey"], k3.public().to_b64());
    let (vid, code) = r.code(BOB_PHONE).await;
    let (s, b) = r
        .call(
            "POST",
            "/v1/whoami",
            Some(json!({"verification_id": vid, "code": code})),
        )
        .await;
    assert_eq!((s, b["error"].as_str()), (404, Some("not_registered")));
}

#[tokio::test]
async fn rename_devices_and_record_updates() {
    let r = TestRegistry::start(roomy()).await;
    let mut rng = os_rng();
    let k = CloudKeys::generate(&mut rng);
    assert_eq!(register(&r, ALICE_PHONE, &k, "@alice.cloud").await.0, 201);

    // Record update: same key, not older, keeps the handle.
    let newer = CloudRecord::sign(
        &k,
        "@alice.cloud",
        Some("https://alice.example/clouds/alice".into()),
        vec![],
        now(),
    )
    .unwrap();
    let (s, body) = r
        .call(
            "PUT",
            "/v1/handles/@alice.cloud/record",
            Some(json!({"record": newer})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        verify(&r, &body, "@alice.cloud").record.endpoint.as_deref(),
        Some("https://alice.example/clouds/alice")
    );
    let older = CloudRecord::sign(
        &k,
        "@alice.cloud",
        None,
        vec![],
        now() - jiff::SignedDuration::from_secs(60),
    )
    .unwrap();
    let (s, b) = r
        .call(
            "PUT",
            "/v1/handles/@alice.cloud/record",
            Some(json!({"record": older})),
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (409, Some("conflict")),
        "a rollback to an older record"
    );
    let other = CloudKeys::generate(&mut rng);
    let forged = CloudRecord::sign(&other, "@alice.cloud", None, vec![], now()).unwrap();
    let (s, b) = r
        .call(
            "PUT",
            "/v1/handles/@alice.cloud/record",
            Some(json!({"record": forged})),
        )
        .await;
    assert_eq!((s, b["error"].as_str()), (401, Some("bad_signature")));

    // Device: certificate by the cloud key, phone code, op signature.
    let device = SigningKeypair::generate(&mut rng);
    let cert = KeyCertificate::issue(&k.signing, &device.public(), "owner", "phone", now());
    let (vid, code) = r.code(ALICE_PHONE).await;
    let op = sovra_proto::encoding::b64(&k.signing.sign(&operation::device(
        "@alice.cloud",
        &vid,
        &device.public(),
    )));
    let (s, b) = r
        .call(
            "POST",
            "/v1/handles/@alice.cloud/devices",
            Some(json!({"verification_id": vid, "code": code, "certificate": cert, "op_sig": op})),
        )
        .await;
    assert_eq!(
        (s, &b["devices"]),
        (200, &json!([device.public().to_b64()])),
        "{b}"
    );

    // Rename: the old handle points at the new one and cannot be claimed.
    let (vid, code) = r.code(ALICE_PHONE).await;
    let op = sovra_proto::encoding::b64(&k.signing.sign(&operation::rename(
        "@alice.cloud",
        &vid,
        "@alicia.cloud",
    )));
    let (s, body) = r.call("POST", "/v1/handles/@alice.cloud/rename", Some(json!({"verification_id": vid, "code": code, "record": record(&k, "@alicia.cloud"), "op_sig": op}))).await;
    assert_eq!(s, 200, "{body}");
    let (s, b) = r.call("GET", "/v1/handles/@alice.cloud", None).await;
    assert_eq!(
        (s, b["error"].as_str(), b["successor"].as_str()),
        (410, Some("handle_changed"), Some("@alicia.cloud"))
    );
    let (s, body) = r.call("GET", "/v1/handles/@alicia.cloud", None).await;
    assert_eq!(s, 200);
    assert_eq!(verify(&r, &body, "@alicia.cloud").record.pubkey, k.public());
    let (s, b) = register(
        &r,
        BOB_PHONE,
        &CloudKeys::generate(&mut rng),
        "@alice.cloud",
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (409, Some("handle_taken")));
}

#[tokio::test]
async fn records_hold_real_urls_and_a_current_date() {
    let r = TestRegistry::start(roomy()).await;
    let keys = CloudKeys::generate(&mut os_rng());
    let claim = |record: Value| {
        let r = &r;
        async move {
            let (vid, code) = r.code(ALICE_PHONE).await;
            r.call(
                "POST",
                "/v1/clouds",
                Some(json!({ "verification_id": vid, "code": code, "record": record })),
            )
            .await
        }
    };
    for bad in [
        "http://\u{0}",
        "http://a.example/\r\nX: 1",
        "ftp://a.example",
        "http://",
    ] {
        let mut rec = record(&keys, "@alice.cloud");
        rec["endpoint"] = json!(bad);
        let (s, b) = claim(rec).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("malformed")),
            "{bad:?}: {b}"
        );
    }
    for when in [
        now() + jiff::SignedDuration::from_hours(24 * 365 * 70),
        now() - jiff::SignedDuration::from_hours(48),
    ] {
        let rec = json!(
            CloudRecord::sign(
                &keys,
                "@alice.cloud",
                Some("http://127.0.0.1:9/clouds/x".into()),
                vec![],
                when
            )
            .unwrap()
        );
        let (s, b) = claim(rec).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("stale_timestamp")),
            "{when}: {b}"
        );
    }
    let (s, b) = claim(record(&keys, "@alice.cloud")).await;
    assert_eq!(s, 201, "a current record with a real URL is taken: {b}");
}

#[tokio::test]
async fn sms_pumping_is_bounded_by_budgets_and_a_denylist() {
    let settings = Settings {
        sends_per_phone: 100,
        sends_per_client: 100,
        sms_per_hour: 1000,
        sms_per_country_per_hour: 2,
        ..Settings::default()
    };
    let r = TestRegistry::start(settings).await;
    // Satellite and international-network ranges are never texted.
    let (s, b) = r
        .call(
            "POST",
            "/v1/verifications",
            Some(json!({"phone": "+881 6 1234 5678"})),
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_phone")),
        "{b}"
    );
    assert!(b["message"].as_str().unwrap().contains("not served"), "{b}");
    // Two codes into one country, then its budget is spent — whatever the number.
    for phone in ["+1 415 555 2671", "+1 415 555 2672"] {
        let (s, b) = r
            .call("POST", "/v1/verifications", Some(json!({"phone": phone})))
            .await;
        assert_eq!(s, 202, "{phone}: {b}");
    }
    let (s, b) = r
        .call(
            "POST",
            "/v1/verifications",
            Some(json!({"phone": "+1 415 555 2673"})),
        )
        .await;
    assert_eq!((s, b["error"].as_str()), (429, Some("rate_limited")), "{b}");
    // Another country still has its own budget.
    let (s, b) = r
        .call(
            "POST",
            "/v1/verifications",
            Some(json!({"phone": BOB_PHONE})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    assert!(
        r.sms.last_to("+14155552673").is_none(),
        "nothing texted beyond the budget"
    );
    assert!(
        r.sms.last_to("+881612345678").is_none(),
        "nothing texted to a denied range"
    );
}

#[tokio::test]
async fn lookups_are_rate_limited_per_client() {
    let settings = Settings {
        lookups_per_client_per_minute: 3,
        ..roomy()
    };
    let r = TestRegistry::start(settings).await;
    for _ in 0..3 {
        let (s, _) = r.call("GET", "/v1/handles/@nobody.cloud", None).await;
        assert_eq!(s, 404);
    }
    let (s, b) = r.call("GET", "/v1/handles/@nobody.cloud", None).await;
    assert_eq!((s, b["error"].as_str()), (429, Some("rate_limited")), "{b}");
    assert!(
        b["retry_after_seconds"].as_u64().is_some_and(|n| n >= 1),
        "{b}"
    );
}
